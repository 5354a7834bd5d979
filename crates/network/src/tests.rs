//! Against the real kernel (root): a throw-away bridge, subnet and nft table per test, and
//! a process in a fresh network namespace standing in for a container.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;

fn unique() -> String {
    format!("{:06x}", rand::random::<u32>() & 0xff_ffff)
}

/// Runs a command; (success, stdout + stderr).
fn sh(program: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn link_exists(name: &str) -> bool {
    sh("ip", &["link", "show", "dev", name]).0
}

fn table_exists(table: &str) -> bool {
    sh("nft", &["list", "table", "inet", table]).0
}

/// A network with unique names that is torn down (bridge, table, state) even when the
/// test fails half-way.
struct TestNet {
    net: Option<Network>,
    cfg: BridgeConfig,
    _dir: tempfile::TempDir,
}

impl TestNet {
    fn new() -> TestNet {
        let id = unique();
        let dir = tempfile::tempdir().unwrap();
        let r = rand::random::<u16>();
        let cfg = BridgeConfig {
            name: format!("bt{id}"),
            cidr: Ipv4Cidr::new(
                Ipv4Addr::new(10, 100 + (r % 100) as u8, (r >> 8) as u8, 1),
                24,
            )
            .unwrap(),
            nft_table: format!("berth_test_{id}"),
            state_dir: dir.path().join("network"),
            mtu: 1500,
        };
        let net = Network::setup(cfg.clone()).unwrap();
        TestNet {
            net: Some(net),
            cfg,
            _dir: dir,
        }
    }

    fn net(&self) -> &Network {
        self.net.as_ref().unwrap()
    }

    /// Forgets the Network without detaching anything: what a daemon crash leaves.
    fn crash_and_restart(&mut self) {
        self.net = None;
        self.net = Some(Network::setup(self.cfg.clone()).unwrap());
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        if let Some(net) = &self.net {
            let _ = net.teardown();
        }
        // Belt and braces when the Network itself is gone or broken.
        let _ = sh("nft", &["delete", "table", "inet", &self.cfg.nft_table]);
        let _ = sh("ip", &["link", "del", "dev", &self.cfg.name]);
    }
}

/// A process alone in a new network namespace, killed on drop (its netns goes with it).
struct Netns {
    child: Child,
}

impl Netns {
    fn new() -> Netns {
        let child = Command::new("unshare")
            .args(["-n", "sleep", "120"])
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let ns = Netns { child };
        let own = std::fs::read_link("/proc/self/ns/net").unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        // unshare(1) switches namespaces after the fork: wait until it has.
        loop {
            let theirs = std::fs::read_link(format!("/proc/{}/ns/net", ns.pid()));
            if matches!(&theirs, Ok(p) if *p != own) {
                return ns;
            }
            assert!(Instant::now() < deadline, "unshare -n did not switch netns");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn run(&self, args: &[&str]) -> (bool, String) {
        let pid = self.pid().to_string();
        let mut all = vec!["-t", pid.as_str(), "-n"];
        all.extend_from_slice(args);
        sh("nsenter", &all)
    }

    /// A TCP server inside the namespace answering every connection with `reply`.
    fn serve(&self, port: u16, reply: &'static [u8]) -> Server {
        self.serve_with(port, Kind::Tcp, move |_| reply.to_vec())
    }

    /// A TCP or UDP server inside the namespace answering with `reply(peer address)`.
    fn serve_with(
        &self,
        port: u16,
        kind: Kind,
        reply: impl Fn(SocketAddr) -> Vec<u8> + Send + 'static,
    ) -> Server {
        let ns = File::open(format!("/proc/{}/ns/net", self.pid())).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            rustix::thread::move_into_link_name_space(
                ns.as_fd(),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )
            .unwrap();
            match kind {
                Kind::Tcp => {
                    let listener = TcpListener::bind(("0.0.0.0", port)).unwrap();
                    listener.set_nonblocking(true).unwrap();
                    tx.send(()).unwrap();
                    while !flag.load(Ordering::Relaxed) {
                        match listener.accept() {
                            Ok((mut conn, peer)) => {
                                let _ = conn.write_all(&reply(peer));
                            }
                            Err(_) => std::thread::sleep(Duration::from_millis(10)),
                        }
                    }
                }
                Kind::Udp => {
                    let sock = std::net::UdpSocket::bind(("0.0.0.0", port)).unwrap();
                    sock.set_read_timeout(Some(Duration::from_millis(20)))
                        .unwrap();
                    tx.send(()).unwrap();
                    let mut buf = [0u8; 64];
                    while !flag.load(Ordering::Relaxed) {
                        if let Ok((_, peer)) = sock.recv_from(&mut buf) {
                            let _ = sock.send_to(&reply(peer), peer);
                        }
                    }
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
        Server {
            stop,
            thread: Some(thread),
        }
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Tcp,
    Udp,
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Server {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn fetch(addr: SocketAddr) -> std::io::Result<String> {
    let mut conn = TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
    conn.set_read_timeout(Some(Duration::from_secs(3)))?;
    let mut out = String::new();
    conn.read_to_string(&mut out)?;
    Ok(out)
}

fn tcp(host_ip: Option<IpAddr>, host_port: u16, container_port: u16) -> PortBinding {
    PortBinding {
        host_ip,
        host_port,
        container_port,
        proto: Proto::Tcp,
    }
}

fn container_id() -> String {
    format!(
        "{:016x}{:016x}",
        rand::random::<u64>(),
        rand::random::<u64>()
    )
}

#[test]
fn attach_publish_detach_teardown() {
    let t = TestNet::new();
    let net = t.net();
    let cfg = &t.cfg;
    let gw = cfg.cidr.addr;

    let (ok, addrs) = sh("ip", &["-4", "addr", "show", "dev", &cfg.name]);
    assert!(ok, "{addrs}");
    assert!(addrs.contains(&format!("inet {}", cfg.cidr)), "{addrs}");
    assert!(addrs.contains(",UP"), "{addrs}");
    assert!(table_exists(&cfg.nft_table));
    let route_localnet = std::fs::read_to_string(format!(
        "/proc/sys/net/ipv4/conf/{}/route_localnet",
        cfg.name
    ))
    .unwrap();
    assert_eq!(route_localnet.trim(), "1");

    let ns = Netns::new();
    let id = container_id();
    let ip = net.allocate(&id).unwrap();
    assert_eq!(ip, Ipv4Addr::from(u32::from(cfg.cidr.network()) + 2));
    assert_eq!(net.allocate(&id).unwrap(), ip, "allocate is idempotent");
    let ep = net.attach(&id, ns.pid(), ip).unwrap();
    assert_eq!(ep.ip, ip);
    assert_eq!(ep.gateway, gw);
    assert_eq!(ep.prefix_len, 24);
    let [a, b, c, d] = ip.octets();
    assert_eq!(ep.mac, format!("02:42:{a:02x}:{b:02x}:{c:02x}:{d:02x}"));
    assert!(link_exists(&ep.host_veth));
    let (_, master) = sh("ip", &["link", "show", "dev", &ep.host_veth]);
    assert!(master.contains(&format!("master {}", cfg.name)), "{master}");

    let (ok, inside) = ns.run(&["ip", "addr", "show"]);
    assert!(ok, "{inside}");
    assert!(inside.contains(&format!("inet {ip}/24")), "{inside}");
    assert!(inside.contains(&ep.mac), "{inside}");
    assert!(inside.contains("eth0@"), "{inside}");
    assert!(inside.contains("LOOPBACK,UP"), "{inside}");
    let (_, routes) = ns.run(&["ip", "route"]);
    assert!(
        routes.contains(&format!("default via {gw} dev eth0")),
        "{routes}"
    );

    let gw_s = gw.to_string();
    let pinged = (0..3).any(|_| ns.run(&["busybox", "ping", "-c1", "-W1", &gw_s]).0);
    assert!(pinged, "ping {gw} from the container failed");

    let _server = ns.serve(8080, b"hello\n");
    let published = net
        .publish(
            &id,
            ip,
            &[
                tcp(None, 0, 8080),
                tcp(Some(IpAddr::V4(Ipv4Addr::LOCALHOST)), 0, 8080),
            ],
        )
        .unwrap();
    assert_eq!(published.len(), 2);
    let (low, high) = ports::ephemeral_range();
    for p in &published {
        assert!((low..=high).contains(&p.host_port), "{p:?}");
        assert_eq!(p.container_port, 8080);
    }
    let any_port = published[0].host_port;
    let lo_port = published[1].host_port;
    assert_ne!(any_port, lo_port);

    // From the host: loopback, the bridge address; the loopback-only binding too.
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    assert_eq!(fetch(SocketAddr::new(lo, any_port)).unwrap(), "hello\n");
    assert_eq!(
        fetch(SocketAddr::new(IpAddr::V4(gw), any_port)).unwrap(),
        "hello\n"
    );
    assert_eq!(fetch(SocketAddr::new(lo, lo_port)).unwrap(), "hello\n");
    // The loopback-only binding does not answer on the bridge address.
    assert!(fetch(SocketAddr::new(IpAddr::V4(gw), lo_port)).is_err());
    // Hairpin: the container reaches its own published port through the host.
    let (ok, hair) = ns.run(&["busybox", "nc", "-w", "3", &gw_s, &any_port.to_string()]);
    assert!(ok && hair.contains("hello"), "hairpin: {hair}");

    // The host port is held: neither host programs nor other containers get it.
    let err = TcpListener::bind(("127.0.0.1", any_port)).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    let other = container_id();
    let err = net
        .publish(&other, ip, &[tcp(None, any_port, 80)])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("Bind for 0.0.0.0:{any_port} failed: port is already allocated")
    );
    let err = net
        .publish(&other, ip, &[tcp(Some(lo), lo_port, 80)])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("Bind for 127.0.0.1:{lo_port} failed: port is already allocated")
    );
    assert_eq!(nft::rule_handles(&cfg.nft_table, &id).unwrap().len(), 2);
    assert!(nft::rule_handles(&cfg.nft_table, &other)
        .unwrap()
        .is_empty());

    net.detach(&id).unwrap();
    // The rules went at once; the veth goes in the background.
    assert!(nft::rule_handles(&cfg.nft_table, &id).unwrap().is_empty());
    net.settle();
    assert!(!link_exists(&ep.host_veth));
    let (_, inside) = ns.run(&["ip", "addr", "show"]);
    assert!(!inside.contains("eth0"), "{inside}");
    assert!(nft::rule_handles(&cfg.nft_table, &id).unwrap().is_empty());
    assert!(fetch(SocketAddr::new(lo, any_port)).is_err());
    // The port and the address are free again.
    TcpListener::bind(("127.0.0.1", any_port)).unwrap();
    let state = ipam::State::load(&net.state_path).unwrap();
    assert!(!state.containers.contains_key(&id));
    net.detach(&id).unwrap();

    net.teardown().unwrap();
    assert!(!link_exists(&cfg.name));
    assert!(!table_exists(&cfg.nft_table));
    assert!(!net.state_path.exists());
}

#[test]
fn detach_cleans_up_after_a_crash() {
    let mut t = TestNet::new();
    let ns = Netns::new();
    let id = container_id();
    let ip = t.net().allocate(&id).unwrap();
    let ep = t.net().attach(&id, ns.pid(), ip).unwrap();
    let published = t.net().publish(&id, ip, &[tcp(None, 0, 80)]).unwrap();

    t.crash_and_restart();
    let net = t.net();
    // Setup again did not duplicate the static rules nor lose the container's ones.
    let (_, table) = sh("nft", &["list", "table", "inet", &t.cfg.nft_table]);
    assert_eq!(table.matches("masquerade").count(), 3, "{table}");
    assert_eq!(table.matches("jump publish").count(), 2, "{table}");
    assert_eq!(nft::rule_handles(&t.cfg.nft_table, &id).unwrap().len(), 1);
    // The address and the port survived the restart.
    assert_eq!(net.allocate(&id).unwrap(), ip);
    let other = container_id();
    assert_ne!(net.allocate(&other).unwrap(), ip);
    let err = net
        .publish(&other, ip, &[tcp(None, published[0].host_port, 80)])
        .unwrap_err();
    assert!(matches!(err, Error::PortAllocated { .. }), "{err}");

    net.detach(&id).unwrap();
    net.settle();
    assert!(!link_exists(&ep.host_veth));
    assert!(nft::rule_handles(&t.cfg.nft_table, &id).unwrap().is_empty());
    let state = ipam::State::load(&net.state_path).unwrap();
    assert!(!state.containers.contains_key(&id));
    assert!(state.containers.contains_key(&other));
}

#[test]
fn setup_finds_leftovers_nothing_recorded() {
    // A veth and a rule of a container the saved state does not know (the state was lost:
    // written during an earlier boot, or a torn file after a machine crash).
    let mut t = TestNet::new();
    let ns = Netns::new();
    let id = container_id();
    let ip = Ipv4Addr::from(u32::from(t.cfg.cidr.network()) + 9);
    let ep = t.net().attach(&id, ns.pid(), ip).unwrap();
    nft::publish(&t.cfg.nft_table, &id, ip, &[tcp(None, 40999, 80)]).unwrap();
    // And one the state knows, without ports, which must stay.
    let kept = container_id();
    let kept_ip = t.net().allocate(&kept).unwrap();
    let kept_ns = Netns::new();
    let kept_ep = t.net().attach(&kept, kept_ns.pid(), kept_ip).unwrap();
    {
        let mut inner = t.net().lock();
        inner.state.containers.remove(&id);
        inner.state.save(&t.net().state_path).unwrap();
    }
    t.crash_and_restart();
    // The unknown veth went at setup (nothing else can own it); the rule is removed by detach.
    assert!(!link_exists(&ep.host_veth));
    assert!(link_exists(&kept_ep.host_veth));
    assert_eq!(nft::rule_handles(&t.cfg.nft_table, &id).unwrap().len(), 1);
    t.net().detach(&id).unwrap();
    assert!(nft::rule_handles(&t.cfg.nft_table, &id).unwrap().is_empty());
    t.net().detach(&kept).unwrap();
    t.net().settle();
    assert!(!link_exists(&kept_ep.host_veth));
}

#[test]
fn state_of_an_earlier_boot_holds_no_allocations() {
    let mut t = TestNet::new();
    let id = container_id();
    let ip = t.net().allocate(&id).unwrap();
    {
        let mut inner = t.net().lock();
        inner.state.boot_id = Some("an-earlier-boot".into());
        inner.state.save(&t.net().state_path).unwrap();
    }
    t.crash_and_restart();
    let state = t.net().lock().state.clone();
    assert!(state.containers.is_empty(), "{state:?}");
    assert_eq!(
        state.last,
        Some(ip),
        "allocation goes on after the last one"
    );
    assert_eq!(state.boot_id, ipam::boot_id());
    // The next save records this boot.
    let other = container_id();
    t.net().allocate(&other).unwrap();
    let saved = ipam::State::load(&t.net().state_path).unwrap();
    assert_eq!(saved.boot_id, ipam::boot_id());
    assert!(saved.containers.contains_key(&other));
}

#[test]
fn reattach_right_after_detach_and_addresses_held_until_the_veth_is_gone() {
    let t = TestNet::new();
    let net = t.net();
    let ns = Netns::new();
    let id = container_id();
    let ip = net.allocate(&id).unwrap();
    let ep = net.attach(&id, ns.pid(), ip).unwrap();
    net.detach(&id).unwrap();
    // The same container again at once (a restart): its veth is taken back from the
    // reaper or waited for, never deleted after the new one is made.
    let ip2 = net.allocate(&id).unwrap();
    let ep2 = net.attach(&id, ns.pid(), ip2).unwrap();
    assert_eq!(ep.host_veth, ep2.host_veth);
    net.settle();
    assert!(link_exists(&ep2.host_veth));
    let (_, inside) = ns.run(&["ip", "addr", "show"]);
    assert!(inside.contains(&format!("inet {ip2}/24")), "{inside}");

    // While a detached container's veth waits for the reaper, its address is not given out.
    let next = Ipv4Addr::from(u32::from(ip2) + 1);
    net.lock()
        .releasing
        .insert("vb000000000000".into(), Some(next));
    let c = container_id();
    let ip_c = net.allocate(&c).unwrap();
    assert_eq!(ip_c, Ipv4Addr::from(u32::from(next) + 1));
    net.lock().releasing.clear();
    net.detach(&id).unwrap();
    net.detach(&c).unwrap();
    net.settle();
    assert!(net.lock().releasing.is_empty());
    assert!(!link_exists(&ep2.host_veth));
}

#[test]
fn many_containers_at_once() {
    let t = TestNet::new();
    let net = t.net();
    let spaces: Vec<Netns> = (0..8).map(|_| Netns::new()).collect();
    let ids: Vec<String> = (0..8).map(|_| container_id()).collect();
    let eps: Vec<Endpoint> = std::thread::scope(|s| {
        let handles: Vec<_> = spaces
            .iter()
            .zip(&ids)
            .map(|(ns, id)| {
                s.spawn(move || {
                    let ip = net.allocate(id).unwrap();
                    net.attach(id, ns.pid(), ip).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ips: HashSet<Ipv4Addr> = eps.iter().map(|e| e.ip).collect();
    assert_eq!(ips.len(), 8);
    for (ns, ep) in spaces.iter().zip(&eps) {
        assert!(link_exists(&ep.host_veth));
        let (_, routes) = ns.run(&["ip", "route"]);
        assert!(routes.contains("default via"), "{routes}");
    }
    std::thread::scope(|s| {
        for id in &ids {
            s.spawn(move || net.detach(id).unwrap());
        }
    });
    net.settle();
    for ep in &eps {
        assert!(!link_exists(&ep.host_veth));
    }
    assert!(net.lock().state.containers.is_empty());
}

/// A veth from the host (`host_ip`/30) into `ns` (`peer_ip`/30): stands in for the
/// outside world. Removed on drop (and with the namespace anyway).
struct Uplink {
    name: String,
}

impl Uplink {
    fn new(ns: &Netns, host_ip: Ipv4Addr, peer_ip: Ipv4Addr) -> Uplink {
        let up = Uplink {
            name: format!("bu{}", unique()),
        };
        let pid = ns.pid().to_string();
        let steps: [&[&str]; 3] = [
            &[
                "link", "add", &up.name, "type", "veth", "peer", "name", "up0", "netns", &pid,
            ],
            &["addr", "add", &format!("{host_ip}/30"), "dev", &up.name],
            &["link", "set", &up.name, "up"],
        ];
        for args in steps {
            let (ok, out) = sh("ip", args);
            assert!(ok, "ip {args:?}: {out}");
        }
        for args in [
            &["ip", "addr", "add", &format!("{peer_ip}/30"), "dev", "up0"][..],
            &["ip", "link", "set", "up0", "up"],
        ] {
            let (ok, out) = ns.run(args);
            assert!(ok, "{args:?}: {out}");
        }
        up
    }
}

impl Drop for Uplink {
    fn drop(&mut self) {
        let _ = sh("ip", &["link", "del", "dev", &self.name]);
    }
}

#[test]
fn outbound_nat_udp_and_teardown_of_unrecorded_veths() {
    let t = TestNet::new();
    let net = t.net();
    let ctr = Netns::new();
    let id = container_id();
    let ip = net.allocate(&id).unwrap();
    net.attach(&id, ctr.pid(), ip).unwrap();

    // Outbound: the "outside" only knows the uplink's /30 and the host, so the container's
    // connection works only if it leaves masqueraded as the host's uplink address.
    let outside = Netns::new();
    let r = rand::random::<u8>() & 0x3f;
    let host_ip = Ipv4Addr::new(10, 99, r, 1);
    let peer_ip = Ipv4Addr::new(10, 99, r, 2);
    let _uplink = Uplink::new(&outside, host_ip, peer_ip);
    let _echo_source =
        outside.serve_with(7000, Kind::Tcp, |peer| peer.ip().to_string().into_bytes());
    let (ok, seen) = ctr.run(&["busybox", "nc", "-w", "3", &peer_ip.to_string(), "7000"]);
    assert!(ok, "{seen}");
    assert_eq!(seen.trim(), host_ip.to_string());

    // UDP publishing, from the host's loopback.
    let _pong = ctr.serve_with(5353, Kind::Udp, |_| b"pong".to_vec());
    let published = net
        .publish(
            &id,
            ip,
            &[PortBinding {
                host_ip: None,
                host_port: 0,
                container_port: 5353,
                proto: Proto::Udp,
            }],
        )
        .unwrap();
    let sock = std::net::UdpSocket::bind(("127.0.0.1", 0)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    sock.send_to(b"ping", ("127.0.0.1", published[0].host_port))
        .unwrap();
    let mut buf = [0u8; 16];
    let (n, _) = sock.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"pong");

    // A second container whose veth the state never recorded: teardown still removes it
    // (every port of the bridge goes).
    let ctr2 = Netns::new();
    let id2 = container_id();
    let ep2 = net
        .attach(&id2, ctr2.pid(), Ipv4Addr::from(u32::from(ip) + 1))
        .unwrap();
    net.lock().state.containers.remove(&id2);
    net.teardown().unwrap();
    assert!(!link_exists(&ep2.host_veth));
    assert!(!link_exists(&t.cfg.name));
    assert!(!table_exists(&t.cfg.nft_table));
    // Detach after teardown has nothing left to do and says so without failing.
    net.detach(&id).unwrap();
}

#[test]
fn errors_read_like_docker() {
    let t = TestNet::new();
    let net = t.net();
    let id = container_id();
    let ip = net.allocate(&id).unwrap();

    let err = net.publish(&id, ip, &[tcp(None, 8080, 0)]).unwrap_err();
    assert_eq!(err.to_string(), "invalid port specification: \"0/tcp\"");

    // A port a host program holds.
    let holder = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = holder.local_addr().unwrap().port();
    let err = net
        .publish(
            &id,
            ip,
            &[tcp(Some(IpAddr::V4(Ipv4Addr::LOCALHOST)), port, 80)],
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "failed to bind host port for 127.0.0.1:{port}:{ip}:80/tcp: address already in use"
        )
    );
    // Nothing of a failed publish stays behind.
    assert!(nft::rule_handles(&t.cfg.nft_table, &id).unwrap().is_empty());
    let state = ipam::State::load(&net.state_path).unwrap();
    assert!(state.containers[&id].ports.is_empty());

    // Two bindings of one request that collide.
    let err = net
        .publish(&id, ip, &[tcp(None, 41234, 80), tcp(None, 41234, 81)])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Bind for 0.0.0.0:41234 failed: port is already allocated"
    );

    // The rules cannot go in (someone deleted the table): nothing is recorded or held.
    let (ok, out) = sh("nft", &["delete", "table", "inet", &t.cfg.nft_table]);
    assert!(ok, "{out}");
    let err = net.publish(&id, ip, &[tcp(None, 0, 80)]).unwrap_err();
    assert!(matches!(err, Error::Nft { .. }), "{err}");
    let state = ipam::State::load(&net.state_path).unwrap();
    assert!(state.containers[&id].ports.is_empty());
    assert!(net.lock().state.containers[&id].ports.is_empty());
    assert!(net.lock().reservations.is_empty());
    // Setting up again brings the table back.
    Network::setup(t.cfg.clone()).unwrap();
    assert!(table_exists(&t.cfg.nft_table));

    let outside = Ipv4Addr::new(192, 0, 2, 200);
    let err = net
        .attach(&id, std::process::id() as i32, outside)
        .unwrap_err();
    assert!(matches!(err, Error::AddressOutOfSubnet { .. }), "{err}");
    let err = net.attach(&id, i32::MAX, ip).unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("/proc/{}/ns/net", i32::MAX)),
        "{err}"
    );
    let other = container_id();
    let err = net
        .attach(&other, std::process::id() as i32, ip)
        .unwrap_err();
    assert!(matches!(err, Error::AddressInUse { .. }), "{err}");

    let bad = BridgeConfig {
        name: "this-name-is-too-long".into(),
        ..t.cfg.clone()
    };
    assert!(matches!(
        Network::setup(bad),
        Err(Error::InvalidInterfaceName(_))
    ));
    let bad = BridgeConfig {
        nft_table: "no spaces".into(),
        ..t.cfg.clone()
    };
    assert!(matches!(
        Network::setup(bad),
        Err(Error::InvalidTableName(_))
    ));
}

#[test]
fn names_and_macs() {
    fn shared<T: Send + Sync>() {}
    shared::<Network>();

    let a = host_veth_name(&"a".repeat(64));
    assert_eq!(a.len(), 14);
    assert!(a.starts_with("vb"));
    assert_eq!(a, host_veth_name(&"a".repeat(64)));
    assert_ne!(a, host_veth_name(&"b".repeat(64)));
    assert!(valid_ifname(&a));
    assert_eq!(
        mac_string(mac_for(Ipv4Addr::new(172, 30, 0, 2))),
        "02:42:ac:1e:00:02"
    );
    assert!(valid_table("berth"));
    assert!(!valid_table("1berth"));
    assert!(!valid_ifname(""));
}

/// The daemon calls in from `spawn_blocking` on a multi-threaded runtime: our own
/// current-thread runtimes must work there (and even inside an async task).
#[test]
fn works_from_spawn_blocking_in_a_tokio_runtime() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let host_veth = rt.block_on(async {
        tokio::task::spawn_blocking(|| {
            let t = TestNet::new();
            let ns = Netns::new();
            let id = container_id();
            let ip = t.net().allocate(&id).unwrap();
            let ep = t.net().attach(&id, ns.pid(), ip).unwrap();
            assert!(link_exists(&ep.host_veth));
            t.net().detach(&id).unwrap();
            ep.host_veth
        })
        .await
        .unwrap()
    });
    // Straight from an async task (a misuse, but it must not panic).
    rt.block_on(async {
        let t = TestNet::new();
        t.net().detach(&container_id()).unwrap();
    });
    assert!(!link_exists(&host_veth));
}

#[test]
fn delete_links_in_one_go() {
    let ns = Netns::new();
    let pid = ns.pid().to_string();
    let names: Vec<String> = (0..3).map(|_| format!("bd{}", unique())).collect();
    for (i, name) in names.iter().enumerate() {
        let peer = format!("p{i}");
        let (ok, out) = sh(
            "ip",
            &[
                "link", "add", name, "type", "veth", "peer", "name", &peer, "netns", &pid,
            ],
        );
        assert!(ok, "{out}");
    }
    let mut all = names.clone();
    all.push(format!("bd{}", unique())); // never existed
    netlink::delete_links(&all).unwrap();
    for name in &names {
        assert!(!link_exists(name), "{name}");
    }
    let (_, inside) = ns.run(&["ip", "link", "show"]);
    assert!(!inside.contains("p0"), "{inside}");
    // Nothing left to delete: fine too.
    netlink::delete_links(&all).unwrap();
}
