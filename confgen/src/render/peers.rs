//! The peers of a node: the mesh, BGPPeers global and node-specific, and
//! the reverse peerings, as confd computes them (docs/CALICO-CONTRACT.md
//! §1.3, §2.4).

use super::*;

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
    let snapshot = cx.snapshot;
    let global = snapshot.global_config().map(|c| &c.spec);
    let cluster_id = cx.bgp.route_reflector_cluster_id;

    // The node-to-node mesh: every other node but route reflectors; none at
    // all on a route reflector (docs/CALICO-CONTRACT.md §2.4).
    let mesh = global
        .and_then(|g| g.node_to_node_mesh_enabled)
        .unwrap_or(true);
    if mesh && cluster_id.is_none() {
        let password = cx.password(
            &Key::BgpConfiguration("default".into()).path(),
            "spec.nodeMeshPassword",
            global.and_then(|g| g.node_mesh_password.as_ref()),
        );
        let restart = global
            .and_then(|g| g.node_mesh_max_restart_time.as_deref())
            .and_then(parse_duration_secs);
        for (name, node, bgp) in cx.others() {
            if bgp.route_reflector_cluster_id.is_some() {
                continue;
            }
            for (theirs, v4) in [(bgp.ipv4_address, true), (bgp.ipv6_address, false)] {
                let (Some(theirs), Some(mine)) = (theirs, cx.my_address(v4)) else {
                    continue;
                };
                let mut peer = PeerConfig::new(theirs.addr(), cx.node_as(node), PeerKind::Mesh);
                peer.port = cx.node_port(name);
                peer.passive = passive_toward(theirs.addr(), mine);
                peer.source_address = Some(mine);
                peer.password = password.clone();
                if let Some(secs) = restart {
                    peer.restart_time = secs.min(4095) as u16;
                }
                admit(cx, &mut peers, || Key::Node(name.clone()).path(), peer);
            }
        }
    }

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
                admit(cx, &mut peers, || peer_key(resource), peer);
            }
        }
    }

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
                admit(cx, &mut peers, || peer_key(resource), peer);
            }
        }
    }
    let mine = [cx.my_address(true), cx.my_address(false)];
    peers
        .into_values()
        .filter(|p| !mine.contains(&Some(p.address)))
        .collect()
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
        peer.passive = mine.is_some_and(|mine| passive_toward(remote.address, mine));
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
    peer
}
