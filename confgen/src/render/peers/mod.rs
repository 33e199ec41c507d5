//! The peers of a node: the mesh, BGPPeers global and node-specific, and
//! the reverse peerings, as confd computes them (docs/CALICO-CONTRACT.md
//! §1.3, §2.4).

mod configured;
mod mesh;
mod reverse;

use std::collections::BTreeMap;
use std::net::IpAddr;

use proto::config::{Asn, NextHopMode, PeerConfig, PeerKind};

use self::configured::configured_peers;
use self::mesh::mesh_peers;
use self::reverse::reverse_peers;
use crate::render::{bfd, follow_direction, peer_key, Context};
use crate::resources::{parse_duration_secs, BgpPeer, Node, NodeBgp};

/// A remote end of a peering: its address, port and AS, and the Calico node it
/// is, when it is one.
struct Remote<'a> {
    address: IpAddr,
    port: u16,
    asn: Asn,
    node: Option<&'a NodeBgp>,
}

/// The peers, by address and port. Work per render: one pass over the other
/// nodes for the mesh, one per BGPPeer whose selector picks nodes, and one
/// per BGPPeer that names this node as its remote side; selectors were
/// parsed when their BGPPeer was read, and nothing is copied but the
/// PeerConfigs made.
pub(super) fn peers(cx: &mut Context<'_>, local_as: Asn) -> Vec<PeerConfig> {
    let mut peers: BTreeMap<(IpAddr, u16), PeerConfig> = BTreeMap::new();
    let cluster_id = cx.bgp.route_reflector_cluster_id;
    mesh_peers(cx, &mut peers);
    configured_peers(cx, &mut peers, local_as, cluster_id);
    reverse_peers(cx, &mut peers, local_as, cluster_id);
    let mine = [cx.my_address(true), cx.my_address(false)];
    peers
        .into_values()
        .filter(|p| !mine.contains(&Some(p.address)))
        .collect()
}

/// Adds `peer` unless one to its address and port is there already (the
/// first wins: docs/CALICO-CONTRACT.md §1.3). A peer that cannot be is
/// skipped alone, a problem of `origin`, the resource it comes from.
fn admit(
    cx: &mut Context<'_>,
    peers: &mut BTreeMap<(IpAddr, u16), PeerConfig>,
    origin: impl FnOnce() -> String,
    peer: PeerConfig,
) {
    let key = (peer.address, peer.port);
    if peers.contains_key(&key) {
        return;
    }
    match peer.validate() {
        Ok(()) => {
            peers.insert(key, peer);
        }
        Err(e) => {
            let reason = format!("peer {} skipped: {}: {}", peer.address, e.field, e.message);
            cx.problem(&origin(), "", reason);
        }
    }
}

/// Whether a BGPPeer's local side (`node`, `nodeSelector`, or every node)
/// includes `node`.
fn local_side_includes(cx: &mut Context<'_>, resource: &BgpPeer, node: &Node) -> bool {
    let spec = &resource.spec;
    if let Some(only) = &spec.node {
        return *only == node.metadata.name;
    }
    match &spec.node_selector {
        Some(stored) => cx
            .selector(resource, "spec.nodeSelector", stored)
            .is_some_and(|s| s.matches(&node.metadata.labels)),
        None => true,
    }
}

fn peer_config(
    cx: &mut Context<'_>,
    resource: &BgpPeer,
    remote: &Remote<'_>,
    kind: PeerKind,
    local_as: Asn,
    cluster_id: Option<std::net::Ipv4Addr>,
) -> PeerConfig {
    let spec = &resource.spec;
    let mut peer = PeerConfig::new(remote.address, remote.asn, kind);
    peer.port = remote.port;
    let mine = cx.my_address(remote.address.is_ipv4());
    if spec.source_address.as_deref() != Some("None") {
        peer.source_address = mine;
    }
    // A global peer named by its peerIP that is a Calico node follows the
    // mesh's direction rule; one chosen by peerSelector does not: both ends
    // connect, and the collision (RFC 4271 §6.8) keeps one session, as
    // Calico's confd renders it (no `passive on`).
    if kind == PeerKind::Global && remote.node.is_some() && spec.peer_selector.is_none() {
        if let Some(mine) = mine {
            follow_direction(&mut peer, mine);
        }
    }
    // rr client when this node reflects, the peer is a Calico node in the same
    // AS, and its cluster id differs from ours (docs/CALICO-CONTRACT.md §2.5).
    if let (Some(ours), Some(node)) = (cluster_id, remote.node) {
        peer.route_reflector_client =
            remote.asn == local_as && node.route_reflector_cluster_id != Some(ours);
    }
    peer.next_hop = match spec.next_hop_mode.as_deref() {
        Some("Self") => NextHopMode::SelfAddress,
        Some("Keep") => NextHopMode::Keep,
        _ if spec.keep_original_next_hop => NextHopMode::Keep,
        _ => NextHopMode::Auto,
    };
    if let Some(secs) = spec
        .max_restart_time
        .as_deref()
        .and_then(parse_duration_secs)
    {
        peer.restart_time = secs.min(4095) as u16;
    }
    if let Some(secs) = spec.keepalive_time.as_deref().and_then(parse_duration_secs) {
        peer.keepalive_time = Some(secs.clamp(1, u64::from(u16::MAX)) as u16);
    }
    if let Some(hops) = spec.ttl_security.filter(|h| *h > 0) {
        peer.ttl_security = Some(hops);
    }
    peer.local_as = spec.local_as_number;
    peer.allow_local_as = spec.num_allowed_local_as_numbers.unwrap_or(0);
    peer.filters = spec.filters.clone();
    if let Some(text) = spec.reachable_by.as_deref().filter(|t| !t.is_empty()) {
        match text.parse::<IpAddr>() {
            Ok(gateway) if gateway.is_ipv4() == remote.address.is_ipv4() => {
                peer.reachable_by = Some(gateway);
            }
            _ => {
                let reason = format!(
                    "{text:?} is no gateway to {}: no route added",
                    remote.address
                );
                cx.problem(&peer_key(resource), "spec.reachableBy", reason);
            }
        }
    }
    peer.password = cx.password(&peer_key(resource), "spec.password", spec.password.as_ref());
    let key = peer_key(resource);
    peer.bfd = bfd::annotated(cx, &key, &resource.metadata.annotations).or_else(|| {
        let mode = spec.failure_detection_mode.as_deref();
        bfd::failure_detection(cx, &key, mode, remote.address)
    });
    peer
}
