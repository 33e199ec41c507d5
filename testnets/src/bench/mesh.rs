//! S3: a node-to-node mesh in namespaces. N nodes on one segment, one
//! daemon each, a full iBGP mesh configured like Calico's (each pair
//! connects one way, the lower address passive toward the higher), each
//! node originating two /26 blocks and installing the others' 2(N-1) into
//! its kernel. Timed from the moment the last daemon is up until every
//! node's kernel holds every other node's blocks (netlink watchers, one
//! per namespace). Timers as benchmarks.md §5 asks, the same for all:
//! connect delay and retry 1 s, hold 9 s, keepalive 3 s.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::duts::{Daemon, Dut};
use super::fibwatch::FibWatch;
use super::tally::{Prefixes, Tally};
use super::{millis, usage, Metric, Options, Sample, Scenario};
use crate::error::{Error, Result};
use crate::Topology;

pub struct Mesh;

const AS: u32 = 64512;

const METRICS: &[Metric] = &[
    Metric::lower("t100_ms", "every kernel complete after the last start (ms)"),
    Metric::lower("from_first_ms", "after the first start (ms)"),
    Metric::lower("cpu_s", "CPU of all daemons (s)"),
    Metric::lower("rss_mib", "RSS per node (MiB)"),
];

const DAEMONS: &[Daemon] = &[Daemon::Bgpd, Daemon::Bird2, Daemon::Bird16, Daemon::Frr];

fn address(i: usize) -> String {
    format!("10.0.1.{}", 10 + i)
}

/// Node i's two blocks are /26 number 2(i-1) and 2(i-1)+1 from
/// 10.244.0.0: every node's blocks together are one run of prefixes.
fn blocks(nodes: usize) -> Prefixes {
    Prefixes::new(Ipv4Addr::new(10, 244, 0, 0), 26, 2 * nodes)
}

fn own_blocks(i: usize, nodes: usize) -> [String; 2] {
    let all = blocks(nodes);
    [
        all.nth(2 * (i - 1)).to_string(),
        all.nth(2 * (i - 1) + 1).to_string(),
    ]
}

impl Scenario for Mesh {
    fn id(&self) -> &'static str {
        "S3"
    }

    fn title(&self) -> &'static str {
        "node-to-node mesh"
    }

    fn method(&self) -> &'static str {
        "N nodes on one segment, one daemon each, a full iBGP mesh (each pair connecting one \
         way, as Calico's mesh does), two /26 blocks originated per node, every route installed \
         into each node's kernel. Daemons start one after another; time from the moment the \
         last is up until every node's kernel holds all 2(N-1) blocks of the others (netlink \
         watchers in every namespace), and from the first start. Connect delay and retry 1 s, \
         hold 9 s, keepalive 3 s for every daemon. CPU is the sum over all daemons from their \
         start to convergence; RSS the mean per node then. GoBGP does not program the kernel \
         and is left out."
    }

    fn daemons(&self) -> &'static [Daemon] {
        DAEMONS
    }

    fn sizes(&self, quick: bool) -> Vec<usize> {
        if quick {
            vec![4]
        } else {
            vec![20, 50]
        }
    }

    fn metrics(&self) -> &'static [Metric] {
        METRICS
    }

    fn run_once(&self, daemon: Daemon, nodes: usize, options: &Options) -> Result<Sample> {
        if nodes > 200 {
            return Err(Error::Bench(format!("{nodes} nodes do not fit one /24")));
        }
        let mut topology = Topology::new("bench-s3");
        topology.segment("lan");
        for i in 1..=nodes {
            topology
                .node(&format!("n{i}"))
                .iface("lan", &[&format!("{}/24", address(i))]);
        }
        let net = topology.build()?;
        let mut tallies = Vec::new();
        let mut watches = Vec::new();
        for i in 1..=nodes {
            let tally = Arc::new(Tally::expecting(blocks(nodes), 2 * (nodes - 1)));
            watches.push(FibWatch::start(net.host(&format!("n{i}")), tally.clone())?);
            tallies.push(tally);
        }

        let first = Instant::now();
        let mut daemons = Vec::new();
        for i in 1..=nodes {
            let config = config(daemon, i, nodes);
            daemons.push(Dut::launch(
                daemon,
                net.host(&format!("n{i}")),
                &config,
                &options.bgpd,
            )?);
        }
        let last = Instant::now();
        let deadline = Duration::from_secs(60 + nodes as u64);
        let mut complete = last;
        for (i, tally) in tallies.iter().enumerate() {
            tally.wait(
                &format!("every other block in n{}'s kernel", i + 1),
                deadline,
                |s| s.marks.full.is_some(),
            )?;
            if let Some(full) = tally.marks().full {
                complete = complete.max(full);
            }
        }
        let pids: Vec<u32> = daemons.iter_mut().flat_map(Dut::pids).collect();
        let spent = usage::sample(&pids);
        for watch in watches {
            watch.stop()?;
        }
        drop(daemons);
        Ok(Sample::from([
            ("t100_ms", millis(complete.saturating_duration_since(last))),
            ("from_first_ms", millis(complete - first)),
            ("cpu_s", spent.cpu.as_secs_f64()),
            ("rss_mib", spent.rss_kib as f64 / 1024.0 / nodes as f64),
        ]))
    }
}

/// Node `i`'s configuration for `daemon`.
fn config(daemon: Daemon, i: usize, nodes: usize) -> String {
    let me = address(i);
    let [a, b] = own_blocks(i, nodes);
    // Each pair connects one way: toward a higher address we are passive.
    let peers: Vec<(String, bool)> = (1..=nodes)
        .filter(|j| *j != i)
        .map(|j| (address(j), j > i))
        .collect();
    let mut c = String::new();
    match daemon {
        Daemon::Bgpd => {
            c.push_str(&format!(
                "node_name = \"n{i}\"\nrouter_id = \"{me}\"\nlocal_as = {AS}\naddresses = [\"{me}/24\"]\n\n\
                 [export]\nprefixes = [\"10.244.0.0/16\"]\n"
            ));
            for block in [&a, &b] {
                c.push_str(&format!(
                    "\n[[originate]]\nprefix = \"{block}\"\nkind = \"block\"\n"
                ));
            }
            for (peer, passive) in &peers {
                c.push_str(&format!(
                    "\n[[peer]]\naddress = \"{peer}\"\nremote_as = {AS}\nkind = \"mesh\"\npassive = {passive}\n\
                     connect_delay_time = 1\nconnect_retry_time = 1\nhold_time = 9\nkeepalive_time = 3\n"
                ));
            }
        }
        Daemon::Bird2 => {
            c.push_str(&format!(
                "router id {me};\nprotocol device {{ scan time 60; }}\n\
                 protocol kernel {{ scan time 60; ipv4 {{ import none; export where source = RTS_BGP; }}; }}\n\
                 protocol static {{ ipv4; route {a} blackhole; route {b} blackhole; }}\n\
                 template bgp mesh {{ local {me} as {AS}; direct; connect delay time 1; connect retry time 1; \
                 hold time 9; keepalive time 3; ipv4 {{ import all; export where source = RTS_STATIC; gateway direct; }}; }}\n"
            ));
            for (n, (peer, passive)) in peers.iter().enumerate() {
                let passive = if *passive { "passive on;" } else { "" };
                c.push_str(&format!(
                    "protocol bgp p{n} from mesh {{ neighbor {peer} as {AS}; {passive} }}\n"
                ));
            }
        }
        Daemon::Bird16 => {
            c.push_str(&format!(
                "router id {me};\nprotocol device {{ scan time 60; }}\n\
                 protocol kernel {{ scan time 60; import none; export where source = RTS_BGP; }}\n\
                 protocol static {{ route {a} blackhole; route {b} blackhole; }}\n\
                 template bgp mesh {{ local as {AS}; source address {me}; direct; gateway direct; \
                 connect delay time 1; connect retry time 1; hold time 9; keepalive time 3; \
                 import all; export where source = RTS_STATIC; }}\n"
            ));
            for (n, (peer, passive)) in peers.iter().enumerate() {
                let passive = if *passive { "passive on;" } else { "" };
                c.push_str(&format!(
                    "protocol bgp p{n} from mesh {{ neighbor {peer} as {AS}; {passive} }}\n"
                ));
            }
        }
        Daemon::Frr => {
            c.push_str(&format!(
                "frr defaults traditional\nrouter bgp {AS}\n bgp router-id {me}\n no bgp ebgp-requires-policy\n \
                 no bgp network import-check\n timers bgp 3 9\n"
            ));
            for (peer, passive) in &peers {
                c.push_str(&format!(
                    " neighbor {peer} remote-as {AS}\n neighbor {peer} timers connect 1\n"
                ));
                if *passive {
                    c.push_str(&format!(" neighbor {peer} passive\n"));
                }
            }
            c.push_str(&format!(
                " address-family ipv4 unicast\n  network {a}\n  network {b}\n exit-address-family\n"
            ));
        }
        Daemon::GoBgp => {}
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_one_run_and_each_node_has_two() {
        assert_eq!(own_blocks(1, 3), ["10.244.0.0/26", "10.244.0.64/26"]);
        assert_eq!(own_blocks(3, 3), ["10.244.1.0/26", "10.244.1.64/26"]);
        let all = blocks(3);
        assert_eq!(all.count(), 6);
        assert_eq!(all.index_of(Ipv4Addr::new(10, 244, 1, 64), 26), Some(5));
    }

    #[test]
    fn each_pair_connects_one_way() {
        let low = config(Daemon::Bgpd, 1, 3);
        let high = config(Daemon::Bgpd, 3, 3);
        assert!(low.contains(
            "address = \"10.0.1.13\"\nremote_as = 64512\nkind = \"mesh\"\npassive = true"
        ));
        assert!(high.contains(
            "address = \"10.0.1.11\"\nremote_as = 64512\nkind = \"mesh\"\npassive = false"
        ));
    }
}
