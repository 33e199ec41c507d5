use std::net::{IpAddr, Ipv4Addr};

use super::*;
use crate::packet::{AsPath, Origin, PathAttributes};

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn attrs(local_pref: u32, next_hop: &str) -> RouteAttrs {
    RouteAttrs {
        attrs: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::default()),
            local_pref: Some(local_pref),
            ..PathAttributes::default()
        },
        next_hop: next_hop.parse().unwrap(),
        link_local: None,
        device: None,
    }
}

fn rib() -> LocRib {
    let mut rib = LocRib::default();
    for peer in 1..=3u8 {
        rib.set_peer(
            u32::from(peer),
            SourceInfo {
                ebgp: false,
                router_id: Ipv4Addr::new(10, 0, 0, peer),
                address: IpAddr::V4(Ipv4Addr::new(10, 0, 0, peer)),
                rr_client: false,
            },
        );
    }
    rib
}

#[test]
fn best_first_and_replacement_by_the_same_source() {
    let mut rib = rib();
    let p = net("10.244.1.0/26");
    let a = rib.intern(attrs(100, "10.0.0.1"));
    rib.insert(p, Source::Peer(1), 0, a);
    let b = rib.intern(attrs(200, "10.0.0.2"));
    rib.insert(p, Source::Peer(2), 0, b);
    assert_eq!(rib.best(&p).unwrap().source, Source::Peer(2));
    // Peer 2 lowers its preference: peer 1 (lower router id) wins again.
    let b2 = rib.intern(attrs(100, "10.0.0.2"));
    rib.insert(p, Source::Peer(2), 0, b2);
    assert_eq!(rib.paths(&p).len(), 2);
    assert_eq!(rib.best(&p).unwrap().source, Source::Peer(1));
    assert_eq!(rib.multipath(&p).len(), 2, "equal but for the router id");
    assert_eq!(rib.attr_sets(), 2, "the 200 set was released");
}

#[test]
fn withdrawals_and_session_loss() {
    let mut rib = rib();
    for prefix in ["10.244.1.0/26", "10.244.2.0/26"] {
        let a = rib.intern(attrs(100, "10.0.0.1"));
        rib.insert(net(prefix), Source::Peer(1), 0, a);
    }
    let c = rib.intern(attrs(100, "10.0.0.3"));
    rib.insert(net("10.244.1.0/26"), Source::Peer(3), 0, c);
    assert_eq!(rib.peer_path_count(1), 2);
    assert!(rib.remove(net("10.244.2.0/26"), Source::Peer(1), 0));
    assert!(!rib.remove(net("10.244.2.0/26"), Source::Peer(1), 0));
    let mut gone = rib.remove_peer(1);
    gone.sort();
    assert_eq!(gone, vec![net("10.244.1.0/26")]);
    assert_eq!(
        rib.best(&net("10.244.1.0/26")).unwrap().source,
        Source::Peer(3)
    );
    rib.remove_peer(3);
    assert!(rib.is_empty());
    assert_eq!(rib.attr_sets(), 0);
}

#[test]
fn add_path_identifiers_keep_paths_apart() {
    let mut rib = rib();
    let p = net("10.244.1.0/26");
    for id in 1..=3 {
        let a = rib.intern(attrs(100, &format!("10.0.1.{id}")));
        rib.insert(p, Source::Peer(1), id, a);
    }
    assert_eq!(rib.paths(&p).len(), 3);
    assert_eq!(rib.best(&p).unwrap().path_id, 1);
    assert_eq!(rib.multipath(&p).len(), 3);
}

#[test]
fn a_restarting_peers_paths_stay_stale_until_sent_again_or_swept() {
    let mut rib = rib();
    let (kept, dropped, other) = (
        net("10.244.1.0/26"),
        net("10.244.2.0/26"),
        net("10.244.3.0/26"),
    );
    let v6 = net("fd00:244::/122");
    let a = rib.intern(attrs(100, "10.0.0.1"));
    for prefix in [kept, dropped] {
        rib.insert(prefix, Source::Peer(1), 0, a.clone());
    }
    rib.insert(other, Source::Peer(2), 0, a.clone());
    let b = rib.intern(attrs(100, "fd00::1"));
    rib.insert(v6, Source::Peer(1), 0, b);

    // Peer 1 restarts, graceful for IPv4 only: its IPv6 path goes now.
    let gone = rib.mark_stale(1, FamilySet::of(&[Family::Ipv4Unicast]));
    assert_eq!(gone, vec![v6]);
    assert_eq!((rib.peer_path_count(1), rib.stale_count(1)), (2, 2));
    assert!(rib.best(&kept).unwrap().stale, "still there, still best");
    assert!(!rib.best(&other).unwrap().stale, "peer 2 is not restarting");

    // It sends one prefix again, then its End-of-RIB.
    rib.insert(kept, Source::Peer(1), 0, a.clone());
    assert_eq!((rib.peer_path_count(1), rib.stale_count(1)), (2, 1));
    assert_eq!(rib.sweep_stale(1, Family::Ipv4Unicast), vec![dropped]);
    assert_eq!((rib.peer_path_count(1), rib.stale_count(1)), (1, 0));
    assert!(!rib.best(&kept).unwrap().stale);
    assert!(rib.paths(&dropped).is_empty());
    assert_eq!(
        rib.paths(&other).len(),
        1,
        "other peers' paths are untouched"
    );
    assert!(
        rib.sweep_stale(1, Family::Ipv4Unicast).is_empty(),
        "nothing stale is left"
    );
}

#[test]
fn a_stale_path_withdrawn_or_lost_with_the_peer_leaves_no_count_behind() {
    let mut rib = rib();
    let (p, q) = (net("10.244.1.0/26"), net("10.244.2.0/26"));
    let a = rib.intern(attrs(100, "10.0.0.1"));
    rib.insert(p, Source::Peer(1), 0, a.clone());
    rib.insert(q, Source::Peer(1), 0, a);
    rib.mark_stale(1, FamilySet::of(&[Family::Ipv4Unicast]));
    // Marking twice (a second restart before End-of-RIB) counts each once.
    rib.mark_stale(1, FamilySet::of(&[Family::Ipv4Unicast]));
    assert_eq!(rib.stale_count(1), 2);
    assert!(rib.remove(p, Source::Peer(1), 0));
    assert_eq!((rib.peer_path_count(1), rib.stale_count(1)), (1, 1));
    assert_eq!(rib.remove_peer(1), vec![q]);
    assert_eq!((rib.peer_path_count(1), rib.stale_count(1)), (0, 0));
    assert_eq!(rib.attr_sets(), 0, "every attribute set was released");
}
