//! Who gets what. Import: the loop checks of RFC 4271 §9 and RFC 4456 §8.
//! Export: Calico's filter (only prefixes inside the export ranges; an own
//! block as the block, never what is inside it), the iBGP and route-reflection
//! rules of RFC 4456 §6, eBGP rules, and the attribute rewriting each kind of
//! peer gets. Pure functions over data, tested as tables.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use proto::config::{
    FilterAction, FilterConfig, FilterRule, NextHopMode, PrefixCommunities, RoutePriority,
};

use crate::packet::{AsPath, AsSegment, Community, EncodeCtx, FamilySet, SegmentKind};
use crate::priority;
use crate::rib::{Path, RouteAttrs, Source, SourceInfo};

/// What this speaker is, for import and export decisions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpeakerPolicy {
    pub local_as: u32,
    pub router_id: Ipv4Addr,
    /// Set when this speaker is a route reflector.
    pub cluster_id: Option<Ipv4Addr>,
    /// Prefixes inside these may be exported; empty means no restriction.
    pub export_prefixes: Vec<IpNet>,
    /// This node's blocks: exported as themselves, never more-specifics.
    pub own_blocks: Vec<IpNet>,
    /// Nothing inside these is exported (pools with `disableBGPExport`).
    pub never_export: Vec<IpNet>,
    /// The node's own addresses, never accepted as a next hop.
    pub own_addresses: Vec<IpAddr>,
    /// The normal route priority: the LOCAL_PREF of paths without one sent
    /// to iBGP peers, and which kernel routes are elevated.
    pub route_priority: RoutePriority,
    /// Communities routes sent inside each range get (Calico's
    /// `prefixAdvertisements`); at most 64 ranges.
    pub communities: Vec<PrefixCommunities>,
}

/// How one kind of peer is exported to. Peers with equal classes get the
/// same UPDATEs, encoded once.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ExportClass {
    pub ebgp: bool,
    pub rr_client: bool,
    pub remote_as: u32,
    /// The AS this speaker presents to these peers.
    pub local_as: u32,
    pub next_hop: NextHopMode,
    /// This speaker's next hop toward these peers, per family.
    pub self_v4: Option<Ipv4Addr>,
    pub self_v6: Option<Ipv6Addr>,
    pub encode: EncodeCtx,
    /// The families the peers negotiated; nothing else is sent to them.
    pub families: FamilySet,
    /// Their export filters, in order (Calico's BGPFilter, `filter.rs`).
    pub filters: Vec<FilterConfig>,
}

/// What import needs of the peer a path came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerImport {
    /// The AS this speaker presents to the peer.
    pub local_as: u32,
    /// How often that AS may stand in an AS_PATH (BIRD's `allow local as`).
    pub allow_local_as: u32,
}

/// RFC 4271 §9 and RFC 4456 §8 loop checks, and next hops that cannot be
/// used: true to accept the path.
pub fn accept_import(
    attrs: &RouteAttrs,
    source: &SourceInfo,
    peer: PeerImport,
    policy: &SpeakerPolicy,
) -> bool {
    let a = &attrs.attrs;
    // RFC 4271 §9.1.2: a path through this AS again is a loop, unless the
    // operator allows the AS a number of times (sites of one AS joined
    // through another, Calico's numAllowedLocalASNumbers).
    let loops = |path: &AsPath| {
        let times = path.asns().filter(|asn| *asn == peer.local_as).count();
        u32::try_from(times).unwrap_or(u32::MAX) > peer.allow_local_as
    };
    if source.ebgp && a.as_path.as_ref().is_some_and(loops) {
        return false;
    }
    if a.originator_id == Some(policy.router_id) {
        return false;
    }
    if policy
        .cluster_id
        .is_some_and(|id| a.cluster_list.contains(&id))
    {
        return false;
    }
    !(attrs.next_hop.is_unspecified() || policy.own_addresses.contains(&attrs.next_hop))
}

/// What a path is learned with. RFC 8326 §4: a path carrying
/// GRACEFUL_SHUTDOWN is about to go away, so it gets the lowest LOCAL_PREF
/// and any other path wins; iBGP peers are sent that LOCAL_PREF and prefer
/// the other paths too. RFC 4271 §5.1.5: a LOCAL_PREF from an eBGP peer is
/// not this AS's and is ignored (RFC 7606 §7.5's attribute discard; this is
/// its one place: the decoder keeps what the peer sent).
pub fn import_attrs(mut attrs: RouteAttrs, source: &SourceInfo) -> RouteAttrs {
    if source.ebgp {
        attrs.attrs.local_pref = None;
    }
    if attrs
        .attrs
        .communities
        .contains(&Community::GRACEFUL_SHUTDOWN)
    {
        attrs.attrs.local_pref = Some(GRACEFUL_SHUTDOWN_LOCAL_PREF);
    }
    attrs
}

/// The path id of a route learned from the kernel, beside an originated one
/// of the same prefix (id 0).
pub const LEARNED_PATH: u32 = 1;
/// The path id of a learned route through one of Felix's tunnels: it goes
/// to eBGP peers only (Calico keeps Felix's tunnel routes from iBGP peers).
pub const LEARNED_TUNNEL_PATH: u32 = 2;

/// RFC 8326 §4: "a LOCAL_PREF value of 0".
pub const GRACEFUL_SHUTDOWN_LOCAL_PREF: u32 = 0;

/// Calico's export filter, in its order: nothing inside a pool with
/// `disableBGPExport`; an own block as itself, even outside every pool, and
/// nothing inside it (`calico_aggr`); otherwise only inside the export
/// ranges.
pub fn prefix_exportable(prefix: &IpNet, policy: &SpeakerPolicy) -> bool {
    if policy.never_export.iter().any(|r| r.contains(prefix)) {
        return false;
    }
    if let Some(block) = policy.own_blocks.iter().find(|b| b.contains(prefix)) {
        return block == prefix;
    }
    policy.export_prefixes.is_empty()
        || policy
            .export_prefixes
            .iter()
            .any(|range| range.contains(prefix))
}

/// Whether a route goes to peers of a class, and what it gets for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict<'c> {
    /// It is not sent.
    Keep,
    /// Calico's export rule sends it, with the communities of the
    /// `policy.communities` ranges it is in (bit `i` for range `i`).
    Send { ranges: u64 },
    /// This filter rule accepted it: its operations apply, and nothing else
    /// is added (the rule decides, as in Calico's export filter).
    Accepted(&'c FilterRule),
}

impl Verdict<'_> {
    /// What tells two verdicts' exported attributes apart, for caching.
    pub fn key(&self) -> (usize, u64) {
        match self {
            Verdict::Keep => (0, 0),
            Verdict::Send { ranges } => (1, *ranges),
            Verdict::Accepted(rule) => (std::ptr::from_ref(*rule) as usize, 0),
        }
    }
}

/// Whether the route may go to peers of `class` at all. Their filters
/// first: an accepting rule sends what Calico's export rule would not, a
/// rejecting one keeps back what it would send; then Calico's rule.
pub fn verdict<'c>(
    prefix: &IpNet,
    path: &Path,
    class: &'c ExportClass,
    policy: &SpeakerPolicy,
) -> Verdict<'c> {
    let calico = || {
        if prefix_exportable(prefix, policy) {
            Verdict::Send {
                ranges: community_ranges(prefix, policy),
            }
        } else {
            Verdict::Keep
        }
    };
    if class.filters.is_empty() {
        return calico();
    }
    let attrs = &path.attrs.attrs;
    let route = filter::FilterRoute {
        prefix: *prefix,
        from_peer: path.source != Source::Local,
        interface: path.attrs.device.as_deref(),
        internal_peer: !class.ebgp,
        attrs,
        // Calico's export filter gives a route its priority's LOCAL_PREF
        // before the BGPFilter sees it; one without (eBGP) has the normal one.
        local_pref: Some(
            attrs
                .local_pref
                .unwrap_or_else(|| priority::normal_local_pref(prefix, &policy.route_priority)),
        ),
    };
    match filter::decide(&class.filters, false, &route) {
        Some(rule) if rule.action == FilterAction::Reject => Verdict::Keep,
        Some(rule) => Verdict::Accepted(rule),
        None => calico(),
    }
}

/// The `policy.communities` ranges `prefix` is inside, one bit each.
fn community_ranges(prefix: &IpNet, policy: &SpeakerPolicy) -> u64 {
    policy
        .communities
        .iter()
        .take(proto::config::MAX_PREFIX_COMMUNITIES)
        .enumerate()
        .filter(|(_, range)| range.prefix.contains(prefix))
        .fold(0, |bits, (i, _)| bits | 1 << i)
}

/// [`export`] once the route may go: the filter rule's operations or the
/// ranges' communities, then the rules of RFC 4271 and RFC 4456, which
/// depend on the prefix only through its family and the verdict, so that
/// one result serves every prefix of a path's attributes with that verdict.
pub fn export_attrs(
    prefix: &IpNet,
    path: &Path,
    source: &SourceInfo,
    class: &ExportClass,
    policy: &SpeakerPolicy,
    verdict: Verdict<'_>,
) -> Option<RouteAttrs> {
    let a = &path.attrs.attrs;
    // RFC 1997 well-known communities.
    if a.communities.contains(&Community::NO_ADVERTISE) {
        return None;
    }
    if class.ebgp
        && (a.communities.contains(&Community::NO_EXPORT)
            || a.communities.contains(&Community::NO_EXPORT_SUBCONFED))
    {
        return None;
    }
    if path.source == Source::Local && path.path_id == LEARNED_TUNNEL_PATH && !class.ebgp {
        return None;
    }
    let learned_internal = path.source != Source::Local && !source.ebgp;
    // RFC 4456 §6: an iBGP-learned path goes to iBGP peers only by reflection:
    // from a client to everyone, from a non-client to clients only.
    let reflect = learned_internal && !class.ebgp;
    if reflect && (policy.cluster_id.is_none() || !(source.rr_client || class.rr_client)) {
        return None;
    }
    // Do not send a path into an AS already on it.
    if class.ebgp
        && a.as_path
            .as_ref()
            .is_some_and(|p| p.asns().any(|asn| asn == class.remote_as))
    {
        return None;
    }

    let mut out = (*path.attrs).clone();
    // The device is this node's business: routes of different devices go
    // out as one attribute set.
    out.device = None;
    let attrs = &mut out.attrs;
    match verdict {
        Verdict::Keep => return None,
        Verdict::Accepted(rule) => filter::apply(&rule.operations, attrs),
        Verdict::Send { ranges } => {
            for (i, range) in policy.communities.iter().enumerate() {
                if ranges & (1 << i) != 0 {
                    for community in &range.communities {
                        filter::add_community(attrs, *community);
                    }
                }
            }
        }
    }
    if class.ebgp {
        prepend(
            attrs.as_path.get_or_insert_with(AsPath::default),
            class.local_as,
        );
        attrs.local_pref = None;
        // MED is not passed on from one neighboring AS to another (RFC 4271 §5.1.4).
        if path.source != Source::Local {
            attrs.med = None;
        }
        attrs.originator_id = None;
        attrs.cluster_list.clear();
    } else {
        // Calico's export filter: a route without LOCAL_PREF (an eBGP one)
        // gets that of a normal route (crate::priority).
        attrs.local_pref = Some(
            attrs
                .local_pref
                .unwrap_or_else(|| priority::normal_local_pref(prefix, &policy.route_priority)),
        );
        if reflect {
            // RFC 4456 §8.
            attrs.originator_id = Some(attrs.originator_id.unwrap_or(source.router_id));
            if let Some(cluster_id) = policy.cluster_id {
                attrs.cluster_list.insert(0, cluster_id);
            }
        }
    }
    let next_hop_self = match class.next_hop {
        NextHopMode::Auto => class.ebgp,
        NextHopMode::SelfAddress => true,
        NextHopMode::Keep => false,
    };
    if next_hop_self {
        out.next_hop = match prefix {
            IpNet::V4(_) => IpAddr::V4(class.self_v4?),
            IpNet::V6(_) => IpAddr::V6(class.self_v6?),
        };
        out.link_local = None;
    }
    Some(out)
}

/// Puts `asn` in front of the path (RFC 4271 §5.1.2).
fn prepend(path: &mut AsPath, asn: u32) {
    match path.segments.first_mut() {
        Some(first)
            if first.kind == SegmentKind::Sequence
                && first.asns.len() < crate::packet::MAX_SEGMENT_LEN =>
        {
            first.asns.insert(0, asn)
        }
        _ => path.segments.insert(
            0,
            AsSegment {
                kind: SegmentKind::Sequence,
                asns: vec![asn],
            },
        ),
    }
}

pub mod filter;

#[cfg(test)]
mod tests;
