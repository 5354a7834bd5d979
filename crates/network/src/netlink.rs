//! Links, addresses and routes through rtnetlink.
//!
//! Every function here is blocking. The per-container ones ([`attach_veth`],
//! [`delete_link`], [`link_index`]) talk netlink directly through [`crate::nl`], in as few
//! round trips as possible. The rare ones (bridge setup and teardown) use rtnetlink's
//! async API on a current-thread tokio runtime on a short-lived thread of its own (so they
//! work from any caller, async or not).

use std::fs::File;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsFd;
use std::os::fd::AsRawFd;
use std::os::fd::OwnedFd;

use futures_util::TryStreamExt;
use rtnetlink::packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use rtnetlink::packet_route::link::{
    InfoData, InfoKind, InfoPortKind, InfoVeth, LinkAttribute, LinkInfo, LinkMessage,
};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::{
    AddressMessageBuilder, Handle, LinkBridge, LinkBridgePort, LinkMessageBuilder, LinkUnspec,
    LinkVeth, RouteMessageBuilder,
};

use crate::error::{Error, Result};
use crate::{nl, Ipv4Cidr};

/// Runs `f` with a netlink handle whose socket lives in the calling thread's netns, on a
/// runtime of its own.
fn run<T, F, Fut>(f: F) -> Result<T>
where
    F: FnOnce(Handle) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(|e| Error::netlink("starting a netlink runtime", e))?;
    rt.block_on(async {
        let (conn, handle, _) = rtnetlink::new_connection()
            .map_err(|e| Error::netlink("opening a netlink socket", e))?;
        let task = tokio::spawn(conn);
        let out = f(handle).await;
        task.abort();
        out
    })
}

/// [`run`] on a short-lived thread, so callers may even be inside an async task (where
/// starting a runtime would panic). The thread inherits the caller's netns.
fn run_off_thread<T, F, Fut>(f: F) -> Result<T>
where
    T: Send,
    F: FnOnce(Handle) -> Fut + Send,
    Fut: Future<Output = Result<T>>,
{
    std::thread::scope(|s| {
        s.spawn(|| run(f))
            .join()
            .unwrap_or_else(|_| Err(Error::netlink("netlink worker", "thread panicked")))
    })
}

fn errno(err: &rtnetlink::Error) -> Option<i32> {
    match err {
        rtnetlink::Error::NetlinkError(msg) => Some(-msg.raw_code()),
        _ => None,
    }
}

async fn get_link(handle: &Handle, name: &str) -> Result<Option<LinkMessage>> {
    let mut links = handle.link().get().match_name(name.to_string()).execute();
    match links.try_next().await {
        Ok(link) => Ok(link),
        Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(None),
        Err(e) => Err(Error::netlink(format!("looking up link {name}"), e)),
    }
}

fn link_kind(link: &LinkMessage) -> Option<&InfoKind> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::LinkInfo(infos) => infos.iter().find_map(|i| match i {
            LinkInfo::Kind(kind) => Some(kind),
            _ => None,
        }),
        _ => None,
    })
}

/// The bridge as [`ensure_bridge`] left it.
pub(crate) struct Bridge {
    pub index: u32,
    /// Names of the links enslaved to it.
    pub ports: Vec<String>,
}

/// Creates the bridge if missing, gives it `cidr` (unless it already has it), sets the
/// MTU and brings it up. Returns its index and its ports.
pub(crate) fn ensure_bridge(name: &str, cidr: Ipv4Cidr, mtu: u32) -> Result<Bridge> {
    run_off_thread(|h| async move {
        let link = match get_link(&h, name).await? {
            Some(link) => link,
            None => {
                let add = h
                    .link()
                    .add(LinkBridge::new(name).mtu(mtu).build())
                    .execute()
                    .await;
                match add {
                    Ok(()) => {}
                    // Another setup raced us: fine, use theirs.
                    Err(e) if errno(&e) == Some(libc::EEXIST) => {}
                    Err(e) => return Err(Error::netlink(format!("creating bridge {name}"), e)),
                }
                get_link(&h, name)
                    .await?
                    .ok_or_else(|| Error::LinkNotFound { name: name.into() })?
            }
        };
        if link_kind(&link) != Some(&InfoKind::Bridge) {
            return Err(Error::NotABridge { name: name.into() });
        }
        let index = link.header.index;

        let mut addrs = h.address().get().set_link_index_filter(index).execute();
        let mut present = false;
        while let Some(addr) = addrs
            .try_next()
            .await
            .map_err(|e| Error::netlink(format!("listing addresses of {name}"), e))?
        {
            let has = addr.attributes.iter().any(|a| {
                matches!(a, rtnetlink::packet_route::address::AddressAttribute::Address(ip)
                    if *ip == IpAddr::V4(cidr.addr))
            });
            if has && addr.header.prefix_len == cidr.prefix_len {
                present = true;
            }
        }
        if !present {
            match h
                .address()
                .add(index, IpAddr::V4(cidr.addr), cidr.prefix_len)
                .execute()
                .await
            {
                Ok(()) => {}
                Err(e) if errno(&e) == Some(libc::EEXIST) => {}
                Err(e) => return Err(Error::netlink(format!("adding {cidr} to bridge {name}"), e)),
            }
        }
        h.link()
            .set(LinkUnspec::new_with_index(index).mtu(mtu).up().build())
            .execute()
            .await
            .map_err(|e| Error::netlink(format!("bringing up bridge {name}"), e))?;
        let ports = ports_of(&h, index)
            .await?
            .into_iter()
            .filter_map(|(_, name)| name)
            .collect();
        Ok(Bridge { index, ports })
    })
}

/// Index and name of every link enslaved to the link `controller`.
async fn ports_of(h: &Handle, controller: u32) -> Result<Vec<(u32, Option<String>)>> {
    let mut ports = Vec::new();
    let mut links = h.link().get().execute();
    while let Some(link) = links
        .try_next()
        .await
        .map_err(|e| Error::netlink("listing links", e))?
    {
        if link
            .attributes
            .iter()
            .any(|a| matches!(a, LinkAttribute::Controller(c) if *c == controller))
        {
            let name = link.attributes.iter().find_map(|a| match a {
                LinkAttribute::IfName(n) => Some(n.clone()),
                _ => None,
            });
            ports.push((link.header.index, name));
        }
    }
    Ok(ports)
}

/// What one request of a batch is called in errors.
fn nl_err(context: impl Into<String>, errno: rustix::io::Errno) -> Error {
    Error::netlink(context.into(), std::io::Error::from(errno))
}

fn io_err(context: &str, e: std::io::Error) -> Error {
    Error::netlink(context.to_string(), e)
}

fn by_name(name: &str) -> LinkMessage {
    LinkUnspec::new_with_name(name).build()
}

/// The index of the link `name`, if there is one.
pub(crate) fn link_index(name: &str) -> Result<Option<u32>> {
    let mut sock = nl::Socket::open().map_err(|e| io_err("opening a netlink socket", e))?;
    let reply = sock
        .batch(vec![(RouteNetlinkMessage::GetLink(by_name(name)), 0)])
        .map_err(|e| io_err("talking netlink", e))?;
    match reply.into_iter().next() {
        Some(Ok(Some(RouteNetlinkMessage::NewLink(link)))) => Ok(Some(link.header.index)),
        Some(Err(e)) if e == rustix::io::Errno::NODEV => Ok(None),
        Some(Err(e)) => Err(nl_err(format!("looking up link {name}"), e)),
        _ => Err(Error::LinkNotFound { name: name.into() }),
    }
}

/// Deletes a link by name (one request); `false` when there was none. Deleting a veth
/// waits in the kernel for RCU (tens of milliseconds), which is why [`crate::Network`]
/// leaves it to its reaper thread.
pub(crate) fn delete_link(name: &str) -> Result<bool> {
    let mut sock = nl::Socket::open().map_err(|e| io_err("opening a netlink socket", e))?;
    let reply = sock
        .batch(vec![(RouteNetlinkMessage::DelLink(by_name(name)), 0)])
        .map_err(|e| io_err("talking netlink", e))?;
    match reply.into_iter().next() {
        Some(Ok(_)) => Ok(true),
        Some(Err(e)) if e == rustix::io::Errno::NODEV => Ok(false),
        Some(Err(e)) => Err(nl_err(format!("deleting link {name}"), e)),
        None => Ok(false),
    }
}

/// Deletes the links `names` in one go: they get a link group of their own (a random
/// one), then the group is deleted, so the kernel unregisters them together and waits for
/// RCU once rather than once per link. Links already gone are skipped.
pub(crate) fn delete_links(names: &[String]) -> Result<()> {
    if let [name] = names {
        return delete_link(name).map(|_| ());
    }
    let group = loop {
        // Not 0 (every link's default) nor another small number someone may use.
        let g = rand::random::<u32>();
        if g > 0xffff {
            break g;
        }
    };
    let mut sock = nl::Socket::open().map_err(|e| io_err("opening a netlink socket", e))?;
    let tag = names
        .iter()
        .map(|n| {
            let msg = LinkUnspec::new_with_name(n).link_group(group).build();
            (RouteNetlinkMessage::SetLink(msg), 0)
        })
        .collect();
    let replies = sock.batch(tag).map_err(|e| io_err("talking netlink", e))?;
    let mut tagged = false;
    for (reply, name) in replies.into_iter().zip(names) {
        match reply {
            Ok(_) => tagged = true,
            Err(e) if e == rustix::io::Errno::NODEV => {}
            Err(e) => return Err(nl_err(format!("setting the link group of {name}"), e)),
        }
    }
    if !tagged {
        return Ok(());
    }
    let del = LinkMessageBuilder::<LinkUnspec>::new()
        .link_group(group)
        .build();
    let reply = sock
        .batch(vec![(RouteNetlinkMessage::DelLink(del), 0)])
        .map_err(|e| io_err("talking netlink", e))?;
    match reply.into_iter().next() {
        Some(Err(e)) if e != rustix::io::Errno::NODEV => {
            Err(nl_err(format!("deleting links {}", names.join(", ")), e))
        }
        _ => Ok(()),
    }
}

/// What the container end of a veth pair gets.
pub(crate) struct ContainerSide {
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Ipv4Addr,
    pub mac: [u8; 6],
    pub mtu: u32,
}

/// Creates the veth pair `host` ⇄ `eth0` (replacing an earlier `host`): `host` enslaved to
/// the bridge (index `bridge_index`), hairpin on (so a container reaches its own published
/// ports) and up; `eth0` created directly inside the netns behind `netns`, then given its
/// address, brought up (not at creation: a veth end cannot go up before its peer is
/// linked, ENOTCONN) and given the default route through a netlink socket opened in that
/// netns.
///
/// Two round trips: one batch on the host (delete the old pair, create the pair, hairpin,
/// look up the peer's index), one in the container (address, `eth0` and `lo` up, route).
pub(crate) fn attach_veth(
    host: &str,
    bridge_index: u32,
    netns: &File,
    side: &ContainerSide,
) -> std::result::Result<(), AttachError> {
    use AttachError::{Create, Other};
    let mut sock = nl::Socket::open().map_err(|e| Other(io_err("opening a netlink socket", e)))?;
    let peer = LinkMessageBuilder::<LinkUnspec>::new()
        .name("eth0")
        .mtu(side.mtu)
        .address(side.mac.to_vec())
        .setns_by_fd(netns.as_raw_fd())
        .build();
    let veth = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
        .name(host)
        .mtu(side.mtu)
        .controller(bridge_index)
        .up()
        .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
        .build();
    let hairpin = LinkMessageBuilder::<LinkBridgePort>::default()
        .name(host)
        .set_port_kind(InfoPortKind::Bridge)
        .hairpin(true)
        .build();
    let replies = sock
        .batch(vec![
            (RouteNetlinkMessage::DelLink(by_name(host)), 0),
            (
                RouteNetlinkMessage::NewLink(veth),
                NLM_F_CREATE | NLM_F_EXCL,
            ),
            (RouteNetlinkMessage::NewLink(hairpin), 0),
            (RouteNetlinkMessage::GetLink(by_name(host)), 0),
        ])
        .map_err(|e| Other(io_err("talking netlink", e)))?;
    let mut replies = replies.into_iter();
    match replies.next() {
        Some(Err(e)) if e != rustix::io::Errno::NODEV => {
            return Err(Other(nl_err(format!("deleting link {host}"), e)))
        }
        _ => {}
    }
    if let Some(Err(e)) = replies.next() {
        return Err(Create(nl_err(
            format!("creating veth {host} (peer eth0 in the container)"),
            e,
        )));
    }
    if let Some(Err(e)) = replies.next() {
        return Err(Other(nl_err(format!("setting hairpin mode on {host}"), e)));
    }
    let peer_index = match replies.next() {
        Some(Ok(Some(RouteNetlinkMessage::NewLink(link)))) => {
            link.attributes.iter().find_map(|a| match a {
                LinkAttribute::Link(i) => Some(*i),
                _ => None,
            })
        }
        Some(Err(e)) => return Err(Other(nl_err(format!("looking up link {host}"), e))),
        _ => None,
    }
    .ok_or_else(|| {
        Other(Error::LinkNotFound {
            name: "eth0 (in the container)".into(),
        })
    })?;
    configure_eth0(netns, peer_index, side).map_err(Other)
}

/// Why [`attach_veth`] failed: creating the pair (which a stale bridge index can explain),
/// or anything else.
pub(crate) enum AttachError {
    Create(Error),
    Other(Error),
}

impl From<AttachError> for Error {
    fn from(e: AttachError) -> Error {
        match e {
            AttachError::Create(e) | AttachError::Other(e) => e,
        }
    }
}

/// A netlink socket inside the netns `netns`. Sockets belong to the netns of the thread
/// that creates them, so a short-lived thread enters the netns, opens it and dies (no other
/// work ever runs in the wrong netns); the socket keeps working from any thread.
fn socket_in(netns: &File) -> Result<nl::Socket> {
    std::thread::scope(|s| {
        s.spawn(|| {
            rustix::thread::move_into_link_name_space(
                netns.as_fd(),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )
            .map_err(|e| Error::netlink("entering the container's network namespace", e))?;
            nl::Socket::open().map_err(|e| io_err("opening a netlink socket in the container", e))
        })
        .join()
        .unwrap_or_else(|_| {
            Err(Error::netlink(
                "configuring the container's network namespace",
                "worker thread panicked",
            ))
        })
    })
}

/// A new network namespace with `lo` up, made on a thread of its own (namespaces are per
/// thread: the caller's stays as it is); the returned descriptor keeps it alive.
pub(crate) fn new_namespace() -> Result<OwnedFd> {
    std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: NEWNET only; no file descriptor table is unshared.
            unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNET) }
                .map_err(|e| Error::netlink("creating a network namespace", e))?;
            let ns = rustix::fs::open(
                "/proc/thread-self/ns/net",
                rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            )
            .map_err(|e| Error::netlink("opening the new network namespace", e))?;
            let mut sock = nl::Socket::open()
                .map_err(|e| io_err("opening a netlink socket in the new namespace", e))?;
            let lo = LinkUnspec::new_with_name("lo").up().build();
            let replies = sock
                .batch(vec![(RouteNetlinkMessage::SetLink(lo), 0)])
                .map_err(|e| io_err("talking netlink in the new namespace", e))?;
            for reply in replies {
                reply.map_err(|e| nl_err("bringing up lo in the new namespace", e))?;
            }
            Ok(ns)
        })
        .join()
        .unwrap_or_else(|_| {
            Err(Error::netlink(
                "creating a network namespace",
                "worker thread panicked",
            ))
        })
    })
}

/// In the container: `eth0` (index `index`) gets its address and goes up, so does `lo`,
/// the default route goes via the gateway. One batch.
fn configure_eth0(netns: &File, index: u32, side: &ContainerSide) -> Result<()> {
    let mut sock = socket_in(netns)?;
    let addr = AddressMessageBuilder::<Ipv4Addr>::new()
        .index(index)
        .address(side.ip, side.prefix_len)
        .build();
    let eth0 = LinkUnspec::new_with_index(index).up().build();
    let lo = LinkUnspec::new_with_name("lo").up().build();
    let route = RouteMessageBuilder::<Ipv4Addr>::new()
        .gateway(side.gateway)
        .output_interface(index)
        .build();
    let replies = sock
        .batch(vec![
            (
                RouteNetlinkMessage::NewAddress(addr),
                NLM_F_CREATE | NLM_F_EXCL,
            ),
            (RouteNetlinkMessage::SetLink(eth0), 0),
            (RouteNetlinkMessage::SetLink(lo), 0),
            (
                RouteNetlinkMessage::NewRoute(route),
                NLM_F_CREATE | NLM_F_EXCL,
            ),
        ])
        .map_err(|e| io_err("talking netlink in the container", e))?;
    let contexts = [
        format!("adding {}/{} to eth0", side.ip, side.prefix_len),
        "bringing up eth0 in the container".to_string(),
        "bringing up lo in the container".to_string(),
        format!("adding default route via {}", side.gateway),
    ];
    for (reply, context) in replies.into_iter().zip(contexts) {
        if let Err(e) = reply {
            return Err(nl_err(context, e));
        }
    }
    Ok(())
}

/// Deletes every link enslaved to `bridge`, then the bridge. Idempotent.
pub(crate) fn delete_bridge_and_ports(bridge: &str) -> Result<()> {
    run_off_thread(|h| async move {
        let Some(br) = get_link(&h, bridge).await? else {
            return Ok(());
        };
        let index = br.header.index;
        let ports: Vec<u32> = ports_of(&h, index)
            .await?
            .into_iter()
            .map(|(i, _)| i)
            .collect();
        for port in ports.into_iter().chain([index]) {
            match h.link().del(port).execute().await {
                Ok(()) => {}
                Err(e) if errno(&e) == Some(libc::ENODEV) => {}
                Err(e) => {
                    return Err(Error::netlink(
                        format!("deleting link {port} of bridge {bridge}"),
                        e,
                    ))
                }
            }
        }
        Ok(())
    })
}
