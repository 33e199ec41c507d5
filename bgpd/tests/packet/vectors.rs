//! Hand-made byte vectors, each decoded and encoded, laid out field by field.

use std::net::Ipv4Addr;

use bgpd::packet::{
    AddPathFamily, AddPathMode, AfiSafi, Aggregator, AsPath, AsSegment, Capability, Community,
    DecodeCtx, EncodeCtx, ExtCommunity, Family, FamilySet, GracefulRestart, GracefulRestartFamily,
    LargeCommunity, Message, MpReach, MpUnreach, NextHop, Nlri, Notification, OpenMessage, Origin,
    PathAttributes, RawAttribute, RefreshSubtype, RouteRefreshMessage, SegmentKind, UpdateMessage,
};
use bytes::Bytes;

use crate::support::{assert_both_ways, ctx4, enc4, message, net, unhex};

fn v4(text: &str) -> Nlri {
    Nlri::new(net(text))
}

#[test]
fn keepalive() {
    let bytes = message(4, "");
    assert_eq!(bytes.len(), 19);
    assert_both_ways(
        &bytes,
        &Message::Keepalive,
        &DecodeCtx::default(),
        &EncodeCtx::default(),
    );
}

#[test]
fn open_with_every_capability_podroute_knows() {
    let bytes = message(
        1,
        "04 fc00 00f0 0a000001 2d
         02 2b
            01 04 0001 00 01
            01 04 0002 00 01
            02 00
            46 00
            06 00
            41 04 0000fc00
            40 06 4078 0001 01 80
            45 04 0001 01 03
            49 03 016100",
    );
    let want = Message::Open(OpenMessage {
        version: 4,
        my_as: 64512,
        hold_time: 240,
        bgp_id: Ipv4Addr::new(10, 0, 0, 1),
        capabilities: vec![
            Capability::Multiprotocol(Family::Ipv4Unicast.into()),
            Capability::Multiprotocol(Family::Ipv6Unicast.into()),
            Capability::RouteRefresh,
            Capability::EnhancedRouteRefresh,
            Capability::ExtendedMessage,
            Capability::FourOctetAs(64512),
            Capability::GracefulRestart(GracefulRestart {
                restarting: false,
                notification: true,
                restart_time: 120,
                families: vec![GracefulRestartFamily {
                    afi_safi: Family::Ipv4Unicast.into(),
                    forwarding_preserved: true,
                }],
            }),
            Capability::AddPath(vec![AddPathFamily {
                afi_safi: Family::Ipv4Unicast.into(),
                mode: AddPathMode::Both,
            }]),
            Capability::Unknown {
                code: 0x49,
                value: Bytes::from_static(&[1, 0x61, 0]),
            },
        ],
    });
    assert_both_ways(&bytes, &want, &DecodeCtx::default(), &EncodeCtx::default());
}

#[test]
fn open_with_parameters_past_255_octets_uses_rfc9072() {
    let capabilities: Vec<_> = (0..40u8)
        .map(|i| Capability::Unknown {
            code: 200 + (i % 50),
            value: Bytes::from(vec![i; 5]),
        })
        .collect();
    let open = Message::Open(OpenMessage {
        version: 4,
        my_as: 65001,
        hold_time: 90,
        bgp_id: Ipv4Addr::new(192, 0, 2, 1),
        capabilities,
    });
    let bytes = open.to_bytes(&EncodeCtx::default()).unwrap();
    // Opt Parm Len 255, then Parm. Type 255, then a two-octet length (RFC 9072 §2).
    assert_eq!(&bytes[28..30], &[255, 255]);
    assert_eq!(
        u16::from_be_bytes([bytes[30], bytes[31]]) as usize,
        bytes.len() - 32
    );
    assert_eq!(Message::decode(&bytes, &DecodeCtx::default()), Ok(open));
}

#[test]
fn ibgp_update_as_a_calico_node_sends_it() {
    let bytes = message(
        2,
        "0000 001c
         40 01 01 00
         40 02 00
         40 03 04 0a000001
         40 05 04 00000064
         c0 08 04 fde80064
         1a 0af40100
         1a 0af40240",
    );
    let want = Message::Update(UpdateMessage {
        attrs: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::default()),
            next_hop: Some(Ipv4Addr::new(10, 0, 0, 1)),
            local_pref: Some(100),
            communities: vec![Community::new(65000, 100)],
            ..PathAttributes::default()
        },
        nlri: vec![v4("10.244.1.0/26"), v4("10.244.2.64/26")],
        ..UpdateMessage::default()
    });
    assert_both_ways(&bytes, &want, &ctx4(), &enc4());
}

fn ebgp_attrs() -> PathAttributes {
    PathAttributes {
        origin: Some(Origin::Incomplete),
        as_path: Some(AsPath::sequence([4_200_000_001, 65001])),
        next_hop: Some(Ipv4Addr::new(192, 0, 2, 9)),
        med: Some(50),
        atomic_aggregate: true,
        aggregator: Some(Aggregator {
            asn: 4_200_000_001,
            address: Ipv4Addr::new(10, 0, 0, 9),
        }),
        ext_communities: vec![ExtCommunity::route_target(65000, 100)],
        large_communities: vec![LargeCommunity {
            global_admin: 65000,
            local_data1: 1,
            local_data2: 2,
        }],
        unknown: vec![RawAttribute {
            flags: 0xe0,
            type_code: 99,
            value: Bytes::from_static(&[0xab, 0xcd]),
        }],
        ..PathAttributes::default()
    }
}

#[test]
fn ebgp_update_with_four_octet_numbers_and_every_community_kind() {
    let bytes = message(
        2,
        "0000 004c
         40 01 01 02
         40 02 0a 02 02 fa56ea01 0000fde9
         40 03 04 c0000209
         80 04 04 00000032
         40 06 00
         c0 07 08 fa56ea01 0a000009
         c0 10 08 0002fde8 00000064
         c0 20 0c 0000fde8 00000001 00000002
         e0 63 02 abcd
         18 c63364",
    );
    let want = Message::Update(UpdateMessage {
        attrs: ebgp_attrs(),
        nlri: vec![v4("198.51.100.0/24")],
        ..UpdateMessage::default()
    });
    assert_both_ways(&bytes, &want, &ctx4(), &enc4());
}

#[test]
fn two_octet_session_carries_as4_path_and_as4_aggregator() {
    // RFC 6793 §4.2.2: AS_TRANS (5ba0) stands in AS_PATH and AGGREGATOR; the
    // real numbers ride in AS4_PATH (type 17) and AS4_AGGREGATOR (type 18).
    let bytes = message(
        2,
        "0000 005e
         40 01 01 02
         40 02 06 02 02 5ba0 fde9
         40 03 04 c0000209
         80 04 04 00000032
         40 06 00
         c0 07 06 5ba0 0a000009
         c0 10 08 0002fde8 00000064
         c0 11 0a 02 02 fa56ea01 0000fde9
         c0 12 08 fa56ea01 0a000009
         c0 20 0c 0000fde8 00000001 00000002
         e0 63 02 abcd
         18 c63364",
    );
    let want = Message::Update(UpdateMessage {
        attrs: ebgp_attrs(),
        nlri: vec![v4("198.51.100.0/24")],
        ..UpdateMessage::default()
    });
    let dctx = DecodeCtx {
        four_octet_as: false,
        ..ctx4()
    };
    assert_both_ways(&bytes, &want, &dctx, &EncodeCtx::default());
}

#[test]
fn route_reflector_attributes() {
    let bytes = message(
        2,
        "0000 0027
         40 01 01 00
         40 02 00
         40 03 04 0a000002
         40 05 04 00000064
         80 09 04 0a000002
         80 0a 08 0a000001 0a000003
         1a 0af40200",
    );
    let want = Message::Update(UpdateMessage {
        attrs: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::default()),
            next_hop: Some(Ipv4Addr::new(10, 0, 0, 2)),
            local_pref: Some(100),
            originator_id: Some(Ipv4Addr::new(10, 0, 0, 2)),
            cluster_list: vec![Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 3)],
            ..PathAttributes::default()
        },
        nlri: vec![v4("10.244.2.0/26")],
        ..UpdateMessage::default()
    });
    assert_both_ways(&bytes, &want, &ctx4(), &enc4());
}

#[test]
fn confederation_segments() {
    let bytes = update_path("40 02 10 03 01 0000fde9 02 02 0000fdea 0000fdeb");
    let want = AsPath {
        segments: vec![
            AsSegment {
                kind: SegmentKind::ConfedSequence,
                asns: vec![65001],
            },
            AsSegment {
                kind: SegmentKind::Sequence,
                asns: vec![65002, 65003],
            },
        ],
    };
    let Message::Update(update) = Message::decode(&bytes, &ctx4()).unwrap() else {
        panic!()
    };
    assert_eq!(update.attrs.as_path, Some(want));
    assert_eq!(update.errors, vec![]);
    assert_eq!(
        hex::encode(Message::Update(update).to_bytes(&enc4()).unwrap()),
        hex::encode(&bytes)
    );
}

fn update_path(as_path_hex: &str) -> Vec<u8> {
    let attrs = unhex(&format!("40 01 01 00 {as_path_hex} 40 03 04 0a000001"));
    message(
        2,
        &format!("0000 {:04x} {} 18 0a0000", attrs.len(), hex::encode(attrs)),
    )
}

#[test]
fn ipv4_withdrawal_and_end_of_rib() {
    let bytes = message(2, "0005 1a0af40100 0000");
    let want = Message::Update(UpdateMessage {
        withdrawn: vec![v4("10.244.1.0/26")],
        ..UpdateMessage::default()
    });
    assert_both_ways(&bytes, &want, &ctx4(), &enc4());

    let eor = message(2, "0000 0000");
    let want = Message::Update(UpdateMessage::end_of_rib(Family::Ipv4Unicast));
    assert_both_ways(&eor, &want, &ctx4(), &enc4());
    let Message::Update(update) = want else {
        unreachable!()
    };
    assert_eq!(update.end_of_rib_family(), Some(Family::Ipv4Unicast));
}

#[test]
fn ipv6_mp_reach_with_link_local_next_hop() {
    let bytes = message(
        2,
        "0000 0047
         90 0e 0036 0002 01 20
            fd000000000000000000000000000001
            fe800000000000000000000000000001
            00
            7a fd000000000000000000000000000040
         40 01 01 00
         40 02 06 02 01 0000fde9",
    );
    let want = Message::Update(UpdateMessage {
        attrs: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::sequence([65001])),
            mp_reach: Some(MpReach {
                family: Family::Ipv6Unicast,
                next_hop: NextHop::V6 {
                    global: "fd00::1".parse().unwrap(),
                    link_local: Some("fe80::1".parse().unwrap()),
                },
                nlri: vec![Nlri::new(net("fd00::40/122"))],
            }),
            ..PathAttributes::default()
        },
        ..UpdateMessage::default()
    });
    assert_both_ways(&bytes, &want, &ctx4(), &enc4());
}

#[test]
fn ipv6_withdrawal_and_end_of_rib() {
    let bytes = message(
        2,
        "0000 0018 90 0f 0014 0002 01 7a fd000000000000000000000000000040",
    );
    let want = Message::Update(UpdateMessage {
        attrs: PathAttributes {
            mp_unreach: Some(MpUnreach {
                family: Family::Ipv6Unicast,
                withdrawn: vec![Nlri::new(net("fd00::40/122"))],
            }),
            ..PathAttributes::default()
        },
        ..UpdateMessage::default()
    });
    assert_both_ways(&bytes, &want, &ctx4(), &enc4());

    let eor = message(2, "0000 0007 90 0f 0003 0002 01");
    let want = UpdateMessage::end_of_rib(Family::Ipv6Unicast);
    assert_eq!(want.end_of_rib_family(), Some(Family::Ipv6Unicast));
    assert_both_ways(&eor, &Message::Update(want), &ctx4(), &enc4());
}

#[test]
fn add_path_identifiers_in_nlri_and_withdrawn_routes() {
    let bytes = message(
        2,
        "0009 00000002 1a0af40100
         0015
         40 01 01 00
         40 02 00
         40 03 04 0a000001
         40 05 04 00000064
         00000001 1a0af40100",
    );
    let want = Message::Update(UpdateMessage {
        withdrawn: vec![Nlri::with_path_id(net("10.244.1.0/26"), 2)],
        attrs: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::default()),
            next_hop: Some(Ipv4Addr::new(10, 0, 0, 1)),
            local_pref: Some(100),
            ..PathAttributes::default()
        },
        nlri: vec![Nlri::with_path_id(net("10.244.1.0/26"), 1)],
        ..UpdateMessage::default()
    });
    let add_path = FamilySet::of(&[Family::Ipv4Unicast]);
    let dctx = DecodeCtx { add_path, ..ctx4() };
    let ectx = EncodeCtx { add_path, ..enc4() };
    assert_both_ways(&bytes, &want, &dctx, &ectx);

    // Without ADD-PATH negotiated the same bytes mean other prefixes entirely.
    assert_ne!(Message::decode(&bytes, &ctx4()).ok(), Some(want));
}

#[test]
fn notification_with_shutdown_communication() {
    let bytes = message(3, "06 02 03 627965");
    let want = Message::Notification(Notification::new(6, 2, Bytes::from_static(b"\x03bye")));
    assert_both_ways(&bytes, &want, &DecodeCtx::default(), &EncodeCtx::default());
    let Message::Notification(n) = want else {
        unreachable!()
    };
    assert_eq!(n.shutdown_communication(), Some("bye"));
    assert_eq!(n.describe(), "Administrative shutdown");
}

#[test]
fn route_refresh_and_enhanced_subtypes() {
    for (subtype_hex, subtype) in [
        ("00", RefreshSubtype::Request),
        ("01", RefreshSubtype::BeginningOfRefresh),
        ("02", RefreshSubtype::EndOfRefresh),
        ("07", RefreshSubtype::Other(7)),
    ] {
        let bytes = message(5, &format!("0002 {subtype_hex} 01"));
        let want = Message::RouteRefresh(RouteRefreshMessage {
            afi: 2,
            subtype,
            safi: 1,
        });
        assert_both_ways(&bytes, &want, &DecodeCtx::default(), &EncodeCtx::default());
    }
    assert_eq!(
        RouteRefreshMessage::request(Family::Ipv6Unicast).family(),
        Some(Family::Ipv6Unicast)
    );
}

#[test]
fn extended_message_allows_large_updates_only_when_negotiated() {
    let prefixes: Vec<_> = (0..1500u32)
        .map(|i| Nlri::new(net(&format!("10.{}.{}.0/26", i / 256, i % 256))))
        .collect();
    let update = Message::Update(UpdateMessage {
        attrs: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::default()),
            next_hop: Some(Ipv4Addr::new(10, 0, 0, 1)),
            ..PathAttributes::default()
        },
        nlri: prefixes,
        ..UpdateMessage::default()
    });
    assert!(update.to_bytes(&enc4()).is_err(), "7500 octets exceed 4096");
    let extended = EncodeCtx {
        extended_message: true,
        ..enc4()
    };
    let bytes = update.to_bytes(&extended).unwrap();
    assert!(bytes.len() > 4096);
    assert!(
        Message::decode(&bytes, &ctx4()).is_err(),
        "not negotiated on decode"
    );
    let dctx = DecodeCtx {
        extended_message: true,
        ..ctx4()
    };
    assert_eq!(Message::decode(&bytes, &dctx), Ok(update));
}

#[test]
fn unknown_capability_families_are_kept() {
    let bytes = message(1, "04 fde9 005a c0000201 08 02 06 01 04 0019 00 41");
    let Message::Open(open) = Message::decode(&bytes, &DecodeCtx::default()).unwrap() else {
        panic!("expected OPEN")
    };
    assert_eq!(
        open.capabilities,
        vec![Capability::Multiprotocol(AfiSafi { afi: 25, safi: 65 })]
    );
    assert_eq!(open.asn(), 65001);
}
