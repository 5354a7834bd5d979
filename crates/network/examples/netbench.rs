//! Per-container cost of the bridge network: allocate + attach + detach (and with one
//! published port: publish + detach) against a real bridge, with a process in a fresh
//! network namespace (`unshare -n sleep`) standing in for each container. Run as root,
//! through `bench/network` (see bench/README.md).
//!
//!     netbench <bridge> <nft table> <state dir> [runs] [parallel]
//!
//! The bridge and the table must be names of their own: both are removed at the end (and
//! `bench/network` removes them again on any exit). Every namespace process dies with us
//! (PR_SET_PDEATHSIG) even when we are killed.

use std::net::Ipv4Addr;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use berth_network::{BridgeConfig, Ipv4Cidr, Network, PortBinding, Proto};

struct Netns(Child);

impl Netns {
    fn new() -> Netns {
        let mut cmd = Command::new("unshare");
        cmd.args(["-n", "sleep", "600"]).stdin(Stdio::null());
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let ns = Netns(cmd.spawn().expect("unshare -n sleep"));
        let own = std::fs::read_link("/proc/self/ns/net").unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let theirs = std::fs::read_link(format!("/proc/{}/ns/net", ns.pid()));
            if matches!(&theirs, Ok(p) if *p != own) {
                return ns;
            }
            assert!(Instant::now() < deadline, "unshare -n did not switch netns");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn pid(&self) -> i32 {
        self.0.id() as i32
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Tears the network down even when a step panics.
struct Guard(Network);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Err(e) = self.0.teardown() {
            eprintln!("netbench: teardown: {e}");
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn id(i: usize) -> String {
    format!("{:016x}{:048x}", rand::random::<u64>(), i)
}

#[derive(Default)]
struct Times {
    allocate: Vec<f64>,
    attach: Vec<f64>,
    publish: Vec<f64>,
    detach: Vec<f64>,
    total: Vec<f64>,
}

impl Times {
    fn row(&self, label: &str) {
        let m = |v: &Vec<f64>| {
            if v.is_empty() {
                "-".to_string()
            } else {
                format!("{:.2}", median(v.clone()))
            }
        };
        println!(
            "{label:<28} {:>9} {:>9} {:>9} {:>9} {:>9}",
            m(&self.allocate),
            m(&self.attach),
            m(&self.publish),
            m(&self.detach),
            m(&self.total)
        );
    }
}

/// One container's life; `port` publishes one random host port to container port 80.
fn life(net: &Network, ns: &Netns, i: usize, port: bool, t: &mut Times) {
    let id = id(i);
    let start = Instant::now();
    let ip = net.allocate(&id).expect("allocate");
    let a = Instant::now();
    net.attach(&id, ns.pid(), ip).expect("attach");
    let b = Instant::now();
    if port {
        let bound = net
            .publish(
                &id,
                ip,
                &[PortBinding {
                    host_ip: None,
                    host_port: 0,
                    container_port: 80,
                    proto: Proto::Tcp,
                }],
            )
            .expect("publish");
        assert_eq!(bound.len(), 1);
    }
    let c = Instant::now();
    net.detach(&id).expect("detach");
    let d = Instant::now();
    t.allocate.push(ms(a - start));
    t.attach.push(ms(b - a));
    if port {
        t.publish.push(ms(c - b));
    }
    t.detach.push(ms(d - c));
    t.total.push(ms(d - start));
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: netbench <bridge> <nft table> <state dir> [runs] [parallel]");
        std::process::exit(2);
    }
    let runs: usize = args.get(4).map_or(30, |s| s.parse().expect("runs"));
    let par: usize = args.get(5).map_or(20, |s| s.parse().expect("parallel"));
    let r = rand::random::<u16>();
    let cfg = BridgeConfig {
        name: args[1].clone(),
        cidr: Ipv4Cidr::new(
            Ipv4Addr::new(10, 100 + (r % 100) as u8, (r >> 8) as u8, 1),
            24,
        )
        .unwrap(),
        nft_table: args[2].clone(),
        state_dir: args[3].clone().into(),
        mtu: 1500,
    };
    let setup = Instant::now();
    let net = Guard(Network::setup(cfg.clone()).expect("setup"));
    println!(
        "bridge {} {} table inet {}: setup {:.2} ms",
        cfg.name,
        cfg.cidr,
        cfg.nft_table,
        ms(setup.elapsed())
    );

    // Namespaces first, untimed: one per container life.
    let spaces: Vec<Netns> = (0..2 * runs + par).map(|_| Netns::new()).collect();
    let mut spaces = spaces.into_iter();

    // Warm-up (page cache, first nft/netlink use), untimed.
    let warm = spaces.next().unwrap();
    life(&net.0, &warm, 0, true, &mut Times::default());

    println!(
        "{:<28} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "median ms per container", "allocate", "attach", "publish", "detach", "total"
    );
    let mut plain = Times::default();
    for i in 0..runs {
        let ns = spaces.next().unwrap();
        life(&net.0, &ns, i, false, &mut plain);
    }
    plain.row("no ports");
    let mut ported = Times::default();
    for i in 0..runs {
        let ns = spaces.next().unwrap();
        life(&net.0, &ns, i, true, &mut ported);
    }
    ported.row("one published port");

    // `par` containers at once: one thread each allocates and attaches, all are joined;
    // then one thread each detaches. Wall time of each half.
    let par_spaces: Vec<Netns> = spaces.by_ref().take(par).collect();
    // Start from a quiet kernel: the veths of the runs above deleted.
    net.0.settle();
    let net_ref = &net.0;
    let ids: Vec<String> = (0..par).map(|i| id(1000 + i)).collect();
    let t0 = Instant::now();
    std::thread::scope(|s| {
        let handles: Vec<_> = par_spaces
            .iter()
            .zip(&ids)
            .map(|(ns, id)| {
                s.spawn(move || {
                    let ip = net_ref.allocate(id)?;
                    net_ref.attach(id, ns.pid(), ip)
                })
            })
            .collect();
        for h in handles {
            h.join().expect("worker").expect("allocate + attach");
        }
    });
    let up = t0.elapsed();
    let t1 = Instant::now();
    std::thread::scope(|s| {
        let handles: Vec<_> = ids
            .iter()
            .map(|id| s.spawn(move || net_ref.detach(id)))
            .collect();
        for h in handles {
            h.join().expect("worker").expect("detach");
        }
    });
    let down = t1.elapsed();
    println!(
        "{par} at once: allocate+attach {:.1} ms wall, detach {:.1} ms wall",
        ms(up),
        ms(down)
    );
}
