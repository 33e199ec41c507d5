//! `UpdatePacker`: prefixes that share attributes go into as few UPDATEs as fit.

use std::net::Ipv4Addr;

use bgpd::packet::{
    AsPath, EncodeCtx, Family, FamilySet, Message, NextHop, Nlri, Origin, PathAttributes,
    UpdateMessage, UpdatePacker,
};
use bytes::BytesMut;
use ipnet::Ipv4Net;

use crate::support::{enc4, net};

fn attrs() -> PathAttributes {
    PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::default()),
        next_hop: Some(Ipv4Addr::new(10, 0, 0, 1)),
        local_pref: Some(100),
        ..PathAttributes::default()
    }
}

/// Consecutive /26 blocks from 10.0.0.0.
fn blocks(count: u32) -> Vec<Nlri> {
    (0..count)
        .map(|i| {
            Nlri::new(
                Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 + i * 64), 26)
                    .unwrap()
                    .into(),
            )
        })
        .collect()
}

fn v6_blocks(count: u32) -> Vec<Nlri> {
    (0..count)
        .map(|i| {
            Nlri::new(net(&format!(
                "fd00:{:x}::{:x}/122",
                i / 1024,
                (i % 1024) * 64
            )))
        })
        .collect()
}

/// Splits a run of messages and decodes each, checking its size.
fn decode_all(out: &BytesMut, ctx: &EncodeCtx) -> Vec<UpdateMessage> {
    let mut rest = &out[..];
    let mut updates = Vec::new();
    while !rest.is_empty() {
        let len = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
        assert!(len <= ctx.max_message_len());
        let Ok(Message::Update(update)) = Message::decode(&rest[..len], &ctx.mirror()) else {
            panic!("packer wrote a message that does not decode")
        };
        assert_eq!(update.errors, vec![]);
        updates.push(update);
        rest = &rest[len..];
    }
    updates
}

#[test]
fn ipv4_blocks_fill_each_message() {
    let ctx = enc4();
    let prefixes = blocks(800);
    let mut out = BytesMut::new();
    let count = UpdatePacker::new(ctx)
        .announce_ipv4(&attrs(), &prefixes, &mut out)
        .unwrap();

    let updates = decode_all(&out, &ctx);
    assert_eq!(updates.len(), count);
    // 4096 - 23 octets of header and lengths - 21 of attributes, 5 per /26.
    assert_eq!(count, 800usize.div_ceil((4096 - 23 - 21) / 5));
    let got: Vec<Nlri> = updates
        .iter()
        .flat_map(|u| u.nlri.iter().copied())
        .collect();
    assert_eq!(got, prefixes);
    assert!(updates.iter().all(|u| u.attrs == attrs()));
}

#[test]
fn extended_messages_need_fewer_updates() {
    let ctx = EncodeCtx {
        extended_message: true,
        ..enc4()
    };
    let mut out = BytesMut::new();
    let count = UpdatePacker::new(ctx)
        .announce_ipv4(&attrs(), &blocks(20_000), &mut out)
        .unwrap();
    assert_eq!(count, 20_000usize.div_ceil((65535 - 23 - 21) / 5));
    assert_eq!(
        decode_all(&out, &ctx)
            .iter()
            .map(|u| u.nlri.len())
            .sum::<usize>(),
        20_000
    );
}

#[test]
fn ipv6_blocks_in_mp_reach() {
    let ctx = enc4();
    let prefixes = v6_blocks(500);
    let next_hop = NextHop::V6 {
        global: "fd00::1".parse().unwrap(),
        link_local: None,
    };
    let mut v6_attrs = attrs();
    v6_attrs.next_hop = None;
    let mut out = BytesMut::new();
    let mut packer = UpdatePacker::new(ctx);
    let count = packer
        .announce_mp(
            Family::Ipv6Unicast,
            next_hop,
            &v6_attrs,
            &prefixes,
            &mut out,
        )
        .unwrap();
    let updates = decode_all(&out, &ctx);
    assert_eq!(updates.len(), count);
    assert!(count >= 3, "500 x 17 octets need at least 3 messages");
    let mut got = Vec::new();
    for update in &updates {
        let reach = update.attrs.mp_reach.as_ref().expect("MP_REACH_NLRI");
        assert_eq!(reach.next_hop, next_hop);
        got.extend_from_slice(&reach.nlri);
        let mut rest = update.attrs.clone();
        rest.mp_reach = None;
        assert_eq!(rest, v6_attrs);
    }
    assert_eq!(got, prefixes);
}

#[test]
fn withdrawals_of_both_families() {
    let ctx = enc4();
    let mut packer = UpdatePacker::new(ctx);
    let mut out = BytesMut::new();
    packer
        .withdraw(Family::Ipv4Unicast, &blocks(1000), &mut out)
        .unwrap();
    packer
        .withdraw(Family::Ipv6Unicast, &v6_blocks(300), &mut out)
        .unwrap();
    let updates = decode_all(&out, &ctx);
    let withdrawn: Vec<_> = updates
        .iter()
        .flat_map(|u| u.withdrawals().copied())
        .collect();
    assert_eq!(withdrawn, [blocks(1000), v6_blocks(300)].concat());
    assert!(updates.iter().all(|u| u.announced().count() == 0));
}

#[test]
fn add_path_identifiers_are_packed_per_family() {
    let ctx = EncodeCtx {
        add_path: FamilySet::of(&[Family::Ipv4Unicast]),
        ..enc4()
    };
    let prefixes: Vec<_> = blocks(10)
        .into_iter()
        .enumerate()
        .map(|(i, n)| Nlri {
            path_id: Some(i as u32),
            ..n
        })
        .collect();
    let mut out = BytesMut::new();
    UpdatePacker::new(ctx)
        .announce_ipv4(&attrs(), &prefixes, &mut out)
        .unwrap();
    let got: Vec<_> = decode_all(&out, &ctx)
        .iter()
        .flat_map(|u| u.nlri.clone())
        .collect();
    assert_eq!(got, prefixes);
}

#[test]
fn attributes_too_large_for_any_message_are_an_error() {
    let mut huge = attrs();
    huge.communities = (0..1100).map(bgpd::packet::Community).collect();
    let mut out = BytesMut::new();
    assert!(UpdatePacker::new(enc4())
        .announce_ipv4(&huge, &blocks(1), &mut out)
        .is_err());
    assert!(out.is_empty());
}
