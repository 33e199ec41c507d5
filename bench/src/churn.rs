//! S5: churn in a node-to-node mesh (benchmarks.md §5 S5 (a), (c), (d)).
//! On the S3 mesh, once every kernel is complete:
//! - block churn: one node after another gains a /26 block and then loses
//!   it, through the daemon's own way of taking a change (bgpd: its file
//!   and SIGHUP; BIRD: its file and `birdc configure`, as Calico's confd
//!   does; FRR: vtysh), each timed from the change until every other
//!   node's kernel agrees;
//! - a node leaves gracefully (SIGTERM): timed until no other kernel holds
//!   its blocks;
//! - it joins again (its daemon started anew): timed until every other
//!   kernel holds them, the connect delay of 1 s included.

use std::time::{Duration, Instant};

use testnets::{Error, Result};

use super::duts::{Daemon, Dut};
use super::mesh::{self, MeshNet};
use super::stats::percentile;
use super::tally::settled;
use super::{changes, millis, usage, Metric, Options, Sample, Scenario};

pub struct Churn;

const METRICS: &[Metric] = &[
    Metric::lower("block_p99_ms", "block change in every kernel, p99 (ms)"),
    Metric::lower("block_p50_ms", "block change, p50 (ms)"),
    Metric::lower("block_max_ms", "block change, max (ms)"),
    Metric::lower("leave_ms", "node leaves, gone from every kernel (ms)"),
    Metric::lower("join_ms", "node joins, in every kernel (ms)"),
    Metric::lower("cpu_s", "CPU of all daemons in block churn (s)"),
];

const DAEMONS: &[Daemon] = &[Daemon::Bgpd, Daemon::Bird2, Daemon::Bird16, Daemon::Frr];

/// Between changes: the daemons are idle again, not mid-flush.
const PAUSE: Duration = Duration::from_millis(20);

impl Scenario for Churn {
    fn id(&self) -> &'static str {
        "S5"
    }

    fn title(&self) -> &'static str {
        "churn in a mesh"
    }

    fn method(&self) -> &'static str {
        "The S3 mesh, every kernel complete. Block churn: node after node gains a /26 block and \
         then loses it, by the daemon's own way of taking a change (bgpd: its file and SIGHUP; \
         BIRD: its file and `birdc configure`, as Calico's confd does; FRR: vtysh), one change \
         at a time; each is timed from the change until every other node's kernel agrees \
         (netlink watchers), and the p50, p99 and max over the changes are reported (20 \
         changes, 40 in all). Then the last node's daemon is stopped (SIGTERM, a graceful \
         leave) and timed until no other kernel holds its blocks; then it is started again and \
         timed until every other kernel holds them (connect delay 1 s included). CPU is every \
         daemon's during the block churn."
    }

    fn daemons(&self) -> &'static [Daemon] {
        DAEMONS
    }

    fn sizes(&self, quick: bool) -> Vec<usize> {
        if quick {
            vec![4]
        } else {
            vec![50]
        }
    }

    fn metrics(&self) -> &'static [Metric] {
        METRICS
    }

    fn run_once(&self, daemon: Daemon, nodes: usize, options: &Options) -> Result<Sample> {
        let changes = changes(options);
        let mut mesh = MeshNet::start("bench-s5", daemon, nodes, changes, options)?;
        mesh.wait_complete()?;
        let pids = mesh.pids();

        let before = usage::sample(&pids);
        let mut latencies = Vec::with_capacity(2 * changes);
        for change in 0..changes {
            // Spread over the nodes, never the one that will leave.
            let node = 1 + (change * 7) % (nodes - 1).max(1);
            for gained in [true, false] {
                latencies.push(millis(block_change(&mut mesh, node, change, gained)?));
                std::thread::sleep(PAUSE);
            }
        }
        let after = usage::sample(&pids);

        let leaving = nodes;
        let blocks = [2 * (leaving - 1), 2 * (leaving - 1) + 1];
        let dut = mesh
            .duts
            .pop()
            .ok_or_else(|| Error::Bench("no daemons".into()))?;
        let left = Instant::now();
        drop(dut);
        let leave = settled(&mesh.tallies, leaving, &blocks, false, left)?;

        let host = mesh.net.host(&format!("n{leaving}"));
        let config = mesh::config(daemon, leaving, nodes, &mesh::own_blocks(leaving, nodes));
        let joined = Instant::now();
        mesh.duts
            .push(Dut::launch(daemon, host, &config, &options.bgpd)?);
        let join = settled(&mesh.tallies, leaving, &blocks, true, joined)?;
        mesh.stop()?;
        Ok(Sample::from([
            ("block_p99_ms", percentile(&latencies, 99.0)),
            ("block_p50_ms", percentile(&latencies, 50.0)),
            ("block_max_ms", percentile(&latencies, 100.0)),
            ("leave_ms", millis(leave)),
            ("join_ms", millis(join)),
            ("cpu_s", after.cpu_since(&before)),
        ]))
    }
}

/// Node `node` gains (or loses) spare block `spare`; returns how long until
/// every other kernel agreed.
fn block_change(mesh: &mut MeshNet, node: usize, spare: usize, gained: bool) -> Result<Duration> {
    let (daemon, nodes) = (mesh.daemon, mesh.nodes);
    let block = mesh::spare_blocks(nodes, mesh.spare())
        .nth(spare)
        .to_string();
    let mut blocks = mesh::own_blocks(node, nodes);
    if gained {
        blocks.push(block.clone());
    }
    let dut = &mut mesh.duts[node - 1];
    let t0 = Instant::now();
    match daemon {
        Daemon::Frr => {
            let network = if gained {
                format!("network {block}")
            } else {
                format!("no network {block}")
            };
            dut.vtysh(&[
                "configure terminal",
                &format!("router bgp {}", mesh::AS),
                "address-family ipv4 unicast",
                &network,
            ])?
        }
        _ => dut.reconfigure(&mesh::config(daemon, node, nodes, &blocks))?,
    }
    settled(&mesh.tallies, node, &[2 * nodes + spare], gained, t0)
}
