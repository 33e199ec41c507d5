//! What a node originates: its confirmed blocks and the service ranges
//! (docs/CALICO-CONTRACT.md §3.1); and the communities routes sent inside each
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

/// The Kubernetes node label that keeps a node out of load balancers; Calico
/// advertises no service range from a node carrying it as `"true"`.
pub const EXCLUDE_FROM_LOAD_BALANCERS: &str =
    "node.kubernetes.io/exclude-from-external-load-balancers";

/// What a node originates and what of it is service ranges.
pub(super) struct Originated {
    pub originate: Vec<Originate>,
    /// The service ranges this node advertises (none from a node labelled
    /// [`EXCLUDE_FROM_LOAD_BALANCERS`]).
    pub advertised: Vec<IpNet>,
    /// Every service range: never installed in the kernel from BGP, by any
    /// node, so that traffic to a service stays with kube-proxy.
    pub never_install: Vec<IpNet>,
}

/// This node's confirmed blocks and the service ranges it advertises.
pub(super) fn originated(cx: &mut Context<'_>) -> Originated {
    let snapshot = cx.snapshot;
    let global = snapshot
        .global_config()
        .map(|c| c.spec.clone())
        .unwrap_or_default();
    let name = cx.me.metadata.name.clone();
    let mut originate = Vec::new();
    for (cidr, affinity) in snapshot.affinities.get(&name).into_iter().flatten() {
        // /32 and /128 blocks get no blackhole in Calico
        // (docs/CALICO-CONTRACT.md §3.1).
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
    let mut never_install: Vec<IpNet> = services.iter().map(IpNet::trunc).collect();
    never_install.sort();
    never_install.dedup();
    // Calico's confd (ExcludeServiceAdvertisement): such a node advertises
    // no service range, and still keeps them all out of its kernel.
    let excluded = cx
        .me
        .metadata
        .labels
        .get(EXCLUDE_FROM_LOAD_BALANCERS)
        .is_some_and(|v| v == "true");
    let advertised = if excluded {
        Vec::new()
    } else {
        never_install.clone()
    };
    for cidr in &advertised {
        originate.push(Originate {
            prefix: *cidr,
            kind: OriginKind::Static,
        });
    }
    originate.sort_by_key(|o| o.prefix);
    originate.dedup_by(|a, b| a.prefix == b.prefix);
    Originated {
        originate,
        advertised,
        never_install,
    }
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
