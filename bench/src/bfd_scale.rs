//! S10: BFD at a reflector's scale. The S2 reflector with BFD on every
//! client session (300 ms both ways, a multiplier of 3): is the daemon
//! punctual with C sessions, at rest and while it reflects the fan-out,
//! and what do the sessions cost it? BFD that a busy control plane makes
//! late takes healthy sessions down, which is worse than no BFD.

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use testnets::{Error, Result};

use super::bfd_fleet::{BfdFleet, Punctuality};
use super::duts::Daemon;
use super::fleet::Fleet;
use super::mesh::Bfd;
use super::reflector::{client_address, every_block, Cluster, AS, REFLECTOR};
use super::stats::percentile;
use super::{usage, Metric, Options, Sample};

pub struct BfdScale;

const METRICS: &[Metric] = &[
    Metric::lower("steady_cpu_s", "CPU, 10 s of BFD at rest (s)"),
    Metric::lower("missed", "packets missed (gap over 1.5 intervals)"),
    Metric::lower("expired", "gaps over the detection time"),
    Metric::lower("dropped", "BFD sessions the daemon took down"),
    Metric::lower("bgp_ended", "BGP sessions the daemon ended"),
    Metric::lower(
        "longest_gap_ms",
        "longest gap between packets to a client (ms)",
    ),
    Metric::lower("busy_gap_ms", "longest gap during the fan-out (ms)"),
    Metric::lower("t100_ms", "fan-out: every client has every block (ms)"),
    Metric::lower("fleet_cpu_s", "harness BFD CPU, the whole run (s)"),
];

/// The daemons with BFD (GoBGP has none).
const DAEMONS: &[Daemon] = &[Daemon::Bgpd, Daemon::Bird2, Daemon::Bird16, Daemon::Frr];

/// The fleet's phases.
const AT_REST: usize = 0;
const FAN_OUT: usize = 1;

/// How long BFD runs at rest (quick runs: a glimpse).
fn at_rest(quick: bool) -> Duration {
    Duration::from_secs(if quick { 2 } else { 10 })
}

impl super::Scenario for BfdScale {
    fn id(&self) -> &'static str {
        "S10"
    }

    fn title(&self) -> &'static str {
        "BFD at reflector scale"
    }

    fn method(&self) -> &'static str {
        "The S2 reflector with BFD on every client session (RFC 5881 single hop, 300 ms both \
         ways, multiplier 3: every daemon's default). Beside the BGP fleet, a BFD fleet on a \
         thread of its own answers each session from its client's address and reads the \
         arrival of each of the daemon's packets from the kernel's receive timestamp, so the \
         harness's own delays do not count. Once every BGP session is Established and every \
         BFD session Up: 10 s at rest, whose CPU (the daemon's, FRR's bfdd included) is BFD's \
         cost; then the S2 fan-out, and 2 s after it. Gaps are between consecutive packets to \
         one client while the daemon says Up; a gap over 1.5 intervals is a missed packet, one \
         over the detection time (900 ms) would take the session down at the client; \
         \"dropped\" counts the daemon's own packets saying a session is no longer Up (it \
         missed the fleet's), and the BGP sessions it ended are opened again by the fleet, as \
         a node would, and counted. The longest gap is over the whole measurement, the busy \
         gap over the fan-out."
    }

    fn daemons(&self) -> &'static [Daemon] {
        DAEMONS
    }

    fn sizes(&self, quick: bool) -> Vec<usize> {
        if quick {
            vec![10]
        } else {
            vec![1000]
        }
    }

    fn metrics(&self) -> &'static [Metric] {
        METRICS
    }

    fn run_once(&self, daemon: Daemon, clients: usize, options: &Options) -> Result<Sample> {
        let Cluster {
            net,
            mut dut,
            specs,
            tallies,
            ended_by_daemon,
            setup,
        } = Cluster::launch("bench-s10", daemon, clients, Bfd::On, options)?;
        let pids = dut.pids();
        let host = net.host("clients");
        let addresses = (0..clients).map(client_address).collect();
        let mut bfd = BfdFleet::start(host, REFLECTOR, addresses);
        let fleet = Fleet::start(host, IpAddr::V4(REFLECTOR), AS, specs, setup);
        fleet.established(setup)?;
        bfd.up(setup)?;

        bfd.enter(AT_REST);
        let rest = usage::sample(&pids);
        std::thread::sleep(at_rest(options.quick));
        let steady_cpu = usage::sample(&pids).cpu_since(&rest);

        bfd.enter(FAN_OUT);
        let t0 = fleet.announce();
        let done = every_block(&tallies, t0)?;
        std::thread::sleep(Duration::from_secs(2));
        let fleet_cpu = bfd.cpu();
        let [rest, busy] = bfd.finish()?;
        fleet.close()?;
        drop(dut);
        // A daemon that sent nothing would otherwise look punctual.
        if rest.packets == 0 || busy.packets == 0 {
            return Err(Error::Bench(format!(
                "no BFD packets counted: {} at rest, {} during the fan-out",
                rest.packets, busy.packets
            )));
        }
        let mut sample = sample(&rest, &busy, steady_cpu, &done, fleet_cpu);
        let ended = ended_by_daemon.load(Ordering::Relaxed);
        sample.insert("bgp_ended", ended as f64);
        Ok(sample)
    }
}

fn sample(
    rest: &Punctuality,
    busy: &Punctuality,
    steady_cpu: f64,
    done: &[f64],
    fleet_cpu: Duration,
) -> Sample {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let sum = |f: fn(&Punctuality) -> u64| (f(rest) + f(busy)) as f64;
    Sample::from([
        ("longest_gap_ms", ms(rest.longest_gap.max(busy.longest_gap))),
        ("missed", sum(|p| p.missed)),
        ("expired", sum(|p| p.expired)),
        ("dropped", sum(|p| p.dropped_by_daemon)),
        ("busy_gap_ms", ms(busy.longest_gap)),
        ("steady_cpu_s", steady_cpu),
        ("t100_ms", percentile(done, 100.0)),
        ("fleet_cpu_s", fleet_cpu.as_secs_f64()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_and_counts_add_up_over_the_phases() {
        let rest = Punctuality {
            packets: 100,
            longest_gap: Duration::from_millis(290),
            missed: 1,
            expired: 0,
            dropped_by_daemon: 0,
        };
        let busy = Punctuality {
            packets: 50,
            longest_gap: Duration::from_millis(500),
            missed: 2,
            expired: 1,
            dropped_by_daemon: 1,
        };
        let s = sample(&rest, &busy, 0.5, &[10.0, 20.0], Duration::from_secs(1));
        assert_eq!(s["longest_gap_ms"], 500.0);
        assert_eq!(s["busy_gap_ms"], 500.0);
        assert_eq!(s["missed"], 3.0);
        assert_eq!(s["expired"], 1.0);
        assert_eq!(s["dropped"], 1.0);
        assert_eq!(s["t100_ms"], 20.0);
    }
}
