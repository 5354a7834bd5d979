//! Published ports: validation, conflicts, random host ports and host port reservations.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::OwnedFd;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Transport protocol of a published port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// One published port: `host_ip:host_port` → `container_port/proto`.
/// `host_ip: None` (or an unspecified address) means every host address;
/// `host_port: 0` asks for a free port from the ephemeral range.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortBinding {
    pub host_ip: Option<IpAddr>,
    pub host_port: u16,
    pub container_port: u16,
    pub proto: Proto,
}

impl PortBinding {
    /// The host address as docker prints it (`0.0.0.0` for "any").
    pub fn display_host_ip(&self) -> IpAddr {
        match self.host_ip {
            Some(ip) if !ip.is_unspecified() => ip,
            _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        }
    }

    /// One entry of the Engine API's `HostConfig.PortBindings`: the key (`"80/tcp"`,
    /// `"53/udp"`, `"80"` meaning tcp) and one `{HostIp, HostPort}` (empty strings: any
    /// address, a random port).
    pub fn from_api(port: &str, host_ip: &str, host_port: &str) -> Result<PortBinding> {
        let (num, proto) = port.split_once('/').unwrap_or((port, "tcp"));
        let proto = match proto {
            "tcp" => Proto::Tcp,
            "udp" => Proto::Udp,
            _ => return Err(Error::InvalidPortSpec(port.into())),
        };
        let container_port = match num.parse::<u16>() {
            Ok(n) if n > 0 => n,
            _ => return Err(Error::InvalidPortSpec(port.into())),
        };
        let host_port = match host_port {
            "" => 0,
            p => match p.parse::<u16>() {
                Ok(n) => n,
                Err(_) => {
                    let range = p
                        .split_once('-')
                        .and_then(|(a, b)| Some((a.parse::<u16>().ok()?, b.parse::<u16>().ok()?)));
                    return Err(match range {
                        Some((a, b)) if a <= b => Error::HostPortRange(p.into()),
                        _ => Error::InvalidPortSpec(p.into()),
                    });
                }
            },
        };
        let host_ip = match host_ip {
            "" => None,
            ip => Some(
                ip.trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse()
                    .map_err(|_| Error::InvalidIp(ip.into()))?,
            ),
        };
        let binding = PortBinding {
            host_ip,
            host_port,
            container_port,
            proto,
        };
        validate(&binding)?;
        Ok(binding)
    }

    fn specific_ip(&self) -> Option<IpAddr> {
        self.host_ip.filter(|ip| !ip.is_unspecified())
    }

    /// Whether both want the same host port (same protocol, overlapping addresses).
    pub(crate) fn conflicts_with(&self, other: &PortBinding) -> bool {
        self.proto == other.proto
            && self.host_port == other.host_port
            && match (self.specific_ip(), other.specific_ip()) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

/// Rejects what the network cannot publish (container port 0, specific IPv6 host addresses).
pub(crate) fn validate(binding: &PortBinding) -> Result<()> {
    if binding.container_port == 0 {
        return Err(Error::InvalidPortSpec(format!(
            "0/{}",
            binding.proto.as_str()
        )));
    }
    if let Some(ip @ IpAddr::V6(v6)) = binding.host_ip {
        if !v6.is_unspecified() {
            return Err(Error::InvalidHostIp(ip));
        }
    }
    Ok(())
}

/// The kernel's ephemeral port range (docker's fallback when it cannot be read).
pub(crate) fn ephemeral_range() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| parse_range(&s))
        .unwrap_or((49153, 65535))
}

fn parse_range(s: &str) -> Option<(u16, u16)> {
    let mut it = s.split_whitespace().map(str::parse::<u16>);
    match (it.next()?, it.next()?) {
        (Ok(low), Ok(high)) if low > 0 && low <= high => Some((low, high)),
        _ => None,
    }
}

/// Binds (without listening) the host port so nothing else on the host takes it while the
/// container publishes it. No SO_REUSEADDR: a plain bound socket blocks every other bind.
pub(crate) fn reserve(binding: &PortBinding) -> std::io::Result<OwnedFd> {
    use rustix::net::{AddressFamily, SocketType};
    let ip = match binding.specific_ip() {
        Some(ip) => ip,
        None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    };
    let family = match ip {
        IpAddr::V4(_) => AddressFamily::INET,
        IpAddr::V6(_) => AddressFamily::INET6,
    };
    let kind = match binding.proto {
        Proto::Tcp => SocketType::STREAM,
        Proto::Udp => SocketType::DGRAM,
    };
    let fd = rustix::net::socket_with(family, kind, rustix::net::SocketFlags::CLOEXEC, None)?;
    rustix::net::bind(&fd, &SocketAddr::new(ip, binding.host_port))?;
    Ok(fd)
}

/// The bind error as Go prints it (docker's texts), without Rust's "(os error N)".
pub(crate) fn describe_bind_error(err: &std::io::Error) -> String {
    match err.raw_os_error() {
        Some(libc::EADDRINUSE) => "address already in use".into(),
        Some(libc::EADDRNOTAVAIL) => "cannot assign requested address".into(),
        Some(libc::EACCES) => "permission denied".into(),
        _ => err.to_string(),
    }
}

/// Picks a free host port for `binding` (whose `host_port` is 0): not published by another
/// container (`taken`) and bindable now. Starts at a random point of the range.
pub(crate) fn reserve_random(
    binding: &PortBinding,
    taken: &[PortBinding],
) -> Result<(u16, OwnedFd)> {
    reserve_random_in(binding, taken, ephemeral_range())
}

fn reserve_random_in(
    binding: &PortBinding,
    taken: &[PortBinding],
    (low, high): (u16, u16),
) -> Result<(u16, OwnedFd)> {
    let span = u32::from(high - low) + 1;
    let start = rand::random_range(0..span);
    for i in 0..span {
        let port = low + ((start + i) % span) as u16;
        let candidate = PortBinding {
            host_port: port,
            ..binding.clone()
        };
        if taken.iter().any(|t| t.conflicts_with(&candidate)) {
            continue;
        }
        if let Ok(fd) = reserve(&candidate) {
            return Ok((port, fd));
        }
    }
    Err(Error::AllPortsAllocated {
        proto: binding.proto.as_str(),
        low,
        high,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pb(host_ip: Option<&str>, host_port: u16, proto: Proto) -> PortBinding {
        PortBinding {
            host_ip: host_ip.map(|s| s.parse().unwrap()),
            host_port,
            container_port: 80,
            proto,
        }
    }

    #[test]
    fn conflicts() {
        let any = pb(None, 8080, Proto::Tcp);
        assert!(any.conflicts_with(&pb(Some("127.0.0.1"), 8080, Proto::Tcp)));
        assert!(any.conflicts_with(&pb(Some("0.0.0.0"), 8080, Proto::Tcp)));
        assert!(!any.conflicts_with(&pb(None, 8080, Proto::Udp)));
        assert!(!any.conflicts_with(&pb(None, 8081, Proto::Tcp)));
        let lo = pb(Some("127.0.0.1"), 8080, Proto::Tcp);
        assert!(!lo.conflicts_with(&pb(Some("127.0.0.2"), 8080, Proto::Tcp)));
        assert!(lo.conflicts_with(&pb(Some("127.0.0.1"), 8080, Proto::Tcp)));
    }

    #[test]
    fn validation() {
        let mut b = pb(None, 8080, Proto::Tcp);
        assert!(validate(&b).is_ok());
        b.container_port = 0;
        assert_eq!(
            validate(&b).unwrap_err().to_string(),
            "invalid port specification: \"0/tcp\""
        );
        let v6 = pb(Some("::1"), 8080, Proto::Tcp);
        assert!(matches!(validate(&v6), Err(Error::InvalidHostIp(_))));
        assert!(validate(&pb(Some("::"), 8080, Proto::Tcp)).is_ok());
    }

    #[test]
    fn from_api() {
        let b = PortBinding::from_api("80/tcp", "", "").unwrap();
        assert_eq!(b, pb(None, 0, Proto::Tcp));
        let b = PortBinding::from_api("53/udp", "127.0.0.1", "5353").unwrap();
        assert_eq!(
            b,
            PortBinding {
                container_port: 53,
                ..pb(Some("127.0.0.1"), 5353, Proto::Udp)
            }
        );
        assert_eq!(
            PortBinding::from_api("80", "::", "8080").unwrap().proto,
            Proto::Tcp
        );
        assert!(PortBinding::from_api("80", "[::]", "1").is_ok());
        let msg = |r: Result<PortBinding>| r.unwrap_err().to_string();
        assert_eq!(
            msg(PortBinding::from_api("80/tcp", "", "x")),
            "invalid port specification: \"x\""
        );
        assert_eq!(
            msg(PortBinding::from_api("80/tcp", "", "70000")),
            "invalid port specification: \"70000\""
        );
        assert_eq!(
            msg(PortBinding::from_api("0/tcp", "", "")),
            "invalid port specification: \"0/tcp\""
        );
        assert_eq!(
            msg(PortBinding::from_api("80/sctp", "", "")),
            "invalid port specification: \"80/sctp\""
        );
        assert_eq!(
            msg(PortBinding::from_api("80/tcp", "nope", "")),
            "invalid IP address: nope"
        );
        assert!(matches!(
            PortBinding::from_api("80/tcp", "", "8000-8010"),
            Err(Error::HostPortRange(_))
        ));
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range("32768\t60999\n"), Some((32768, 60999)));
        assert_eq!(parse_range("60999 32768"), None);
        assert_eq!(parse_range("x"), None);
        let (low, high) = ephemeral_range();
        assert!(low <= high);
    }

    #[test]
    fn reservation_blocks_other_binds() {
        let b = pb(Some("127.0.0.1"), 0, Proto::Tcp);
        let (port, _fd) = reserve_random(&b, &[]).unwrap();
        let (low, high) = ephemeral_range();
        assert!((low..=high).contains(&port));
        let err = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
        // The same port for UDP is another port.
        let udp = pb(Some("127.0.0.1"), port, Proto::Udp);
        assert!(reserve(&udp).is_ok());
    }

    #[test]
    fn random_ports_skip_taken() {
        // Find four consecutive UDP ports free on loopback to use as the "range".
        let base = (40000..60000)
            .step_by(7)
            .find(|&p| (p..p + 4).all(|q| std::net::UdpSocket::bind(("127.0.0.1", q)).is_ok()))
            .unwrap();
        let range = (base, base + 3);
        let want = pb(Some("127.0.0.1"), 0, Proto::Udp);
        let taken: Vec<PortBinding> = (base..base + 3).map(|p| pb(None, p, Proto::Udp)).collect();
        let (port, fd) = reserve_random_in(&want, &taken, range).unwrap();
        assert_eq!(port, base + 3);
        let all: Vec<PortBinding> = (base..=base + 3).map(|p| pb(None, p, Proto::Udp)).collect();
        let err = reserve_random_in(&want, &all, range).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "all ports are allocated (no free udp port in {base}-{})",
                base + 3
            )
        );
        // Held by us (fd), so not bindable even when nothing is recorded as taken.
        let err = reserve_random_in(&want, &taken[..0], (base + 3, base + 3)).unwrap_err();
        assert!(matches!(err, Error::AllPortsAllocated { .. }));
        drop(fd);
    }
}
