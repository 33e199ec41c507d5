//! podroute's own `bgpd`, started in a host from a config string; ready when
//! it listens on its BGP port.

use std::ffi::OsStr;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde_json::Value;

use super::{write_file, Session, SessionState, Speaker, START_TIMEOUT};
use crate::error::{Error, Result};
use crate::network::Host;
use crate::process::Process;
use crate::wait::Poll;

#[derive(Debug)]
pub struct Bgpd {
    config: PathBuf,
    process: Process,
    /// `bgpctl`, beside the bgpd binary, and the API socket it asks.
    bgpctl: PathBuf,
    api_socket: PathBuf,
}

impl Bgpd {
    /// Starts `binary --config <host dir>/bgpd.toml` inside `host`, listening
    /// on `port`.
    pub fn start(host: &Host, binary: &Path, config: &str, port: u16) -> Result<Self> {
        Self::start_with_args(host, binary, config, port, &[])
    }

    /// Like [`Bgpd::start`], with more command-line arguments.
    pub fn start_with_args(
        host: &Host,
        binary: &Path,
        config: &str,
        port: u16,
        args: &[&str],
    ) -> Result<Self> {
        let path = write_file(host.dir(), "bgpd.toml", config)?;
        let mut command = host.command(binary);
        command.env("BGPD_API_SOCKET", api_socket(host));
        command.arg("--config").arg(&path);
        // Debug logs for tests, unless the caller chose (benchmarks do).
        if !args.contains(&"--log-level") {
            command.args(["--log-level", "debug"]);
        }
        command.args(args);
        let process = Process::spawn(
            format!("bgpd@{}", host.name()),
            command,
            host.dir().join("bgpd.log"),
        )?;
        Self::ready(host, binary, process, port, path)
    }

    /// Starts `binary` in `host` following etcd at `endpoints` as node `node`
    /// (Calico's ETCD_ENDPOINTS and NODENAME); ready when it listens on `port`,
    /// which it does once its first configuration rendered.
    pub fn start_with_etcd(
        host: &Host,
        binary: &Path,
        endpoints: &str,
        node: &str,
        port: u16,
    ) -> Result<Self> {
        Self::start_with_etcd_env(host, binary, endpoints, node, port, &[])
    }

    /// Like [`Bgpd::start_with_etcd`], with more environment (TLS files, an
    /// autodetection method).
    pub fn start_with_etcd_env(
        host: &Host,
        binary: &Path,
        endpoints: &str,
        node: &str,
        port: u16,
        env: &[(&str, &OsStr)],
    ) -> Result<Self> {
        let process = Self::spawn_with_etcd(host, binary, endpoints, node, env)?;
        Self::following(host, binary, process, port)
    }

    /// Ready once `process`, following etcd, listens on `port`.
    fn following(host: &Host, binary: &Path, process: Process, port: u16) -> Result<Self> {
        Self::ready(
            host,
            binary,
            process,
            port,
            host.dir().join("no-config-file"),
        )
    }

    /// Starts bgpd following etcd without waiting for it to be ready (it
    /// listens only once its first configuration rendered).
    pub fn spawn_with_etcd(
        host: &Host,
        binary: &Path,
        endpoints: &str,
        node: &str,
        env: &[(&str, &OsStr)],
    ) -> Result<Process> {
        Self::spawn_with_etcd_args(host, binary, endpoints, node, env, &[])
    }

    /// Like [`Bgpd::spawn_with_etcd`], with more command-line arguments
    /// (debug logs unless they set `--log-level`).
    pub fn spawn_with_etcd_args(
        host: &Host,
        binary: &Path,
        endpoints: &str,
        node: &str,
        env: &[(&str, &OsStr)],
        args: &[&str],
    ) -> Result<Process> {
        let log = (!args.contains(&"--log-level")).then_some("debug");
        Self::spawn_following(host, binary, endpoints, node, env, args, log)
    }

    /// Like [`Bgpd::start_with_etcd`] without a log level of the
    /// operator's, so that the datastore's (logSeverityScreen) applies.
    pub fn start_with_etcd_log_from_config(
        host: &Host,
        binary: &Path,
        endpoints: &str,
        node: &str,
        port: u16,
    ) -> Result<Self> {
        let process = Self::spawn_following(host, binary, endpoints, node, &[], &[], None)?;
        Self::following(host, binary, process, port)
    }

    fn spawn_following(
        host: &Host,
        binary: &Path,
        endpoints: &str,
        node: &str,
        env: &[(&str, &OsStr)],
        args: &[&str],
        log: Option<&str>,
    ) -> Result<Process> {
        let mut command = host.command(binary);
        command
            .env("BGPD_API_SOCKET", api_socket(host))
            .env("ETCD_ENDPOINTS", endpoints)
            .env("NODENAME", node);
        if let Some(level) = log {
            command.args(["--log-level", level]);
        }
        command.args(args);
        for (name, value) in env {
            command.env(name, value);
        }
        Process::spawn(
            format!("bgpd@{}", host.name()),
            command,
            host.dir().join("bgpd.log"),
        )
    }

    fn ready(
        host: &Host,
        binary: &Path,
        mut process: Process,
        port: u16,
        config: PathBuf,
    ) -> Result<Self> {
        let ns = host.ns();
        let filter = format!("sport = :{port}");
        process.wait_ready("listening", START_TIMEOUT, || {
            let out = crate::cmd::output(ns.command("ss").args(["-H", "-t", "-l", "-n", &filter]))?;
            Ok(if out.trim().is_empty() {
                Poll::Pending("not listening".into())
            } else {
                Poll::Ready(())
            })
        })?;
        Ok(Self {
            config,
            process,
            bgpctl: binary.with_file_name("bgpctl"),
            api_socket: api_socket(host),
        })
    }

    /// `bgpctl -o json <args>`, parsed.
    pub fn bgpctl_json(&self, args: &[&str]) -> Result<Value> {
        let mut command = std::process::Command::new(&self.bgpctl);
        command
            .arg("--socket")
            .arg(&self.api_socket)
            .args(["-o", "json"])
            .args(args);
        let out = crate::cmd::output(&mut command)?;
        serde_json::from_str(&out).map_err(|e| Error::Command {
            command: format!("bgpctl {args:?}"),
            detail: format!("{e}: {out}"),
        })
    }

    /// Every peer as `bgpctl show peers` gives it.
    pub fn peers(&self) -> Result<Vec<Value>> {
        let json = self.bgpctl_json(&["show", "peers"])?;
        Ok(json["peers"].as_array().cloned().unwrap_or_default())
    }

    /// Writes a new config and sends SIGHUP.
    pub fn reload(&mut self, config: &str) -> Result<()> {
        std::fs::write(&self.config, config)
            .map_err(Error::io(format!("write {}", self.config.display())))?;
        self.process.signal_hangup();
        Ok(())
    }

    pub fn process(&mut self) -> &mut Process {
        &mut self.process
    }

    pub fn log(&self) -> String {
        self.process.log()
    }
}

/// Where a bgpd in `host` serves its gRPC API unless `--api-socket` says
/// otherwise: in the host's folder, so that parallel tests never share
/// bgpd's default socket (/var/run/podroute/bgpd.sock).
pub fn api_socket(host: &Host) -> std::path::PathBuf {
    host.dir().join("bgpd.sock")
}

impl Speaker for Bgpd {
    fn name(&self) -> &str {
        self.process.name()
    }

    fn sessions(&self) -> Result<Vec<Session>> {
        Ok(self
            .peers()?
            .iter()
            .map(|peer| Session {
                name: peer["name"].as_str().unwrap_or_default().to_owned(),
                peer: peer["address"]
                    .as_str()
                    .and_then(|a| a.parse::<IpAddr>().ok()),
                state: SessionState::parse(peer["state"].as_str().unwrap_or_default()),
            })
            .collect())
    }

    /// Prefixes with a path from a peer.
    fn received(&self) -> Result<Vec<IpNet>> {
        let json = self.bgpctl_json(&["show", "routes"])?;
        Ok(json["routes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|route| {
                route["paths"]
                    .as_array()
                    .is_some_and(|paths| paths.iter().any(|p| p["from"] != "local"))
            })
            .filter_map(|route| route["prefix"].as_str()?.parse().ok())
            .collect())
    }
}
