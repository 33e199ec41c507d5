//! Reverse peerings: the mirror of a BGPPeer whose remote side is this
//! node, toward the nodes of its local side.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use proto::config::{Asn, PeerConfig, PeerKind};

use super::{admit, local_side_includes, peer_config, Remote};
use crate::render::{peer_key, Context};
use crate::resources::{parse_peer_ip, BgpPeer};

/// Adds the reverse peerings of the BGPPeers that name this node as their
/// remote side to `peers`.
pub(super) fn reverse_peers(
    cx: &mut Context<'_>,
    peers: &mut BTreeMap<(IpAddr, u16), PeerConfig>,
    local_as: Asn,
    cluster_id: Option<Ipv4Addr>,
) {
    let snapshot = cx.snapshot;
    // Reverse peerings: a BGPPeer whose remote side is this node gives this
    // node the mirror peering toward its local side, unless one exists or
    // the BGPPeer says `reversePeering: Manual`. One chosen by peerSelector
    // peers back over both families, one naming a peerIP over its family.
    for resource in snapshot.peers.values() {
        if !automatic_reverse_peering(cx, resource) || !remote_side_includes_me(cx, resource) {
            continue;
        }
        let by_address = resource.spec.peer_selector.is_none();
        let address_v4 = resource
            .spec
            .peer_ip
            .as_deref()
            .and_then(parse_peer_ip)
            .map(|(a, _)| a.is_ipv4());
        for (name, node, bgp) in cx.others() {
            if !local_side_includes(cx, resource, node) {
                continue;
            }
            for (theirs, v4) in [(bgp.ipv4_address, true), (bgp.ipv6_address, false)] {
                if by_address && address_v4 != Some(v4) {
                    continue;
                }
                let (Some(theirs), Some(_)) = (theirs, cx.my_address(v4)) else {
                    continue;
                };
                let remote = Remote {
                    address: theirs.addr(),
                    port: cx.node_port(name),
                    asn: cx.node_as(node),
                    node: Some(bgp),
                };
                if peers.contains_key(&(remote.address, remote.port)) {
                    continue;
                }
                let peer = peer_config(cx, resource, &remote, PeerKind::Node, local_as, cluster_id);
                admit(cx, peers, || peer_key(resource), peer);
            }
        }
    }
}

/// Whether a BGPPeer's remote nodes peer back by themselves (Calico's
/// `reversePeering`: `Auto` unless set; `Manual` leaves it to another
/// BGPPeer). Another value is a problem, and read as `Auto`.
fn automatic_reverse_peering(cx: &mut Context<'_>, resource: &BgpPeer) -> bool {
    match resource.spec.reverse_peering.as_deref() {
        None | Some("") | Some("Auto") => true,
        Some("Manual") => false,
        Some(other) => {
            cx.problem(
                &peer_key(resource),
                "spec.reversePeering",
                format!("{other:?} is not Auto or Manual: read as Auto"),
            );
            true
        }
    }
}

/// Whether this node is on a BGPPeer's remote side (its `peerSelector`, or its
/// `peerIP` and `asNumber`).
fn remote_side_includes_me(cx: &mut Context<'_>, resource: &BgpPeer) -> bool {
    let spec = &resource.spec;
    if let Some(stored) = &spec.peer_selector {
        let labels = &cx.me.metadata.labels;
        return cx
            .selector(resource, "spec.peerSelector", stored)
            .is_some_and(|s| s.matches(labels));
    }
    let Some((address, _)) = spec.peer_ip.as_deref().and_then(parse_peer_ip) else {
        return false;
    };
    let mine = [cx.my_address(true), cx.my_address(false)];
    mine.contains(&Some(address)) && spec.as_number.is_none_or(|asn| asn == cx.node_as(cx.me))
}
