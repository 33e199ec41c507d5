//! UpdatePacker against the decoder. A small attribute set and a list of
//! prefixes of one family are packed under an arbitrary EncodeCtx; every
//! message produced is decoded with `ctx.mirror()` and must be a clean UPDATE
//! (no RFC 7606 findings) within the session's size limit, carrying the
//! attributes given, and the prefixes of all messages together must be the
//! list given, in order. The same for withdrawing the list. Packing must also
//! be greedy: a message ends only when the next prefix would not fit.
#![no_main]

use std::net::{Ipv4Addr, Ipv6Addr};

use arbitrary::Arbitrary;
use bgpd::packet::{
    AsPath, Community, EncodeCtx, Family, LargeCommunity, Message, NextHop, Nlri, Origin,
    PathAttributes, UpdateMessage, UpdatePacker, HEADER_LEN,
};
use bytes::BytesMut;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum Mode {
    /// IPv4 unicast in the NLRI field.
    Ipv4,
    /// IPv4 unicast in MP_REACH_NLRI, with an IPv4 or (RFC 8950) IPv6 next hop.
    Ipv4Mp { v6_next_hop: bool },
    /// IPv6 unicast in MP_REACH_NLRI.
    Ipv6,
}

#[derive(Debug, Arbitrary)]
struct RawPrefix {
    addr: u128,
    len: u8,
    path_id: Option<u32>,
}

#[derive(Debug, Arbitrary)]
struct Input {
    ctx: EncodeCtx,
    mode: Mode,
    origin: u8,
    asns: Vec<u32>,
    next_hop: [u8; 4],
    /// Whether NEXT_HOP is also given with MP_REACH_NLRI (it is then optional).
    mp_with_next_hop: bool,
    global: [u8; 16],
    link_local: Option<[u8; 16]>,
    med: Option<u32>,
    local_pref: Option<u32>,
    communities: Vec<u32>,
    large: Option<(u32, u32, u32)>,
    prefixes: Vec<RawPrefix>,
    /// Prefixes generated from a base, to fill several messages cheaply: up to
    /// 1023 (several 4096-octet messages), or with `many` up to 19999 (several
    /// extended messages), which is slower.
    generated: u16,
    many: bool,
    generated_len: u8,
    generated_base: u128,
}

fn prefix(family: Family, addr: u128, len: u8) -> IpNet {
    match family {
        Family::Ipv4Unicast => {
            let len = len % 33;
            IpNet::V4(
                Ipv4Net::new(Ipv4Addr::from(addr as u32), len)
                    .expect("length checked")
                    .trunc(),
            )
        }
        Family::Ipv6Unicast => {
            let len = len % 129;
            IpNet::V6(
                Ipv6Net::new(Ipv6Addr::from(addr), len)
                    .expect("length checked")
                    .trunc(),
            )
        }
    }
}

/// Splits a run of messages at their header Length fields.
fn split(out: &[u8]) -> Vec<&[u8]> {
    let mut messages = Vec::new();
    let mut at = 0;
    while at < out.len() {
        assert!(
            out.len() - at >= HEADER_LEN,
            "trailing {} octets",
            out.len() - at
        );
        let len = usize::from(u16::from_be_bytes([out[at + 16], out[at + 17]]));
        assert!(
            len >= HEADER_LEN && at + len <= out.len(),
            "bad length {len} at {at}"
        );
        messages.push(&out[at..at + len]);
        at += len;
    }
    messages
}

/// Decodes every message of `out`, checks what all of them share, and returns
/// the UPDATEs.
fn decode_all(
    ctx: &EncodeCtx,
    out: &[u8],
    count: usize,
    nlri: &[Nlri],
    add_path: bool,
) -> Vec<UpdateMessage> {
    let messages = split(out);
    assert_eq!(messages.len(), count, "packer's message count");
    let mut updates = Vec::new();
    let mut sent = 0;
    for (i, raw) in messages.iter().enumerate() {
        assert!(
            raw.len() <= ctx.max_message_len(),
            "message {i} is {} octets, limit {}",
            raw.len(),
            ctx.max_message_len()
        );
        let update = match Message::decode(raw, &ctx.mirror()) {
            Ok(Message::Update(u)) => u,
            other => panic!("message {i} decodes as {other:?}"),
        };
        assert!(update.errors.is_empty(), "message {i}: {:?}", update.errors);
        let carried = update.announced().count() + update.withdrawals().count();
        assert!(carried > 0, "message {i} carries no prefix");
        sent += carried;
        // Greedy: only the last message may have room for the next prefix.
        if let Some(next) = nlri.get(sent) {
            assert!(
                raw.len() + next.encoded_len(add_path) > ctx.max_message_len(),
                "message {i} of {} octets ends though {next:?} fits",
                raw.len()
            );
        }
        updates.push(update);
    }
    updates
}

fuzz_target!(|input: Input| {
    let ctx = input.ctx;
    let family = match input.mode {
        Mode::Ipv4 | Mode::Ipv4Mp { .. } => Family::Ipv4Unicast,
        Mode::Ipv6 => Family::Ipv6Unicast,
    };
    let add_path = ctx.add_path.contains(family);

    let mut attrs = PathAttributes {
        origin: Some([Origin::Igp, Origin::Egp, Origin::Incomplete][usize::from(input.origin % 3)]),
        as_path: Some(AsPath::sequence(input.asns.iter().copied().take(8))),
        next_hop: Some(Ipv4Addr::from(input.next_hop)),
        med: input.med,
        local_pref: input.local_pref,
        communities: input
            .communities
            .iter()
            .take(16)
            .map(|&c| Community(c))
            .collect(),
        ..PathAttributes::default()
    };
    if let Some((global_admin, local_data1, local_data2)) = input.large {
        attrs.large_communities.push(LargeCommunity {
            global_admin,
            local_data1,
            local_data2,
        });
    }
    let v6_next_hop = NextHop::V6 {
        global: Ipv6Addr::from(input.global),
        link_local: input.link_local.map(Ipv6Addr::from),
    };
    let mp_next_hop = match input.mode {
        Mode::Ipv4 => None,
        Mode::Ipv4Mp { v6_next_hop: false } => Some(NextHop::V4(Ipv4Addr::from(input.next_hop))),
        Mode::Ipv4Mp { v6_next_hop: true } | Mode::Ipv6 => Some(v6_next_hop),
    };
    if mp_next_hop.is_some() && !input.mp_with_next_hop {
        attrs.next_hop = None;
    }

    let mut nlri: Vec<Nlri> = input
        .prefixes
        .iter()
        .map(|p| Nlri {
            prefix: prefix(family, p.addr, p.len),
            path_id: p.path_id,
        })
        .collect();
    let step = match family {
        Family::Ipv4Unicast => 1u128 << 8,
        Family::Ipv6Unicast => 1u128 << 64,
    };
    let generated = input.generated % if input.many { 20_000 } else { 1024 };
    nlri.extend((0..u128::from(generated)).map(|i| Nlri {
        prefix: prefix(
            family,
            input.generated_base.wrapping_add(i.wrapping_mul(step)),
            input.generated_len,
        ),
        path_id: (i % 3 != 0).then_some(i as u32),
    }));
    // What the peer reads: a Path Identifier only with ADD-PATH, 0 when missing.
    let expected: Vec<Nlri> = nlri
        .iter()
        .map(|n| Nlri {
            prefix: n.prefix,
            path_id: add_path.then(|| n.path_id.unwrap_or(0)),
        })
        .collect();

    let mut packer = UpdatePacker::new(ctx);

    // Announce.
    let mut out = BytesMut::new();
    let count = match mp_next_hop {
        None => packer.announce_ipv4(&attrs, &nlri, &mut out),
        Some(nh) => packer.announce_mp(family, nh, &attrs, &nlri, &mut out),
    }
    .expect("small attributes and prefixes always fit");
    let updates = decode_all(&ctx, &out, count, &nlri, add_path);
    let mut announced = Vec::new();
    for (i, mut update) in updates.into_iter().enumerate() {
        assert!(
            update.withdrawals().next().is_none(),
            "message {i} withdraws"
        );
        match (mp_next_hop, update.attrs.mp_reach.take()) {
            (None, None) => announced.extend(update.nlri),
            (Some(nh), Some(reach)) => {
                assert!(update.nlri.is_empty(), "message {i}: NLRI field used too");
                assert_eq!((reach.family, reach.next_hop), (family, nh), "message {i}");
                announced.extend(reach.nlri);
            }
            (want, got) => panic!("message {i}: next hop {want:?}, MP_REACH_NLRI {got:?}"),
        }
        assert_eq!(update.attrs, attrs, "message {i}: attributes");
    }
    assert_eq!(announced, expected, "announced prefixes");

    // Withdraw.
    let mut out = BytesMut::new();
    let count = packer
        .withdraw(family, &nlri, &mut out)
        .expect("prefixes always fit");
    let updates = decode_all(&ctx, &out, count, &nlri, add_path);
    let mut withdrawn = Vec::new();
    for (i, mut update) in updates.into_iter().enumerate() {
        assert!(update.announced().next().is_none(), "message {i} announces");
        match (family, update.attrs.mp_unreach.take()) {
            (Family::Ipv4Unicast, None) => withdrawn.extend(update.withdrawn),
            (Family::Ipv6Unicast, Some(unreach)) => {
                assert!(
                    update.withdrawn.is_empty(),
                    "message {i}: Withdrawn Routes used too"
                );
                assert_eq!(unreach.family, family);
                withdrawn.extend(unreach.withdrawn);
            }
            (_, got) => panic!("message {i}: {family} withdrawn in {got:?}"),
        }
        assert_eq!(
            update.attrs,
            PathAttributes::default(),
            "message {i}: attributes"
        );
    }
    assert_eq!(withdrawn, expected, "withdrawn prefixes");
});
