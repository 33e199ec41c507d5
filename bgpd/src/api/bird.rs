//! BIRD's control-socket protocol (docs/CALICO-CONTRACT.md §5.2), served on a
//! unix socket so that unmodified `calicoctl node status`, calico-node's
//! `-bird-ready` / `-bird-live` probes and `birdc` / `birdcl` work against
//! bgpd.
//!
//! Line oriented: the server greets with `0001 <version> ready.`; a reply is
//! lines `NNNN-text` (the first of each code), ` text` (more of the same
//! code), and a last line `NNNN text`, or `0000 ` after a table: clients
//! wait for a code followed by a space.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tracing::{debug, warn};

use routesync::StatusReader;

use super::bird_routes::{self, show_route, RouteQuery};
use super::clock;
use crate::speaker::SpeakerHandle;
use crate::status::{PeerStatus, SpeakerStatus};

/// What bgpd calls itself where BIRD prints its version. Tools check that
/// it starts with `BIRD`; calico-node's status reporter takes what follows
/// `BIRD ` as the version when it starts with `v` (as Calico's BIRD's
/// `BIRD v0.3.3+birdv1.6.8` does).
pub fn version() -> String {
    format!("BIRD v{}+podroute", env!("CARGO_PKG_VERSION"))
}

/// Which peers a socket shows: `bird.ctl` the IPv4 ones, `bird6.ctl` the
/// IPv6 ones, as Calico's two BIRD daemons do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Daemon {
    Bird,
    Bird6,
}

impl Daemon {
    fn shows(self, peer: &PeerStatus) -> bool {
        peer.address.is_ipv4() == (self == Daemon::Bird)
    }
}

/// Binds `path` (replacing a stale socket) and serves until the task is
/// dropped; `kernel` says which device each route leaves by, once routesync runs.
pub fn serve(
    path: PathBuf,
    daemon: Daemon,
    speaker: SpeakerHandle,
    kernel: Arc<OnceLock<StatusReader>>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    // Root and its group, as BIRD's own socket under /var/run/calico.
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o660))?;
    Ok(tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    tokio::spawn(session(stream, daemon, speaker.clone(), kernel.clone()));
                }
                Err(e) => {
                    warn!(error = %e, "BIRD socket: accept failed");
                    return;
                }
            }
        }
    }))
}

async fn session(
    stream: UnixStream,
    daemon: Daemon,
    speaker: SpeakerHandle,
    kernel: Arc<OnceLock<StatusReader>>,
) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    if write
        .write_all(format!("0001 {} ready.\n", version()).as_bytes())
        .await
        .is_err()
    {
        return;
    }
    while let Ok(Some(line)) = lines.next_line().await {
        let reply = answer(line.trim(), daemon, &speaker, &kernel).await;
        if write.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// The reply to one command line.
pub async fn answer(
    command: &str,
    daemon: Daemon,
    speaker: &SpeakerHandle,
    kernel: &OnceLock<StatusReader>,
) -> String {
    debug!(command, "BIRD socket");
    let words: Vec<&str> = command.split_whitespace().collect();
    let (Some(status), Some(mut peers)) = (speaker.status().await, speaker.peers().await) else {
        return "8000 The daemon is shutting down\n".into();
    };
    peers.retain(|p| daemon.shows(p));
    let now = SystemTime::now();
    match words.as_slice() {
        [] => String::new(),
        // birdc -r: this socket only ever reports.
        ["restrict"] => "0016 Access restricted\n".into(),
        ["show", "status"] => show_status(&status, now),
        ["show", "protocols"] => show_protocols(&status, &peers, None, false, now),
        ["show", "protocols", "all"] => show_protocols(&status, &peers, None, true, now),
        ["show", "protocols", "all", name] => {
            show_protocols(&status, &peers, Some(name), true, now)
        }
        ["show", "protocols", name] => show_protocols(&status, &peers, Some(name), false, now),
        ["show", "route", options @ ..] => {
            let Some(query) = RouteQuery::parse(options) else {
                return "9001 syntax error, unknown command\n".into();
            };
            let routes = speaker.routes(query.within()).await.unwrap_or_default();
            let context = bird_routes::Context {
                speaker: &status,
                peers: &peers,
                kernel: kernel.get(),
                ipv6: daemon == Daemon::Bird6,
                now,
            };
            show_route(&query, &routes, &context)
        }
        _ => "9001 syntax error, unknown command\n".into(),
    }
}

/// `show status` as BIRD 1.6 answers it, with its `0024` lines while in
/// graceful restart recovery (nest/proto.c), which calico-node's readiness
/// looks for.
pub fn show_status(status: &SpeakerStatus, now: SystemTime) -> String {
    let recovery = if status.recovering {
        "0024-Graceful restart recovery in progress\n"
    } else {
        ""
    };
    format!(
        "1000-{}\n1011-Router ID is {}\n Current server time is {}\n Last reboot on {}\n Last reconfiguration on {}\n{recovery}0013 Daemon is up and running\n",
        version(),
        status.router_id,
        clock::date_time(now),
        clock::date_time(status.started),
        clock::date_time(status.last_reconfigured),
    )
}

/// One row of `show protocols` (`"%-8s %-8s %-8s %-5s  %-10s  %s"`, BIRD's nest/proto.c).
fn row(name: &str, proto: &str, state: &str, since: &str, info: &str) -> String {
    format!(
        "{name:<8} {proto:<8} {:<8} {state:<5}  {since:<10}  {info}",
        "master"
    )
}

/// `show protocols [all] [NAME]`: the kernel, device and direct protocols a
/// Calico BIRD has, then one BGP protocol per peer.
pub fn show_protocols(
    status: &SpeakerStatus,
    peers: &[PeerStatus],
    only: Option<&str>,
    all: bool,
    now: SystemTime,
) -> String {
    let started = clock::since(status.started, now);
    let mut rows: Vec<(String, Option<&PeerStatus>)> =
        ["kernel1 Kernel", "device1 Device", "direct1 Direct"]
            .into_iter()
            .map(|p| {
                let (name, proto) = p.split_once(' ').unwrap_or((p, ""));
                (row(name, proto, "up", &started, ""), None)
            })
            .collect();
    for peer in peers {
        let state = if peer.is_up() { "up" } else { "start" };
        rows.push((
            row(
                &peer.name,
                "BGP",
                state,
                &clock::since(peer.since, now),
                &peer.bird_info(),
            ),
            Some(peer),
        ));
    }
    if let Some(name) = only {
        rows.retain(|(text, _)| text.split_whitespace().next() == Some(name));
        if rows.is_empty() {
            return "9002 No protocols match\n".into();
        }
    }
    let mut out = String::from("2002-name     proto    table    state  since       info\n");
    for (i, (text, peer)) in rows.iter().enumerate() {
        // Rows share code 1002: the first carries it, the rest a space; with
        // `all`, each row follows a 1006 block and carries its code again.
        let prefix = if i == 0 || all { "1002-" } else { " " };
        let _ = writeln!(out, "{prefix}{}", text.trim_end());
        if all {
            if let Some(peer) = peer {
                out.push_str(&details(peer));
            }
        }
    }
    // BIRD ends a table with "0000 ": its clients look for the space.
    out.push_str("0000 \n");
    out
}

/// The `show protocols all` block of a BGP protocol (BIRD's bgp_show_proto_info).
fn details(peer: &PeerStatus) -> String {
    let mut d = String::new();
    let _ = writeln!(d, "1006-  Description:    Connection to BGP peer");
    let _ = writeln!(d, "   Preference:     100");
    let _ = writeln!(d, "   Input filter:   ACCEPT");
    let _ = writeln!(d, "   Output filter:  calico_export_to_bgp_peers");
    let _ = writeln!(
        d,
        "   Routes:         {} imported, {} exported, {} preferred",
        peer.prefixes, peer.stats.updates_sent, peer.prefixes
    );
    let _ = writeln!(d, "   BGP state:          {}", peer.bird_state());
    let _ = writeln!(d, "     Neighbor address: {}", peer.address);
    let _ = writeln!(d, "     Neighbor AS:      {}", peer.remote_as);
    if peer.restart.is_some() {
        // BIRD's line while it keeps a restarting neighbor's routes.
        let _ = writeln!(d, "     Neighbor graceful restart active");
    }
    if let Some(session) = &peer.session {
        let _ = writeln!(d, "     Neighbor ID:      {}", session.peer_id);
        let mut caps = Vec::new();
        if session.route_refresh {
            caps.push("refresh");
        }
        if session.graceful_restart {
            caps.push("restart-aware");
        }
        if session.four_octet_as {
            caps.push("AS4");
        }
        // BIRD names the neighbor's side: it receives what we send.
        if !session.add_path_send.is_empty() {
            caps.push("add-path-rx");
        }
        if !session.add_path_receive.is_empty() {
            caps.push("add-path-tx");
        }
        let _ = writeln!(d, "     Neighbor caps:    {}", caps.join(" "));
        let kind = if session.external {
            "external"
        } else {
            "internal multihop"
        };
        let _ = writeln!(
            d,
            "     Session:          {kind}{}",
            if session.four_octet_as { " AS4" } else { "" }
        );
        if let Some(local) = session.local_address {
            let _ = writeln!(d, "     Source address:   {local}");
        }
        let _ = writeln!(d, "     Hold timer:       {}", session.hold_time);
    }
    if let Some(error) = &peer.last_error {
        let _ = writeln!(d, "     Last error:       {error}");
    }
    d
}
