//! S3: a node-to-node mesh in namespaces. N nodes on one segment, one
//! daemon each, a full iBGP mesh configured like Calico's (each pair
//! connects one way, the lower address passive toward the higher), each
//! node originating two /26 blocks and installing the others' 2(N-1) into
//! its kernel. Timed from the moment the last daemon is up until every
//! node's kernel holds every other node's blocks (netlink watchers, one
//! per namespace). Timers as benchmarks.md §5 asks: connect retry 1 s,
//! hold 9 s, keepalive 3 s; the connect delay each daemon's least: BIRD
//! 1 s, FRR its own, bgpd none on the side that dials (the other waits, by
//! the mesh's direction rule, as confgen configures a Calico mesh).

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use testnets::{Error, Network, Result, Topology};

use super::duts::{Daemon, Dut};
use super::fibwatch::FibWatch;
use super::tally::{Prefixes, Tally};
use super::{millis, usage, Metric, Options, Sample, Scenario};

pub struct Mesh;

pub(super) const AS: u32 = 64512;

const METRICS: &[Metric] = &[
    Metric::lower("t100_ms", "every kernel complete after the last start (ms)"),
    Metric::lower("from_first_ms", "after the first start (ms)"),
    Metric::lower("cpu_s", "CPU of all daemons (s)"),
    Metric::lower("rss_mib", "RSS per node (MiB)"),
    Metric::lower("idle_rss_mib", "RSS per node at rest (MiB)"),
];

/// How long the converged mesh rests before its RSS is read again: longer
/// than a keepalive interval (3 s), so that what an idle node runs has run.
const REST: Duration = Duration::from_secs(5);

const DAEMONS: &[Daemon] = &[Daemon::Bgpd, Daemon::Bird2, Daemon::Bird16, Daemon::Frr];

pub(super) fn address(i: usize) -> String {
    format!("10.0.1.{}", 10 + i)
}

const BLOCK_BASE: Ipv4Addr = Ipv4Addr::new(10, 244, 0, 0);

/// Node i's two blocks are /26 number 2(i-1) and 2(i-1)+1 from
/// 10.244.0.0: every node's blocks together are one run of prefixes.
fn blocks(nodes: usize) -> Prefixes {
    Prefixes::new(BLOCK_BASE, 26, 2 * nodes)
}

/// The `spare` prefixes after every node's blocks, for churn.
pub(super) fn spare_blocks(nodes: usize, spare: usize) -> Prefixes {
    Prefixes::new(blocks(nodes).nth(2 * nodes).addr(), 26, spare)
}

pub(super) fn own_blocks(i: usize, nodes: usize) -> Vec<String> {
    let all = blocks(nodes);
    vec![
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
         watchers in every namespace), and from the first start. Connect retry 1 s, hold 9 s, \
         keepalive 3 s for every daemon; the connect delay each daemon's least: BIRD 1 s, FRR \
         its own (none configurable), bgpd none on the side that dials (the other waits, by the \
         mesh's direction rule; confgen configures a Calico mesh so). CPU is the sum over all daemons from their \
         start to convergence; RSS the mean per node then, and again after 5 s at rest (an idle \
         node, keepalives included). GoBGP does not program the kernel \
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
        let mut mesh = MeshNet::start("bench-s3", daemon, nodes, 0, options)?;
        let complete = mesh.wait_complete()?;
        let spent = usage::sample(&mesh.pids());
        std::thread::sleep(REST);
        let idle = usage::sample(&mesh.pids());
        let (first, last) = (mesh.first, mesh.last);
        mesh.stop()?;
        Ok(Sample::from([
            ("t100_ms", millis(complete.saturating_duration_since(last))),
            ("from_first_ms", millis(complete - first)),
            ("cpu_s", spent.cpu.as_secs_f64()),
            ("rss_mib", spent.rss_kib as f64 / 1024.0 / nodes as f64),
            ("idle_rss_mib", idle.rss_kib as f64 / 1024.0 / nodes as f64),
        ]))
    }
}

/// A mesh of running daemons with a watcher on every node's kernel.
pub(super) struct MeshNet {
    pub net: Network,
    pub daemon: Daemon,
    pub nodes: usize,
    /// Node i's daemon at i - 1.
    pub duts: Vec<Dut>,
    /// Node i's kernel at i - 1: the others' blocks, and `spare` more
    /// prefixes after them that churn may add.
    pub tallies: Vec<Arc<Tally>>,
    spare: usize,
    watches: Vec<FibWatch>,
    /// When the first daemon was started, and when the last was up.
    pub first: Instant,
    pub last: Instant,
}

impl MeshNet {
    /// Builds the network, starts every watcher, then every daemon.
    pub fn start(
        name: &str,
        daemon: Daemon,
        nodes: usize,
        spare: usize,
        options: &Options,
    ) -> Result<Self> {
        Self::start_with(name, daemon, nodes, spare, Bfd::Off, options)
    }

    /// [`MeshNet::start`], with BFD on every session or not.
    pub fn start_with(
        name: &str,
        daemon: Daemon,
        nodes: usize,
        spare: usize,
        bfd: Bfd,
        options: &Options,
    ) -> Result<Self> {
        if nodes > 200 {
            return Err(Error::Bench(format!("{nodes} nodes do not fit one /24")));
        }
        let mut topology = Topology::new(name);
        topology.segment("lan");
        for i in 1..=nodes {
            topology
                .node(&format!("n{i}"))
                .iface("lan", &[&format!("{}/24", address(i))]);
        }
        let net = topology.build()?;
        let mut tallies = Vec::new();
        let mut watches = Vec::new();
        let watched = Prefixes::new(BLOCK_BASE, 26, 2 * nodes + spare);
        for i in 1..=nodes {
            let tally = Arc::new(Tally::expecting(watched, 2 * (nodes - 1)).with_stamps());
            watches.push(FibWatch::start(net.host(&format!("n{i}")), tally.clone())?);
            tallies.push(tally);
        }
        let first = Instant::now();
        let mut duts = Vec::new();
        for i in 1..=nodes {
            let config = config_with(daemon, i, nodes, &own_blocks(i, nodes), bfd);
            duts.push(Dut::launch(
                daemon,
                net.host(&format!("n{i}")),
                &config,
                &options.bgpd,
            )?);
        }
        Ok(Self {
            net,
            daemon,
            nodes,
            duts,
            tallies,
            spare,
            watches,
            first,
            last: Instant::now(),
        })
    }

    /// Waits until every node's kernel holds every other node's blocks;
    /// returns when the last did.
    pub fn wait_complete(&self) -> Result<Instant> {
        let deadline = Duration::from_secs(60 + self.nodes as u64);
        let mut complete = self.last;
        for (i, tally) in self.tallies.iter().enumerate() {
            tally.wait(
                &format!("every other block in n{}'s kernel", i + 1),
                deadline,
                |s| s.marks.full.is_some(),
            )?;
            if let Some(full) = tally.marks().full {
                complete = complete.max(full);
            }
        }
        Ok(complete)
    }

    /// How many prefixes after the blocks the watchers also tally.
    pub fn spare(&self) -> usize {
        self.spare
    }

    /// Every daemon's processes, for accounting.
    pub fn pids(&mut self) -> Vec<u32> {
        self.duts.iter_mut().flat_map(Dut::pids).collect()
    }

    /// Stops the watchers (reporting what they ran into), then the daemons.
    pub fn stop(self) -> Result<()> {
        for watch in self.watches {
            watch.stop()?;
        }
        drop(self.duts);
        Ok(())
    }
}

/// BFD on a scenario's sessions, or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Bfd {
    Off,
    /// 300 ms both ways, a multiplier of 3: every daemon's default.
    On,
}

/// BIRD's BFD at every daemon's defaults, on every interface.
pub(super) const BIRD_BFD: &str = "protocol bfd { interface \"*\" { min rx interval 300 ms; \
     min tx interval 300 ms; multiplier 3; }; }\n";

/// Node `i`'s configuration for `daemon`, originating `blocks`.
pub(super) fn config(daemon: Daemon, i: usize, nodes: usize, blocks: &[String]) -> String {
    config_with(daemon, i, nodes, blocks, Bfd::Off)
}

/// [`config`], with BFD on every session or not.
pub(super) fn config_with(
    daemon: Daemon,
    i: usize,
    nodes: usize,
    blocks: &[String],
    bfd: Bfd,
) -> String {
    let on = bfd == Bfd::On;
    let me = address(i);
    // Each pair connects one way: toward a higher address we are passive.
    let peers: Vec<(String, bool)> = (1..=nodes)
        .filter(|j| *j != i)
        .map(|j| (address(j), j > i))
        .collect();
    let statics: String = blocks
        .iter()
        .map(|b| format!("route {b} blackhole; "))
        .collect();
    let (bfd_on, bird_bfd) = if on { ("bfd on;", BIRD_BFD) } else { ("", "") };
    let mut c = String::new();
    match daemon {
        Daemon::Bgpd => {
            c.push_str(&format!(
                "node_name = \"n{i}\"\nrouter_id = \"{me}\"\nlocal_as = {AS}\naddresses = [\"{me}/24\"]\n\n\
                 [export]\nprefixes = [\"10.244.0.0/16\"]\n"
            ));
            for block in blocks {
                c.push_str(&format!(
                    "\n[[originate]]\nprefix = \"{block}\"\nkind = \"block\"\n"
                ));
            }
            for (peer, passive) in &peers {
                // The side that dials does so at once: the other waits, as
                // confgen configures a Calico mesh.
                let delay = if *passive { 1 } else { 0 };
                c.push_str(&format!(
                    "\n[[peer]]\naddress = \"{peer}\"\nremote_as = {AS}\nkind = \"mesh\"\npassive = {passive}\n\
                     connect_delay_time = {delay}\nconnect_retry_time = 1\nhold_time = 9\nkeepalive_time = 3\n"
                ));
                if on {
                    c.push_str("bfd = {}\n");
                }
            }
        }
        Daemon::Bird2 => {
            c.push_str(&format!(
                "router id {me};\nprotocol device {{ scan time 60; }}\n\
                 protocol kernel {{ scan time 60; ipv4 {{ import none; export where source = RTS_BGP; }}; }}\n\
                 protocol static {{ ipv4; {statics} }}\n\
                 template bgp mesh {{ local {me} as {AS}; direct; connect delay time 1; connect retry time 1; \
                 hold time 9; keepalive time 3; {bfd_on} ipv4 {{ import all; export where source = RTS_STATIC; gateway direct; }}; }}\n"
            ));
            c.push_str(bird_bfd);
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
                 protocol static {{ {statics} }}\n\
                 template bgp mesh {{ local as {AS}; source address {me}; direct; gateway direct; \
                 connect delay time 1; connect retry time 1; hold time 9; keepalive time 3; {bfd_on} \
                 import all; export where source = RTS_STATIC; }}\n"
            ));
            c.push_str(bird_bfd);
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
                if on {
                    c.push_str(&format!(" neighbor {peer} bfd\n"));
                }
            }
            c.push_str(" address-family ipv4 unicast\n");
            for block in blocks {
                c.push_str(&format!("  network {block}\n"));
            }
            c.push_str(" exit-address-family\n");
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
        let low = config(Daemon::Bgpd, 1, 3, &own_blocks(1, 3));
        let high = config(Daemon::Bgpd, 3, 3, &own_blocks(3, 3));
        assert!(low.contains(
            "address = \"10.0.1.13\"\nremote_as = 64512\nkind = \"mesh\"\npassive = true"
        ));
        assert!(high.contains(
            "address = \"10.0.1.11\"\nremote_as = 64512\nkind = \"mesh\"\npassive = false\n\
             connect_delay_time = 0"
        ));
    }
}
