use std::sync::Arc;

use super::*;
use crate::packet::{Origin, PathAttributes};

/// The attributes `path` is sent with to peers of `class`, or `None` when it
/// is not sent to them: the verdict and the rewrite, as the export does.
fn export(
    prefix: &IpNet,
    path: &Path,
    source: &SourceInfo,
    class: &ExportClass,
    policy: &SpeakerPolicy,
) -> Option<RouteAttrs> {
    match verdict(prefix, path, class, policy) {
        Verdict::Keep => None,
        sent => export_attrs(prefix, path, source, class, policy, sent),
    }
}

const ME: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 11);

/// A peer of this speaker's AS (64512) without `allow local as`.
const PLAIN: PeerImport = PeerImport {
    local_as: 64512,
    allow_local_as: 0,
};

fn policy(reflector: bool) -> SpeakerPolicy {
    SpeakerPolicy {
        local_as: 64512,
        router_id: ME,
        cluster_id: reflector.then_some(Ipv4Addr::new(1, 1, 1, 1)),
        export_prefixes: vec!["10.244.0.0/16".parse().unwrap()],
        own_blocks: vec!["10.244.1.0/26".parse().unwrap()],
        never_export: Vec::new(),
        own_addresses: vec![IpAddr::V4(ME)],
        route_priority: RoutePriority::default(),
        communities: Vec::new(),
    }
}

fn class(ebgp: bool, rr_client: bool) -> ExportClass {
    ExportClass {
        ebgp,
        rr_client,
        remote_as: if ebgp { 65001 } else { 64512 },
        local_as: 64512,
        next_hop: NextHopMode::Auto,
        self_v4: Some(ME),
        self_v6: None,
        encode: EncodeCtx::default(),
        families: FamilySet::of(&crate::packet::Family::ALL),
        filters: Vec::new(),
    }
}

fn source(ebgp: bool, rr_client: bool) -> SourceInfo {
    SourceInfo {
        ebgp,
        router_id: Ipv4Addr::new(10, 0, 1, 12),
        address: "10.0.1.12".parse().unwrap(),
        rr_client,
    }
}

fn path(from: Source, edit: impl FnOnce(&mut PathAttributes)) -> Path {
    let mut attrs = PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::default()),
        ..PathAttributes::default()
    };
    edit(&mut attrs);
    Path {
        source: from,
        path_id: 0,
        stale: false,
        attrs: Arc::new(RouteAttrs {
            attrs,
            next_hop: "10.0.1.12".parse().unwrap(),
            link_local: None,
            device: None,
        }),
    }
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

#[test]
fn calico_export_filter() {
    let p = policy(false);
    assert!(prefix_exportable(&net("10.244.1.0/26"), &p), "own block");
    assert!(
        !prefix_exportable(&net("10.244.1.5/32"), &p),
        "inside own block"
    );
    assert!(
        prefix_exportable(&net("10.244.2.0/26"), &p),
        "inside a pool"
    );
    assert!(
        !prefix_exportable(&net("0.0.0.0/0"), &p),
        "outside every pool"
    );
    assert!(
        !prefix_exportable(&net("10.0.1.0/24"), &p),
        "the node subnet"
    );
    // A block of a pool with disableBGPExport stays home: that pool's
    // reject comes first. A block outside every pool goes, as calico_aggr
    // accepts it before the pools are looked at; so does a /32 block.
    let private = SpeakerPolicy {
        own_blocks: vec![net("10.245.0.0/26"), net("10.9.0.0/30"), net("10.2.0.1/32")],
        never_export: vec![net("10.245.0.0/16")],
        ..p.clone()
    };
    assert!(
        !prefix_exportable(&net("10.245.0.0/26"), &private),
        "own block of a pool with disableBGPExport"
    );
    assert!(
        !prefix_exportable(&net("10.245.9.0/26"), &private),
        "anything in a pool with disableBGPExport"
    );
    assert!(
        prefix_exportable(&net("10.9.0.0/30"), &private),
        "own block outside every pool"
    );
    assert!(
        prefix_exportable(&net("10.2.0.1/32"), &private),
        "a /32 block: its workload route"
    );
    let open = SpeakerPolicy {
        export_prefixes: vec![],
        ..p
    };
    assert!(
        prefix_exportable(&net("0.0.0.0/0"), &open),
        "no ranges: no restriction"
    );
}

/// (learned from, sent to, reflector?) → sent?
#[test]
fn ibgp_mesh_reflection_and_ebgp_rules() {
    let ibgp = source(false, false);
    let client = source(false, true);
    let ebgp = source(true, false);
    let cases = [
        // Mesh: nothing learned over iBGP goes back to iBGP.
        (Some(ibgp), class(false, false), false, false),
        (Some(ibgp), class(true, false), false, true),
        (Some(ebgp), class(false, false), false, true),
        (None, class(false, false), false, true),
        // Reflector: non-client to clients only; client to everyone.
        (Some(ibgp), class(false, true), true, true),
        (Some(ibgp), class(false, false), true, false),
        (Some(client), class(false, false), true, true),
        (Some(client), class(false, true), true, true),
    ];
    for (from, to, reflector, sent) in cases {
        let (src, info) = match from {
            Some(info) => (Source::Peer(1), info),
            None => (Source::Local, source(false, false)),
        };
        let got = export(
            &net("10.244.2.0/26"),
            &path(src, |_| {}),
            &info,
            &to,
            &policy(reflector),
        );
        assert_eq!(
            got.is_some(),
            sent,
            "from {from:?} to {to:?} reflector {reflector}"
        );
    }
}

#[test]
fn reflected_paths_carry_originator_and_cluster_list() {
    let got = export(
        &net("10.244.2.0/26"),
        &path(Source::Peer(1), |_| {}),
        &source(false, true),
        &class(false, false),
        &policy(true),
    )
    .unwrap();
    assert_eq!(got.attrs.originator_id, Some(Ipv4Addr::new(10, 0, 1, 12)));
    assert_eq!(got.attrs.cluster_list, vec![Ipv4Addr::new(1, 1, 1, 1)]);
    assert_eq!(
        got.next_hop,
        "10.0.1.12".parse::<IpAddr>().unwrap(),
        "reflected routes keep their next hop"
    );
    // Without a LOCAL_PREF of its own, that of a normal route (metric 1024),
    // as Calico's export filter gives it.
    assert_eq!(got.attrs.local_pref, Some(2_147_482_623));
}

#[test]
fn ebgp_prepends_drops_local_pref_and_sets_next_hop_self() {
    let learned = path(Source::Peer(1), |a| {
        a.local_pref = Some(200);
        a.med = Some(5);
    });
    let got = export(
        &net("10.244.2.0/26"),
        &learned,
        &source(false, true),
        &class(true, false),
        &policy(true),
    )
    .unwrap();
    assert_eq!(got.attrs.as_path, Some(AsPath::sequence([64512])));
    assert_eq!((got.attrs.local_pref, got.attrs.med), (None, None));
    assert_eq!(got.next_hop, IpAddr::V4(ME));
    assert!(got.attrs.cluster_list.is_empty() && got.attrs.originator_id.is_none());
    // Keep mode leaves the next hop; a path through the peer's AS is not sent back.
    let keep = ExportClass {
        next_hop: NextHopMode::Keep,
        ..class(true, false)
    };
    let got = export(
        &net("10.244.2.0/26"),
        &learned,
        &source(false, true),
        &keep,
        &policy(true),
    )
    .unwrap();
    assert_eq!(got.next_hop, "10.0.1.12".parse::<IpAddr>().unwrap());
    let through = path(Source::Peer(1), |a| {
        a.as_path = Some(AsPath::sequence([65001, 65002]))
    });
    assert!(export(
        &net("10.244.2.0/26"),
        &through,
        &source(true, false),
        &class(true, false),
        &policy(false)
    )
    .is_none());
}

#[test]
fn well_known_communities() {
    let no_export = path(Source::Local, |a| {
        a.communities = vec![Community::NO_EXPORT]
    });
    let p = policy(false);
    assert!(export(
        &net("10.244.1.0/26"),
        &no_export,
        &source(false, false),
        &class(true, false),
        &p
    )
    .is_none());
    assert!(export(
        &net("10.244.1.0/26"),
        &no_export,
        &source(false, false),
        &class(false, false),
        &p
    )
    .is_some());
    let no_advertise = path(Source::Local, |a| {
        a.communities = vec![Community::NO_ADVERTISE]
    });
    assert!(export(
        &net("10.244.1.0/26"),
        &no_advertise,
        &source(false, false),
        &class(false, false),
        &p
    )
    .is_none());
}

#[test]
fn import_loop_checks() {
    let p = policy(true);
    let attrs = |edit: fn(&mut PathAttributes), next_hop: &str| RouteAttrs {
        attrs: {
            let mut a = PathAttributes::default();
            edit(&mut a);
            a
        },
        next_hop: next_hop.parse().unwrap(),
        link_local: None,
        device: None,
    };
    let ok = attrs(|_| {}, "10.0.1.12");
    assert!(accept_import(&ok, &source(false, false), PLAIN, &p));
    let own_as = attrs(
        |a| a.as_path = Some(AsPath::sequence([65001, 64512])),
        "10.0.1.12",
    );
    assert!(!accept_import(&own_as, &source(true, false), PLAIN, &p));
    let mine = attrs(|a| a.originator_id = Some(ME), "10.0.1.12");
    assert!(!accept_import(&mine, &source(false, false), PLAIN, &p));
    let looped = attrs(
        |a| a.cluster_list = vec![Ipv4Addr::new(1, 1, 1, 1)],
        "10.0.1.12",
    );
    assert!(!accept_import(&looped, &source(false, false), PLAIN, &p));
    assert!(
        !accept_import(
            &attrs(|_| {}, "10.0.1.11"),
            &source(false, false),
            PLAIN,
            &p
        ),
        "own address"
    );
    assert!(!accept_import(
        &attrs(|_| {}, "0.0.0.0"),
        &source(false, false),
        PLAIN,
        &p
    ));
    // BIRD's `allow local as 1`: this AS once in the path is accepted, twice
    // is not; with a local AS of its own, the peer's is the one counted.
    let allow_one = PeerImport {
        allow_local_as: 1,
        ..PLAIN
    };
    assert!(accept_import(&own_as, &source(true, false), allow_one, &p));
    let twice = attrs(
        |a| a.as_path = Some(AsPath::sequence([65001, 64512, 65002, 64512])),
        "10.0.1.12",
    );
    assert!(!accept_import(&twice, &source(true, false), allow_one, &p));
    let presented = PeerImport {
        local_as: 65002,
        allow_local_as: 1,
    };
    assert!(accept_import(&own_as, &source(true, false), presented, &p));
    assert!(!accept_import(
        &twice,
        &source(true, false),
        PeerImport {
            allow_local_as: 0,
            ..presented
        },
        &p
    ));
}

#[test]
fn graceful_shutdown_paths_get_the_lowest_preference_and_ebgp_local_pref_is_ignored() {
    let learned = |ebgp: bool, edit: fn(&mut PathAttributes)| {
        let attrs = (*path(Source::Peer(1), edit).attrs).clone();
        import_attrs(attrs, &source(ebgp, false)).attrs.local_pref
    };
    let shutting_down = |a: &mut PathAttributes| {
        a.communities = vec![Community((65001 << 16) | 7), Community::GRACEFUL_SHUTDOWN];
        a.local_pref = Some(200);
    };
    // RFC 8326 §4, from either kind of peer.
    assert_eq!(learned(true, shutting_down), Some(0));
    assert_eq!(learned(false, shutting_down), Some(0));
    // RFC 4271 §5.1.5: an eBGP peer's LOCAL_PREF is not ours; an iBGP one's is.
    let preferred = |a: &mut PathAttributes| a.local_pref = Some(200);
    assert_eq!(learned(true, preferred), None);
    assert_eq!(learned(false, preferred), Some(200));
    let plain = |a: &mut PathAttributes| a.communities = vec![Community::NO_EXPORT];
    assert_eq!(
        learned(false, plain),
        None,
        "other communities change nothing"
    );
}

#[test]
fn felix_tunnel_routes_go_to_ebgp_peers_only() {
    let prefix = net("10.244.3.0/26");
    let tunnel = Path {
        source: Source::Local,
        path_id: LEARNED_TUNNEL_PATH,
        ..path(Source::Local, |_| {})
    };
    let local = source(false, false);
    assert_eq!(
        export(
            &prefix,
            &tunnel,
            &local,
            &class(false, false),
            &policy(false)
        ),
        None,
        "an iBGP peer"
    );
    assert_eq!(
        export(&prefix, &tunnel, &local, &class(false, true), &policy(true)),
        None,
        "a reflector's client"
    );
    assert!(export(
        &prefix,
        &tunnel,
        &local,
        &class(true, false),
        &policy(false)
    )
    .is_some());
    // Any other learned route goes to iBGP peers too.
    let learned = Path {
        path_id: LEARNED_PATH,
        ..tunnel
    };
    assert!(export(
        &prefix,
        &learned,
        &local,
        &class(false, false),
        &policy(false)
    )
    .is_some());
}

#[test]
fn export_filters_come_before_calicos_rule() {
    use proto::config::{FilterAction, FilterConfig, FilterRule, MatchOperator};
    let rule = |action, cidr: &str| FilterRule {
        match_operator: Some(MatchOperator::In),
        cidr: Some(cidr.parse().unwrap()),
        ..FilterRule::new(action)
    };
    let filtered = ExportClass {
        filters: vec![FilterConfig {
            name: "tor".into(),
            export_v4: vec![
                rule(FilterAction::Reject, "10.244.2.0/24"),
                rule(FilterAction::Accept, "10.99.0.0/16"),
            ],
            import_v4: Vec::new(),
            export_v6: Vec::new(),
            import_v6: Vec::new(),
        }],
        ..class(true, false)
    };
    let local = source(false, false);
    let send = |prefix: &str| {
        export(
            &net(prefix),
            &path(Source::Local, |_| {}),
            &local,
            &filtered,
            &policy(false),
        )
        .is_some()
    };
    // Kept back though inside the pool; sent though outside every range;
    // the rest as Calico's rule says.
    assert!(!send("10.244.2.0/26"));
    assert!(send("10.99.1.0/24"));
    assert!(send("10.244.3.0/26"));
    assert!(!send("10.98.0.0/16"));
}

#[test]
fn interface_rules_see_the_device_of_learned_routes() {
    use proto::config::{FilterAction, FilterConfig, FilterRule};
    // Calico's BGPFilter `interface`: keep workload routes (cali*) from the
    // peer, whatever Calico's export rule says; BGP paths have no device.
    let class = ExportClass {
        filters: vec![FilterConfig {
            name: "no-workloads".into(),
            export_v4: vec![FilterRule {
                interface: Some("cali*".into()),
                ..FilterRule::new(FilterAction::Reject)
            }],
            import_v4: Vec::new(),
            export_v6: Vec::new(),
            import_v6: Vec::new(),
        }],
        ..class(true, false)
    };
    let through = |device: Option<&str>| {
        let mut learned = path(Source::Local, |_| {});
        learned.path_id = LEARNED_PATH;
        Arc::make_mut(&mut learned.attrs).device = device.map(Arc::from);
        learned
    };
    let local = source(false, false);
    let borrowed = net("10.244.2.5/32");
    let sent = |p: &Path| export(&borrowed, p, &local, &class, &policy(false));
    assert!(sent(&through(Some("cali1234"))).is_none());
    let exported = sent(&through(Some("eth0"))).expect("another device goes");
    assert_eq!(exported.device, None, "the device is never sent on");
    assert!(sent(&through(None)).is_some());
}
