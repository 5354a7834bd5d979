//! Links, addresses and routes through rtnetlink.
//!
//! Every function here is blocking: it runs its own current-thread tokio runtime on a
//! short-lived thread of its own (so it works from any caller, async or not).

use std::fs::File;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsFd;
use std::os::fd::AsRawFd;

use futures_util::TryStreamExt;
use rtnetlink::packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkInfo, LinkMessage,
};
use rtnetlink::{
    Handle, LinkBridge, LinkBridgePort, LinkMessageBuilder, LinkUnspec, LinkVeth,
    RouteMessageBuilder,
};

use crate::error::{Error, Result};
use crate::Ipv4Cidr;

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

/// Creates the bridge if missing, gives it `cidr` (unless it already has it), sets the
/// MTU and brings it up.
pub(crate) fn ensure_bridge(name: &str, cidr: Ipv4Cidr, mtu: u32) -> Result<()> {
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
            .map_err(|e| Error::netlink(format!("bringing up bridge {name}"), e))
    })
}

/// Deletes a link by name; `false` when there was none.
pub(crate) fn delete_link(name: &str) -> Result<bool> {
    run_off_thread(|h| async move {
        let Some(link) = get_link(&h, name).await? else {
            return Ok(false);
        };
        match h.link().del(link.header.index).execute().await {
            Ok(()) => Ok(true),
            Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(false),
            Err(e) => Err(Error::netlink(format!("deleting link {name}"), e)),
        }
    })
}

/// What the container end of a veth pair gets.
pub(crate) struct ContainerSide {
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Ipv4Addr,
    pub mac: [u8; 6],
    pub mtu: u32,
}

/// Creates the veth pair `host` ⇄ `eth0`: `host` enslaved to `bridge` (hairpin on, so a
/// container reaches its own published ports) and up, `eth0` created directly inside
/// the netns behind `netns`, then configured from a thread that entered that netns.
pub(crate) fn attach_veth(
    host: &str,
    bridge: &str,
    netns: &File,
    side: &ContainerSide,
) -> Result<()> {
    let netns_fd = netns.as_raw_fd();
    run_off_thread(|h| async move {
        let br = get_link(&h, bridge)
            .await?
            .ok_or_else(|| Error::LinkNotFound {
                name: bridge.into(),
            })?;
        let peer = LinkMessageBuilder::<LinkUnspec>::new()
            .name("eth0")
            .mtu(side.mtu)
            .address(side.mac.to_vec())
            .setns_by_fd(netns_fd)
            .build();
        let veth = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
            .name(host)
            .mtu(side.mtu)
            .controller(br.header.index)
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
            .build();
        h.link().add(veth).execute().await.map_err(|e| {
            Error::netlink(
                format!("creating veth {host} (peer eth0 in the container)"),
                e,
            )
        })?;
        let link = get_link(&h, host)
            .await?
            .ok_or_else(|| Error::LinkNotFound { name: host.into() })?;
        h.link()
            .set_port(LinkBridgePort::new(link.header.index).hairpin(true).build())
            .execute()
            .await
            .map_err(|e| Error::netlink(format!("setting hairpin mode on {host}"), e))?;
        h.link()
            .set(LinkUnspec::new_with_index(link.header.index).up().build())
            .execute()
            .await
            .map_err(|e| Error::netlink(format!("bringing up {host}"), e))
    })?;
    in_netns(netns, |h| configure_eth0(h, side))
}

async fn configure_eth0(h: Handle, side: &ContainerSide) -> Result<()> {
    let eth0 = get_link(&h, "eth0")
        .await?
        .ok_or_else(|| Error::LinkNotFound {
            name: "eth0 (in the container)".into(),
        })?;
    let index = eth0.header.index;
    h.address()
        .add(index, IpAddr::V4(side.ip), side.prefix_len)
        .execute()
        .await
        .map_err(|e| {
            Error::netlink(format!("adding {}/{} to eth0", side.ip, side.prefix_len), e)
        })?;
    h.link()
        .set(LinkUnspec::new_with_index(index).up().build())
        .execute()
        .await
        .map_err(|e| Error::netlink("bringing up eth0 in the container", e))?;
    let lo = get_link(&h, "lo")
        .await?
        .ok_or_else(|| Error::LinkNotFound {
            name: "lo (in the container)".into(),
        })?;
    h.link()
        .set(LinkUnspec::new_with_index(lo.header.index).up().build())
        .execute()
        .await
        .map_err(|e| Error::netlink("bringing up lo in the container", e))?;
    let route = RouteMessageBuilder::<Ipv4Addr>::new()
        .gateway(side.gateway)
        .output_interface(index)
        .build();
    h.route()
        .add(route)
        .execute()
        .await
        .map_err(|e| Error::netlink(format!("adding default route via {}", side.gateway), e))
}

/// Runs `f` with a netlink socket opened inside the netns `netns`. Netlink sockets belong
/// to the netns of the thread that creates them, so this happens on a fresh thread that
/// `setns()`s first (and then dies, so no other work runs in the wrong netns).
fn in_netns<T, F, Fut>(netns: &File, f: F) -> Result<T>
where
    T: Send,
    F: FnOnce(Handle) -> Fut + Send,
    Fut: Future<Output = Result<T>>,
{
    std::thread::scope(|s| {
        s.spawn(|| {
            rustix::thread::move_into_link_name_space(
                netns.as_fd(),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )
            .map_err(|e| Error::netlink("entering the container's network namespace", e))?;
            run(f)
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

/// Deletes every link enslaved to `bridge`, then the bridge. Idempotent.
pub(crate) fn delete_bridge_and_ports(bridge: &str) -> Result<()> {
    run_off_thread(|h| async move {
        let Some(br) = get_link(&h, bridge).await? else {
            return Ok(());
        };
        let index = br.header.index;
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
                .any(|a| matches!(a, LinkAttribute::Controller(c) if *c == index))
            {
                ports.push(link.header.index);
            }
        }
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
