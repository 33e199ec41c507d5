//! GoBGP (`gobgpd` and the `gobgp` CLI, Debian `gobgpd`). GoBGP never programs
//! the kernel; [`GoBgp::mirror_to_kernel`] does what kube-router does with it,
//! mirroring best paths into the host's table (`proto bgp`).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;

use ipnet::IpNet;

use super::{parse_json, write_file, Session, SessionState, Speaker, START_TIMEOUT};
use crate::cmd;
use crate::error::{Error, Result};
use crate::network::Host;
use crate::process::Process;
use crate::wait::Poll;

/// The gRPC port of gobgpd inside its namespace (each host has its own loopback).
const API: &str = "127.0.0.1:50051";

#[derive(Debug)]
pub struct GoBgp {
    name: String,
    ns: String,
    mirror: Option<KernelMirror>,
    process: Process,
}

impl GoBgp {
    /// Starts gobgpd in `host` with a TOML `config`; ready when `gobgp global`
    /// shows the configured AS.
    pub fn start(host: &Host, config: &str) -> Result<Self> {
        Self::start_with_args(host, config, &[])
    }

    /// Starts gobgpd with `--graceful-restart`: its OPENs carry the Restart
    /// State bit (RFC 4724 §3), and it defers its table until its peers'.
    pub fn start_restarting(host: &Host, config: &str) -> Result<Self> {
        Self::start_with_args(host, config, &["--graceful-restart"])
    }

    fn start_with_args(host: &Host, config: &str, args: &[&str]) -> Result<Self> {
        let conf = write_file(host.dir(), "gobgpd.toml", config)?;
        let mut command = host.command("gobgpd");
        command.arg("-f").arg(&conf).args([
            "--api-hosts",
            API,
            "--pprof-disable",
            "-p",
            "-l",
            "info",
        ]);
        command.args(args);
        let name = format!("gobgpd@{}", host.name());
        let process = Process::spawn(name.clone(), command, host.dir().join("gobgpd.log"))?;
        let mut gobgp = Self {
            name,
            ns: host.ns().name().to_owned(),
            mirror: None,
            process,
        };
        let ns = gobgp.ns.clone();
        gobgp
            .process
            .wait_ready("answering gobgp", START_TIMEOUT, || {
                Ok(match cli(&ns, &["global"]) {
                    Ok(out) if started(&out) => Poll::Ready(()),
                    Ok(out) => Poll::Pending(format!("not started yet: {}", out.trim())),
                    Err(e) => Poll::Pending(e.to_string()),
                })
            })?;
        Ok(gobgp)
    }

    /// Runs `gobgp ARGS` in the daemon's namespace.
    pub fn cli(&self, args: &[&str]) -> Result<String> {
        cli(&self.ns, args)
    }

    /// `gobgp ARGS` as a function that owns what it needs, for a thread.
    pub fn cli_runner(&self) -> impl Fn(&[&str]) -> Result<String> + Send + 'static {
        let ns = self.ns.clone();
        move |args| cli(&ns, args)
    }

    /// Originates a prefix (origin IGP, next hop self).
    pub fn announce(&self, prefix: IpNet) -> Result<()> {
        self.announce_with(prefix, &[])
    }

    /// Originates a prefix with more of `gobgp global rib add`'s attribute
    /// arguments (`["community", "65010:100"]`).
    pub fn announce_with(&self, prefix: IpNet, attributes: &[&str]) -> Result<()> {
        let family = if prefix.addr().is_ipv4() {
            "ipv4"
        } else {
            "ipv6"
        };
        let prefix = prefix.to_string();
        let mut args = vec![
            "global", "rib", "add", "-a", family, &prefix, "origin", "igp",
        ];
        args.extend_from_slice(attributes);
        self.cli(&args).map(drop)
    }

    pub fn withdraw(&self, prefix: IpNet) -> Result<()> {
        let family = if prefix.addr().is_ipv4() {
            "ipv4"
        } else {
            "ipv6"
        };
        self.cli(&["global", "rib", "del", "-a", family, &prefix.to_string()])
            .map(drop)
    }

    /// Mirrors best paths learned from peers into the host's kernel table.
    pub fn mirror_to_kernel(&mut self) -> Result<()> {
        if self.mirror.is_none() {
            self.mirror = Some(KernelMirror::start(&self.ns)?);
        }
        Ok(())
    }

    /// `kill -9`: the kernel closes its connections, no NOTIFICATION.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    pub fn process(&mut self) -> &mut Process {
        &mut self.process
    }
}

/// Whether `gobgp global` shows a running server. gobgpd answers its API
/// before it has read its config file, with `AS: 0`, and refuses every RIB
/// change until the config's global section is applied.
fn started(global: &str) -> bool {
    global
        .lines()
        .find_map(|line| line.strip_prefix("AS:"))
        .and_then(|asn| asn.trim().parse::<u32>().ok())
        .is_some_and(|asn| asn != 0)
}

fn cli(ns: &str, args: &[&str]) -> Result<String> {
    cmd::output(
        Command::new("ip")
            .args([
                "netns",
                "exec",
                ns,
                "gobgp",
                "-u",
                "127.0.0.1",
                "-p",
                "50051",
            ])
            .args(args),
    )
}

impl Speaker for GoBgp {
    fn name(&self) -> &str {
        &self.name
    }

    /// `gobgp neighbor -j`: `state.session_state` is GoBGP's enum, 6 being
    /// Established.
    fn sessions(&self) -> Result<Vec<Session>> {
        let json = parse_json("gobgp neighbor -j", &self.cli(&["neighbor", "-j"])?)?;
        let peers = json.as_array().cloned().unwrap_or_default();
        Ok(peers
            .iter()
            .map(|peer| {
                let address = peer["conf"]["neighbor_address"]
                    .as_str()
                    .unwrap_or_default();
                let state = match peer["state"]["session_state"].as_u64() {
                    Some(1) => SessionState::Idle,
                    Some(2) => SessionState::Connect,
                    Some(3) => SessionState::Active,
                    Some(4) => SessionState::OpenSent,
                    Some(5) => SessionState::OpenConfirm,
                    Some(6) => SessionState::Established,
                    _ => SessionState::Down,
                };
                Session {
                    name: address.to_owned(),
                    peer: address.parse().ok(),
                    state,
                }
            })
            .collect())
    }

    /// Paths with a `neighbor-ip` came from a peer.
    fn received(&self) -> Result<Vec<IpNet>> {
        let mut prefixes = Vec::new();
        for family in ["ipv4", "ipv6"] {
            let json = parse_json(
                "gobgp global rib -j",
                &self.cli(&["global", "rib", "-a", family, "-j"])?,
            )?;
            for (prefix, paths) in json.as_object().into_iter().flatten() {
                let learned = paths
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|p| p.get("neighbor-ip").is_some());
                if learned {
                    if let Ok(prefix) = prefix.parse() {
                        prefixes.push(prefix);
                    }
                }
            }
        }
        Ok(prefixes)
    }
}

/// `gobgp monitor global rib --current -j` piped into `ip -force -batch -`,
/// both in the daemon's namespace. Ends when gobgpd does.
#[derive(Debug)]
struct KernelMirror {
    monitor: Child,
    thread: Option<JoinHandle<()>>,
}

impl KernelMirror {
    fn start(ns: &str) -> Result<Self> {
        let spawn = |args: &[&str], stdin: Stdio, stdout: Stdio| {
            Command::new("ip")
                .args(["netns", "exec", ns])
                .args(args)
                .stdin(stdin)
                .stdout(stdout)
                .stderr(Stdio::null())
                .spawn()
                .map_err(Error::io(format!("start {}", args.join(" "))))
        };
        let mut monitor = spawn(
            &[
                "gobgp",
                "-u",
                "127.0.0.1",
                "-p",
                "50051",
                "monitor",
                "global",
                "rib",
                "--current",
                "-j",
            ],
            Stdio::null(),
            Stdio::piped(),
        )?;
        let mut batch = spawn(
            &["ip", "-force", "-batch", "-"],
            Stdio::piped(),
            Stdio::null(),
        )?;
        let lines = BufReader::new(
            monitor
                .stdout
                .take()
                .ok_or_else(|| Error::Netlink("no monitor output".into()))?,
        );
        let mut input = batch
            .stdin
            .take()
            .ok_or_else(|| Error::Netlink("no ip batch input".into()))?;
        let thread = std::thread::spawn(move || {
            for line in lines.lines().map_while(std::result::Result::ok) {
                let commands = mirror_commands(&line);
                if !commands.is_empty()
                    && (input.write_all(commands.as_bytes()).is_err() || input.flush().is_err())
                {
                    break;
                }
            }
            drop(input);
            let _ = batch.wait();
        });
        Ok(Self {
            monitor,
            thread: Some(thread),
        })
    }
}

impl Drop for KernelMirror {
    fn drop(&mut self) {
        let _ = self.monitor.kill();
        let _ = self.monitor.wait();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The `ip` commands for one monitor line: replace for a learned best path,
/// delete for a withdrawal; local paths (next hop 0.0.0.0 or ::) are skipped.
fn mirror_commands(line: &str) -> String {
    let Ok(serde_json::Value::Array(paths)) = serde_json::from_str(line) else {
        return String::new();
    };
    let mut out = String::new();
    for path in paths {
        let Some(prefix) = path["nlri"]["prefix"].as_str() else {
            continue;
        };
        let next_hop = path["attrs"]
            .as_array()
            .into_iter()
            .flatten()
            .find_map(|a| (a["type"] == 3).then(|| a["nexthop"].as_str()).flatten());
        if path["withdrawal"] == true {
            out.push_str(&format!("route del {prefix} proto bgp\n"));
        } else if let Some(next_hop) = next_hop.filter(|nh| *nh != "0.0.0.0" && *nh != "::") {
            out.push_str(&format!(
                "route replace {prefix} via {next_hop} proto bgp\n"
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{mirror_commands, started};

    #[test]
    fn a_server_that_has_not_read_its_config_is_not_started() {
        assert!(!started("AS:        0\nRouter-ID: \n"));
        assert!(!started("no AS line at all"));
        assert!(started(
            "AS:        64512\nRouter-ID: 10.0.1.12\nListening Port: 179, Addresses: 0.0.0.0\n"
        ));
    }

    #[test]
    fn mirror_replaces_learned_paths_and_deletes_withdrawn_ones() {
        let learned = r#"[{"nlri":{"prefix":"10.244.2.0/26"},"attrs":[{"type":1,"value":0},{"type":3,"nexthop":"10.9.0.2"}],"neighbor-ip":"10.9.0.2"},{"nlri":{"prefix":"10.244.1.0/26"},"attrs":[{"type":3,"nexthop":"0.0.0.0"}]}]"#;
        assert_eq!(
            mirror_commands(learned),
            "route replace 10.244.2.0/26 via 10.9.0.2 proto bgp\n"
        );
        let withdrawn = r#"[{"nlri":{"prefix":"10.244.2.0/26"},"attrs":[],"withdrawal":true}]"#;
        assert_eq!(
            mirror_commands(withdrawn),
            "route del 10.244.2.0/26 proto bgp\n"
        );
        assert_eq!(mirror_commands("not json"), "");
    }
}
