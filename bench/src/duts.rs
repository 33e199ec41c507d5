//! The daemons under test, each configured for the same job as fairly as
//! its configuration allows (benchmarks.md §5): passive sessions that the
//! harness opens, eBGP to the feeder (and the sink), default policies that
//! accept, no debug logging, the kernel programmed only when the scenario
//! times it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use testnets::speakers::bgpd::Bgpd;
use testnets::speakers::bird::{Bird, BirdVersion};
use testnets::speakers::frr::Frr;
use testnets::speakers::gobgp::GoBgp;
use testnets::{Error, Host, Result};

use super::status::ask_bird_socket;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Daemon {
    Bgpd,
    Bird2,
    Bird16,
    Frr,
    GoBgp,
}

impl Daemon {
    pub const ALL: [Daemon; 5] = [
        Daemon::Bgpd,
        Daemon::Bird2,
        Daemon::Bird16,
        Daemon::Frr,
        Daemon::GoBgp,
    ];
}

impl std::str::FromStr for Daemon {
    type Err = String;

    /// bgpd, bird2, bird16, frr, gobgp.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().replace([' ', '.', '-'], "").as_str() {
            "bgpd" => Ok(Daemon::Bgpd),
            "bird2" => Ok(Daemon::Bird2),
            "bird16" => Ok(Daemon::Bird16),
            "frr" => Ok(Daemon::Frr),
            "gobgp" => Ok(Daemon::GoBgp),
            _ => Err(format!(
                "no daemon {s:?}: bgpd, bird2, bird16, frr or gobgp"
            )),
        }
    }
}

impl fmt::Display for Daemon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Daemon::Bgpd => "bgpd",
            Daemon::Bird2 => "BIRD 2",
            Daemon::Bird16 => "BIRD 1.6",
            Daemon::Frr => "FRR",
            Daemon::GoBgp => "GoBGP",
        })
    }
}

/// Addresses and AS numbers of the bench topology.
pub const DUT: &str = "10.0.1.2";
pub const DUT_AS: u32 = 65000;
pub const FEEDER: &str = "10.0.1.1";
pub const FEEDER_AS: u32 = 65001;
pub const SINK: &str = "10.0.1.3";
pub const SINK_AS: u32 = 65002;

/// What the daemon is asked to do.
#[derive(Clone, Debug)]
pub struct Role {
    /// Its eBGP peers (address, AS), all passive: the harness connects.
    pub peers: Vec<(&'static str, u32)>,
    /// Install best routes into the kernel.
    pub fib: bool,
}

#[derive(Debug)]
enum Running {
    Bgpd(Bgpd),
    Bird(Bird),
    Frr(Frr),
    GoBgp(GoBgp),
}

/// A running daemon under test; stopped when dropped.
#[derive(Debug)]
pub struct Dut {
    running: Running,
    /// bgpd's BIRD-compatible control socket, in its host's folder.
    bgpd_bird_socket: PathBuf,
}

impl Dut {
    /// Starts `daemon` in `host` for `role` (the S1/S4 topology).
    pub fn start(daemon: Daemon, host: &Host, role: &Role, bgpd: &Path) -> Result<Self> {
        let config = match daemon {
            Daemon::Bgpd => bgpd_config(role),
            Daemon::Bird2 => bird2_config(role),
            Daemon::Bird16 => bird16_config(role),
            Daemon::Frr => frr_config(role),
            Daemon::GoBgp => gobgp_config(role),
        };
        Self::launch(daemon, host, &config, bgpd)
    }

    /// Starts `daemon` in `host` with its own `config` text; ready when the
    /// daemon says so (listening, answering its CLI).
    pub fn launch(daemon: Daemon, host: &Host, config: &str, bgpd: &Path) -> Result<Self> {
        let bgpd_bird_socket = host.dir().join("bird.ctl");
        let running = match daemon {
            Daemon::Bgpd => Running::Bgpd(Bgpd::start_with_args(
                host,
                bgpd,
                config,
                179,
                // Stopping a daemon is how a node leaves in S5: with a
                // Cease, as BIRD, FRR and GoBGP stop; bgpd's default stop
                // keeps its routes at its peers for a graceful restart.
                &[
                    "--log-level",
                    "warn",
                    "--stop-mode",
                    "cease",
                    "--bird-socket",
                    &bgpd_bird_socket.display().to_string(),
                ],
            )?),
            Daemon::Bird2 => Running::Bird(Bird::start(host, BirdVersion::V2, config)?),
            Daemon::Bird16 => Running::Bird(Bird::start(host, BirdVersion::V1_6, config)?),
            // A configuration that asks for BFD gets bfdd, at its defaults
            // (300 ms both ways, a multiplier of 3).
            Daemon::Frr if config.contains(" bfd\n") => {
                Running::Frr(Frr::start_with_bfd(host, config, "bfd\n!\n")?)
            }
            Daemon::Frr => Running::Frr(Frr::start(host, config)?),
            Daemon::GoBgp => Running::GoBgp(GoBgp::start(host, config)?),
        };
        Ok(Self {
            running,
            bgpd_bird_socket,
        })
    }

    /// Replaces the configuration and has the daemon apply it the way its
    /// operators do: bgpd re-reads its file on SIGHUP, BIRD on `birdc
    /// configure`. FRR is changed by [`Dut::vtysh`] instead.
    pub fn reconfigure(&mut self, config: &str) -> Result<()> {
        match &mut self.running {
            Running::Bgpd(d) => d.reload(config),
            Running::Bird(d) => d.reconfigure(config),
            Running::Frr(_) | Running::GoBgp(_) => Err(Error::Bench(
                "FRR and GoBGP are changed by command, not by file".into(),
            )),
        }
    }

    /// Runs configuration commands in FRR's vtysh.
    pub fn vtysh(&self, commands: &[&str]) -> Result<()> {
        match &self.running {
            Running::Frr(d) => d.vtysh(commands).map(drop),
            _ => Err(Error::Bench("only FRR has vtysh".into())),
        }
    }

    /// A function that asks the daemon for its peers' status, as its
    /// operators would, and times the answer (see `status.rs`).
    pub fn status_asker(&self) -> Box<dyn Fn() -> Result<Duration> + Send> {
        match &self.running {
            Running::Bgpd(_) => {
                let socket = self.bgpd_bird_socket.clone();
                Box::new(move || ask_bird_socket(&socket, "show protocols"))
            }
            Running::Bird(d) => {
                let socket = d.socket().to_path_buf();
                Box::new(move || ask_bird_socket(&socket, "show protocols"))
            }
            Running::Frr(d) => {
                let vtysh = d.vtysh_runner();
                Box::new(move || timed(|| vtysh(&["show bgp summary"])))
            }
            Running::GoBgp(d) => {
                let gobgp = d.cli_runner();
                Box::new(move || timed(|| gobgp(&["neighbor"])))
            }
        }
    }

    /// Its processes, for accounting.
    pub fn pids(&mut self) -> Vec<u32> {
        match &mut self.running {
            Running::Bgpd(d) => vec![d.process().pid()],
            Running::Bird(d) => vec![d.process().pid()],
            Running::Frr(d) => {
                let mut pids = vec![d.bgpd().pid(), d.zebra().pid()];
                pids.extend(d.bfdd().map(|p| p.pid()));
                pids
            }
            Running::GoBgp(d) => vec![d.process().pid()],
        }
    }
}

fn timed(run: impl FnOnce() -> Result<String>) -> Result<Duration> {
    let started = Instant::now();
    run()?;
    Ok(started.elapsed())
}

fn bgpd_config(role: &Role) -> String {
    let mut c = format!(
        "node_name = \"dut\"\nrouter_id = \"{DUT}\"\nlocal_as = {DUT_AS}\naddresses = [\"{DUT}/24\"]\n\n\
         [kernel]\nenabled = {}\n",
        role.fib
    );
    for (address, asn) in &role.peers {
        c.push_str(&format!(
            "\n[[peer]]\naddress = \"{address}\"\nremote_as = {asn}\npassive = true\n"
        ));
    }
    c
}

fn bird2_config(role: &Role) -> String {
    let mut c = format!("router id {DUT};\nprotocol device {{ scan time 60; }}\n");
    if role.fib {
        c.push_str("protocol kernel { scan time 60; ipv4 { import none; export all; }; }\n");
    }
    for (i, (address, asn)) in role.peers.iter().enumerate() {
        // The first peer feeds, the others receive.
        let (import, export) = if i == 0 {
            ("all", "none")
        } else {
            ("none", "all")
        };
        c.push_str(&format!(
            "protocol bgp peer{i} {{ local {DUT} as {DUT_AS}; neighbor {address} as {asn}; passive on; \
             ipv4 {{ import {import}; export {export}; }}; }}\n"
        ));
    }
    c
}

fn bird16_config(role: &Role) -> String {
    let mut c = format!("router id {DUT};\nprotocol device {{ scan time 60; }}\n");
    if role.fib {
        c.push_str("protocol kernel { scan time 60; import none; export all; }\n");
    }
    for (i, (address, asn)) in role.peers.iter().enumerate() {
        let (import, export) = if i == 0 {
            ("all", "none")
        } else {
            ("none", "all")
        };
        c.push_str(&format!(
            "protocol bgp peer{i} {{ local as {DUT_AS}; neighbor {address} as {asn}; passive on; \
             import {import}; export {export}; }}\n"
        ));
    }
    c
}

fn frr_config(role: &Role) -> String {
    let mut c = String::from("frr defaults traditional\n");
    if !role.fib {
        c.push_str("bgp no-rib\n");
    }
    c.push_str(&format!(
        "router bgp {DUT_AS}\n bgp router-id {DUT}\n no bgp ebgp-requires-policy\n no bgp network import-check\n"
    ));
    for (address, asn) in &role.peers {
        c.push_str(&format!(
            " neighbor {address} remote-as {asn}\n neighbor {address} passive\n"
        ));
    }
    c
}

fn gobgp_config(role: &Role) -> String {
    let mut c = format!("[global.config]\n  as = {DUT_AS}\n  router-id = \"{DUT}\"\n");
    for (address, asn) in &role.peers {
        c.push_str(&format!(
            "[[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{address}\"\n    peer-as = {asn}\n  \
             [neighbors.transport.config]\n    passive-mode = true\n"
        ));
    }
    c
}
