//! The node-to-node mesh: a peering to every other node's addresses.

use std::collections::BTreeMap;
use std::net::IpAddr;

use proto::config::{PeerConfig, PeerKind};

use super::admit;
use crate::render::{bfd, follow_direction, Context};
use crate::resources::parse_duration_secs;
use crate::snapshot::Key;

/// Adds the mesh's peerings to `peers`.
pub(super) fn mesh_peers(cx: &mut Context<'_>, peers: &mut BTreeMap<(IpAddr, u16), PeerConfig>) {
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
        let bfd = snapshot.global_config().and_then(|config| {
            let key = Key::BgpConfiguration("default".into()).path();
            bfd::annotated(cx, &key, &config.metadata.annotations)
        });
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
                follow_direction(&mut peer, mine);
                peer.source_address = Some(mine);
                peer.password = password.clone();
                peer.bfd = bfd;
                if let Some(secs) = restart {
                    peer.restart_time = secs.min(4095) as u16;
                }
                admit(cx, peers, || Key::Node(name.clone()).path(), peer);
            }
        }
    }
}
