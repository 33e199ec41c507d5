//! A CalicoNodeStatus's `status`, in Calico's format (its v3 API,
//! `CalicoNodeStatusStatus`), with the meaning calico-node's reporter gives
//! it when it reads BIRD: what bgpd's BIRD sockets show, in structured form.
//!
//! - `agent.birdV4` / `birdV6`: Ready with version, router ID and times
//!   while bgpd runs a configuration and serves that family's socket, else
//!   NotReady alone.
//! - `bgp`: the peers of each family with their type (from the peer's
//!   kind: Mesh_ / Node_ / Global_), BGP state and since; the counts of
//!   those up and not.
//! - `routes`: every path of each family, FIB for the best, RIB for the
//!   rest, with the gateway and interface `show route` gives them.
//!
//! Sections of classes not asked for are empty.

use serde::Serialize;
use serde_json::Value;
use std::time::SystemTime;

use ipnet::IpNet;
use proto::config::PeerKind;

use crate::api::bird::version;
use crate::api::bird_routes::{self, device, protocol};
use crate::api::clock;
use crate::status::{PathStatus, PeerStatus, RouteStatus, SpeakerStatus};

/// The classes of status Calico defines.
pub const AGENT: &str = "Agent";
pub const BGP: &str = "BGP";
pub const ROUTES: &str = "Routes";

/// What a report is made of.
#[derive(Debug)]
pub struct Inputs<'a> {
    /// `None` while bgpd has no configuration to run.
    pub speaker: Option<&'a SpeakerStatus>,
    pub peers: &'a [PeerStatus],
    pub routes: &'a [RouteStatus],
    pub kernel: Option<&'a routesync::StatusReader>,
    /// Whether the IPv6 socket (`bird6.ctl`) is served.
    pub ipv6_served: bool,
    pub now: SystemTime,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct Status {
    last_updated: String,
    agent: Agent,
    bgp: Bgp,
    routes: Routes,
}

#[derive(Debug, Default, Serialize)]
struct Agent {
    #[serde(rename = "birdV4")]
    bird_v4: Daemon,
    #[serde(rename = "birdV6")]
    bird_v6: Daemon,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct Daemon {
    #[serde(skip_serializing_if = "str::is_empty")]
    state: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    version: String,
    #[serde(rename = "routerID", skip_serializing_if = "String::is_empty")]
    router_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    last_boot_time: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    last_reconfiguration_time: String,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct Bgp {
    #[serde(rename = "numberEstablishedV4")]
    established_v4: usize,
    #[serde(rename = "numberNotEstablishedV4")]
    not_established_v4: usize,
    #[serde(rename = "numberEstablishedV6")]
    established_v6: usize,
    #[serde(rename = "numberNotEstablishedV6")]
    not_established_v6: usize,
    #[serde(rename = "peersV4", skip_serializing_if = "Vec::is_empty")]
    peers_v4: Vec<Peer>,
    #[serde(rename = "peersV6", skip_serializing_if = "Vec::is_empty")]
    peers_v6: Vec<Peer>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Peer {
    #[serde(rename = "peerIP")]
    peer_ip: String,
    #[serde(rename = "type")]
    kind: &'static str,
    state: &'static str,
    since: String,
}

#[derive(Debug, Default, Serialize)]
struct Routes {
    #[serde(rename = "routesV4", skip_serializing_if = "Vec::is_empty")]
    routes_v4: Vec<Route>,
    #[serde(rename = "routesV6", skip_serializing_if = "Vec::is_empty")]
    routes_v6: Vec<Route>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Route {
    #[serde(rename = "type")]
    kind: &'static str,
    destination: String,
    gateway: String,
    interface: String,
    learned_from: LearnedFrom,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct LearnedFrom {
    source_type: &'static str,
    #[serde(rename = "peerIP", skip_serializing_if = "String::is_empty")]
    peer_ip: String,
}

/// The status for `classes`, stamped `inputs.now`.
pub fn status(classes: &[String], inputs: &Inputs<'_>) -> Value {
    let wants = |class: &str| classes.iter().any(|c| c == class);
    let mut status = Status {
        last_updated: clock::rfc3339(inputs.now),
        ..Status::default()
    };
    if wants(AGENT) {
        status.agent = Agent {
            bird_v4: daemon(inputs, true),
            bird_v6: daemon(inputs, inputs.ipv6_served),
        };
    }
    if wants(BGP) && inputs.speaker.is_some() {
        status.bgp = bgp(inputs);
    }
    if wants(ROUTES) && inputs.speaker.is_some() {
        status.routes = Routes {
            routes_v4: routes(inputs, false),
            routes_v6: if inputs.ipv6_served {
                routes(inputs, true)
            } else {
                Vec::new()
            },
        };
    }
    serde_json::to_value(status).unwrap_or(Value::Null)
}

fn daemon(inputs: &Inputs<'_>, served: bool) -> Daemon {
    match inputs.speaker {
        Some(speaker) if served => Daemon {
            state: "Ready",
            // What follows "BIRD " in the greeting, as Calico takes it.
            version: version().trim_start_matches("BIRD ").to_owned(),
            router_id: speaker.router_id.to_string(),
            last_boot_time: clock::date_time(speaker.started),
            last_reconfiguration_time: clock::date_time(speaker.last_reconfigured),
        },
        _ => Daemon {
            state: "NotReady",
            ..Daemon::default()
        },
    }
}

fn bgp(inputs: &Inputs<'_>) -> Bgp {
    let mut bgp = Bgp::default();
    for peer in inputs.peers {
        let up = peer.is_up();
        let entry = Peer {
            peer_ip: peer.address.to_string(),
            kind: peer_type(peer.kind),
            // Calico's session states are the FSM's (RFC 4271 §8.2.2), as
            // BIRD names them, except that a passive peer waiting for its
            // connection is Active here: BIRD's "Passive" is not one of
            // them, and Calico's reporter leaves the state empty for it.
            state: peer.state.name(),
            since: clock::since(peer.since, inputs.now),
        };
        let (established, not_established, list) = if peer.address.is_ipv4() {
            (
                &mut bgp.established_v4,
                &mut bgp.not_established_v4,
                &mut bgp.peers_v4,
            )
        } else if inputs.ipv6_served {
            (
                &mut bgp.established_v6,
                &mut bgp.not_established_v6,
                &mut bgp.peers_v6,
            )
        } else {
            continue;
        };
        if up {
            *established += 1;
        } else {
            *not_established += 1;
        }
        list.push(entry);
    }
    bgp
}

fn peer_type(kind: PeerKind) -> &'static str {
    match kind {
        PeerKind::Mesh => "NodeMesh",
        PeerKind::Node => "NodePeer",
        PeerKind::Global => "GlobalPeer",
    }
}

fn routes(inputs: &Inputs<'_>, ipv6: bool) -> Vec<Route> {
    let Some(speaker) = inputs.speaker else {
        return Vec::new();
    };
    let context = bird_routes::Context {
        speaker,
        peers: inputs.peers,
        kernel: inputs.kernel,
        ipv6,
        now: inputs.now,
    };
    inputs
        .routes
        .iter()
        .filter(|r| matches!(r.prefix, IpNet::V6(_)) == ipv6)
        .flat_map(|r| r.paths.iter().map(move |p| (r.prefix, p)))
        .map(|(prefix, path)| route(prefix, path, &context))
        .collect()
}

fn route(prefix: IpNet, path: &PathStatus, context: &bird_routes::Context<'_>) -> Route {
    let kind = if path.best { "FIB" } else { "RIB" };
    let destination = prefix.to_string();
    if path.from == "local" {
        return Route {
            kind,
            destination,
            gateway: "N/A".into(),
            interface: "blackhole".into(),
            learned_from: LearnedFrom {
                source_type: "Static",
                peer_ip: String::new(),
            },
        };
    }
    let learned = match path.from.as_str() {
        bird_routes::KERNEL => Some("Kernel"),
        bird_routes::DIRECT => Some("Direct"),
        _ => None,
    };
    if let Some(source_type) = learned {
        return Route {
            kind,
            destination,
            gateway: "N/A".into(),
            interface: path.device.clone().unwrap_or_default(),
            learned_from: LearnedFrom {
                source_type,
                peer_ip: String::new(),
            },
        };
    }
    let peer = context.peers.iter().find(|p| p.name == protocol(path));
    let (source_type, peer_ip) = match peer {
        Some(p) if p.kind == PeerKind::Mesh => ("NodeMesh", p.address),
        Some(p) => ("BGPPeer", p.address),
        None => ("BGPPeer", path.next_hop),
    };
    Route {
        kind,
        destination,
        gateway: path.next_hop.to_string(),
        interface: device(prefix, path.next_hop, context),
        learned_from: LearnedFrom {
            source_type,
            peer_ip: peer_ip.to_string(),
        },
    }
}

#[cfg(test)]
mod tests;
