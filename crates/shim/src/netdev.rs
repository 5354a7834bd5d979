//! Network counters of a container's namespace, from `/proc/<pid>/net/dev`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// docker's per-interface `networks` entry of `docker stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkStats {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}

/// Parses the text of `/proc/<pid>/net/dev`; loopback is left out as docker does (it
/// reports the container's endpoints only).
pub fn parse(text: &str) -> BTreeMap<String, NetworkStats> {
    let mut out = BTreeMap::new();
    // Two header lines, then `name: 16 counters`.
    for line in text.lines().skip(2) {
        let Some((name, counters)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name.is_empty() || name == "lo" {
            continue;
        }
        let n: Vec<u64> = counters
            .split_whitespace()
            .filter_map(|c| c.parse().ok())
            .collect();
        if n.len() < 12 {
            continue;
        }
        out.insert(
            name.to_owned(),
            NetworkStats {
                rx_bytes: n[0],
                rx_packets: n[1],
                rx_errors: n[2],
                rx_dropped: n[3],
                tx_bytes: n[8],
                tx_packets: n[9],
                tx_errors: n[10],
                tx_dropped: n[11],
            },
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_net_dev_without_loopback() {
        let text = "\
Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     100       2    0    0    0     0          0         0      100       2    0    0    0     0       0          0
  eth0:    1296      16    1    2    0     0          0         0      726       9    3    4    0     0       0          0
";
        let m = parse(text);
        assert_eq!(m.len(), 1);
        let eth0 = &m["eth0"];
        assert_eq!(
            (
                eth0.rx_bytes,
                eth0.rx_packets,
                eth0.rx_errors,
                eth0.rx_dropped
            ),
            (1296, 16, 1, 2)
        );
        assert_eq!(
            (
                eth0.tx_bytes,
                eth0.tx_packets,
                eth0.tx_errors,
                eth0.tx_dropped
            ),
            (726, 9, 3, 4)
        );
    }

    #[test]
    fn ignores_malformed_lines() {
        assert!(parse("h1\nh2\neth0: 1 2 3\ngarbage\n").is_empty());
    }
}
