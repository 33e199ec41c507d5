//! S8: from a workload route in one node's kernel to the route in every
//! other kernel. The cluster is S6's (a mesh configured from Calico's
//! resources in etcd); the harness plays Felix on one node: it adds a route
//! to a pod's address `dev cali…` (an address outside the node's blocks,
//! as a borrowed one is), then removes it, one change at a time, and times
//! each until every other node's kernel agrees. bgpd learns it from
//! netlink's notices; BIRD 1.6 from its kernel protocol (`learn`, with
//! Calico's `scan time 2`).

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use testnets::Result;

use super::duts::Daemon;
use super::etcd_fib::{blocks, cluster_network, Cluster};
use super::fibwatch::FibWatch;
use super::stats::percentile;
use super::tally::{settled, Prefixes, Tally};
use super::{changes, millis, usage, Metric, Options, Sample, Scenario};

pub struct Learning;

const METRICS: &[Metric] = &[
    Metric::lower("p99_ms", "workload route to every kernel, p99 (ms)"),
    Metric::lower("p50_ms", "p50 (ms)"),
    Metric::lower("max_ms", "max (ms)"),
    Metric::lower("cpu_s", "CPU of all daemons (s)"),
];

const DAEMONS: &[Daemon] = &[Daemon::Bgpd, Daemon::Bird16];
const PAUSE: Duration = Duration::from_millis(20);
/// How long the node's own kernel may take to show the harness's change.
const CHANGE: Duration = Duration::from_secs(10);
/// Felix's name for a workload interface, one per node.
const WORKLOAD: &str = "cali0bench";

/// The pods' addresses: inside the pool, outside every node's block.
fn pods(changes: usize) -> Prefixes {
    Prefixes::new(Ipv4Addr::new(10, 244, 250, 0), 32, changes)
}

impl Scenario for Learning {
    fn id(&self) -> &'static str {
        "S8"
    }

    fn title(&self) -> &'static str {
        "a workload route to the kernels"
    }

    fn method(&self) -> &'static str {
        "S6's cluster: a mesh of N nodes and etcd on one segment, configured from Calico's \
         resources (bgpd from etcd itself, BIRD 1.6 through the confd-like loop). The harness \
         plays Felix: on one node it adds `A/32 dev cali0bench scope link` for a pod address A \
         inside the pool but outside every block (a borrowed address, which Calico's export \
         filter announces), then deletes it, one change at a time (20 changes, 40 in all); each \
         is timed from the moment the node's own kernel has it until every other node's kernel \
         agrees (netlink watchers on every node). bgpd learns the route from netlink's \
         notices; BIRD 1.6 from its kernel protocol (`learn`, `scan time 2`, Calico's settings). CPU is every daemon's \
         over the changes."
    }

    fn daemons(&self) -> &'static [Daemon] {
        DAEMONS
    }

    fn sizes(&self, quick: bool) -> Vec<usize> {
        if quick {
            vec![4]
        } else {
            vec![20]
        }
    }

    fn metrics(&self) -> &'static [Metric] {
        METRICS
    }

    fn run_once(&self, daemon: Daemon, nodes: usize, options: &Options) -> Result<Sample> {
        let changes = changes(options);
        let (net, etcd) = cluster_network("bench-s8", nodes, &blocks(nodes, 0))?;
        let pods = pods(changes);
        let mut tallies = Vec::new();
        let mut watches = Vec::new();
        for i in 1..=nodes {
            let host = net.host(&format!("n{i}"));
            host.ns().ip([
                "link",
                "add",
                WORKLOAD,
                "type",
                "veth",
                "peer",
                "name",
                "cali0peer",
            ])?;
            host.ns().ip(["link", "set", WORKLOAD, "up"])?;
            let tally = Arc::new(Tally::new(pods).with_stamps());
            watches.push(FibWatch::start(host, tally.clone())?);
            tallies.push(tally);
        }
        let cluster = Cluster::start(daemon, &net, &etcd, nodes, options)?;
        // Every node has every other's block before the clock starts.
        let block_tallies: Vec<_> = (1..=nodes)
            .map(|i| {
                let tally = Arc::new(Tally::expecting(blocks(nodes, 0), nodes - 1));
                FibWatch::start(net.host(&format!("n{i}")), tally.clone()).map(|w| (w, tally))
            })
            .collect::<Result<_>>()?;
        for (i, (_, tally)) in block_tallies.iter().enumerate() {
            tally.wait(
                &format!("every other block in n{}'s kernel", i + 1),
                Duration::from_secs(60 + nodes as u64),
                |s| s.marks.full.is_some(),
            )?;
        }
        for (watch, _) in block_tallies {
            watch.stop()?;
        }

        let before = usage::sample(&cluster.pids);
        let mut latencies = Vec::with_capacity(2 * changes);
        let run = (|| -> Result<()> {
            for change in 0..changes {
                let node = 1 + (change * 7) % nodes;
                let pod = pods.nth(change).to_string();
                let host = net.host(&format!("n{node}"));
                for gained in [true, false] {
                    let verb = if gained { "add" } else { "del" };
                    let issued = Instant::now();
                    host.ns()
                        .ip(["route", verb, &pod, "dev", WORKLOAD, "scope", "link"])?;
                    // The clock starts when the node's own kernel has the
                    // change, as its watcher saw it (not when `ip` started).
                    let own = &tallies[node - 1];
                    own.wait("the workload route in its node's kernel", CHANGE, |s| {
                        s.holds(change) == gained
                    })?;
                    let t0 = own.stamp(change).unwrap_or(issued);
                    latencies.push(millis(settled(&tallies, node, &[change], gained, t0)?));
                    std::thread::sleep(PAUSE);
                }
            }
            Ok(())
        })();
        let cpu = usage::sample(&cluster.pids).cpu_since(&before);
        cluster.stop()?;
        for watch in watches {
            watch.stop()?;
        }
        run?;
        Ok(Sample::from([
            ("p99_ms", percentile(&latencies, 99.0)),
            ("p50_ms", percentile(&latencies, 50.0)),
            ("max_ms", percentile(&latencies, 100.0)),
            ("cpu_s", cpu),
        ]))
    }
}
