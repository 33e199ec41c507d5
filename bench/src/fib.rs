//! S4: kernel route installation. The feeder writes N /26 prefixes via one
//! gateway to the daemon, which programs its kernel. Timed from the first
//! byte to the kernel's route events for 99 % and 100 % of them (a netlink
//! watcher in the daemon's namespace), then the withdrawal of all until the
//! kernel holds none. After filling, a full dump must show every route via
//! the gateway: a run that leaves the kernel unlike the RIB is a failure.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use testnets::{routes, Error, Result};

use super::bgp_end::BgpEnd;
use super::duts::{Daemon, Dut, Role, FEEDER, FEEDER_AS};
use super::fibwatch::FibWatch;
use super::ingest::{dut_address, feed_dut_sink};
use super::phases::fill_and_empty;
use super::tally::{Prefixes, Tally};
use super::{deadline, millis, workload, Metric, Options, Sample, Scenario};

pub struct FibInstall;

const METRICS: &[Metric] = &[
    Metric::higher("routes_per_s", "installed per second"),
    Metric::lower("t100_ms", "all in the kernel (ms)"),
    Metric::lower("t99_ms", "99 % in the kernel (ms)"),
    Metric::lower("withdraw_ms", "all removed (ms)"),
    Metric::lower("cpu_s", "CPU (s)"),
    Metric::lower("bytes_per_route", "memory per route (B)"),
    Metric::lower("peak_rss_mib", "peak RSS (MiB)"),
];

const DAEMONS: &[Daemon] = &[Daemon::Bgpd, Daemon::Bird2, Daemon::Bird16, Daemon::Frr];

impl Scenario for FibInstall {
    fn id(&self) -> &'static str {
        "S4"
    }

    fn title(&self) -> &'static str {
        "kernel route installation"
    }

    fn method(&self) -> &'static str {
        "feeder → daemon over eBGP, /26 prefixes via one gateway, the daemon programming its \
         kernel. Time from the feeder's first byte to the kernel's route events for 99 % and \
         100 % of the prefixes (netlink, in the daemon's namespace); then from the first \
         withdrawal until the kernel holds none. Every run checks by a full dump that the kernel \
         holds every route via the gateway. Memory per route is the daemon's resident growth \
         (half a second after 100 %) over the prefix count, the kernel's own not included. \
         GoBGP does not program the kernel and is left out."
    }

    fn daemons(&self) -> &'static [Daemon] {
        DAEMONS
    }

    fn sizes(&self, quick: bool) -> Vec<usize> {
        if quick {
            vec![2_000]
        } else {
            vec![10_000, 100_000, 1_000_000]
        }
    }

    fn metrics(&self) -> &'static [Metric] {
        METRICS
    }

    fn run_once(&self, daemon: Daemon, size: usize, options: &Options) -> Result<Sample> {
        let net = feed_dut_sink("bench-s4", false)?;
        let role = Role {
            peers: vec![(FEEDER, FEEDER_AS)],
            fib: true,
        };
        let mut dut = Dut::start(daemon, net.host("dut"), &role, &options.bgpd)?;
        let pids = dut.pids();
        let prefixes = Prefixes::new(Ipv4Addr::new(11, 0, 0, 0), 26, size);
        let tally = Arc::new(Tally::new(prefixes));
        let watch = FibWatch::start(net.host("dut"), tally.clone())?;
        let feeder = BgpEnd::connect(
            net.host("feed"),
            dut_address(),
            FEEDER_AS,
            FEEDER.parse().expect("constant"),
            Duration::from_secs(30),
        )?;
        let gateway: Ipv4Addr = FEEDER.parse().expect("constant");
        let (announce, withdraw) = workload::encode(&prefixes, gateway, feeder.encode)?;
        let mut feeder = feeder.into_feeder();
        std::thread::sleep(Duration::from_millis(500));

        let dut_host = net.host("dut");
        // Not timed: the kernel must hold exactly what was announced.
        let holds_every_route = || {
            let installed = routes::main_table(dut_host.routes()?)
                .into_iter()
                .filter(|r| {
                    matches!(r.destination, IpNet::V4(net) if prefixes.index_of(net.addr(), net.prefix_len()).is_some())
                        && r.gateway() == Some(gateway.into())
                })
                .count();
            if installed == size {
                Ok(())
            } else {
                Err(Error::Bench(format!(
                    "the kernel holds {installed} of {size} routes via {gateway}"
                )))
            }
        };
        let timed = fill_and_empty(
            &mut feeder,
            &tally,
            &pids,
            (&announce, &withdraw),
            deadline(size),
            "the kernel",
            holds_every_route,
        );
        let overruns = watch.overruns.load(std::sync::atomic::Ordering::Relaxed);
        watch.stop()?;
        feeder.close();
        drop(dut);
        let timed = timed?;
        let grown = timed.steady.rss_kib.saturating_sub(timed.before.rss_kib) * 1024;
        if overruns > 0 {
            return Err(Error::Bench(format!(
                "the kernel dropped route events {overruns} times: timing unreliable"
            )));
        }
        Ok(Sample::from([
            ("routes_per_s", size as f64 / timed.fill.as_secs_f64()),
            ("t100_ms", millis(timed.fill)),
            ("t99_ms", millis(timed.fill_99)),
            ("withdraw_ms", millis(timed.empty)),
            ("cpu_s", timed.after.cpu_since(&timed.before)),
            ("bytes_per_route", grown as f64 / size as f64),
            ("peak_rss_mib", timed.after.peak_rss_kib as f64 / 1024.0),
        ]))
    }
}
