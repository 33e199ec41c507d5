//! Nothing ignored silently: a field of Calico's BGPConfiguration or
//! BGPPeer that bgpd does not implement is a problem naming the resource
//! and the field (in the log, and in `bgpctl show status`), never dropped
//! without a word. docs/CALICO.md lists what is supported, field by field.

use super::Context;
use crate::resources::BgpPeer;
use crate::snapshot::Key;

/// Why bgpd does without a field, when it is one of Calico's; `None` for a
/// value that needs nothing (a default bgpd follows anyway).
fn reason(field: &str, value: &serde_json::Value) -> Option<String> {
    Some(match field {
        "localWorkloadSelector" | "localWorkloadPeeringIPV4" | "localWorkloadPeeringIPV6" => {
            "peering with local workloads needs their endpoints' BGP status, which bgpd does \
             not follow: ignored"
                .into()
        }
        // Enabled (Calico's default) is what bgpd does: the ranges, whole.
        "serviceLoadBalancerAggregation" if value == "Enabled" => return None,
        "serviceLoadBalancerAggregation" => "per-Service routes need Kubernetes Services and \
             EndpointSlices, which an etcd-datastore bgpd does not read: the ranges are \
             advertised whole"
            .into(),
        _ => "not a field bgpd knows (a later Calico's?): ignored".into(),
    })
}

/// Reports the fields of the global and this node's BGPConfiguration, and
/// of every BGPPeer, that bgpd does not implement.
pub(super) fn report(cx: &mut Context<'_>) {
    let snapshot = cx.snapshot;
    let node = cx.me.metadata.name.clone();
    for name in ["default".to_owned(), format!("node.{node}")] {
        if let Some(config) = snapshot.bgp_configurations.get(&name) {
            let key = Key::BgpConfiguration(name.clone()).path();
            for (field, value) in &config.spec.other {
                if let Some(reason) = reason(field, value) {
                    cx.problem(&key, &format!("spec.{field}"), reason);
                }
            }
        }
    }
    for peer in snapshot.peers.values() {
        report_peer(cx, peer);
    }
}

fn report_peer(cx: &mut Context<'_>, peer: &BgpPeer) {
    let key = super::peer_key(peer);
    for (field, value) in &peer.spec.other {
        if let Some(reason) = reason(field, value) {
            cx.problem(&key, &format!("spec.{field}"), reason);
        }
    }
}
