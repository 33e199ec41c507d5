//! Property tests: for generated messages and generated session contexts,
//! decoding what was encoded gives the message back.

use std::net::{Ipv4Addr, Ipv6Addr};

use bgpd::packet::{
    AddPathFamily, AddPathMode, AfiSafi, Aggregator, AsPath, AsSegment, Capability, Community,
    EncodeCtx, ExtCommunity, Family, FamilySet, GracefulRestart, GracefulRestartFamily,
    LargeCommunity, Message, MpReach, MpUnreach, NextHop, Nlri, Notification, OpenMessage, Origin,
    PathAttributes, RawAttribute, RouteRefreshMessage, SegmentKind, UpdateMessage,
};
use bytes::Bytes;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use proptest::collection::vec;
use proptest::prelude::*;

fn family_set() -> impl Strategy<Value = FamilySet> {
    (any::<bool>(), any::<bool>()).prop_map(|(v4, v6)| {
        let mut set = FamilySet::EMPTY;
        if v4 {
            set = set.with(Family::Ipv4Unicast);
        }
        if v6 {
            set = set.with(Family::Ipv6Unicast);
        }
        set
    })
}

fn encode_ctx() -> impl Strategy<Value = EncodeCtx> {
    (any::<bool>(), family_set(), any::<bool>()).prop_map(
        |(four_octet_as, add_path, extended_message)| EncodeCtx {
            four_octet_as,
            add_path,
            extended_message,
        },
    )
}

fn prefix(family: Family) -> BoxedStrategy<IpNet> {
    match family {
        Family::Ipv4Unicast => (any::<u32>(), 0..=32u8)
            .prop_map(|(addr, len)| {
                Ipv4Net::new(Ipv4Addr::from(addr), len)
                    .unwrap()
                    .trunc()
                    .into()
            })
            .boxed(),
        Family::Ipv6Unicast => (any::<u128>(), 0..=128u8)
            .prop_map(|(addr, len)| {
                Ipv6Net::new(Ipv6Addr::from(addr), len)
                    .unwrap()
                    .trunc()
                    .into()
            })
            .boxed(),
    }
}

/// Prefixes with a Path Identifier exactly when the context uses ADD-PATH.
fn nlri(family: Family, add_path: bool, max: usize) -> impl Strategy<Value = Vec<Nlri>> {
    vec((prefix(family), any::<u32>()), 0..max).prop_map(move |items| {
        items
            .into_iter()
            .map(|(prefix, id)| Nlri {
                prefix,
                path_id: add_path.then_some(id),
            })
            .collect()
    })
}

/// AS numbers that survive a 2-octet session: confederation members are in
/// 2 octets (AS4_PATH never carries confederation segments, RFC 6793 §3).
fn as_path(four_octet: bool) -> impl Strategy<Value = AsPath> {
    let segment = (0..4u8, vec(1..=u32::MAX, 1..20), vec(1..=65535u32, 1..5));
    vec(segment, 0..4).prop_map(move |segments| {
        let mut confed = Vec::new();
        let mut rest = Vec::new();
        for (kind, asns, small) in segments {
            match kind {
                0 => rest.push(AsSegment {
                    kind: SegmentKind::Sequence,
                    asns,
                }),
                1 => rest.push(AsSegment {
                    kind: SegmentKind::Set,
                    asns,
                }),
                // Confederation segments lead the path, as a confederation member puts them.
                2 => confed.push(AsSegment {
                    kind: SegmentKind::ConfedSequence,
                    asns: small,
                }),
                _ => confed.push(AsSegment {
                    kind: SegmentKind::ConfedSet,
                    asns: small,
                }),
            }
        }
        let _ = four_octet;
        AsPath {
            segments: confed.into_iter().chain(rest).collect(),
        }
    })
}

fn unknown_attrs() -> impl Strategy<Value = Vec<RawAttribute>> {
    const KNOWN: [u8; 16] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 14, 15, 16, 17, 18, 32];
    let one = (any::<u8>(), vec(any::<u8>(), 0..300), any::<bool>());
    vec(one, 0..3).prop_map(|items| {
        let mut attrs: Vec<RawAttribute> = items
            .into_iter()
            .filter(|(code, _, _)| !KNOWN.contains(code))
            .map(|(type_code, value, low_bits)| RawAttribute {
                // Optional, transitive, Partial (as decoding sets it); reserved bits may be set.
                flags: 0xe0 | if low_bits { 0x01 } else { 0 },
                type_code,
                value: Bytes::from(value),
            })
            .collect();
        attrs.sort_by_key(|a| a.type_code);
        attrs.dedup_by_key(|a| a.type_code);
        attrs
    })
}

fn next_hop(family: Family) -> BoxedStrategy<NextHop> {
    let v6 = (any::<u128>(), proptest::option::of(any::<u128>())).prop_map(|(g, ll)| NextHop::V6 {
        global: Ipv6Addr::from(g),
        link_local: ll.map(Ipv6Addr::from),
    });
    match family {
        Family::Ipv4Unicast => {
            prop_oneof![any::<u32>().prop_map(|a| NextHop::V4(a.into())), v6].boxed()
        }
        Family::Ipv6Unicast => v6.boxed(),
    }
}

fn family() -> impl Strategy<Value = Family> {
    prop_oneof![Just(Family::Ipv4Unicast), Just(Family::Ipv6Unicast)]
}

fn update(ctx: EncodeCtx) -> impl Strategy<Value = UpdateMessage> {
    let v4_add_path = ctx.add_path.contains(Family::Ipv4Unicast);
    let reach = proptest::option::of(family().prop_flat_map(move |f| {
        (next_hop(f), nlri(f, ctx.add_path.contains(f), 30)).prop_map(move |(next_hop, nlri)| {
            MpReach {
                family: f,
                next_hop,
                nlri,
            }
        })
    }));
    let unreach = proptest::option::of(family().prop_flat_map(move |f| {
        nlri(f, ctx.add_path.contains(f), 30).prop_map(move |withdrawn| MpUnreach {
            family: f,
            withdrawn,
        })
    }));
    let communities = (
        vec(any::<u32>().prop_map(Community), 0..8),
        vec(any::<[u8; 8]>().prop_map(ExtCommunity), 0..4),
        vec(
            any::<(u32, u32, u32)>().prop_map(|(a, b, c)| LargeCommunity {
                global_admin: a,
                local_data1: b,
                local_data2: c,
            }),
            0..4,
        ),
    );
    let basics = (
        prop_oneof![
            Just(Origin::Igp),
            Just(Origin::Egp),
            Just(Origin::Incomplete)
        ],
        as_path(ctx.four_octet_as),
        any::<u32>().prop_map(Ipv4Addr::from),
        proptest::option::of(any::<u32>()),
        proptest::option::of(any::<u32>()),
        any::<bool>(),
        proptest::option::of((any::<u32>(), any::<u32>())),
    );
    let rr = (proptest::option::of(any::<u32>()), vec(any::<u32>(), 0..4));
    (
        nlri(Family::Ipv4Unicast, v4_add_path, 30),
        nlri(Family::Ipv4Unicast, v4_add_path, 30),
        basics,
        communities,
        rr,
        reach,
        unreach,
        unknown_attrs(),
    )
        .prop_map(
            move |(withdrawn, nlri, basics, comms, rr, mp_reach, mp_unreach, unknown)| {
                let (origin, as_path, next_hop, med, local_pref, atomic_aggregate, aggregator) =
                    basics;
                let aggregator = aggregator.map(|(asn, addr)| Aggregator {
                    asn,
                    address: addr.into(),
                });
                let announces = !nlri.is_empty() || mp_reach.is_some();
                UpdateMessage {
                    withdrawn,
                    attrs: PathAttributes {
                        // Mandatory attributes are present whenever something is announced.
                        origin: (announces || med.is_some()).then_some(origin),
                        as_path: (announces || med.is_some()).then_some(as_path),
                        next_hop: (!nlri.is_empty() || local_pref.is_some()).then_some(next_hop),
                        med,
                        local_pref,
                        atomic_aggregate,
                        aggregator,
                        communities: comms.0,
                        originator_id: rr.0.map(Ipv4Addr::from),
                        cluster_list: rr.1.into_iter().map(Ipv4Addr::from).collect(),
                        mp_reach,
                        mp_unreach,
                        ext_communities: comms.1,
                        large_communities: comms.2,
                        unknown,
                    },
                    nlri,
                    errors: Vec::new(),
                }
            },
        )
}

fn afi_safi() -> impl Strategy<Value = AfiSafi> {
    (any::<u16>(), any::<u8>()).prop_map(|(afi, safi)| AfiSafi { afi, safi })
}

fn capability() -> impl Strategy<Value = Capability> {
    const KNOWN: [u8; 7] = [1, 2, 6, 64, 65, 69, 70];
    let mode = prop_oneof![
        Just(AddPathMode::Receive),
        Just(AddPathMode::Send),
        Just(AddPathMode::Both)
    ];
    prop_oneof![
        afi_safi().prop_map(Capability::Multiprotocol),
        Just(Capability::RouteRefresh),
        Just(Capability::EnhancedRouteRefresh),
        Just(Capability::ExtendedMessage),
        any::<u32>().prop_map(Capability::FourOctetAs),
        (
            any::<bool>(),
            any::<bool>(),
            0..4096u16,
            vec((afi_safi(), any::<bool>()), 0..5)
        )
            .prop_map(|(restarting, notification, restart_time, families)| {
                Capability::GracefulRestart(GracefulRestart {
                    restarting,
                    notification,
                    restart_time,
                    families: families
                        .into_iter()
                        .map(|(afi_safi, forwarding_preserved)| GracefulRestartFamily {
                            afi_safi,
                            forwarding_preserved,
                        })
                        .collect(),
                })
            }),
        vec((afi_safi(), mode), 1..5).prop_map(|families| Capability::AddPath(
            families
                .into_iter()
                .map(|(afi_safi, mode)| AddPathFamily { afi_safi, mode })
                .collect()
        )),
        (
            any::<u8>().prop_filter("unknown code", |c| !KNOWN.contains(c)),
            vec(any::<u8>(), 0..40)
        )
            .prop_map(|(code, value)| Capability::Unknown {
                code,
                value: value.into()
            }),
    ]
}

fn message(ctx: EncodeCtx) -> impl Strategy<Value = Message> {
    prop_oneof![
        (
            any::<u16>(),
            any::<u16>(),
            1..=u32::MAX,
            vec(capability(), 0..60)
        )
            .prop_map(
                |(my_as, hold_time, id, capabilities)| Message::Open(OpenMessage {
                    version: 4,
                    my_as,
                    hold_time,
                    bgp_id: id.into(),
                    capabilities,
                })
            ),
        update(ctx).prop_map(Message::Update),
        (any::<u8>(), any::<u8>(), vec(any::<u8>(), 0..64)).prop_map(|(code, subcode, data)| {
            Message::Notification(Notification::new(code, subcode, data))
        }),
        Just(Message::Keepalive),
        (any::<u16>(), any::<u8>(), any::<u8>()).prop_map(|(afi, subtype, safi)| {
            Message::RouteRefresh(RouteRefreshMessage {
                afi,
                subtype: subtype.into(),
                safi,
            })
        }),
    ]
}

fn ctx_and_message() -> impl Strategy<Value = (EncodeCtx, Message)> {
    encode_ctx().prop_flat_map(|ctx| (Just(ctx), message(ctx)))
}

proptest! {
    // 2000 cases by default; PROPTEST_CASES=100000 for a longer search.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000),
        ..ProptestConfig::default()
    })]

    #[test]
    fn decode_inverts_encode((ctx, message) in ctx_and_message()) {
        let bytes = message.to_bytes(&ctx).expect("generated messages fit");
        let decoded = Message::decode(&bytes, &ctx.mirror());
        prop_assert_eq!(decoded, Ok(message));
    }

    /// Decoding never panics, whatever the bytes and the context.
    #[test]
    fn decode_takes_any_bytes(ctx in encode_ctx(), kind in 1..=5u8, body in vec(any::<u8>(), 0..200)) {
        let mut bytes = vec![0xff; 16];
        bytes.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
        bytes.push(kind);
        bytes.extend_from_slice(&body);
        let _ = Message::decode(&bytes, &ctx.mirror());
    }
}
