//! What a node originates: its confirmed blocks and the service ranges
//! (calico.md §2.5, §2.6); and the communities routes sent inside each
//! prefixAdvertisements range carry.

use super::*;

/// This node's confirmed /32 and /128 blocks: Calico gives them no
/// blackhole; the workload's own route is their announcement.
pub(super) fn address_blocks(snapshot: &Snapshot, node: &str) -> Vec<IpNet> {
    snapshot
        .affinities
        .get(node)
        .into_iter()
        .flatten()
        .filter(|(cidr, a)| a.confirmed() && cidr.prefix_len() == cidr.max_prefix_len())
        .map(|(cidr, _)| *cidr)
        .collect()
}

/// This node's confirmed blocks and the service ranges; and the service
/// ranges alone (never installed in the kernel).
pub(super) fn originated(cx: &mut Context<'_>) -> (Vec<Originate>, Vec<IpNet>) {
    let snapshot = cx.snapshot;
    let global = snapshot
        .global_config()
        .map(|c| c.spec.clone())
        .unwrap_or_default();
    let name = cx.me.metadata.name.clone();
    let mut originate = Vec::new();
    for (cidr, affinity) in snapshot.affinities.get(&name).into_iter().flatten() {
        // /32 and /128 blocks get no blackhole in Calico (calico.md §2.6).
        if affinity.confirmed() && cidr.prefix_len() < cidr.max_prefix_len() {
            originate.push(Originate {
                prefix: *cidr,
                kind: OriginKind::Block,
            });
        }
    }
    let services: Vec<IpNet> = global
        .service_cluster_ips
        .iter()
        .chain(&global.service_external_ips)
        .chain(&global.service_load_balancer_ips)
        .filter_map(|entry| entry.cidr)
        .collect();
    for cidr in &services {
        originate.push(Originate {
            prefix: cidr.trunc(),
            kind: OriginKind::Static,
        });
    }
    originate.sort_by_key(|o| o.prefix);
    originate.dedup_by(|a, b| a.prefix == b.prefix);
    let mut never_install: Vec<IpNet> = services.iter().map(IpNet::trunc).collect();
    never_install.sort();
    never_install.dedup();
    (originate, never_install)
}

/// The communities of each `prefixAdvertisements` range, names resolved
/// through BGPConfiguration `communities`: every route sent inside a range
/// gets them (Calico's `apply_communities`), this node's blocks and
/// service ranges as much as learned and reflected routes. A value that is
/// neither a name nor a community is a problem and left out alone.
pub(super) fn prefix_communities(cx: &mut Context<'_>) -> Vec<PrefixCommunities> {
    let snapshot = cx.snapshot;
    let name = cx.me.metadata.name.clone();
    let global = snapshot
        .global_config()
        .map(|c| c.spec.clone())
        .unwrap_or_default();
    // This node's own BGPConfiguration wins over the global one.
    let node_config = Key::BgpConfiguration(format!("node.{name}"));
    let (key, advertisements) = match snapshot
        .node_config(&name)
        .map(|c| c.spec.prefix_advertisements.good.clone())
        .filter(|a| !a.is_empty())
    {
        Some(own) => (node_config.path(), own),
        None => (
            Key::BgpConfiguration("default".into()).path(),
            global.prefix_advertisements.good.clone(),
        ),
    };
    let names: BTreeMap<&str, &str> = global
        .communities
        .iter()
        .map(|c| (c.name.as_str(), c.value.as_str()))
        .collect();
    let mut out: Vec<PrefixCommunities> = Vec::new();
    for (i, advertisement) in advertisements.iter().enumerate() {
        let mut communities = Vec::new();
        for community in &advertisement.communities {
            let value = names.get(community.as_str()).copied().unwrap_or(community);
            match value.parse::<CommunityValue>() {
                Ok(c) if !communities.contains(&c) => communities.push(c),
                Ok(_) => {}
                Err(reason) => cx.problem(
                    &key,
                    &format!("spec.prefixAdvertisements[{i}].communities"),
                    format!("{reason}: left out"),
                ),
            }
        }
        if communities.is_empty() {
            continue;
        }
        if out.len() == proto::config::MAX_PREFIX_COMMUNITIES {
            cx.problem(
                &key,
                &format!("spec.prefixAdvertisements[{i}]"),
                format!(
                    "more than {} ranges with communities: left out",
                    proto::config::MAX_PREFIX_COMMUNITIES
                ),
            );
            continue;
        }
        out.push(PrefixCommunities {
            prefix: advertisement.cidr.trunc(),
            communities,
        });
    }
    out
}
