//! FRR (Debian `frr`): zebra, bgpd and, for BFD, bfdd run directly, in the
//! foreground, without watchfrr or systemd, each instance with its own zserv and vty sockets in the
//! host's folder (`../shared/reference/peers.md` §3).

use std::path::PathBuf;
use std::process::Command;

use ipnet::IpNet;

use super::{parse_json, write_file, Session, SessionState, Speaker, START_TIMEOUT};
use crate::cmd;
use crate::error::{Error, Result};
use crate::network::Host;
use crate::process::Process;
use crate::wait::Poll;

const DAEMONS: &str = "/usr/lib/frr";

#[derive(Debug)]
pub struct Frr {
    name: String,
    vty_dir: PathBuf,
    // bgpd stops before bfdd and zebra (field order is drop order).
    bgpd: Process,
    bfdd: Option<Process>,
    zebra: Process,
}

impl Frr {
    /// Starts zebra, then bgpd with `bgpd_config`; ready when bgpd answers
    /// `show bgp summary json` over its vty socket.
    pub fn start(host: &Host, bgpd_config: &str) -> Result<Self> {
        Self::start_daemons(host, bgpd_config, None)
    }

    /// Like [`Frr::start`], with bfdd and `bfdd_config` (its profiles) too,
    /// for `neighbor ... bfd` in `bgpd_config`.
    pub fn start_with_bfd(host: &Host, bgpd_config: &str, bfdd_config: &str) -> Result<Self> {
        Self::start_daemons(host, bgpd_config, Some(bfdd_config))
    }

    fn start_daemons(host: &Host, bgpd_config: &str, bfdd_config: Option<&str>) -> Result<Self> {
        let dir = host.dir().join("frr");
        std::fs::create_dir_all(&dir).map_err(Error::io(format!("create {}", dir.display())))?;
        let zebra_conf = write_file(&dir, "zebra.conf", &format!("hostname {}\n", host.name()))?;
        let bgpd_conf = write_file(&dir, "bgpd.conf", bgpd_config)?;
        let zserv = dir.join("zserv.api");
        // Run as root with the frrvty group: FRR then works in any folder
        // (peers.md gotcha 3); -P 0 disables the TCP vty.
        let daemon = |program: &str, conf: &PathBuf, pid: &str| {
            let mut command = host.command(format!("{DAEMONS}/{program}"));
            command
                .arg("-f")
                .arg(conf)
                .arg("-i")
                .arg(dir.join(pid))
                .arg("-z")
                .arg(&zserv)
                .arg("--vty_socket")
                .arg(&dir)
                .args(["-P", "0", "-u", "root", "-g", "frrvty"]);
            command
        };
        // Each daemon is ready once it answers `probe` over its vty socket.
        let start = |program: &str, conf: &PathBuf, probe: &str| -> Result<Process> {
            let mut process = Process::spawn(
                format!("{program}@{}", host.name()),
                daemon(program, conf, &format!("{program}.pid")),
                dir.join(format!("{program}.log")),
            )?;
            process.wait_ready("answering vtysh", START_TIMEOUT, || {
                vty_ready(&dir, program, probe)
            })?;
            Ok(process)
        };
        let zebra = start("zebra", &zebra_conf, "show version")?;
        let bfdd = match bfdd_config {
            Some(config) => {
                let conf = write_file(&dir, "bfdd.conf", config)?;
                Some(start("bfdd", &conf, "show bfd peers")?)
            }
            None => None,
        };
        let bgpd = start("bgpd", &bgpd_conf, "show bgp summary json")?;
        let name = format!("frr@{}", host.name());
        Ok(Self {
            name,
            vty_dir: dir,
            bgpd,
            bfdd,
            zebra,
        })
    }

    /// Runs vtysh commands (each `-c`), in order, against this instance.
    pub fn vtysh(&self, commands: &[&str]) -> Result<String> {
        vtysh(&self.vty_dir, None, commands)
    }

    /// vtysh as a function that owns what it needs, for a thread.
    pub fn vtysh_runner(&self) -> impl Fn(&[&str]) -> Result<String> + Send + 'static {
        let dir = self.vty_dir.clone();
        move |commands| vtysh(&dir, None, commands)
    }

    pub fn bgpd(&mut self) -> &mut Process {
        &mut self.bgpd
    }

    pub fn zebra(&mut self) -> &mut Process {
        &mut self.zebra
    }

    /// bfdd, when started with [`Frr::start_with_bfd`].
    pub fn bfdd(&mut self) -> Option<&mut Process> {
        self.bfdd.as_mut()
    }
}

fn vtysh(dir: &std::path::Path, daemon: Option<&str>, commands: &[&str]) -> Result<String> {
    let mut command = Command::new("vtysh");
    command.arg("--vty_socket").arg(dir);
    if let Some(daemon) = daemon {
        command.args(["-d", daemon]);
    }
    for c in commands {
        command.args(["-c", c]);
    }
    cmd::output(&mut command)
}

fn vty_ready(dir: &std::path::Path, daemon: &str, probe: &str) -> Result<Poll<()>> {
    Ok(match vtysh(dir, Some(daemon), &[probe]) {
        Ok(_) => Poll::Ready(()),
        Err(e) => Poll::Pending(e.to_string()),
    })
}

impl Speaker for Frr {
    fn name(&self) -> &str {
        &self.name
    }

    fn sessions(&self) -> Result<Vec<Session>> {
        let json = parse_json(
            "show bgp summary json",
            &self.vtysh(&["show bgp summary json"])?,
        )?;
        let mut sessions: Vec<Session> = Vec::new();
        for family in json.as_object().into_iter().flat_map(|o| o.values()) {
            for (address, peer) in family["peers"].as_object().into_iter().flatten() {
                if sessions.iter().any(|s| s.name == *address) {
                    continue;
                }
                sessions.push(Session {
                    name: address.clone(),
                    peer: address.parse().ok(),
                    state: SessionState::parse(peer["state"].as_str().unwrap_or_default()),
                });
            }
        }
        Ok(sessions)
    }

    /// Paths whose `peerId` is a peer (local ones say "(unspec)").
    fn received(&self) -> Result<Vec<IpNet>> {
        let mut prefixes = Vec::new();
        for family in ["ipv4", "ipv6"] {
            let text = self.vtysh(&[&format!("show bgp {family} unicast json")])?;
            let json = parse_json("show bgp json", &text)?;
            for (prefix, paths) in json["routes"].as_object().into_iter().flatten() {
                let learned = paths
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|p| p["peerId"] != "(unspec)");
                if let (true, Ok(prefix)) = (learned, prefix.parse()) {
                    prefixes.push(prefix);
                }
            }
        }
        Ok(prefixes)
    }
}
