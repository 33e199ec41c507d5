//! S9: a node fails hard in a node-to-node mesh: its link drops, so no
//! FIN and no NOTIFICATION reach its peers. On the S3 mesh with BFD on
//! every session (300 ms both ways, a multiplier of 3: every daemon's
//! default), once every kernel is complete: the last node's link is set
//! down in its namespace, and each other node's kernel is timed until it
//! no longer holds the failed node's blocks; p50, p99 and max over those
//! kernels. bgpd is measured twice: with BFD, and without it, where its
//! hold time (9 s in this mesh, 240 s with Calico's defaults) decides.
//! The CPU of all daemons over ten seconds of steady state before the
//! failure is BFD's cost at that size.

use std::time::{Duration, Instant};

use testnets::{Error, Result};

use super::mesh::{Bfd, MeshNet};
use super::stats::percentile;
use super::tally::settled_each;
use super::{millis, usage, Daemon, Metric, Options, Sample, Scenario};

pub struct HardFailure;

const METRICS: &[Metric] = &[
    Metric::lower(
        "fail_p99_ms",
        "failed node's blocks gone from the kernels, p99 (ms)",
    ),
    Metric::lower("fail_p50_ms", "gone, p50 (ms)"),
    Metric::lower("fail_max_ms", "gone, max (ms)"),
    Metric::lower(
        "no_bfd_max_ms",
        "bgpd without BFD (its hold time), max (ms)",
    )
    .for_bgpd_only(),
    Metric::lower("steady_cpu_s", "CPU of all daemons, 10 s of BFD (s)"),
];

const DAEMONS: &[Daemon] = &[Daemon::Bgpd, Daemon::Bird2, Daemon::Bird16, Daemon::Frr];

/// The steady state whose CPU is BFD's cost (quick runs: a glimpse).
fn steady(options: &Options) -> Duration {
    Duration::from_secs(if options.quick { 2 } else { 10 })
}

impl Scenario for HardFailure {
    fn id(&self) -> &'static str {
        "S9"
    }

    fn title(&self) -> &'static str {
        "hard failure in a mesh, with BFD"
    }

    fn method(&self) -> &'static str {
        "The S3 mesh with BFD on every session (300 ms both ways, multiplier 3, every daemon's \
         default; single hop, the peers being on one segment), every kernel complete. Ten \
         seconds of steady state, whose CPU (all daemons) is BFD's cost at this size; then the \
         last node's link is set down in its namespace, so that its peers get no FIN and no \
         NOTIFICATION, and every other node's kernel is timed until it no longer holds the \
         failed node's two blocks (netlink watchers): p50, p99 and max over the kernels. bgpd \
         is also measured without BFD, on a mesh of its own, where its hold time (9 s here, \
         240 s with Calico's defaults) decides."
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
        let (times, steady_cpu) = fail_one(daemon, nodes, Bfd::On, options)?;
        let mut sample = Sample::from([
            ("fail_p99_ms", percentile(&times, 99.0)),
            ("fail_p50_ms", percentile(&times, 50.0)),
            ("fail_max_ms", percentile(&times, 100.0)),
            ("steady_cpu_s", steady_cpu),
        ]);
        if daemon == Daemon::Bgpd {
            let (times, _) = fail_one(daemon, nodes, Bfd::Off, options)?;
            sample.insert("no_bfd_max_ms", percentile(&times, 100.0));
        }
        Ok(sample)
    }
}

/// Brings up a mesh, lets it run for [`steady`], drops the last node's
/// link; returns each other kernel's time (ms) until the node's blocks
/// were gone, and the CPU of the steady state.
fn fail_one(daemon: Daemon, nodes: usize, bfd: Bfd, options: &Options) -> Result<(Vec<f64>, f64)> {
    let mut mesh = MeshNet::start_with("bench-s9", daemon, nodes, 0, bfd, options)?;
    mesh.wait_complete()?;
    let pids = mesh.pids();
    let before = usage::sample(&pids);
    std::thread::sleep(steady(options));
    let steady = usage::sample(&pids).cpu_since(&before);
    let failing = nodes;
    let blocks = [2 * (failing - 1), 2 * (failing - 1) + 1];
    let host = mesh.net.host(&format!("n{failing}"));
    let dropped = Instant::now();
    host.ns()
        .ip(["link", "set", "eth0", "down"])
        .map_err(|e| Error::Bench(format!("cannot drop n{failing}'s link: {e}")))?;
    let times = settled_each(&mesh.tallies, failing, &blocks, false, dropped)?;
    mesh.stop()?;
    Ok((times.into_iter().map(millis).collect(), steady))
}
