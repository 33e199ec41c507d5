//! BIRD 2 (Debian `bird2`) and BIRD 1.6 (Debian `bird`, the version Calico
//! forks, unpacked into `.cache/bird16` by `scripts/setup.sh` because its
//! package conflicts with bird2).

use std::path::PathBuf;
use std::process::Command;

use ipnet::IpNet;

use super::{leading_prefixes, write_file, Session, SessionState, Speaker, START_TIMEOUT};
use crate::cmd;
use crate::error::{Error, Result};
use crate::network::Host;
use crate::process::Process;
use crate::wait::Poll;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BirdVersion {
    /// BIRD 1.6: IPv4 only in `bird`; what calico-node runs.
    V1_6,
    /// BIRD 2.
    V2,
}

impl BirdVersion {
    /// The folder holding `bird` and `birdc` of this version.
    pub fn sbin(self) -> PathBuf {
        match self {
            Self::V2 => PathBuf::from("/usr/sbin"),
            Self::V1_6 => std::env::var_os("BIRD16_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.cache/bird16/root/usr/sbin")
                }),
        }
    }
}

#[derive(Debug)]
pub struct Bird {
    name: String,
    version: BirdVersion,
    socket: PathBuf,
    process: Process,
}

impl Bird {
    /// Starts BIRD in the foreground in `host` with `config`; ready when
    /// `birdc show status` answers.
    pub fn start(host: &Host, version: BirdVersion, config: &str) -> Result<Self> {
        Self::start_with_args(host, version, config, &[])
    }

    /// Starts BIRD as calico-node does, `bird -R`: in graceful restart
    /// recovery, its OPENs carrying the Restart State and Forwarding State
    /// bits (RFC 4724 §3).
    pub fn start_recovering(host: &Host, version: BirdVersion, config: &str) -> Result<Self> {
        Self::start_with_args(host, version, config, &["-R"])
    }

    fn start_with_args(
        host: &Host,
        version: BirdVersion,
        config: &str,
        args: &[&str],
    ) -> Result<Self> {
        let conf = write_file(host.dir(), "bird.conf", config)?;
        let socket = host.dir().join("bird.ctl");
        let mut command = host.command(version.sbin().join("bird"));
        command
            .arg("-f")
            .arg("-c")
            .arg(&conf)
            .arg("-s")
            .arg(&socket)
            .args(args);
        let name = format!("bird@{}", host.name());
        let process = Process::spawn(name.clone(), command, host.dir().join("bird.log"))?;
        let mut bird = Self {
            name,
            version,
            socket,
            process,
        };
        let socket = bird.socket.clone();
        bird.process
            .wait_ready("answering birdc", START_TIMEOUT, || {
                Ok(match birdc(version, &socket, "show status") {
                    Ok(out) if out.contains("Daemon is up") => Poll::Ready(()),
                    Ok(out) => Poll::Pending(out),
                    Err(e) => Poll::Pending(e.to_string()),
                })
            })?;
        Ok(bird)
    }

    /// Runs one `birdc` command; BIRD's control socket is a plain file, so
    /// this works from outside the namespace.
    pub fn cmd(&self, command: &str) -> Result<String> {
        birdc(self.version, &self.socket, command)
    }

    /// Replaces the configuration file and has BIRD re-read it (`birdc
    /// configure`, as Calico's confd does).
    pub fn reconfigure(&self, config: &str) -> Result<()> {
        let dir = self.socket.parent().unwrap_or(std::path::Path::new("."));
        write_file(dir, "bird.conf", config)?;
        let out = self.cmd("configure")?;
        if out.contains("Reconfigured") || out.contains("Reconfiguration in progress") {
            Ok(())
        } else {
            Err(Error::Command {
                command: format!("birdc configure ({})", self.name),
                detail: out,
            })
        }
    }

    /// `kill -9`: the kernel closes BIRD's connections, no NOTIFICATION.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    pub fn process(&mut self) -> &mut Process {
        &mut self.process
    }

    pub fn socket(&self) -> &std::path::Path {
        &self.socket
    }
}

fn birdc(version: BirdVersion, socket: &std::path::Path, command: &str) -> Result<String> {
    let mut birdc = Command::new(version.sbin().join("birdc"));
    birdc.arg("-s").arg(socket).args(command.split_whitespace());
    cmd::output(&mut birdc)
}

impl Speaker for Bird {
    fn name(&self) -> &str {
        &self.name
    }

    /// From `show protocols all`: each BGP protocol's name, `Neighbor address`
    /// and `BGP state`.
    fn sessions(&self) -> Result<Vec<Session>> {
        let out = self.cmd("show protocols all")?;
        let mut sessions: Vec<Session> = Vec::new();
        for line in out.lines() {
            let mut words = line.split_whitespace();
            // A protocol line starts at column 0: "name BGP table state since info".
            if !line.starts_with(char::is_whitespace) {
                if let (Some(name), Some("BGP")) = (words.next(), words.next()) {
                    sessions.push(Session {
                        name: name.to_owned(),
                        peer: None,
                        state: SessionState::Down,
                    });
                }
                continue;
            }
            let Some(session) = sessions.last_mut() else {
                continue;
            };
            let trimmed = line.trim();
            if let Some(address) = trimmed.strip_prefix("Neighbor address:") {
                session.peer = address
                    .trim()
                    .split('%')
                    .next()
                    .and_then(|a| a.parse().ok());
            } else if let Some(state) = trimmed.strip_prefix("BGP state:") {
                session.state = SessionState::parse(state.trim());
            }
        }
        Ok(sessions)
    }

    fn received(&self) -> Result<Vec<IpNet>> {
        Ok(leading_prefixes(
            &self.cmd("show route where source = RTS_BGP")?,
        ))
    }
}
