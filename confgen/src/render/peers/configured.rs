//! The peerings this node's BGPPeers configure, global and node-specific,
//! and the remote ends each names.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use proto::config::{Asn, PeerConfig, PeerKind};

use super::{admit, local_side_includes, peer_config, Remote};
use crate::render::{peer_key, Context, DEFAULT_PORT};
use crate::resources::{parse_peer_ip, BgpPeer};

/// Adds the peerings of the BGPPeers that apply to this node to `peers`.
pub(super) fn configured_peers(
    cx: &mut Context<'_>,
    peers: &mut BTreeMap<(IpAddr, u16), PeerConfig>,
    local_as: Asn,
    cluster_id: Option<Ipv4Addr>,
) {
    let snapshot = cx.snapshot;
    // Global BGPPeers first, then node-specific ones; a node-specific peering
    // to an address already peered globally is skipped
    // (docs/CALICO-CONTRACT.md §1.3).
    for global_pass in [true, false] {
        for resource in snapshot.peers.values() {
            let spec = &resource.spec;
            let is_global = spec.node.is_none() && spec.node_selector.is_none();
            if is_global != global_pass || !local_side_includes(cx, resource, cx.me) {
                continue;
            }
            let kind = if is_global {
                PeerKind::Global
            } else {
                PeerKind::Node
            };
            for remote in remotes(cx, resource) {
                let peer = peer_config(cx, resource, &remote, kind, local_as, cluster_id);
                admit(cx, peers, || peer_key(resource), peer);
            }
        }
    }
}

/// The remote ends a BGPPeer names for this node.
fn remotes<'a>(cx: &mut Context<'a>, resource: &BgpPeer) -> Vec<Remote<'a>> {
    let spec = &resource.spec;
    if let Some(stored) = &spec.peer_selector {
        let Some(selector) = cx.selector(resource, "spec.peerSelector", stored) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (name, node, bgp) in cx.others() {
            if !selector.matches(&node.metadata.labels) {
                continue;
            }
            for (theirs, v4) in [(bgp.ipv4_address, true), (bgp.ipv6_address, false)] {
                if let (Some(theirs), Some(_)) = (theirs, cx.my_address(v4)) {
                    out.push(Remote {
                        address: theirs.addr(),
                        port: cx.node_port(name),
                        asn: cx.node_as(node),
                        node: Some(bgp),
                    });
                }
            }
        }
        return out;
    }
    let Some(text) = spec.peer_ip.as_deref() else {
        return Vec::new();
    };
    let Some((address, port)) = parse_peer_ip(text) else {
        let reason = format!("{text:?} is not an address; peer skipped");
        cx.problem(&peer_key(resource), "spec.peerIP", reason);
        return Vec::new();
    };
    let Some(asn) = spec.as_number else {
        let reason = "a peerIP needs an asNumber; peer skipped".to_owned();
        cx.problem(&peer_key(resource), "spec.asNumber", reason);
        return Vec::new();
    };
    // The Calico node at that address, if any: one pass over the nodes,
    // made only for a peerIP BGPPeer that applies to this node.
    let owner = cx.snapshot.nodes.iter().find_map(|(name, n)| {
        let bgp = n.spec.bgp.as_ref()?;
        let owns = bgp.ipv4_address.map(|a| a.addr()) == Some(address)
            || bgp.ipv6_address.map(|a| a.addr()) == Some(address);
        owns.then_some((name, bgp))
    });
    // Without a port, a peer that is a Calico node is dialled on its listen port.
    let port = port.unwrap_or_else(|| owner.map_or(DEFAULT_PORT, |(name, _)| cx.node_port(name)));
    vec![Remote {
        address,
        port,
        asn,
        node: owner.map(|(_, bgp)| bgp),
    }]
}
