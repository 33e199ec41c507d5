//! Calico's BGPFilter rules on a route (docs/ARCHITECTURE.md, "Filters"):
//! a peer's filters are tried in order, each rule of a filter in order; the
//! first rule that matches decides, and an accepting one changes the route
//! by its operations first. Its BIRD rendering is a function per filter and
//! direction, called in the peer's import and export filters before the
//! usual rules (confgen/src/bird.rs).

use ipnet::IpNet;
use proto::config::{
    CommunityValue, FilterConfig, FilterOperation, FilterRule, FilterSource, MatchOperator,
    PeerType,
};
use routesync::learn::glob;

use crate::packet::{AsPath, Community, LargeCommunity, PathAttributes};
use crate::priority;

/// What a rule can see of a route.
#[derive(Clone, Copy, Debug)]
pub struct FilterRoute<'a> {
    pub prefix: IpNet,
    /// Learned over BGP (BIRD's `source = RTS_BGP`).
    pub from_peer: bool,
    /// The interface the route goes through, when known (BIRD's `ifname`).
    pub interface: Option<&'a str>,
    /// The peer it comes from or goes to is in the AS this speaker presents
    /// to it (the `is_same_as` of Calico's filter functions).
    pub internal_peer: bool,
    /// Its attributes.
    pub attrs: &'a PathAttributes,
    /// Its LOCAL_PREF as the filter sees it: on export, a route without one
    /// has the normal priority's (Calico's export filter sets it first).
    pub local_pref: Option<u32>,
}

/// The first rule over `filters` that matches a route received (`import`)
/// or to be sent; `None` when none does.
pub fn decide<'f>(
    filters: impl IntoIterator<Item = &'f FilterConfig>,
    import: bool,
    route: &FilterRoute<'_>,
) -> Option<&'f FilterRule> {
    let ipv4 = route.prefix.addr().is_ipv4();
    filters
        .into_iter()
        .flat_map(|f| f.rules(ipv4, import))
        .find(|rule| matches(rule, route))
}

fn matches(rule: &FilterRule, route: &FilterRoute<'_>) -> bool {
    let prefix_matches = match (rule.match_operator, rule.cidr) {
        (Some(operator), Some(cidr)) => match operator {
            MatchOperator::Equal => route.prefix == cidr,
            MatchOperator::NotEqual => route.prefix != cidr,
            MatchOperator::In => inside(route.prefix, cidr, rule),
            MatchOperator::NotIn => !inside(route.prefix, cidr, rule),
        },
        _ => true,
    };
    let source_matches = match rule.source {
        Some(FilterSource::RemotePeers) => route.from_peer,
        None => true,
    };
    let interface_matches = rule
        .interface
        .as_deref()
        .is_none_or(|pattern| route.interface.is_some_and(|i| glob(pattern, i)));
    let peer_matches = match rule.peer_type {
        Some(PeerType::Ibgp) => route.internal_peer,
        Some(PeerType::Ebgp) => !route.internal_peer,
        None => true,
    };
    let attrs = route.attrs;
    let community_matches = rule.community.is_none_or(|c| carries(attrs, c));
    let path_matches = rule.as_path_prefix.is_empty() || {
        let mut asns = attrs.as_path.iter().flat_map(AsPath::asns);
        rule.as_path_prefix
            .iter()
            .all(|want| asns.next() == Some(*want))
    };
    // BIRD's `defined(bgp_local_pref) && bgp_local_pref = 2147483647 - p`.
    let priority_matches = rule
        .priority
        .is_none_or(|p| route.local_pref == Some(priority::local_pref_of(p)));
    prefix_matches
        && source_matches
        && interface_matches
        && peer_matches
        && community_matches
        && path_matches
        && priority_matches
}

/// BIRD's `net ~ cidr`, or `net ~ [cidr{min,max}]` with prefix lengths.
fn inside(prefix: IpNet, cidr: IpNet, rule: &FilterRule) -> bool {
    if !cidr.contains(&prefix) {
        return false;
    }
    let Some(lengths) = rule.prefix_length else {
        return true;
    };
    let len = prefix.prefix_len();
    len >= lengths.min.unwrap_or(cidr.prefix_len())
        && len <= lengths.max.unwrap_or(cidr.max_prefix_len())
}

fn carries(attrs: &PathAttributes, community: CommunityValue) -> bool {
    match community {
        CommunityValue::Standard(..) => community
            .standard_bits()
            .is_some_and(|bits| attrs.communities.contains(&Community(bits))),
        CommunityValue::Large(a, n, m) => attrs.large_communities.contains(&large(a, n, m)),
    }
}

fn large(global_admin: u32, local_data1: u32, local_data2: u32) -> LargeCommunity {
    LargeCommunity {
        global_admin,
        local_data1,
        local_data2,
    }
}

/// Adds a community or large community the route does not carry yet (BIRD's
/// `bgp_community.add`, which keeps a set).
pub fn add_community(attrs: &mut PathAttributes, community: CommunityValue) {
    match community {
        CommunityValue::Standard(..) => {
            let bits = Community(community.standard_bits().unwrap_or_default());
            if !attrs.communities.contains(&bits) {
                attrs.communities.push(bits);
            }
        }
        CommunityValue::Large(a, n, m) => {
            let value = large(a, n, m);
            if !attrs.large_communities.contains(&value) {
                attrs.large_communities.push(value);
            }
        }
    }
}

/// An accepting rule's operations, in order.
pub fn apply(operations: &[FilterOperation], attrs: &mut PathAttributes) {
    for operation in operations {
        match operation {
            FilterOperation::AddCommunity(community) => add_community(attrs, *community),
            FilterOperation::PrependAsPath(asns) => {
                let path = attrs.as_path.get_or_insert_with(AsPath::default);
                // The last prepended goes first: the path starts with `asns` in order.
                for asn in asns.iter().rev() {
                    super::prepend(path, *asn);
                }
            }
            FilterOperation::SetPriority(p) => {
                attrs.local_pref = Some(priority::local_pref_of(*p));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::config::{FilterAction, PrefixLength};

    static NO_ATTRS: PathAttributes = PathAttributes {
        origin: None,
        as_path: None,
        next_hop: None,
        med: None,
        local_pref: None,
        atomic_aggregate: false,
        aggregator: None,
        communities: Vec::new(),
        originator_id: None,
        cluster_list: Vec::new(),
        mp_reach: None,
        mp_unreach: None,
        ext_communities: Vec::new(),
        large_communities: Vec::new(),
        unknown: Vec::new(),
    };

    fn rule(action: FilterAction) -> FilterRule {
        FilterRule::new(action)
    }

    fn within(action: FilterAction, operator: MatchOperator, cidr: &str) -> FilterRule {
        FilterRule {
            match_operator: Some(operator),
            cidr: Some(cidr.parse().unwrap()),
            ..rule(action)
        }
    }

    fn route<'a>(prefix: &str, from_peer: bool, interface: Option<&'a str>) -> FilterRoute<'a> {
        FilterRoute {
            prefix: prefix.parse().unwrap(),
            from_peer,
            interface,
            internal_peer: true,
            attrs: &NO_ATTRS,
            local_pref: None,
        }
    }

    fn action(rule: Option<&FilterRule>) -> Option<FilterAction> {
        rule.map(|r| r.action)
    }

    /// Calico's own example: accept 44.0.0.0/16, reject 44.1.0.0/16 from
    /// peers, accept the rest from peers, reject everything else.
    fn example() -> FilterConfig {
        FilterConfig {
            name: "tor".into(),
            import_v4: vec![
                within(FilterAction::Accept, MatchOperator::In, "44.0.0.0/16"),
                FilterRule {
                    source: Some(FilterSource::RemotePeers),
                    ..within(FilterAction::Reject, MatchOperator::In, "44.1.0.0/16")
                },
                FilterRule {
                    source: Some(FilterSource::RemotePeers),
                    ..rule(FilterAction::Accept)
                },
                rule(FilterAction::Reject),
            ],
            export_v4: Vec::new(),
            import_v6: Vec::new(),
            export_v6: Vec::new(),
        }
    }

    #[test]
    fn the_first_matching_rule_decides_in_order() {
        let filters = [example()];
        let import =
            |prefix, from_peer| action(decide(&filters, true, &route(prefix, from_peer, None)));
        assert_eq!(import("44.0.3.0/24", true), Some(FilterAction::Accept));
        assert_eq!(import("44.1.3.0/24", true), Some(FilterAction::Reject));
        assert_eq!(import("10.0.0.0/8", true), Some(FilterAction::Accept));
        assert_eq!(import("10.0.0.0/8", false), Some(FilterAction::Reject));
        // Other lists: no rule, no decision.
        assert!(decide(&filters, false, &route("44.0.3.0/24", true, None)).is_none());
        assert!(decide(&filters, true, &route("fd00::/64", true, None)).is_none());
    }

    fn one(rule: FilterRule, r: FilterRoute<'_>) -> bool {
        let filter = FilterConfig {
            export_v4: vec![rule],
            ..example()
        };
        decide(&[filter], false, &r).is_some()
    }

    #[test]
    fn operators_lengths_and_interfaces() {
        let equal = within(FilterAction::Accept, MatchOperator::Equal, "10.1.0.0/16");
        assert!(one(equal.clone(), route("10.1.0.0/16", false, None)));
        assert!(!one(equal, route("10.1.2.0/24", false, None)));
        let not_equal = within(FilterAction::Accept, MatchOperator::NotEqual, "10.1.0.0/16");
        assert!(one(not_equal, route("10.1.2.0/24", false, None)));
        let not_in = within(FilterAction::Accept, MatchOperator::NotIn, "10.1.0.0/16");
        assert!(one(not_in.clone(), route("10.2.0.0/16", false, None)));
        assert!(!one(not_in, route("10.1.0.0/24", false, None)));
        let lengths = FilterRule {
            prefix_length: Some(PrefixLength {
                min: Some(24),
                max: Some(26),
            }),
            ..within(FilterAction::Accept, MatchOperator::In, "10.1.0.0/16")
        };
        assert!(one(lengths.clone(), route("10.1.2.0/24", false, None)));
        assert!(one(lengths.clone(), route("10.1.2.64/26", false, None)));
        assert!(!one(lengths.clone(), route("10.1.0.0/16", false, None)));
        assert!(!one(lengths, route("10.1.2.5/32", false, None)));
        let device = FilterRule {
            interface: Some("*.calico".into()),
            ..rule(FilterAction::Reject)
        };
        assert!(one(
            device.clone(),
            route("10.1.0.0/16", false, Some("vxlan.calico"))
        ));
        assert!(!one(
            device.clone(),
            route("10.1.0.0/16", false, Some("eth0"))
        ));
        assert!(
            !one(device, route("10.1.0.0/16", false, None)),
            "no interface"
        );
    }

    #[test]
    fn peer_type_community_as_path_and_priority() {
        let mut attrs = PathAttributes {
            as_path: Some(AsPath::sequence([65000, 65001, 65002])),
            communities: vec![Community::new(65000, 100)],
            large_communities: vec![large(65000, 1, 2)],
            local_pref: Some(priority::local_pref_of(512)),
            ..PathAttributes::default()
        };
        fn with(attrs: &PathAttributes, internal_peer: bool) -> FilterRoute<'_> {
            FilterRoute {
                attrs,
                internal_peer,
                local_pref: attrs.local_pref,
                ..route("10.1.0.0/16", true, None)
            }
        }
        let ibgp = FilterRule {
            peer_type: Some(PeerType::Ibgp),
            ..rule(FilterAction::Accept)
        };
        assert!(one(ibgp.clone(), with(&attrs, true)));
        assert!(!one(ibgp, with(&attrs, false)));
        let ebgp = FilterRule {
            peer_type: Some(PeerType::Ebgp),
            ..rule(FilterAction::Accept)
        };
        assert!(one(ebgp, with(&attrs, false)));
        let community = |c: &str| FilterRule {
            community: Some(c.parse().unwrap()),
            ..rule(FilterAction::Accept)
        };
        assert!(one(community("65000:100"), with(&attrs, true)));
        assert!(!one(community("65000:101"), with(&attrs, true)));
        assert!(one(community("65000:1:2"), with(&attrs, true)));
        assert!(!one(community("65000:100:0"), with(&attrs, true)));
        let path = |asns: &[u32]| FilterRule {
            as_path_prefix: asns.to_vec(),
            ..rule(FilterAction::Accept)
        };
        assert!(one(path(&[65000]), with(&attrs, true)));
        assert!(one(path(&[65000, 65001]), with(&attrs, true)));
        assert!(!one(path(&[65001]), with(&attrs, true)), "not at the front");
        assert!(!one(path(&[65000, 65001, 65002, 1]), with(&attrs, true)));
        let priority = |p| FilterRule {
            priority: Some(p),
            ..rule(FilterAction::Accept)
        };
        assert!(one(priority(512), with(&attrs, true)));
        assert!(!one(priority(1024), with(&attrs, true)));
        attrs.local_pref = None;
        assert!(!one(priority(512), with(&attrs, true)), "no LOCAL_PREF");
    }

    #[test]
    fn operations_change_the_route_in_order() {
        let mut attrs = PathAttributes {
            as_path: Some(AsPath::sequence([65009])),
            communities: vec![Community::new(1, 1)],
            ..PathAttributes::default()
        };
        apply(
            &[
                FilterOperation::AddCommunity("1:1".parse().unwrap()),
                FilterOperation::AddCommunity("65001:200".parse().unwrap()),
                FilterOperation::AddCommunity("65001:300:400".parse().unwrap()),
                FilterOperation::PrependAsPath(vec![65001, 65002]),
                FilterOperation::SetPriority(256),
            ],
            &mut attrs,
        );
        assert_eq!(
            attrs.communities,
            [Community::new(1, 1), Community::new(65001, 200)],
            "added once"
        );
        assert_eq!(attrs.large_communities, [large(65001, 300, 400)]);
        let path: Vec<u32> = attrs.as_path.as_ref().unwrap().asns().collect();
        assert_eq!(path, [65001, 65002, 65009]);
        assert_eq!(attrs.local_pref, Some(2_147_483_647 - 256));
    }

    #[test]
    fn filters_are_tried_in_the_peers_order() {
        let reject_all = FilterConfig {
            name: "none".into(),
            import_v4: vec![rule(FilterAction::Reject)],
            ..example()
        };
        let r = route("44.0.3.0/24", true, None);
        assert_eq!(
            action(decide([&example(), &reject_all], true, &r)),
            Some(FilterAction::Accept)
        );
        assert_eq!(
            action(decide([&reject_all, &example()], true, &r)),
            Some(FilterAction::Reject)
        );
    }
}
