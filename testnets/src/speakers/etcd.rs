//! etcd 3.4 (Debian `etcd-server`), one member per host, with helpers to put
//! and delete values the way Calico stores them (JSON under `/calico/...`).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
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
    tls: Option<EtcdTls>,
    process: Process,
}

/// Certificates for etcd over TLS with client certificates: a throwaway CA,
/// a server certificate for the etcd host's address, and a client one.
#[derive(Clone, Debug)]
pub struct EtcdTls {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

impl EtcdTls {
    /// Makes a CA and its certificates in `dir` with openssl (EC P-256, one day).
    pub fn generate(dir: &Path, server: IpAddr) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(Error::io(format!("create {}", dir.display())))?;
        let path = |name: &str| dir.join(name);
        let openssl =
            |args: &[&str]| cmd::output(Command::new("openssl").args(args).current_dir(dir));
        let key = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        openssl(
            &[
                &["req", "-x509"][..],
                &key,
                &[
                    "-keyout",
                    "ca.key",
                    "-out",
                    "ca.crt",
                    "-days",
                    "1",
                    "-subj",
                    "/CN=testnets-ca",
                ],
            ]
            .concat(),
        )?;
        for (name, usage, san) in [
            (
                "server",
                "serverAuth",
                format!("subjectAltName=IP:{server},IP:127.0.0.1\n"),
            ),
            ("client", "clientAuth", String::new()),
        ] {
            openssl(
                &[
                    &["req"][..],
                    &key,
                    &[
                        "-keyout",
                        &format!("{name}.key"),
                        "-out",
                        &format!("{name}.csr"),
                        "-subj",
                        &format!("/CN={name}"),
                    ],
                ]
                .concat(),
            )?;
            std::fs::write(
                path(&format!("{name}.ext")),
                format!("{san}extendedKeyUsage={usage}\n"),
            )
            .map_err(Error::io("write extensions"))?;
            openssl(&[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &format!("{name}.crt"),
                "-days",
                "1",
                "-extfile",
                &format!("{name}.ext"),
            ])?;
        }
        Ok(Self {
            ca: path("ca.crt"),
            server_cert: path("server.crt"),
            server_key: path("server.key"),
            client_cert: path("client.crt"),
            client_key: path("client.key"),
        })
    }
}

/// An address as a URL's host: IPv6 in brackets.
struct SocketHost(IpAddr);

impl std::fmt::Display for SocketHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "[{v6}]"),
        }
    }
}

impl Etcd {
    /// Starts a single-member etcd in `host`, serving clients on the host's
    /// first IPv4 address (its IPv6 one in an IPv6-only network), so every
    /// host of the topology reaches it, and on its loopback; ready when
    /// `etcdctl endpoint health` says so.
    pub fn start(host: &Host) -> Result<Self> {
        Self::start_with(host, None)
    }

    /// Like [`Etcd::start`], serving HTTPS and requiring client certificates
    /// signed by `tls.ca`.
    pub fn start_tls(host: &Host, tls: EtcdTls) -> Result<Self> {
        Self::start_with(host, Some(tls))
    }

    /// Starts a cluster of one member in each of `hosts` (three for a
    /// cluster that survives the loss of one); ready when every member
    /// reports healthy, which needs a quorum. Each member's
    /// [`Etcd::endpoint`] serves the same data; [`endpoints`] joins them for
    /// `ETCD_ENDPOINTS`.
    pub fn start_cluster(hosts: &[&Host]) -> Result<Vec<Self>> {
        let peer_url = |host: &Host| -> Result<String> {
            let address = Self::client_address(host)?;
            Ok(format!("http://{}:{PEER_PORT}", SocketHost(address)))
        };
        let mut initial = Vec::new();
        for host in hosts {
            initial.push(format!("{}={}", host.name(), peer_url(host)?));
        }
        let initial = initial.join(",");
        let mut members = Vec::new();
        for host in hosts {
            members.push(Self::spawn(host, None, &peer_url(host)?, &initial)?);
        }
        for member in &mut members {
            member.wait_healthy()?;
        }
        Ok(members)
    }

    fn start_with(host: &Host, tls: Option<EtcdTls>) -> Result<Self> {
        let peer_url = format!("http://127.0.0.1:{PEER_PORT}");
        let initial = format!("{}={peer_url}", host.name());
        let mut etcd = Self::spawn(host, tls, &peer_url, &initial)?;
        etcd.wait_healthy()?;
        Ok(etcd)
    }

    fn client_address(host: &Host) -> Result<IpAddr> {
        host.ipv4()
            .or_else(|| host.ipv6())
            .ok_or_else(|| Error::Topology(format!("{} has no address for etcd", host.name())))
    }

    /// Starts the member of `host`, peering at `peer_url` within the
    /// `initial` cluster (`name=url,...`).
    fn spawn(host: &Host, tls: Option<EtcdTls>, peer_url: &str, initial: &str) -> Result<Self> {
        let address = Self::client_address(host)?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let endpoint = format!("{scheme}://{}:{CLIENT_PORT}", SocketHost(address));
        let data = host.dir().join("etcd-data");
        let name = host.name().to_owned();
        let mut command = host.command("etcd");
        command
            .arg("--name")
            .arg(&name)
            .arg("--data-dir")
            .arg(&data)
            .arg("--listen-client-urls")
            .arg(format!("{endpoint},{scheme}://127.0.0.1:{CLIENT_PORT}"))
            .arg("--advertise-client-urls")
            .arg(&endpoint)
            .arg("--listen-peer-urls")
            .arg(peer_url)
            .arg("--initial-advertise-peer-urls")
            .arg(peer_url)
            .arg("--initial-cluster")
            .arg(initial)
            .args([
                "--initial-cluster-state",
                "new",
                "--log-level",
                "warn",
                "--logger",
                "zap",
            ]);
        if let Some(tls) = &tls {
            command
                .arg("--cert-file")
                .arg(&tls.server_cert)
                .arg("--key-file")
                .arg(&tls.server_key)
                .arg("--trusted-ca-file")
                .arg(&tls.ca)
                .arg("--client-cert-auth");
        }
        let process = Process::spawn(format!("etcd@{name}"), command, host.dir().join("etcd.log"))?;
        Ok(Self {
            ns: host.ns().name().to_owned(),
            endpoint,
            tls,
            process,
        })
    }

    fn wait_healthy(&mut self) -> Result<()> {
        let (ns, endpoint, tls) = (self.ns.clone(), self.endpoint.clone(), self.tls.clone());
        self.process.wait_ready("healthy", START_TIMEOUT, || {
            Ok(
                match etcdctl(&ns, &endpoint, tls.as_ref(), &["endpoint", "health"]) {
                    Ok(_) => Poll::Ready(()),
                    Err(e) => Poll::Pending(e.to_string()),
                },
            )
        })
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
        etcdctl(&self.ns, &self.endpoint, self.tls.as_ref(), args)
    }

    pub fn process(&mut self) -> &mut Process {
        &mut self.process
    }
}

fn etcdctl(ns: &str, endpoint: &str, tls: Option<&EtcdTls>, args: &[&str]) -> Result<String> {
    let mut command = Command::new("ip");
    command
        .args(["netns", "exec", ns, "etcdctl", "--endpoints", endpoint])
        .env("ETCDCTL_API", "3");
    if let Some(tls) = tls {
        command
            .arg("--cacert")
            .arg(&tls.ca)
            .arg("--cert")
            .arg(&tls.client_cert)
            .arg("--key")
            .arg(&tls.client_key);
    }
    cmd::output(command.args(args))
}

/// The client endpoints of a cluster's members, comma-separated as Calico's
/// `ETCD_ENDPOINTS` takes them.
pub fn endpoints(members: &[Etcd]) -> String {
    members
        .iter()
        .map(Etcd::endpoint)
        .collect::<Vec<_>>()
        .join(",")
}
