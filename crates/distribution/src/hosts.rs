//! Where a repository lives: the registry host for a reference's domain,
//! mirrors (docker.io only, as dockerd), and which registries are insecure.

use std::net::IpAddr;

use serde_json::{json, Map, Value};

use crate::{DistError, Result};

/// The domain of Docker Hub in references.
pub const DOCKER_HUB: &str = "docker.io";
/// Where Docker Hub's registry API is served.
pub const DOCKER_HUB_REGISTRY: &str = "registry-1.docker.io";
/// Where Docker Hub's search (v1 index) API is served.
pub const DOCKER_HUB_INDEX: &str = "index.docker.io";
/// The server address the docker CLI keys Hub credentials under.
pub const DOCKER_HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";

/// The daemon's registry settings (`registry-mirrors`, `insecure-registries`).
#[derive(Debug, Clone)]
pub struct RegistryHosts {
    /// Mirror base URLs, normalised to end in `/`.
    mirrors: Vec<String>,
    cidrs: Vec<Cidr>,
    /// Insecure registries given by name (`host[:port]`).
    insecure_names: Vec<String>,
}

/// One place to talk to for a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `scheme://host[:port]` candidates in the order to try them.
    pub bases: Vec<String>,
    /// Certificates are not verified (an insecure registry).
    pub insecure: bool,
    pub mirror: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Cidr {
    net: IpAddr,
    bits: u8,
    text: String,
}

impl Cidr {
    fn parse(s: &str) -> Option<Cidr> {
        let (ip, bits) = s.split_once('/')?;
        let net: IpAddr = ip.parse().ok()?;
        let bits: u8 = bits.parse().ok()?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        (bits <= max).then(|| Cidr {
            net,
            bits,
            text: format!("{}/{bits}", mask(net, bits)),
        })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        ip.is_ipv4() == self.net.is_ipv4() && mask(ip, self.bits) == mask(self.net, self.bits)
    }
}

fn mask(ip: IpAddr, bits: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let m = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            IpAddr::V4((u32::from(a) & m).into())
        }
        IpAddr::V6(a) => {
            let m = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            IpAddr::V6((u128::from(a) & m).into())
        }
    }
}

impl Default for RegistryHosts {
    fn default() -> Self {
        RegistryHosts::new(&[], &[]).unwrap_or(RegistryHosts {
            mirrors: Vec::new(),
            cidrs: Vec::new(),
            insecure_names: Vec::new(),
        })
    }
}

impl RegistryHosts {
    /// Validates daemon.json's `registry-mirrors` and `insecure-registries`
    /// with dockerd's messages. Loopback ranges are always insecure.
    pub fn new(mirrors: &[String], insecure: &[String]) -> Result<RegistryHosts> {
        let mut out = Vec::new();
        for m in mirrors {
            let m = m.trim();
            let Some((scheme, rest)) = m.split_once("://") else {
                return Err(DistError::InvalidConfig(format!(
                    "invalid mirror: unsupported scheme \"\" in \"{m}\""
                )));
            };
            if scheme != "http" && scheme != "https" {
                return Err(DistError::InvalidConfig(format!(
                    "invalid mirror: unsupported scheme \"{scheme}\" in \"{m}\""
                )));
            }
            let host = rest.split('/').next().unwrap_or("");
            if host.is_empty() || rest.contains(['?', '#']) {
                return Err(DistError::InvalidConfig(format!(
                    "invalid mirror: \"{m}\" is not a valid URI"
                )));
            }
            let url = format!("{scheme}://{}/", rest.trim_end_matches('/'));
            if !out.contains(&url) {
                out.push(url);
            }
        }
        let mut cidrs = Vec::new();
        let mut names = Vec::new();
        for r in ["::1/128", "127.0.0.0/8"]
            .into_iter()
            .map(str::to_string)
            .chain(insecure.iter().cloned())
        {
            let r = r.trim().to_string();
            if r.contains("://") {
                return Err(DistError::InvalidConfig(format!(
                    "insecure registry {r} should not contain '://'"
                )));
            }
            if let Some(c) = Cidr::parse(&r) {
                if !cidrs.contains(&c) {
                    cidrs.push(c);
                }
            } else if r.contains('/') || r.is_empty() {
                return Err(DistError::InvalidConfig(format!(
                    "insecure registry {r} is not valid: it is neither a CIDR nor a host[:port]"
                )));
            } else if !names.contains(&r) {
                names.push(r);
            }
        }
        Ok(RegistryHosts {
            mirrors: out,
            cidrs,
            insecure_names: names,
        })
    }

    pub fn mirrors(&self) -> &[String] {
        &self.mirrors
    }

    /// Whether `host[:port]` is insecure: listed by name, or an address (or
    /// `localhost`) inside an insecure range.
    pub fn is_insecure(&self, host: &str) -> bool {
        if self.insecure_names.iter().any(|n| n == host) {
            return true;
        }
        let name = strip_port(host);
        let ip = if name.eq_ignore_ascii_case("localhost") {
            Some(IpAddr::from([127, 0, 0, 1]))
        } else {
            name.trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .ok()
        };
        ip.is_some_and(|ip| self.cidrs.iter().any(|c| c.contains(ip)))
    }

    /// Where to pull from for a reference domain: for docker.io the mirrors
    /// first, then the origin. Insecure hosts are tried over https (without
    /// verification) and then over plain http, as dockerd does.
    pub fn pull_endpoints(&self, domain: &str) -> Vec<Endpoint> {
        let mut out = Vec::new();
        if domain == DOCKER_HUB {
            for m in &self.mirrors {
                let base = m.trim_end_matches('/').to_string();
                let host = base.split_once("://").map(|(_, h)| h).unwrap_or(&base);
                out.push(Endpoint {
                    insecure: self.is_insecure(host),
                    bases: vec![base.clone()],
                    mirror: true,
                });
            }
        }
        out.push(self.origin(domain));
        out
    }

    /// Where to push to: the origin only (mirrors are read-only).
    pub fn push_endpoint(&self, domain: &str) -> Endpoint {
        self.origin(domain)
    }

    fn origin(&self, domain: &str) -> Endpoint {
        let host = if domain == DOCKER_HUB {
            DOCKER_HUB_REGISTRY
        } else {
            domain
        };
        self.host_endpoint(host)
    }

    /// The endpoint of a bare `host[:port]`.
    pub fn host_endpoint(&self, host: &str) -> Endpoint {
        let insecure = self.is_insecure(host);
        let mut bases = vec![format!("https://{host}")];
        if insecure {
            bases.push(format!("http://{host}"));
        }
        Endpoint {
            bases,
            insecure,
            mirror: false,
        }
    }

    /// `/info`'s `RegistryConfig`, in the Engine API's shape.
    pub fn service_config(&self) -> Value {
        let mut index = Map::new();
        for name in &self.insecure_names {
            index.insert(
                name.clone(),
                json!({"Mirrors": [], "Name": name, "Official": false, "Secure": false}),
            );
        }
        index.insert(
            DOCKER_HUB.into(),
            json!({"Mirrors": self.mirrors, "Name": DOCKER_HUB, "Official": true, "Secure": true}),
        );
        let mut sorted: Vec<(String, Value)> = index.into_iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        json!({
            "IndexConfigs": Map::from_iter(sorted),
            "InsecureRegistryCIDRs": self.cidrs.iter().map(|c| c.text.clone()).collect::<Vec<_>>(),
            "Mirrors": self.mirrors,
        })
    }
}

/// `host:port` → `host` (IPv6 literals keep their brackets).
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_inclusive(']').next().unwrap_or(host);
    }
    match host.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') && p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// The key credentials are stored under for a reference domain (docker's
/// `ConvertToHostname` in reverse: Hub uses its v1 index URL).
pub fn auth_key(domain: &str) -> String {
    if domain == DOCKER_HUB || domain == DOCKER_HUB_INDEX || domain == DOCKER_HUB_REGISTRY {
        DOCKER_HUB_AUTH_KEY.to_string()
    } else {
        domain.to_string()
    }
}

/// The registry host named by a `docker login` server argument or a
/// config.json key (`https://host/v1/` → `host`).
pub fn hostname_of(server: &str) -> String {
    let s = server
        .strip_prefix("https://")
        .or_else(|| server.strip_prefix("http://"))
        .unwrap_or(server);
    let host = s.split('/').next().unwrap_or(s);
    if host == DOCKER_HUB_INDEX || host == DOCKER_HUB || host == DOCKER_HUB_REGISTRY {
        DOCKER_HUB.to_string()
    } else {
        host.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_insecure_by_default() {
        let h = RegistryHosts::default();
        assert!(h.is_insecure("127.0.0.1:5000"));
        assert!(h.is_insecure("127.3.4.5"));
        assert!(h.is_insecure("localhost:5000"));
        assert!(h.is_insecure("[::1]:5000"));
        assert!(!h.is_insecure("10.0.0.1:5000"));
        assert!(!h.is_insecure("registry.example.com"));
        assert_eq!(
            h.pull_endpoints("127.0.0.1:5000"),
            vec![Endpoint {
                bases: vec![
                    "https://127.0.0.1:5000".into(),
                    "http://127.0.0.1:5000".into()
                ],
                insecure: true,
                mirror: false
            }]
        );
        assert_eq!(
            h.push_endpoint("docker.io").bases,
            vec!["https://registry-1.docker.io".to_string()]
        );
    }

    #[test]
    fn mirrors_and_insecure_lists() {
        let h = RegistryHosts::new(
            &["https://mirror.example.com".into()],
            &["10.1.0.0/16".into(), "reg.example.com:5000".into()],
        )
        .unwrap();
        assert!(h.is_insecure("10.1.2.3:443"));
        assert!(!h.is_insecure("10.2.0.1"));
        assert!(h.is_insecure("reg.example.com:5000"));
        assert!(!h.is_insecure("reg.example.com"));
        let eps = h.pull_endpoints("docker.io");
        assert_eq!(eps.len(), 2);
        assert!(eps[0].mirror);
        assert_eq!(eps[0].bases, vec!["https://mirror.example.com".to_string()]);
        assert_eq!(
            eps[1].bases,
            vec!["https://registry-1.docker.io".to_string()]
        );
        // mirrors are for Docker Hub only
        assert_eq!(h.pull_endpoints("ghcr.io").len(), 1);
        let info = h.service_config();
        assert_eq!(
            info["InsecureRegistryCIDRs"],
            json!(["::1/128", "127.0.0.0/8", "10.1.0.0/16"])
        );
        assert_eq!(info["Mirrors"], json!(["https://mirror.example.com/"]));
        assert_eq!(
            info["IndexConfigs"]["reg.example.com:5000"]["Secure"],
            json!(false)
        );
        assert_eq!(info["IndexConfigs"]["docker.io"]["Official"], json!(true));
    }

    #[test]
    fn bad_settings_are_refused_with_docker_texts() {
        let e = RegistryHosts::new(&["mirror.example.com".into()], &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid mirror: unsupported scheme \"\" in \"mirror.example.com\""
        );
        let e = RegistryHosts::new(&[], &["http://x".into()]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "insecure registry http://x should not contain '://'"
        );
    }

    #[test]
    fn server_names() {
        assert_eq!(auth_key("docker.io"), "https://index.docker.io/v1/");
        assert_eq!(auth_key("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(hostname_of("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(hostname_of("http://127.0.0.1:5000/"), "127.0.0.1:5000");
        assert_eq!(strip_port("[::1]:5000"), "[::1]");
        assert_eq!(strip_port("host:80"), "host");
    }
}
