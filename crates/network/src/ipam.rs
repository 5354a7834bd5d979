//! Addresses: the bridge's CIDR and the persisted allocations (with published ports).

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::PortBinding;

/// An IPv4 address with its prefix length, e.g. the bridge's `172.30.0.1/16`
/// (the address is the gateway, the prefix gives the subnet).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv4Cidr {
    pub addr: Ipv4Addr,
    pub prefix_len: u8,
}

impl Ipv4Cidr {
    /// A bridge address: prefix 1..=30 (room for the gateway and a container), and not
    /// the subnet's network or broadcast address.
    pub fn new(addr: Ipv4Addr, prefix_len: u8) -> Result<Self> {
        let bad = |reason: &str| Error::InvalidCidr {
            value: format!("{addr}/{prefix_len}"),
            reason: reason.into(),
        };
        if prefix_len == 0 || prefix_len > 30 {
            return Err(bad("the prefix length must be between 1 and 30"));
        }
        let cidr = Ipv4Cidr { addr, prefix_len };
        if addr == cidr.network() || addr == cidr.broadcast() {
            return Err(bad(
                "the bridge address cannot be the network or broadcast address",
            ));
        }
        Ok(cidr)
    }

    fn mask(self) -> u32 {
        u32::MAX << (32 - u32::from(self.prefix_len))
    }

    /// The subnet's first address (`172.30.0.0` for `172.30.0.1/16`).
    pub fn network(self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }

    /// The subnet's last address.
    pub fn broadcast(self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !self.mask())
    }

    pub fn contains(self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.addr) & self.mask()
    }

    /// The subnet in `network/prefix` form.
    pub fn subnet_string(self) -> String {
        format!("{}/{}", self.network(), self.prefix_len)
    }

    /// Whether `ip` may be given to a container (in the subnet, not reserved).
    pub(crate) fn is_host(self, ip: Ipv4Addr) -> bool {
        self.contains(ip) && ip != self.addr && ip != self.network() && ip != self.broadcast()
    }
}

impl FromStr for Ipv4Cidr {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = |reason: &str| Error::InvalidCidr {
            value: s.into(),
            reason: reason.into(),
        };
        let (ip, len) = s.split_once('/').ok_or_else(|| bad("missing /prefix"))?;
        let addr = ip.parse().map_err(|_| bad("not an IPv4 address"))?;
        let len = len.parse().map_err(|_| bad("bad prefix length"))?;
        Ipv4Cidr::new(addr, len)
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

/// What the network remembers of one container.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Entry {
    pub ip: Option<Ipv4Addr>,
    #[serde(default)]
    pub ports: Vec<PortBinding>,
}

/// The persisted state of one bridge network.
///
/// Durability: [`State::save`] replaces the file by rename, without fsync. A kill -9 of the
/// daemon at any moment loses nothing (the page cache outlives the process; rename is
/// atomic). Only a crash of the whole machine can lose a recent save or leave a torn file,
/// and then no container of that boot is alive any more: no netns, no veth, no nft rule
/// (the table is not persistent either), no reserved port. So [`State::load_current`]
/// treats a file written during an earlier boot (by its `boot_id`) as holding no
/// allocations, and a torn file last modified before this boot as empty; an address can
/// therefore never be handed out twice, and no fsync (each costs milliseconds, up to tens
/// under load, twice per container life) is needed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct State {
    /// The boot (`/proc/sys/kernel/random/boot_id`) that wrote the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_id: Option<String>,
    /// Last address handed out: allocation goes on after it (like docker), so a freed
    /// address is not reused at once.
    pub last: Option<Ipv4Addr>,
    #[serde(default)]
    pub containers: BTreeMap<String, Entry>,
}

/// This boot's id, if the kernel tells.
pub(crate) fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// When this boot started (`btime` of /proc/stat).
fn boot_time() -> Option<std::time::SystemTime> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let secs = stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

impl State {
    pub fn load(path: &Path) -> Result<State> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| Error::State {
                path: path.into(),
                source,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    /// [`State::load`] for the running boot: allocations an earlier boot left are dropped
    /// (none of their containers can be alive), and so is a file torn by a machine crash
    /// (unreadable, and last written before this boot). See [`State`] on durability.
    pub fn load_current(path: &Path, boot_id: Option<&str>) -> Result<State> {
        let mut state = match State::load(path) {
            Ok(state) => state,
            Err(Error::State { .. }) if written_before_boot(path) => State::default(),
            Err(e) => return Err(e),
        };
        if let (Some(theirs), Some(ours)) = (state.boot_id.as_deref(), boot_id) {
            if theirs != ours {
                state.containers.clear();
            }
        }
        state.boot_id = boot_id.map(str::to_string);
        Ok(state)
    }

    /// Replaces the file atomically (temp file, rename), without fsync: see [`State`].
    pub fn save(&self, path: &Path) -> Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp: PathBuf = dir.join(format!(
            ".{name}.tmp-{}-{:x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        let bytes = serde_json::to_vec_pretty(self).map_err(|source| Error::State {
            path: path.into(),
            source,
        })?;
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            std::fs::rename(&tmp, path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::io(path, e)
        })
    }
}

/// Whether `path` was last modified before this boot began.
fn written_before_boot(path: &Path) -> bool {
    let modified = std::fs::metadata(path).and_then(|m| m.modified());
    matches!((modified, boot_time()), (Ok(m), Some(boot)) if m < boot)
}

impl State {
    pub fn owner_of(&self, ip: Ipv4Addr) -> Option<&str> {
        self.containers
            .iter()
            .find(|(_, e)| e.ip == Some(ip))
            .map(|(id, _)| id.as_str())
    }

    /// The next free address after `last`, wrapping around the subnet; `busy` are taken
    /// too (addresses whose veth is still being deleted).
    pub fn next_free(
        &self,
        cidr: Ipv4Cidr,
        busy: impl IntoIterator<Item = Ipv4Addr>,
    ) -> Result<Ipv4Addr> {
        let first = u32::from(cidr.network()) + 1;
        let last = u32::from(cidr.broadcast()) - 1;
        let span = last - first + 1;
        let start = match self.last {
            Some(ip) if cidr.contains(ip) => u32::from(ip) + 1,
            _ => first,
        };
        let used: std::collections::HashSet<Ipv4Addr> = self
            .containers
            .values()
            .filter_map(|e| e.ip)
            .chain(busy)
            .collect();
        (0..span)
            .map(|i| Ipv4Addr::from(first + (start.saturating_sub(first) + i) % span))
            .find(|ip| cidr.is_host(*ip) && !used.contains(ip))
            .ok_or_else(|| Error::PoolExhausted {
                subnet: cidr.subnet_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_parsing() {
        let c: Ipv4Cidr = "172.30.0.1/16".parse().unwrap();
        assert_eq!(c.network(), Ipv4Addr::new(172, 30, 0, 0));
        assert_eq!(c.broadcast(), Ipv4Addr::new(172, 30, 255, 255));
        assert_eq!(c.subnet_string(), "172.30.0.0/16");
        assert_eq!(c.to_string(), "172.30.0.1/16");
        assert!(c.contains(Ipv4Addr::new(172, 30, 9, 9)));
        assert!(!c.contains(Ipv4Addr::new(172, 31, 0, 1)));
        assert!(!c.is_host(c.addr));
        for bad in [
            "172.30.0.0/16",
            "1.2.3.4",
            "1.2.3.4/31",
            "x/8",
            "1.2.3.4/x",
            "10.0.0.255/24",
        ] {
            let err = bad.parse::<Ipv4Cidr>().unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
    }

    #[test]
    fn allocation_goes_round() {
        let c: Ipv4Cidr = "10.9.0.1/29".parse().unwrap(); // hosts .2 .. .6
        let mut s = State::default();
        let mut got = Vec::new();
        for i in 0..5 {
            let ip = s.next_free(c, []).unwrap();
            s.last = Some(ip);
            s.containers.insert(
                format!("c{i}"),
                Entry {
                    ip: Some(ip),
                    ports: vec![],
                },
            );
            got.push(ip.octets()[3]);
        }
        assert_eq!(got, [2, 3, 4, 5, 6]);
        assert!(matches!(
            s.next_free(c, []),
            Err(Error::PoolExhausted { .. })
        ));
        // Freeing .3 makes it the next one even though .6 was the last handed out.
        s.containers.remove("c1");
        assert_eq!(s.next_free(c, []).unwrap(), Ipv4Addr::new(10, 9, 0, 3));
        assert_eq!(s.owner_of(Ipv4Addr::new(10, 9, 0, 4)), Some("c2"));
    }

    #[test]
    fn save_and_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ipam.json");
        assert_eq!(State::load(&path).unwrap(), State::default());
        let mut s = State {
            last: Some(Ipv4Addr::new(10, 0, 0, 2)),
            ..State::default()
        };
        s.containers.insert(
            "abc".into(),
            Entry {
                ip: Some(Ipv4Addr::new(10, 0, 0, 2)),
                ports: vec![],
            },
        );
        s.save(&path).unwrap();
        assert_eq!(State::load(&path).unwrap(), s);
        // No temp files left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        std::fs::write(&path, b"{").unwrap();
        assert!(matches!(State::load(&path), Err(Error::State { .. })));
    }

    #[test]
    fn load_current_forgets_earlier_boots() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ipam.json");
        let mut s = State {
            boot_id: Some("boot-a".into()),
            last: Some(Ipv4Addr::new(10, 0, 0, 2)),
            ..State::default()
        };
        s.containers.insert(
            "abc".into(),
            Entry {
                ip: Some(Ipv4Addr::new(10, 0, 0, 2)),
                ports: vec![],
            },
        );
        s.save(&path).unwrap();
        // Same boot: everything stays.
        assert_eq!(State::load_current(&path, Some("boot-a")).unwrap(), s);
        // Another boot: no container of that one is alive; `last` stays.
        let later = State::load_current(&path, Some("boot-b")).unwrap();
        assert!(later.containers.is_empty());
        assert_eq!(later.last, s.last);
        assert_eq!(later.boot_id.as_deref(), Some("boot-b"));
        // A file without a boot id (older berth, saved with fsync) is taken as it is.
        s.boot_id = None;
        s.save(&path).unwrap();
        let kept = State::load_current(&path, Some("boot-b")).unwrap();
        assert_eq!(kept.containers, s.containers);
        assert_eq!(kept.boot_id.as_deref(), Some("boot-b"));
    }

    #[test]
    fn torn_file_from_before_this_boot_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ipam.json");
        std::fs::write(&path, b"").unwrap();
        // Written during this boot: a torn file cannot come from a machine crash.
        assert!(matches!(
            State::load_current(&path, boot_id().as_deref()),
            Err(Error::State { .. })
        ));
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(86400))
            .unwrap();
        drop(f);
        let s = State::load_current(&path, boot_id().as_deref()).unwrap();
        assert!(s.containers.is_empty());
        assert_eq!(s.last, None);
    }
}
