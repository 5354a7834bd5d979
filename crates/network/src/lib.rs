//! Bridge networking for berth containers: the bridge, one veth pair per container, IPAM,
//! outbound NAT and published ports in berth's own nftables table, and the generated
//! /etc/hosts and /etc/resolv.conf.
//!
//! The API is blocking (the daemon calls it through `spawn_blocking`; a call from inside an
//! async task does not panic either, it only blocks that task's worker). The per-container
//! path is built to be cheap: netlink requests go out in batches on plain sockets (two
//! round trips per attach), nft runs only for containers that publish ports, the state is
//! written once per allocate and once per detach (renamed into place, no fsync: see
//! `ipam::State`), and the one slow kernel operation, deleting a veth (the kernel waits
//! for RCU, tens of milliseconds), happens on a reaper thread after `detach` returned.
//!
//! Everything done here can be undone: [`Network::detach`] removes a container's veth,
//! rules, port reservations and address (also after a crash: the state is saved before
//! rules are added, rules carry a `berth:<container id>` comment, veths have names derived
//! from the id, and [`Network::setup`] finds what a crash left behind);
//! [`Network::teardown`] removes the bridge and the table.

mod error;
mod files;
mod ipam;
mod netlink;
mod nft;
mod nl;
mod ports;

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use serde::{Deserialize, Serialize};

pub use error::{Error, Result};
pub use files::{hosts_file, resolv_conf};
pub use ipam::Ipv4Cidr;
pub use ports::{PortBinding, Proto};

/// A new network namespace with `lo` up: what `--network none` gives a container (as in
/// docker), and where the default bridge's veth goes. Made ahead of a container's start,
/// it spares the container's init the namespace's creation; the returned descriptor keeps
/// the namespace alive until the container has joined it.
pub fn new_namespace() -> Result<OwnedFd> {
    netlink::new_namespace()
}

/// How the bridge network looks. [`Default`] gives berth's defaults: `berth0`,
/// `172.30.0.1/16`, table `inet berth`, state in `/var/lib/berth/network`, MTU 1500.
#[derive(Clone, Debug)]
pub struct BridgeConfig {
    /// Bridge interface name (1 to 15 characters).
    pub name: String,
    /// The bridge's address; its subnet is the containers' (`--bip`).
    pub cidr: Ipv4Cidr,
    /// Name of berth's `table inet <nft_table>`.
    pub nft_table: String,
    /// Where the address allocations are persisted.
    pub state_dir: PathBuf,
    pub mtu: u32,
}

impl Default for BridgeConfig {
    fn default() -> Self {
        BridgeConfig {
            name: "berth0".into(),
            cidr: Ipv4Cidr {
                addr: Ipv4Addr::new(172, 30, 0, 1),
                prefix_len: 16,
            },
            nft_table: "berth".into(),
            state_dir: PathBuf::from("/var/lib/berth/network"),
            mtu: 1500,
        }
    }
}

/// A container's side of the network, as [`Network::attach`] set it up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// The host end of the veth pair (the container end is `eth0`).
    pub host_veth: String,
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Ipv4Addr,
    /// `02:42:` followed by the IPv4 address, as docker derives it.
    pub mac: String,
}

struct Inner {
    state: ipam::State,
    /// Bound host sockets that keep published ports from being taken by host programs.
    reservations: HashMap<String, Vec<OwnedFd>>,
    /// Containers that have port rules although the state records no ports for them
    /// (found at setup: the state of an earlier boot, or a lost save). Detach removes them.
    stale_rules: HashSet<String>,
    /// The bridge's interface index, as last seen.
    bridge_index: u32,
    /// Host veths waiting for the reaper.
    doomed: VecDeque<String>,
    /// The host veths the reaper is deleting right now.
    deleting: Vec<String>,
    /// Addresses of detached containers whose veth is not deleted yet (by veth name):
    /// not handed out again until it is, so no stale eth0 answers for them.
    releasing: HashMap<String, Option<Ipv4Addr>>,
    /// Tells the reaper to finish its queue and stop.
    stop: bool,
}

struct Shared {
    inner: Mutex<Inner>,
    /// Signalled when the reaper's queue or its current deletion changes.
    reaped: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere leaves the state as consistent as its last save: keep going.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, Inner>) -> MutexGuard<'a, Inner> {
        self.reaped.wait(guard).unwrap_or_else(|e| e.into_inner())
    }
}

/// The bridge network, set up and ready to take containers. Safe to share between
/// threads; state changes are serialised internally.
pub struct Network {
    cfg: BridgeConfig,
    state_path: PathBuf,
    shared: Arc<Shared>,
    reaper: Mutex<Option<JoinHandle<()>>>,
}

/// The reaper: deletes the host veths `detach` queued, all that are queued at once in one
/// kernel operation. A deletion that fails keeps the addresses blocked (in memory); the
/// next [`Network::setup`] retries it.
fn reap(shared: Arc<Shared>) {
    let mut inner = shared.lock();
    loop {
        if !inner.doomed.is_empty() {
            let veths: Vec<String> = inner.doomed.drain(..).collect();
            inner.deleting.clone_from(&veths);
            drop(inner);
            let done = netlink::delete_links(&veths).is_ok();
            inner = shared.lock();
            inner.deleting.clear();
            if done {
                for veth in &veths {
                    inner.releasing.remove(veth);
                }
            }
            shared.reaped.notify_all();
        } else if inner.stop {
            return;
        } else {
            inner = shared.wait(inner);
        }
    }
}

/// Whether `name` looks like a host veth of ours (see [`host_veth_name`]).
fn is_host_veth(name: &str) -> bool {
    name.len() == 14
        && name.starts_with("vb")
        && name[2..]
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

fn valid_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn valid_table(name: &str) -> bool {
    name.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && name.len() <= 64
}

/// The host end of a container's veth: derived from the id, so detach finds it even when
/// nothing was recorded (crash between creating it and saving state).
fn host_veth_name(container_id: &str) -> String {
    // FNV-1a: stable across releases, unlike std's hasher.
    let hash = container_id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("vb{:012x}", hash >> 16)
}

/// Docker's MAC for an IPv4 address: 02:42 then the four address bytes.
fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let [a, b, c, d] = ip.octets();
    [0x02, 0x42, a, b, c, d]
}

fn mac_string(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn write_sysctl(path: &str, value: &str) -> Result<()> {
    let current = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    if current.trim() == value {
        return Ok(());
    }
    std::fs::write(path, value).map_err(|e| Error::io(path, e))
}

impl Network {
    /// Creates (or adopts) the bridge with its address, enables forwarding and
    /// `route_localnet` on the bridge, and installs the nft table. Idempotent.
    pub fn setup(cfg: BridgeConfig) -> Result<Network> {
        if !valid_ifname(&cfg.name) {
            return Err(Error::InvalidInterfaceName(cfg.name));
        }
        if !valid_table(&cfg.nft_table) {
            return Err(Error::InvalidTableName(cfg.nft_table));
        }
        let cidr = Ipv4Cidr::new(cfg.cidr.addr, cfg.cidr.prefix_len)?;
        std::fs::create_dir_all(&cfg.state_dir).map_err(|e| Error::io(&cfg.state_dir, e))?;
        let state_path = cfg.state_dir.join(format!("ipam-{}.json", cfg.name));
        let state = ipam::State::load_current(&state_path, ipam::boot_id().as_deref())?;

        let bridge = netlink::ensure_bridge(&cfg.name, cidr, cfg.mtu)?;
        write_sysctl("/proc/sys/net/ipv4/ip_forward", "1")?;
        // Lets the host's own 127.0.0.1 connections be DNATed out through the bridge.
        write_sysctl(
            &format!("/proc/sys/net/ipv4/conf/{}/route_localnet", cfg.name),
            "1",
        )?;
        nft::setup(&cfg.nft_table, &cfg.name, cidr)?;

        // What a crash left behind. Rules: the state is saved before rules go in, so only a
        // lost state (an earlier boot, see `ipam::State`) leaves rules it does not know of.
        let stale_rules = nft::tagged_containers(&cfg.nft_table)?
            .into_iter()
            .filter(|id| state.containers.get(id).is_none_or(|e| e.ports.is_empty()))
            .collect();
        // Veths: a container's address is saved before its veth is made, so a veth of ours
        // that no recorded container owns was being deleted when the daemon died.
        let known: HashSet<String> = state
            .containers
            .keys()
            .map(|id| host_veth_name(id))
            .collect();
        let leftovers: Vec<String> = bridge
            .ports
            .into_iter()
            .filter(|port| is_host_veth(port) && !known.contains(port))
            .collect();
        if !leftovers.is_empty() {
            netlink::delete_links(&leftovers)?;
        }

        // Published ports of containers that outlived the previous daemon are held again,
        // so that no host program binds them while the rules send their traffic to a
        // container. One taken meanwhile stays taken: its rules apply all the same.
        let mut reservations: HashMap<String, Vec<OwnedFd>> = HashMap::new();
        for (id, e) in &state.containers {
            for b in &e.ports {
                if let Ok(fd) = ports::reserve(b) {
                    reservations.entry(id.clone()).or_default().push(fd);
                }
            }
        }

        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                state,
                reservations,
                stale_rules,
                bridge_index: bridge.index,
                doomed: VecDeque::new(),
                deleting: Vec::new(),
                releasing: HashMap::new(),
                stop: false,
            }),
            reaped: Condvar::new(),
        });
        let reaper = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("berth-net-reaper".into())
                .spawn(move || reap(shared))
                .map_err(|e| Error::io("spawning the veth reaper thread", e))?
        };
        Ok(Network {
            cfg,
            state_path,
            shared,
            reaper: Mutex::new(Some(reaper)),
        })
    }

    pub fn config(&self) -> &BridgeConfig {
        &self.cfg
    }

    /// The bridge's address, the containers' default gateway.
    pub fn gateway(&self) -> Ipv4Addr {
        self.cfg.cidr.addr
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.shared.lock()
    }

    /// Waits until every veth that [`Network::detach`] handed to the background reaper is
    /// deleted (and its address free again).
    pub fn settle(&self) {
        let mut inner = self.lock();
        while !inner.doomed.is_empty() || !inner.deleting.is_empty() {
            inner = self.shared.wait(inner);
        }
    }

    /// Takes `veth` back from the reaper before a new one of that name is made: out of
    /// the queue, or (when the reaper is at it) once it is gone.
    fn unreap(&self, veth: &str) {
        let mut inner = self.lock();
        inner.doomed.retain(|v| v != veth);
        while inner.deleting.iter().any(|v| v == veth) {
            inner = self.shared.wait(inner);
        }
        inner.releasing.remove(veth);
    }

    /// Gives the container an address from the subnet (the same one again if it has one)
    /// and persists it before returning.
    pub fn allocate(&self, container_id: &str) -> Result<Ipv4Addr> {
        let mut inner = self.lock();
        if let Some(ip) = inner.state.containers.get(container_id).and_then(|e| e.ip) {
            return Ok(ip);
        }
        let busy = inner.releasing.values().filter_map(|ip| *ip);
        let ip = inner.state.next_free(self.cfg.cidr, busy)?;
        let mut state = inner.state.clone();
        state.last = Some(ip);
        state.containers.entry(container_id.into()).or_default().ip = Some(ip);
        state.save(&self.state_path)?;
        inner.state = state;
        Ok(ip)
    }

    /// Connects the network namespace of process `netns_pid` to the bridge: a veth pair
    /// whose container end is `eth0` with `ip`, the default route via the bridge, and `lo`
    /// up. Attaching again replaces an earlier veth of the same container.
    pub fn attach(&self, container_id: &str, netns_pid: i32, ip: Ipv4Addr) -> Result<Endpoint> {
        let cidr = self.cfg.cidr;
        if !cidr.is_host(ip) {
            return Err(Error::AddressOutOfSubnet {
                ip,
                subnet: cidr.subnet_string(),
                bridge: self.cfg.name.clone(),
            });
        }
        self.claim(container_id, ip)?;

        let path = PathBuf::from(format!("/proc/{netns_pid}/ns/net"));
        let netns = File::open(&path).map_err(|source| Error::Netns {
            pid: netns_pid,
            path: path.clone(),
            source,
        })?;
        let host_veth = host_veth_name(container_id);
        self.unreap(&host_veth);
        let mac = mac_for(ip);
        let side = netlink::ContainerSide {
            ip,
            prefix_len: cidr.prefix_len,
            gateway: cidr.addr,
            mac,
            mtu: self.cfg.mtu,
        };
        let bridge_index = self.lock().bridge_index;
        let mut res = netlink::attach_veth(&host_veth, bridge_index, &netns, &side);
        if let Err(netlink::AttachError::Create(_)) = &res {
            // The bridge may have been made again (another index) since we last looked.
            match netlink::link_index(&self.cfg.name)? {
                Some(index) if index != bridge_index => {
                    self.lock().bridge_index = index;
                    res = netlink::attach_veth(&host_veth, index, &netns, &side);
                }
                Some(_) => {}
                None => {
                    res = Err(netlink::AttachError::Other(Error::LinkNotFound {
                        name: self.cfg.name.clone(),
                    }))
                }
            }
        }
        if let Err(e) = res {
            // Deleting the host end takes the container end with it.
            let _ = netlink::delete_link(&host_veth);
            return Err(e.into());
        }
        Ok(Endpoint {
            host_veth,
            ip,
            prefix_len: cidr.prefix_len,
            gateway: cidr.addr,
            mac: mac_string(mac),
        })
    }

    /// Records `ip` as the container's (refusing an address another container holds).
    fn claim(&self, container_id: &str, ip: Ipv4Addr) -> Result<()> {
        let mut inner = self.lock();
        if let Some(owner) = inner.state.owner_of(ip) {
            if owner != container_id {
                return Err(Error::AddressInUse {
                    ip,
                    owner: owner.into(),
                });
            }
            return Ok(());
        }
        let mut state = inner.state.clone();
        state.containers.entry(container_id.into()).or_default().ip = Some(ip);
        state.save(&self.state_path)?;
        inner.state = state;
        Ok(())
    }

    /// Publishes ports of the container at `ip`. Host port 0 picks a free port from the
    /// ephemeral range. Returns the bindings with their actual host ports. Either every
    /// binding is published or none is.
    pub fn publish(
        &self,
        container_id: &str,
        ip: Ipv4Addr,
        bindings: &[PortBinding],
    ) -> Result<Vec<PortBinding>> {
        for b in bindings {
            ports::validate(b)?;
        }
        let mut inner = self.lock();
        let mut taken: Vec<PortBinding> = inner
            .state
            .containers
            .values()
            .flat_map(|e| e.ports.iter().cloned())
            .collect();
        let mut resolved = Vec::with_capacity(bindings.len());
        let mut fds = Vec::with_capacity(bindings.len());
        for b in bindings {
            let (binding, fd) = if b.host_port == 0 {
                let (port, fd) = ports::reserve_random(b, &taken)?;
                (
                    PortBinding {
                        host_port: port,
                        ..b.clone()
                    },
                    fd,
                )
            } else {
                if taken.iter().any(|t| t.conflicts_with(b)) {
                    return Err(Error::PortAllocated {
                        host_ip: b.display_host_ip(),
                        host_port: b.host_port,
                    });
                }
                let fd = ports::reserve(b).map_err(|source| Error::HostPortBind {
                    host_ip: b.display_host_ip(),
                    host_port: b.host_port,
                    container_ip: ip,
                    container_port: b.container_port,
                    proto: b.proto.as_str(),
                    reason: ports::describe_bind_error(&source),
                })?;
                (b.clone(), fd)
            };
            taken.push(binding.clone());
            resolved.push(binding);
            fds.push(fd);
        }
        if resolved.is_empty() {
            return Ok(resolved);
        }

        let before = inner.state.clone();
        let mut state = before.clone();
        let entry = state.containers.entry(container_id.into()).or_default();
        entry.ports.extend(resolved.iter().cloned());
        // State first, so a crash right after leaves ports that detach knows to release;
        // the nft batch is atomic, so when it fails nothing got in and the state goes back.
        state.save(&self.state_path)?;
        inner.state = state;
        if let Err(e) = nft::publish(&self.cfg.nft_table, container_id, ip, &resolved) {
            if before.save(&self.state_path).is_ok() {
                inner.state = before;
            }
            return Err(e);
        }
        inner
            .reservations
            .entry(container_id.into())
            .or_default()
            .extend(fds);
        Ok(resolved)
    }

    /// Removes the container's port rules, veth, port reservations and address.
    /// Idempotent, and complete even after a crash of the daemon.
    ///
    /// The rules are gone when this returns; nft runs only when the state says the
    /// container published ports (the state is saved before rules go in) or setup found
    /// rules of it. The veth is deleted by a background thread (see [`Network::settle`]);
    /// its address is not handed out again before that.
    pub fn detach(&self, container_id: &str) -> Result<()> {
        let rules = {
            let inner = self.lock();
            inner.stale_rules.contains(container_id)
                || inner
                    .state
                    .containers
                    .get(container_id)
                    .is_some_and(|e| !e.ports.is_empty())
        };
        if rules {
            nft::unpublish(&self.cfg.nft_table, container_id)?;
        }
        let veth = host_veth_name(container_id);
        let mut inner = self.lock();
        inner.stale_rules.remove(container_id);
        inner.reservations.remove(container_id);
        let ip = inner.state.containers.get(container_id).and_then(|e| e.ip);
        if !inner.doomed.contains(&veth) {
            inner.doomed.push_back(veth.clone());
        }
        let blocked = inner.releasing.entry(veth).or_default();
        *blocked = blocked.or(ip);
        self.shared.reaped.notify_all();
        if inner.state.containers.contains_key(container_id) {
            let mut state = inner.state.clone();
            state.containers.remove(container_id);
            state.save(&self.state_path)?;
            inner.state = state;
        }
        Ok(())
    }

    /// Removes everything [`Network::setup`] and the containers created: every port of the
    /// bridge, the bridge, the nft table and the persisted allocations. For tests and
    /// uninstalling; the daemon leaves its bridge in place when it stops.
    pub fn teardown(&self) -> Result<()> {
        self.settle();
        let mut inner = self.lock();
        nft::delete_table(&self.cfg.nft_table)?;
        let veths: Vec<String> = inner
            .state
            .containers
            .keys()
            .map(|id| host_veth_name(id))
            .collect();
        if !veths.is_empty() {
            netlink::delete_links(&veths)?;
        }
        netlink::delete_bridge_and_ports(&self.cfg.name)?;
        inner.reservations.clear();
        inner.stale_rules.clear();
        inner.releasing.clear();
        inner.state = ipam::State {
            boot_id: inner.state.boot_id.take(),
            ..ipam::State::default()
        };
        remove_if_exists(&self.state_path)
    }
}

impl Drop for Network {
    /// Lets the reaper finish the deletions it was given.
    fn drop(&mut self) {
        self.lock().stop = true;
        self.shared.reaped.notify_all();
        let reaper = self
            .reaper
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(reaper) = reaper {
            let _ = reaper.join();
        }
    }
}

fn remove_if_exists(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path, e)),
    }
}

#[cfg(test)]
mod tests;
