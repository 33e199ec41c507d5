//! bgpd's answers as bgpctl prints them: the text of `show` and `watch`,
//! and any answer as JSON or YAML (`-o json|yaml`).

use std::time::SystemTime;

use bgpd::api::clock;
use proto::v1;
use serde::Serialize;

use crate::cli::Output;
use crate::table;

pub(crate) fn encode<T: Serialize>(value: &T, output: Output) -> Result<String, String> {
    match output {
        Output::Json => serde_json::to_string_pretty(value)
            .map(|text| text + "\n")
            .map_err(|e| e.to_string()),
        _ => serde_norway::to_string(value).map_err(|e| e.to_string()),
    }
}

/// Whitespace runs as single spaces: calicoctl splits BIRD's row into
/// fields and joins the info back with one space.
pub(crate) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub(crate) fn time(timestamp: Option<prost_types::Timestamp>) -> Option<SystemTime> {
    timestamp.and_then(|t| SystemTime::try_from(t).ok())
}

/// RFC 3339 to the second, UTC.
pub(crate) fn rfc3339(time: SystemTime) -> String {
    clock::date_time(time).replacen(' ', "T", 1) + "Z"
}

/// calicoctl's names for the peer types.
pub(crate) fn calico_peer_type(kind: i32) -> &'static str {
    match v1::PeerType::try_from(kind) {
        Ok(v1::PeerType::Mesh) => "node-to-node mesh",
        Ok(v1::PeerType::Global) => "global",
        Ok(v1::PeerType::Node) => "node specific",
        _ => "unknown",
    }
}

pub(crate) fn status_text(status: &v1::GetStatusResponse, now: SystemTime) -> String {
    let mut out = format!("bgpd {}\n", status.version);
    let mut line = |label: &str, value: String| out.push_str(&format!("{label:<16}{value}\n"));
    line("Node:", status.node_name.clone());
    if !status.configured {
        line(
            "Configured:",
            format!("no: {}", status.not_configured_reason),
        );
    }
    line("Router ID:", status.router_id.clone());
    line("AS:", status.local_as.to_string());
    if !status.cluster_id.is_empty() {
        line(
            "Cluster ID:",
            format!("{} (route reflector)", status.cluster_id),
        );
    }
    if let Some(started) = time(status.started) {
        line(
            "Started:",
            format!(
                "{} UTC, up {}",
                clock::date_time(started),
                duration(status.uptime_seconds)
            ),
        );
    }
    if let Some(applied) = time(status.last_config_applied) {
        let age = now.duration_since(applied).unwrap_or_default().as_secs();
        line(
            "Configuration:",
            format!(
                "applied {} UTC ({} ago), {} reconfigurations since start",
                clock::date_time(applied),
                duration(age),
                status.reconfigurations
            ),
        );
    }
    if let Some(datastore) = &status.datastore {
        line("Datastore:", datastore_text(datastore));
    }
    line("Converged:", converged_text(status).to_owned());
    line(
        "Loc-RIB:",
        format!(
            "{} prefixes, {} attribute sets",
            status.prefixes, status.attribute_sets
        ),
    );
    if let Some(kernel) = &status.kernel {
        line(
            "Kernel:",
            format!(
                "{} installed, {} not installed, {} failed",
                kernel.installed, kernel.not_installed, kernel.failed
            ),
        );
    }
    line(
        "Problems:",
        match status.problems.len() {
            0 => "none".to_owned(),
            n => format!("{n} (skipped alone; everything else applies)"),
        },
    );
    out.push_str(&problems_text(&status.problems));
    out
}

/// The datastore's line of `show status`: its kind, source and sync state.
fn datastore_text(datastore: &v1::Datastore) -> String {
    let sync = match v1::SyncState::try_from(datastore.sync) {
        Ok(v1::SyncState::Static) => "read at start and on SIGHUP".to_owned(),
        Ok(v1::SyncState::Connected) => format!("in sync, revision {}", datastore.revision),
        Ok(v1::SyncState::Disconnected) => format!(
            "unreachable; running revision {}'s configuration",
            datastore.revision
        ),
        _ => "sync state unknown".to_owned(),
    };
    let kind = match v1::DatastoreKind::try_from(datastore.kind) {
        Ok(v1::DatastoreKind::File) => "file",
        Ok(v1::DatastoreKind::Etcd) => "etcd",
        _ => "unknown",
    };
    format!("{kind} {} ({sync})", datastore.source)
}

fn converged_text(status: &v1::GetStatusResponse) -> &'static str {
    if status.converged {
        "yes (End-of-RIB from every peer)"
    } else if status.graceful_restart_recovery {
        "no: graceful restart recovery (the table waits for every peer's)"
    } else {
        "no"
    }
}

/// The configuration's problems, one indented line each.
fn problems_text(problems: &[v1::Problem]) -> String {
    let mut out = String::new();
    for problem in problems {
        let field = if problem.field.is_empty() {
            String::new()
        } else {
            format!(" {}", problem.field)
        };
        out.push_str(&format!(
            "  {}{field}: {}\n",
            problem.resource, problem.reason
        ));
    }
    out
}

fn duration(seconds: u64) -> String {
    let (d, h, m, s) = (
        seconds / 86_400,
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m{s:02}s"),
        (0, _, _) => format!("{h}h{m:02}m{s:02}s"),
        _ => format!("{d}d{h:02}h{m:02}m"),
    }
}

pub(crate) fn peers_table(peers: &[v1::Peer], now: SystemTime) -> String {
    if peers.is_empty() {
        return "No peers.\n".into();
    }
    let rows: Vec<Vec<String>> = peers
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                p.address.clone(),
                calico_peer_type(p.r#type).to_owned(),
                p.remote_as.to_string(),
                time(p.since)
                    .map(|t| clock::since(t, now))
                    .unwrap_or_default(),
                one_line(&p.info),
                p.counters
                    .map(|c| c.prefixes_in_rib)
                    .unwrap_or(0)
                    .to_string(),
            ]
        })
        .collect();
    table::render(
        &["Name", "Address", "Type", "AS", "Since", "Info", "Routes"],
        &rows,
    )
}

pub(crate) fn peer_text(peer: &v1::Peer, now: SystemTime) -> String {
    let mut out = format!("{}\n", peer.name);
    let mut line = |label: &str, value: String| out.push_str(&format!("  {label:<14}{value}\n"));
    line("Address:", format!("{} port {}", peer.address, peer.port));
    line("Type:", calico_peer_type(peer.r#type).to_owned());
    line("Remote AS:", peer.remote_as.to_string());
    if peer.passive {
        line("Passive:", "yes (waits for the peer to connect)".into());
    }
    let since = time(peer.since)
        .map(|t| {
            let age = now.duration_since(t).unwrap_or_default().as_secs();
            format!(" since {} UTC ({} ago)", clock::date_time(t), duration(age))
        })
        .unwrap_or_default();
    line("State:", format!("{}{since}", peer.bird_state));
    if let Some(error) = &peer.last_error {
        line("Last error:", error.clone());
    }
    if let Some(restart) = &peer.graceful_restart {
        line("Restarting:", restart_text(restart, now));
    }
    if let Some(up) = peer.bfd_up {
        let downs = peer.counters.as_ref().map_or(0, |c| c.bfd_downs);
        let state = if up { "up" } else { "down" };
        line("BFD:", format!("{state}, {downs} times down"));
    }
    if let Some(session) = &peer.session {
        line("Session:", session_text(session));
        line("Capabilities:", capabilities_text(session));
    }
    if let Some(c) = &peer.counters {
        line(
            "Messages:",
            format!(
                "{} received ({} updates), {} sent ({} updates)",
                c.messages_received, c.updates_received, c.messages_sent, c.updates_sent
            ),
        );
        line(
            "Prefixes:",
            format!(
                "{} received, {} accepted, {} in the Loc-RIB",
                c.prefixes_received, c.prefixes_accepted, c.prefixes_in_rib
            ),
        );
    }
    out
}

/// A restarting peer's line: the stale routes kept, for how long, and what
/// they wait for.
fn restart_text(restart: &v1::PeerRestart, now: SystemTime) -> String {
    let waiting = if restart.reconnected {
        "waiting for its End-of-RIB"
    } else {
        "waiting for it to come back"
    };
    let age = time(restart.since)
        .map(|t| {
            let age = now.duration_since(t).unwrap_or_default().as_secs();
            format!(" for {}", duration(age))
        })
        .unwrap_or_default();
    format!("{} stale routes kept{age}, {waiting}", restart.stale_routes)
}

fn session_text(session: &v1::Session) -> String {
    let mut what = format!(
        "router id {}, hold time {} s, {}",
        session.peer_router_id,
        session.hold_time,
        if session.external { "eBGP" } else { "iBGP" }
    );
    if !session.local_address.is_empty() {
        what.push_str(&format!(", local address {}", session.local_address));
    }
    what
}

/// The session's families and the capabilities both ends agreed on.
fn capabilities_text(session: &v1::Session) -> String {
    let mut capabilities = session.families.clone();
    for (on, name) in [
        (session.four_octet_as, "4-octet AS"),
        (session.route_refresh, "route refresh"),
        (session.extended_message, "extended message"),
        (session.graceful_restart, "graceful restart"),
    ] {
        if on {
            capabilities.push(name.to_owned());
        }
    }
    if !session.add_path_receive.is_empty() {
        capabilities.push(format!(
            "ADD-PATH receive {}",
            session.add_path_receive.join(" ")
        ));
    }
    if !session.add_path_send.is_empty() {
        capabilities.push(format!("ADD-PATH send {}", session.add_path_send.join(" ")));
    }
    capabilities.join(", ")
}

pub(crate) fn routes_text(routes: &[v1::Route]) -> String {
    if routes.is_empty() {
        return "No routes.\n".into();
    }
    let mut out = String::new();
    for route in routes {
        out.push_str(&format!("{}\n", route.prefix));
        for path in &route.paths {
            let as_path = if path.as_path.is_empty() {
                "(empty)".to_owned()
            } else {
                path.as_path
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let mut text = format!(
                "    via {} from {}, AS path {as_path}",
                path.next_hop, path.from
            );
            if let Some(pref) = path.local_pref {
                text.push_str(&format!(", local pref {pref}"));
            }
            if let Some(med) = path.med {
                text.push_str(&format!(", MED {med}"));
            }
            if !path.communities.is_empty() {
                text.push_str(&format!(", communities {}", path.communities.join(" ")));
            }
            if path.best {
                text.push_str(" [best]");
            } else if path.multipath {
                text.push_str(" [multipath]");
            }
            out.push_str(&text);
            out.push('\n');
        }
        if route.paths.is_empty() {
            out.push_str("    (withdrawn from BGP)\n");
        }
        if let Some(kernel) = &route.kernel {
            let state = match v1::KernelState::try_from(kernel.state) {
                Ok(v1::KernelState::Installed) => "installed".to_owned(),
                Ok(v1::KernelState::NotInstalled) => "not installed".to_owned(),
                Ok(v1::KernelState::Failed) => format!("failed ({})", kernel.error),
                _ => "unknown".to_owned(),
            };
            out.push_str(&format!("    kernel: {state}: {}\n", kernel.reason));
            if !kernel.route.is_empty() {
                out.push_str(&format!("            {}\n", kernel.route));
            }
        }
    }
    out
}

/// One line of `watch peers`: when, what happened, and to which peer.
pub(crate) fn event_text(event: v1::WatchPeersResponse, now: SystemTime) -> String {
    let kind = v1::PeerEvent::try_from(event.event)
        .map_or("?", |e| e.as_str_name())
        .trim_start_matches("PEER_EVENT_")
        .to_lowercase();
    let peer = event.peer.unwrap_or_default();
    format!(
        "{} {kind:<8} {} {} {}",
        clock::date_time(now),
        peer.name,
        peer.address,
        one_line(&peer.info)
    )
}

#[cfg(test)]
mod tests {
    use proto::v1;

    use super::routes_text;

    #[test]
    fn routes_read_like_birds() {
        let routes = [v1::Route {
            prefix: "10.244.1.0/26".into(),
            paths: vec![v1::Path {
                from: "Mesh_10_0_1_11".into(),
                next_hop: "10.0.1.11".into(),
                local_pref: Some(100),
                best: true,
                ..Default::default()
            }],
            kernel: Some(v1::KernelRoute {
                state: v1::KernelState::Installed.into(),
                reason: "next hop 10.0.1.11 is on 10.0.1.0/24, so via eth0".into(),
                error: String::new(),
                route: "10.244.1.0/26 via 10.0.1.11 dev eth0 proto bird".into(),
            }),
        }];
        assert_eq!(
            routes_text(&routes),
            "\
10.244.1.0/26
    via 10.0.1.11 from Mesh_10_0_1_11, AS path (empty), local pref 100 [best]
    kernel: installed: next hop 10.0.1.11 is on 10.0.1.0/24, so via eth0
            10.244.1.0/26 via 10.0.1.11 dev eth0 proto bird
"
        );
    }
}
