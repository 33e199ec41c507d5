//! S1: ingest and re-advertisement. The feeder writes N prefixes in
//! attribute sets of a thousand to the daemon over eBGP; the daemon sends
//! them on, over eBGP, to the sink. Timed from the feeder's first byte to
//! the moment the sink holds 99 % and 100 % of them; then the withdrawal of
//! all until the sink holds none. The kernel is not programmed.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use testnets::{Network, Result, Topology};

use super::bgp_end::BgpEnd;
use super::duts::{Daemon, Dut, Role, DUT, FEEDER, FEEDER_AS, SINK, SINK_AS};
use super::phases::fill_and_empty;
use super::tally::{Prefixes, Tally};
use super::{deadline, millis, workload, Metric, Options, Sample, Scenario};

pub struct Ingest;

const METRICS: &[Metric] = &[
    Metric::lower("t100_ms", "all at the sink (ms)"),
    Metric::lower("t99_ms", "99 % at the sink (ms)"),
    Metric::lower("withdraw_ms", "withdraw all (ms)"),
    Metric::lower("cpu_s", "CPU (s)"),
    Metric::lower("bytes_per_route", "memory per route (B)"),
    Metric::lower("peak_rss_mib", "peak RSS (MiB)"),
];

/// Three hosts on one segment: feed, the daemon, sink.
pub(super) fn feed_dut_sink(name: &str, sink: bool) -> Result<Network> {
    let mut topology = Topology::new(name);
    topology.segment("lan");
    topology
        .host("feed")
        .iface("lan", &[&format!("{FEEDER}/24")]);
    topology.node("dut").iface("lan", &[&format!("{DUT}/24")]);
    if sink {
        topology.host("sink").iface("lan", &[&format!("{SINK}/24")]);
    }
    topology.build()
}

pub(super) fn dut_address() -> std::net::IpAddr {
    DUT.parse().expect("a constant address")
}

impl Scenario for Ingest {
    fn id(&self) -> &'static str {
        "S1"
    }

    fn title(&self) -> &'static str {
        "ingest and re-advertisement"
    }

    fn method(&self) -> &'static str {
        "feeder → daemon → sink, eBGP both ways, /24 prefixes in attribute sets of 1,000, \
         the kernel not programmed. Time from the feeder's first byte to 99 % and 100 % of the \
         prefixes at the sink; then from the first withdrawal to an empty sink. CPU is the \
         daemon's from the first byte to 100 %; memory per route is its resident growth, from \
         before the feed to half a second after 100 % (steady, as benchmarks.md §5 S1 asks), \
         over the prefix count."
    }

    fn daemons(&self) -> &'static [Daemon] {
        &Daemon::ALL
    }

    fn sizes(&self, quick: bool) -> Vec<usize> {
        if quick {
            vec![5_000]
        } else {
            vec![100_000, 1_000_000]
        }
    }

    fn metrics(&self) -> &'static [Metric] {
        METRICS
    }

    fn run_once(&self, daemon: Daemon, size: usize, options: &Options) -> Result<Sample> {
        let net = feed_dut_sink("bench-s1", true)?;
        let role = Role {
            peers: vec![(FEEDER, FEEDER_AS), (SINK, SINK_AS)],
            fib: false,
        };
        let mut dut = Dut::start(daemon, net.host("dut"), &role, &options.bgpd)?;
        let pids = dut.pids();
        let prefixes = Prefixes::new(Ipv4Addr::new(11, 0, 0, 0), 24, size);
        let tally = Arc::new(Tally::new(prefixes));
        let setup = Duration::from_secs(30);
        let sink = BgpEnd::connect(
            net.host("sink"),
            dut_address(),
            SINK_AS,
            SINK.parse().expect("constant"),
            setup,
        )?
        .into_sink(tally.clone());
        let feeder = BgpEnd::connect(
            net.host("feed"),
            dut_address(),
            FEEDER_AS,
            FEEDER.parse().expect("constant"),
            setup,
        )?;
        let (announce, withdraw) =
            workload::encode(&prefixes, FEEDER.parse().expect("constant"), feeder.encode)?;
        let mut feeder = feeder.into_feeder();
        // Sessions up, End-of-RIB exchanged: let the daemon settle.
        std::thread::sleep(Duration::from_millis(500));

        let timed = fill_and_empty(
            &mut feeder,
            &tally,
            &pids,
            (&announce, &withdraw),
            deadline(size),
            "the sink",
            || Ok(()),
        );
        tally.close();
        feeder.close();
        sink.close()?;
        drop(dut);
        let timed = timed?;
        let grown = timed.steady.rss_kib.saturating_sub(timed.before.rss_kib) * 1024;
        Ok(Sample::from([
            ("t100_ms", millis(timed.fill)),
            ("t99_ms", millis(timed.fill_99)),
            ("withdraw_ms", millis(timed.empty)),
            ("cpu_s", timed.after.cpu_since(&timed.before)),
            ("bytes_per_route", grown as f64 / size as f64),
            ("peak_rss_mib", timed.after.peak_rss_kib as f64 / 1024.0),
        ]))
    }
}
