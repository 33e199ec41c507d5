//! S2: route-reflector fan-out, as in Calico's route-reflector mode. The
//! daemon is the reflector; C clients, all held by the harness's fleet in
//! one namespace, each from its own address, are its iBGP route-reflector
//! clients. Warm: every session Established with empty tables, then every
//! client announces its two /26 blocks at once; timed until every client
//! holds the 2(C-1) blocks of the others. Also the time to bring all the
//! sessions up and the reflector's memory per idle session.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use testnets::{Error, Network, Result, Topology};

use super::duts::{Daemon, Dut};
use super::fleet::{ClientSpec, Fleet};
use super::mesh::{Bfd, BIRD_BFD};
use super::stats::percentile;
use super::status::Prober;
use super::tally::{Prefixes, Tally};
use super::{millis, usage, Metric, Options, Sample, Scenario};

pub struct Reflector;

pub(super) const AS: u32 = 64512;
pub(super) const REFLECTOR: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 1);
/// Client i is this address plus i.
const FIRST_CLIENT: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 16);
const BLOCKS_PER_CLIENT: usize = 2;

const METRICS: &[Metric] = &[
    Metric::lower("t100_ms", "every client has every block (ms)"),
    Metric::lower("p50_ms", "p50 per client (ms)"),
    Metric::lower("p99_ms", "p99 per client (ms)"),
    Metric::lower("cpu_s", "CPU (s)"),
    Metric::lower("established_ms", "all sessions up (ms)"),
    Metric::lower("session_kib", "memory per idle session (KiB)"),
    Metric::lower("peak_rss_mib", "peak RSS (MiB)"),
    Metric::lower("status_idle_ms", "status answer, idle (ms)"),
    Metric::lower("status_busy_ms", "status answer during fan-out, max (ms)"),
    // The fleet shares the machine: its CPU shows it kept up.
    Metric::lower("fleet_cpu_s", "fleet CPU (s)"),
];

pub(super) fn client_address(i: usize) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(FIRST_CLIENT) + i as u32)
}

/// What bgpd exports: every client's blocks, up to 2,048 clients (a /16
/// holds the blocks of 512 only).
const EXPORTED: &str = "10.244.0.0/14";

/// Client i's blocks are /26 number 2i and 2i+1 from 10.244.0.0.
fn blocks(clients: usize) -> Prefixes {
    Prefixes::new(
        Ipv4Addr::new(10, 244, 0, 0),
        26,
        BLOCKS_PER_CLIENT * clients,
    )
}

impl Scenario for Reflector {
    fn id(&self) -> &'static str {
        "S2"
    }

    fn title(&self) -> &'static str {
        "route-reflector fan-out"
    }

    fn method(&self) -> &'static str {
        "The daemon is a route reflector; C clients, held by the harness's fleet (one thread, \
         one namespace, an address each), are its iBGP route-reflector clients, the reflector's \
         sessions passive. Once every session is Established with empty tables, every client \
         announces its two /26 blocks at once; time until every client holds the 2(C-1) blocks \
         of the others (the last client, and the p50 and p99 over clients). CPU is the \
         reflector's over that time, fleet CPU the harness's own (it scans every UPDATE on the \
         wire for its prefixes, attributes unread). The sessions' set-up is timed from the first connection \
         to the last session up; memory per idle session is the reflector's resident growth \
         from before the first connection to all sessions up, over C. The kernel is not \
         programmed. Status: the question `calicoctl node status` asks, timed from the harness \
         (bgpd and BIRD: `show protocols` on their BIRD control socket; FRR: `vtysh -c \"show \
         bgp summary\"`, GoBGP: `gobgp neighbor`, both with their CLI's start-up), the median \
         of five with every session up and idle, and the slowest of those asked every 20 ms \
         from the announcement until every client has every block."
    }

    fn daemons(&self) -> &'static [Daemon] {
        &Daemon::ALL
    }

    fn sizes(&self, quick: bool) -> Vec<usize> {
        if quick {
            vec![10]
        } else {
            vec![100, 250, 500]
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
        } = Cluster::launch("bench-s2", daemon, clients, Bfd::Off, options)?;
        let pids = dut.pids();
        let empty = usage::sample(&pids);
        let connecting = Instant::now();
        let fleet = Fleet::start(net.host("clients"), IpAddr::V4(REFLECTOR), AS, specs, setup);
        let established = fleet.established(setup)?;
        // Let the reflector send its End-of-RIBs and settle.
        std::thread::sleep(Duration::from_millis(500));
        let idle = usage::sample(&pids);
        let ask = dut.status_asker();
        let mut idle_answers = Vec::new();
        for _ in 0..5 {
            idle_answers.push(millis(ask()?));
        }

        let fleet_before = fleet.cpu();
        // Operators ask while the reflector works (every 20 ms).
        let prober = Prober::start(Duration::from_millis(20), ask);
        let t0 = fleet.announce();
        let done = every_block(&tallies, t0)?;
        let after = usage::sample(&pids);
        let busy_answers = prober.finish()?;
        let fleet_cpu = fleet.cpu().saturating_sub(fleet_before);
        fleet.close()?;
        drop(dut);
        // Without BFD nothing should end a session: one ended is a fault.
        let ended = ended_by_daemon.load(Ordering::Relaxed);
        if ended > 0 {
            return Err(Error::Bench(format!(
                "the daemon ended {ended} client sessions"
            )));
        }
        let grown_kib = idle.rss_kib.saturating_sub(empty.rss_kib);
        Ok(Sample::from([
            ("t100_ms", percentile(&done, 100.0)),
            ("p50_ms", percentile(&done, 50.0)),
            ("p99_ms", percentile(&done, 99.0)),
            ("cpu_s", after.cpu_since(&idle)),
            ("established_ms", millis(established - connecting)),
            ("session_kib", grown_kib as f64 / clients as f64),
            ("peak_rss_mib", after.peak_rss_kib as f64 / 1024.0),
            ("fleet_cpu_s", fleet_cpu.as_secs_f64()),
            ("status_idle_ms", percentile(&idle_answers, 50.0)),
            ("status_busy_ms", percentile(&busy_answers, 100.0)),
        ]))
    }
}

/// The reflector launched on its network, its clients not yet connected.
pub(super) struct Cluster {
    pub net: Network,
    pub dut: Dut,
    /// The clients, for the fleet.
    pub specs: Vec<ClientSpec>,
    /// Each client's view of the others' blocks.
    pub tallies: Vec<Arc<Tally>>,
    /// BGP sessions the daemon ended (the fleet opens them again).
    pub ended_by_daemon: Arc<AtomicUsize>,
    /// How long the sessions may take to come up.
    pub setup: Duration,
}

impl Cluster {
    pub(super) fn launch(
        name: &str,
        daemon: Daemon,
        clients: usize,
        bfd: Bfd,
        options: &Options,
    ) -> Result<Cluster> {
        if clients > 4000 {
            return Err(Error::Bench(format!(
                "{clients} clients do not fit 10.1.0.0/16"
            )));
        }
        let addresses: Vec<String> = (0..clients)
            .map(|i| format!("{}/16", client_address(i)))
            .collect();
        let addresses: Vec<&str> = addresses.iter().map(String::as_str).collect();
        let mut topology = Topology::new(name);
        topology.segment("lan");
        topology
            .node("rr")
            .iface("lan", &[&format!("{REFLECTOR}/16")]);
        topology.host("clients").iface("lan", &addresses);
        let net = topology.build()?;

        let dut = Dut::launch(
            daemon,
            net.host("rr"),
            &config(daemon, clients, bfd),
            &options.bgpd,
        )?;
        let prefixes = blocks(clients);
        let ended_by_daemon = Arc::new(AtomicUsize::new(0));
        let specs: Vec<ClientSpec> = (0..clients)
            .map(|i| {
                let own = BLOCKS_PER_CLIENT * i..BLOCKS_PER_CLIENT * (i + 1);
                ClientSpec {
                    address: client_address(i),
                    blocks: own.clone().map(|b| prefixes.nth(b)).collect(),
                    tally: Arc::new(Tally::all_but(prefixes, own)),
                    ended_by_daemon: ended_by_daemon.clone(),
                }
            })
            .collect();
        let tallies = specs.iter().map(|s| s.tally.clone()).collect();
        Ok(Cluster {
            net,
            dut,
            specs,
            tallies,
            ended_by_daemon,
            setup: Duration::from_secs(60 + clients as u64 / 5),
        })
    }
}

/// Waits until every client has every other block; how long each took
/// from `t0` (ms).
pub(super) fn every_block(tallies: &[Arc<Tally>], t0: Instant) -> Result<Vec<f64>> {
    let mut done = Vec::with_capacity(tallies.len());
    for (i, tally) in tallies.iter().enumerate() {
        tally.wait(
            &format!("every other block at client {}", client_address(i)),
            Duration::from_secs(60),
            |s| s.marks.full.is_some(),
        )?;
        let full = tally.marks().full.unwrap_or(t0);
        done.push(millis(full.saturating_duration_since(t0)));
    }
    Ok(done)
}

/// The reflector's configuration for `daemon`: every client passive, a
/// route-reflector client in one cluster, the kernel not programmed; BFD
/// at every daemon's defaults (300 ms both ways, three packets) when on.
fn config(daemon: Daemon, clients: usize, bfd: Bfd) -> String {
    let me = REFLECTOR;
    let on = bfd == Bfd::On;
    let (bird_bfd_on, bird_bfd) = if on { (" bfd on;", BIRD_BFD) } else { ("", "") };
    let mut c = String::new();
    match daemon {
        Daemon::Bgpd => {
            c.push_str(&format!(
                "node_name = \"rr\"\nrouter_id = \"{me}\"\nlocal_as = {AS}\naddresses = [\"{me}/16\"]\n\
                 cluster_id = \"{me}\"\n\n[kernel]\nenabled = false\n\n\
                 [export]\nprefixes = [\"{EXPORTED}\"]\n"
            ));
            for i in 0..clients {
                c.push_str(&format!(
                    "\n[[peer]]\naddress = \"{}\"\nremote_as = {AS}\nkind = \"node\"\npassive = true\n\
                     route_reflector_client = true\n",
                    client_address(i)
                ));
                if on {
                    c.push_str("bfd = {}\n");
                }
            }
        }
        Daemon::Bird2 => {
            c.push_str(&format!(
                "router id {me};\nprotocol device {{ scan time 60; }}\n\
                 template bgp rrc {{ local {me} as {AS}; direct; passive on; rr client; \
                 rr cluster id {me};{bird_bfd_on} ipv4 {{ import all; export all; gateway direct; }}; }}\n"
            ));
            c.push_str(bird_bfd);
            for i in 0..clients {
                c.push_str(&format!(
                    "protocol bgp c{i} from rrc {{ neighbor {} as {AS}; }}\n",
                    client_address(i)
                ));
            }
        }
        Daemon::Bird16 => {
            c.push_str(&format!(
                "router id {me};\nprotocol device {{ scan time 60; }}\n\
                 template bgp rrc {{ local as {AS}; source address {me}; direct; gateway direct; \
                 passive on; rr client; rr cluster id {me};{bird_bfd_on} import all; export all; }}\n"
            ));
            c.push_str(bird_bfd);
            for i in 0..clients {
                c.push_str(&format!(
                    "protocol bgp c{i} from rrc {{ neighbor {} as {AS}; }}\n",
                    client_address(i)
                ));
            }
        }
        Daemon::Frr => {
            c.push_str(&format!(
                "frr defaults traditional\nbgp no-rib\nrouter bgp {AS}\n bgp router-id {me}\n \
                 bgp cluster-id {me}\n no bgp ebgp-requires-policy\n \
                 neighbor clients peer-group\n neighbor clients remote-as {AS}\n neighbor clients passive\n"
            ));
            if on {
                c.push_str(" neighbor clients bfd\n");
            }
            for i in 0..clients {
                c.push_str(&format!(
                    " neighbor {} peer-group clients\n",
                    client_address(i)
                ));
            }
            c.push_str(
                " address-family ipv4 unicast\n  neighbor clients route-reflector-client\n \
                 exit-address-family\n",
            );
        }
        Daemon::GoBgp => {
            c.push_str(&format!(
                "[global.config]\n  as = {AS}\n  router-id = \"{me}\"\n"
            ));
            for i in 0..clients {
                c.push_str(&format!(
                    "[[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{}\"\n    peer-as = {AS}\n  \
                     [neighbors.transport.config]\n    passive-mode = true\n  \
                     [neighbors.route-reflector.config]\n    route-reflector-client = true\n    \
                     route-reflector-cluster-id = \"{me}\"\n",
                    client_address(i)
                ));
            }
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_have_addresses_and_blocks_of_their_own() {
        assert_eq!(client_address(0), Ipv4Addr::new(10, 1, 0, 16));
        assert_eq!(client_address(499), Ipv4Addr::new(10, 1, 2, 3));
        let all = blocks(500);
        assert_eq!(all.count(), 1000);
        // Four /26 to a /24: the last of 1,000 is in 10.244.249.0/24.
        assert_eq!(all.nth(999).to_string(), "10.244.249.192/26");
        let exported: ipnet::Ipv4Net = EXPORTED.parse().unwrap();
        let thousand = blocks(1000);
        assert!(
            exported.contains(&thousand.nth(1999)),
            "a thousand clients' blocks are exported"
        );
    }

    #[test]
    fn every_daemon_has_every_client_as_a_reflector_client() {
        for daemon in Daemon::ALL {
            let c = config(daemon, 3, Bfd::Off);
            for i in 0..3 {
                assert!(
                    c.contains(&client_address(i).to_string()),
                    "{daemon}: client {i}"
                );
            }
            assert!(
                !c.contains(&client_address(3).to_string()),
                "{daemon}: only three"
            );
        }
        assert_eq!(
            config(Daemon::Bgpd, 3, Bfd::Off)
                .matches("route_reflector_client = true")
                .count(),
            3
        );
        assert!(
            config(Daemon::Frr, 3, Bfd::Off).contains("neighbor clients route-reflector-client")
        );
    }

    #[test]
    fn bfd_is_asked_of_every_daemon_that_has_it_and_only_when_on() {
        let asks = |daemon| {
            let c = config(daemon, 2, Bfd::On);
            match daemon {
                Daemon::Bgpd => c.matches("bfd = {}").count() == 2,
                Daemon::Bird2 | Daemon::Bird16 => c.contains("bfd on;") && c.contains(BIRD_BFD),
                Daemon::Frr => c.contains(" neighbor clients bfd\n"),
                Daemon::GoBgp => !c.contains("bfd"),
            }
        };
        for daemon in Daemon::ALL {
            assert!(asks(daemon), "{daemon}");
            assert!(
                !config(daemon, 2, Bfd::Off).contains("bfd"),
                "{daemon} without"
            );
        }
    }
}
