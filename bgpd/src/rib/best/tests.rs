use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use proptest::prelude::*;

use super::*;
use crate::packet::{AsPath, PathAttributes};
use crate::rib::RouteAttrs;

fn info(source: Source) -> SourceInfo {
    let n = match source {
        Source::Local => 0,
        Source::Peer(id) => id as u8,
    };
    SourceInfo {
        // Peers 100 and above are external.
        ebgp: n >= 100,
        router_id: Ipv4Addr::new(10, 0, 0, n),
        address: IpAddr::V4(Ipv4Addr::new(10, 0, 1, n)),
        rr_client: false,
    }
}

fn path(peer: u32, edit: impl FnOnce(&mut PathAttributes)) -> Path {
    let mut attrs = PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::sequence([65001])),
        ..PathAttributes::default()
    };
    edit(&mut attrs);
    let source = if peer == 0 {
        Source::Local
    } else {
        Source::Peer(peer)
    };
    Path {
        source,
        path_id: 0,
        stale: false,
        attrs: Arc::new(RouteAttrs {
            attrs,
            next_hop: "10.0.0.9".parse().unwrap(),
            link_local: None,
            device: None,
        }),
    }
}

fn decide(a: &Path, b: &Path) -> (Ordering, Reason) {
    compare(a, b, info)
}

#[test]
fn each_step_decides_in_rfc_order() {
    let base = path(2, |_| {});
    let cases: Vec<(Path, Reason)> = vec![
        (path(3, |a| a.local_pref = Some(200)), Reason::LocalPref),
        (path(0, |_| {}), Reason::Local),
        (
            path(3, |a| a.as_path = Some(AsPath::default())),
            Reason::AsPathLength,
        ),
        (path(100, |_| {}), Reason::ExternalOverInternal),
        (path(1, |_| {}), Reason::RouterId),
    ];
    for (better, reason) in cases {
        assert_eq!(
            decide(&better, &base),
            (Ordering::Less, reason),
            "{better:?}"
        );
        assert_eq!(decide(&base, &better), (Ordering::Greater, reason));
    }
    let incomplete = path(3, |a| a.origin = Some(Origin::Incomplete));
    assert_eq!(decide(&base, &incomplete), (Ordering::Less, Reason::Origin));
    let high_med = path(3, |a| a.med = Some(50));
    assert_eq!(decide(&base, &high_med), (Ordering::Less, Reason::Med));
}

#[test]
fn med_compares_only_within_one_neighbor_as() {
    let a = path(3, |a| a.med = Some(50));
    let b = path(4, |a| {
        a.as_path = Some(AsPath::sequence([65002]));
        a.med = Some(10);
    });
    // Different neighbor AS: MED is skipped, the router id decides.
    assert_eq!(decide(&a, &b), (Ordering::Less, Reason::RouterId));
}

#[test]
fn route_reflection_tie_breakers() {
    let short = path(5, |a| a.cluster_list = vec![Ipv4Addr::new(1, 1, 1, 1)]);
    let long = path(3, |a| {
        a.cluster_list = vec![Ipv4Addr::new(1, 1, 1, 1), Ipv4Addr::new(2, 2, 2, 2)]
    });
    assert_eq!(
        decide(&short, &long),
        (Ordering::Less, Reason::ClusterListLength)
    );
    // ORIGINATOR_ID stands in for the peer's router id.
    let from_low = path(9, |a| a.originator_id = Some(Ipv4Addr::new(10, 0, 0, 1)));
    let plain = path(3, |_| {});
    assert_eq!(
        decide(&from_low, &plain),
        (Ordering::Less, Reason::RouterId)
    );
}

#[test]
fn multipath_ignores_only_identity_tie_breakers() {
    let a = path(2, |_| {});
    let b = path(3, |_| {});
    assert!(multipath_equal(&a, &b, info));
    let worse = path(3, |a| a.as_path = Some(AsPath::sequence([1, 2])));
    assert!(!multipath_equal(&a, &worse, info));
}

/// Paths that differ in every step; with `one_neighbor`, all enter from AS 65000.
fn arb_path(one_neighbor: bool) -> impl Strategy<Value = Path> {
    let first_hop = if one_neighbor { 1..3usize } else { 0..3usize };
    (
        1..6u32,
        prop::option::of(90..110u32),
        first_hop,
        prop::option::of(0..3u32),
        0..2u8,
        0..3usize,
        prop::option::of(1..4u8),
    )
        .prop_map(
            move |(peer, local_pref, hops, med, neighbor, clusters, originator)| {
                let neighbor = if one_neighbor { 0 } else { u32::from(neighbor) };
                path(if peer == 5 { 100 } else { peer }, |a| {
                    a.local_pref = local_pref;
                    a.as_path = Some(AsPath::sequence(
                        (0..hops).map(|i| 65000 + neighbor + i as u32 * 10),
                    ));
                    a.med = med;
                    a.cluster_list = vec![Ipv4Addr::new(1, 1, 1, 1); clusters];
                    a.originator_id = originator.map(|o| Ipv4Addr::new(10, 0, 0, o));
                })
            },
        )
}

proptest! {
    /// Antisymmetric, and reflexive on equal paths.
    #[test]
    fn order_is_antisymmetric(a in arb_path(false), b in arb_path(false)) {
        prop_assert_eq!(decide(&a, &b).0, decide(&b, &a).0.reverse());
        prop_assert_eq!(decide(&a, &a).0, Ordering::Equal);
    }

    /// Transitive among paths whose MEDs are all comparable (RFC 4271's MED
    /// rule is famously not transitive across neighbor ASes).
    #[test]
    fn order_is_transitive_within_one_neighbor_as(a in arb_path(true), b in arb_path(true), c in arb_path(true)) {
        if decide(&a, &b).0.is_le() && decide(&b, &c).0.is_le() {
            prop_assert!(decide(&a, &c).0.is_le());
        }
    }
}
