//! etcd 3.4 (Debian `etcd-server`), one member per host, with helpers to put
//! and delete values the way Calico stores them (JSON under `/calico/...`).

use std::net::IpAddr;
use std::process::Command;

use super::START_TIMEOUT;
use crate::cmd;
use crate::error::{Error, Result};
use crate::network::Host;
use crate::process::Process;
use crate::wait::Poll;

pub const CLIENT_PORT: u16 = 2379;
const PEER_PORT: u16 = 2380;

#[derive(Debug)]
pub struct Etcd {
    ns: String,
    endpoint: String,
    process: Process,
}

impl Etcd {
    /// Starts a single-member etcd in `host`, serving clients on the host's
    /// first IPv4 address (so every host of the topology reaches it) and on
    /// its loopback; ready when `etcdctl endpoint health` says so.
    pub fn start(host: &Host) -> Result<Self> {
        let address = host.ipv4().ok_or_else(|| {
            Error::Topology(format!("{} has no IPv4 address for etcd", host.name()))
        })?;
        let endpoint = format!("http://{address}:{CLIENT_PORT}");
        let data = host.dir().join("etcd-data");
        let name = host.name().to_owned();
        let mut command = host.command("etcd");
        command
            .arg("--name")
            .arg(&name)
            .arg("--data-dir")
            .arg(&data)
            .arg("--listen-client-urls")
            .arg(format!("{endpoint},http://127.0.0.1:{CLIENT_PORT}"))
            .arg("--advertise-client-urls")
            .arg(&endpoint)
            .arg("--listen-peer-urls")
            .arg(format!("http://127.0.0.1:{PEER_PORT}"))
            .arg("--initial-advertise-peer-urls")
            .arg(format!("http://127.0.0.1:{PEER_PORT}"))
            .arg("--initial-cluster")
            .arg(format!("{name}=http://127.0.0.1:{PEER_PORT}"))
            .args([
                "--initial-cluster-state",
                "new",
                "--log-level",
                "warn",
                "--logger",
                "zap",
            ]);
        let process = Process::spawn(format!("etcd@{name}"), command, host.dir().join("etcd.log"))?;
        let mut etcd = Self {
            ns: host.ns().name().to_owned(),
            endpoint,
            process,
        };
        let (ns, endpoint) = (etcd.ns.clone(), etcd.endpoint.clone());
        etcd.process.wait_ready("healthy", START_TIMEOUT, || {
            Ok(match etcdctl(&ns, &endpoint, &["endpoint", "health"]) {
                Ok(_) => Poll::Ready(()),
                Err(e) => Poll::Pending(e.to_string()),
            })
        })?;
        Ok(etcd)
    }

    /// `http://<address>:2379`, for `ETCD_ENDPOINTS`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn address(&self) -> Option<IpAddr> {
        self.endpoint
            .trim_start_matches("http://")
            .rsplit_once(':')
            .and_then(|(a, _)| a.parse().ok())
    }

    pub fn put(&self, key: &str, value: &str) -> Result<()> {
        self.etcdctl(&["put", key, value]).map(drop)
    }

    /// Puts `value` serialized as JSON, as Calico stores its resources.
    pub fn put_json(&self, key: &str, value: &serde_json::Value) -> Result<()> {
        self.put(key, &value.to_string())
    }

    pub fn get(&self, key: &str) -> Result<Option<String>> {
        let out = self.etcdctl(&["get", key, "--print-value-only"])?;
        Ok((!out.is_empty()).then(|| out.trim_end_matches('\n').to_owned()))
    }

    pub fn delete(&self, key: &str) -> Result<()> {
        self.etcdctl(&["del", key]).map(drop)
    }

    pub fn etcdctl(&self, args: &[&str]) -> Result<String> {
        etcdctl(&self.ns, &self.endpoint, args)
    }

    pub fn process(&mut self) -> &mut Process {
        &mut self.process
    }
}

fn etcdctl(ns: &str, endpoint: &str, args: &[&str]) -> Result<String> {
    cmd::output(
        Command::new("ip")
            .args(["netns", "exec", ns, "etcdctl", "--endpoints", endpoint])
            .args(args)
            .env("ETCDCTL_API", "3"),
    )
}
