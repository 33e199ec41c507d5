//! Calico's BGPFilter rules on a route (docs/ARCHITECTURE.md, "Filters"):
//! a peer's filters are tried in order, each rule of a filter in order; the
//! first rule that matches decides. Its BIRD rendering is a function per
//! filter and direction, called in the peer's import and export filters
//! before the usual rules (confgen/src/bird.rs).

use ipnet::IpNet;
use proto::config::{FilterAction, FilterConfig, FilterRule, FilterSource, MatchOperator};
use routesync::learn::glob;

/// What a rule can see of a route.
#[derive(Clone, Copy, Debug)]
pub struct FilterRoute<'a> {
    pub prefix: IpNet,
    /// Learned over BGP (BIRD's `source = RTS_BGP`).
    pub from_peer: bool,
    /// The interface the route goes through, when known (BIRD's `ifname`).
    pub interface: Option<&'a str>,
}

/// The first matching rule's action over `filters`, for a route received
/// (`import`) or to be sent; `None` when no rule matches.
pub fn decide<'f>(
    filters: impl IntoIterator<Item = &'f FilterConfig>,
    import: bool,
    route: &FilterRoute<'_>,
) -> Option<FilterAction> {
    let ipv4 = route.prefix.addr().is_ipv4();
    filters
        .into_iter()
        .flat_map(|f| f.rules(ipv4, import))
        .find(|rule| matches(rule, route))
        .map(|rule| rule.action)
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
    prefix_matches && source_matches && interface_matches
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

#[cfg(test)]
mod tests {
    use super::*;
    use proto::config::PrefixLength;

    fn rule(action: FilterAction) -> FilterRule {
        FilterRule {
            action,
            match_operator: None,
            cidr: None,
            prefix_length: None,
            source: None,
            interface: None,
        }
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
        }
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
        let import = |prefix, from_peer| decide(&filters, true, &route(prefix, from_peer, None));
        assert_eq!(import("44.0.3.0/24", true), Some(FilterAction::Accept));
        assert_eq!(import("44.1.3.0/24", true), Some(FilterAction::Reject));
        assert_eq!(import("10.0.0.0/8", true), Some(FilterAction::Accept));
        assert_eq!(import("10.0.0.0/8", false), Some(FilterAction::Reject));
        // Other lists: no rule, no decision.
        assert_eq!(
            decide(&filters, false, &route("44.0.3.0/24", true, None)),
            None
        );
        assert_eq!(
            decide(&filters, true, &route("fd00::/64", true, None)),
            None
        );
    }

    #[test]
    fn operators_lengths_and_interfaces() {
        let one = |rule: FilterRule, r: FilterRoute<'_>| {
            let filter = FilterConfig {
                export_v4: vec![rule],
                ..example()
            };
            decide(&[filter], false, &r).is_some()
        };
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
    fn filters_are_tried_in_the_peers_order() {
        let reject_all = FilterConfig {
            name: "none".into(),
            import_v4: vec![rule(FilterAction::Reject)],
            ..example()
        };
        let r = route("44.0.3.0/24", true, None);
        assert_eq!(
            decide([&example(), &reject_all], true, &r),
            Some(FilterAction::Accept)
        );
        assert_eq!(
            decide([&reject_all, &example()], true, &r),
            Some(FilterAction::Reject)
        );
    }
}
