//! The benchmark harness: podroute's bgpd side by side with BIRD 2, BIRD
//! 1.6, FRR and GoBGP on this machine, in one run; the scenarios S1–S10 of
//! benchmarks.md §5, reported in BENCHMARKS.md. The binary `bench` runs it
//! (`scripts/bench.sh`), bgpd's interop suite runs its quick mode; the
//! networks and the daemons in them are `testnets`'. Each scenario
//! runs every daemon that applies, one warm-up and five measured runs in a
//! shuffled order, each run on a fresh network; the report gives medians
//! with their range and the ratio of each peer to bgpd.
//!
//! The harness is in Rust and never asks the daemon under test anything
//! while timing: a feeder writes pre-encoded UPDATEs, a sink tallies every
//! prefix it receives, a watcher tallies the kernel's route events.

mod bfd_fleet;
mod bfd_scale;
mod bgp_end;
mod churn;
mod confd;
mod datastore;
pub mod duts;
mod etcd_fib;
mod fib;
mod fibwatch;
mod fleet;
mod hard_failure;
mod ingest;
mod learning;
mod mesh;
mod phases;
mod reflector;
pub mod report;
pub mod stats;
mod status;
mod tally;
mod usage;
mod workload;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use testnets::{Error, Result};

pub use self::duts::Daemon;
use self::stats::{shuffled, Summary};

/// How to run the benchmarks.
#[derive(Clone, Debug)]
pub struct Options {
    /// The bgpd binary under test (a release build for real figures).
    pub bgpd: PathBuf,
    /// Only these scenarios ("S1", "S4"); all when empty.
    pub scenarios: Vec<String>,
    /// Small sizes, one measured run and no warm-up: proves the harness.
    pub quick: bool,
    /// Only these daemons; every one that applies when empty.
    pub daemons: Vec<Daemon>,
    /// Only these sizes; the scenario's own when empty.
    pub sizes: Vec<usize>,
}

impl Options {
    fn rounds(&self) -> (usize, usize) {
        if self.quick {
            (0, 1)
        } else {
            (1, 5)
        }
    }
}

/// A figure a scenario measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metric {
    pub key: &'static str,
    pub label: &'static str,
    /// Lower is better (times, memory); else higher (rates).
    pub lower_is_better: bool,
    /// Measured for bgpd alone (a variant of it, such as S9's bgpd without
    /// BFD); the peers' rows leave it out.
    pub bgpd_only: bool,
}

impl Metric {
    /// A figure where less is better (times, CPU, memory).
    pub const fn lower(key: &'static str, label: &'static str) -> Self {
        Self {
            key,
            label,
            lower_is_better: true,
            bgpd_only: false,
        }
    }

    /// A figure where more is better (rates).
    pub const fn higher(key: &'static str, label: &'static str) -> Self {
        Self {
            key,
            label,
            lower_is_better: false,
            bgpd_only: false,
        }
    }

    /// The figure is measured for bgpd alone.
    pub const fn for_bgpd_only(self) -> Self {
        Self {
            bgpd_only: true,
            ..self
        }
    }
}

/// One measured run: each metric's value.
pub type Sample = BTreeMap<&'static str, f64>;

/// A scenario: its daemons, sizes, metrics, and one run.
trait Scenario {
    fn id(&self) -> &'static str;
    fn title(&self) -> &'static str;
    /// What it does and how it is timed, for the report.
    fn method(&self) -> &'static str;
    fn daemons(&self) -> &'static [Daemon];
    fn sizes(&self, quick: bool) -> Vec<usize>;
    /// The figures, the primary (charted, compared) first.
    fn metrics(&self) -> &'static [Metric];
    fn run_once(&self, daemon: Daemon, size: usize, options: &Options) -> Result<Sample>;
}

fn scenarios() -> Vec<Box<dyn Scenario>> {
    vec![
        Box::new(ingest::Ingest),
        Box::new(reflector::Reflector),
        Box::new(mesh::Mesh),
        Box::new(fib::FibInstall),
        Box::new(churn::Churn),
        Box::new(etcd_fib::EtcdToFib),
        Box::new(datastore::DatastoreScale),
        Box::new(learning::Learning),
        Box::new(hard_failure::HardFailure),
        Box::new(bfd_scale::BfdScale),
    ]
}

/// The results of one daemon at one size.
#[derive(Clone, Debug)]
pub struct Row {
    pub size: usize,
    pub daemon: Daemon,
    pub summaries: BTreeMap<&'static str, Summary>,
    /// Runs that failed, with why.
    pub failures: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct ScenarioResult {
    pub id: &'static str,
    pub title: &'static str,
    pub method: &'static str,
    pub metrics: &'static [Metric],
    pub rows: Vec<Row>,
}

impl ScenarioResult {
    pub fn row(&self, size: usize, daemon: Daemon) -> Option<&Row> {
        self.rows
            .iter()
            .find(|r| r.size == size && r.daemon == daemon)
    }

    pub fn sizes(&self) -> Vec<usize> {
        let mut sizes: Vec<usize> = self.rows.iter().map(|r| r.size).collect();
        sizes.dedup();
        sizes
    }
}

/// Runs the chosen scenarios; `progress` hears what is happening.
pub fn run(options: &Options, progress: &mut dyn FnMut(&str)) -> Result<Vec<ScenarioResult>> {
    let mut results = Vec::new();
    for scenario in scenarios() {
        let chosen = options.scenarios.is_empty()
            || options
                .scenarios
                .iter()
                .any(|s| s.eq_ignore_ascii_case(scenario.id()));
        if chosen {
            results.push(run_scenario(scenario.as_ref(), options, progress)?);
        }
    }
    if results.is_empty() {
        return Err(Error::Bench(format!(
            "no scenario named {:?}; there are {}",
            options.scenarios,
            scenarios()
                .iter()
                .map(|s| s.id())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(results)
}

fn run_scenario(
    scenario: &dyn Scenario,
    options: &Options,
    progress: &mut dyn FnMut(&str),
) -> Result<ScenarioResult> {
    let (warmups, measured) = options.rounds();
    let mut rows = Vec::new();
    let daemons: Vec<Daemon> = scenario
        .daemons()
        .iter()
        .copied()
        .filter(|d| options.daemons.is_empty() || options.daemons.contains(d))
        .collect();
    let sizes = if options.sizes.is_empty() {
        scenario.sizes(options.quick)
    } else {
        options.sizes.clone()
    };
    for size in sizes {
        let mut samples: BTreeMap<Daemon, Vec<Sample>> = BTreeMap::new();
        let mut failures: BTreeMap<Daemon, Vec<String>> = BTreeMap::new();
        for round in 0..warmups + measured {
            let (kind, number) = if round < warmups {
                ("warm-up", round + 1)
            } else {
                ("run", round - warmups + 1)
            };
            for daemon in shuffled(&daemons, round as u64) {
                progress(&format!(
                    "{} {}: {size} with {daemon} ({kind} {number})",
                    scenario.id(),
                    scenario.title(),
                ));
                match scenario.run_once(daemon, size, options) {
                    Ok(sample) if round >= warmups => {
                        samples.entry(daemon).or_default().push(sample)
                    }
                    Ok(_) => {}
                    Err(e) => {
                        progress(&format!("  failed: {e}"));
                        failures
                            .entry(daemon)
                            .or_default()
                            .push(format!("{kind} {number}: {e}"));
                    }
                }
            }
        }
        for &daemon in &daemons {
            let runs = samples.remove(&daemon).unwrap_or_default();
            let summaries = scenario
                .metrics()
                .iter()
                .filter_map(|m| {
                    let values: Vec<f64> =
                        runs.iter().filter_map(|s| s.get(m.key)).copied().collect();
                    Summary::of(&values).map(|s| (m.key, s))
                })
                .collect();
            rows.push(Row {
                size,
                daemon,
                summaries,
                failures: failures.remove(&daemon).unwrap_or_default(),
            });
        }
    }
    Ok(ScenarioResult {
        id: scenario.id(),
        title: scenario.title(),
        method: scenario.method(),
        metrics: scenario.metrics(),
        rows,
    })
}

/// How long a run may take to converge: generous, the slowest peers at a
/// million prefixes need it; a timeout is a failed run, not a figure.
fn deadline(size: usize) -> Duration {
    Duration::from_secs(30 + (size as u64 / 5_000))
}

/// What a harness thread (`what`) ended with, once it has been told to stop.
fn joined<T: Default>(thread: Option<std::thread::JoinHandle<Result<T>>>, what: &str) -> Result<T> {
    match thread.map(std::thread::JoinHandle::join) {
        Some(Ok(result)) => result,
        Some(Err(_)) => Err(Error::Bench(format!("{what} panicked"))),
        None => Ok(T::default()),
    }
}

/// How many changes a churn scenario (S5, S6) times, one at a time; each
/// is made and then undone.
fn changes(options: &Options) -> usize {
    if options.quick {
        4
    } else {
        20
    }
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
