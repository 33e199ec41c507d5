//! UPDATE decoding and encoding: one prefix; 800 /26 blocks in one message;
//! IPv6 in MP_REACH_NLRI; ADD-PATH. Throughput is reported per prefix, so
//! criterion prints time per message and prefixes per second.
//!
//! Run: `cargo bench -p bgpd --bench update_codec`

#![allow(
    clippy::unwrap_used,
    reason = "set-up that fails is a bug in the benchmark"
)]

use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};

use bgpd::packet::{
    AsPath, Community, DecodeCtx, EncodeCtx, Family, FamilySet, Message, NextHop, Nlri, Origin,
    PathAttributes, UpdatePacker,
};
use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ipnet::{Ipv4Net, Ipv6Net};

fn attrs() -> PathAttributes {
    PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::sequence([64512])),
        next_hop: Some(Ipv4Addr::new(10, 0, 0, 1)),
        local_pref: Some(100),
        communities: vec![Community::new(64512, 100)],
        ..PathAttributes::default()
    }
}

fn v4_blocks(count: u32, add_path: bool) -> Vec<Nlri> {
    (0..count)
        .map(|i| Nlri {
            prefix: Ipv4Net::new(Ipv4Addr::from(0x0af4_0000 + i * 64), 26)
                .unwrap()
                .into(),
            path_id: add_path.then_some(i % 4),
        })
        .collect()
}

fn v6_blocks(count: u32) -> Vec<Nlri> {
    (0..count)
        .map(|i| {
            let addr =
                Ipv6Addr::from(0xfd00_0000_0000_0000_0000_0000_0000_0000u128 + u128::from(i) * 64);
            Nlri::new(Ipv6Net::new(addr, 122).unwrap().into())
        })
        .collect()
}

struct Case {
    name: &'static str,
    prefixes: usize,
    bytes: Vec<u8>,
    ctx: EncodeCtx,
}

/// Each case is one UPDATE as the packer writes it.
fn cases() -> Vec<Case> {
    let plain = EncodeCtx {
        four_octet_as: true,
        ..EncodeCtx::default()
    };
    let add_path = EncodeCtx {
        add_path: FamilySet::of(&[Family::Ipv4Unicast]),
        ..plain
    };
    let v6_hop = NextHop::V6 {
        global: "fd00::1".parse().unwrap(),
        link_local: None,
    };
    let mut v6_attrs = attrs();
    v6_attrs.next_hop = None;

    let one = |ctx: EncodeCtx, f: &dyn Fn(&mut UpdatePacker, &mut BytesMut) -> usize| {
        let mut packer = UpdatePacker::new(ctx);
        let mut out = BytesMut::new();
        assert_eq!(f(&mut packer, &mut out), 1, "one message per case");
        out.to_vec()
    };
    vec![
        Case {
            name: "ipv4_1_prefix",
            prefixes: 1,
            bytes: one(plain, &|p, o| {
                p.announce_ipv4(&attrs(), &v4_blocks(1, false), o).unwrap()
            }),
            ctx: plain,
        },
        Case {
            name: "ipv4_800_blocks",
            prefixes: 800,
            bytes: one(plain, &|p, o| {
                p.announce_ipv4(&attrs(), &v4_blocks(800, false), o)
                    .unwrap()
            }),
            ctx: plain,
        },
        Case {
            name: "ipv6_mp_reach_200_blocks",
            prefixes: 200,
            bytes: one(plain, &|p, o| {
                p.announce_mp(Family::Ipv6Unicast, v6_hop, &v6_attrs, &v6_blocks(200), o)
                    .unwrap()
            }),
            ctx: plain,
        },
        Case {
            name: "ipv4_add_path_400_blocks",
            prefixes: 400,
            bytes: one(add_path, &|p, o| {
                p.announce_ipv4(&attrs(), &v4_blocks(400, true), o).unwrap()
            }),
            ctx: add_path,
        },
    ]
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    for case in cases() {
        let ctx: DecodeCtx = case.ctx.mirror();
        assert!(
            matches!(Message::decode(&case.bytes, &ctx), Ok(Message::Update(u)) if u.errors.is_empty())
        );
        group.throughput(Throughput::Elements(case.prefixes as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(case.name),
            &case.bytes,
            |b, bytes| b.iter(|| Message::decode(black_box(bytes), &ctx)),
        );
    }
    group.finish();
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    for case in cases() {
        let message = Message::decode(&case.bytes, &case.ctx.mirror()).unwrap();
        group.throughput(Throughput::Elements(case.prefixes as u64));
        let mut buf = BytesMut::with_capacity(65536);
        group.bench_with_input(
            BenchmarkId::from_parameter(case.name),
            &message,
            |b, message| {
                b.iter(|| {
                    buf.clear();
                    message.encode(&case.ctx, &mut buf).unwrap();
                    black_box(buf.len())
                })
            },
        );
    }
    // The speaker's path: the packer, attributes encoded once for 10k prefixes.
    let prefixes = v4_blocks(10_000, false);
    let ctx = EncodeCtx {
        four_octet_as: true,
        ..EncodeCtx::default()
    };
    let mut packer = UpdatePacker::new(ctx);
    let mut out = BytesMut::with_capacity(1 << 20);
    group.throughput(Throughput::Elements(prefixes.len() as u64));
    group.bench_function("packer_ipv4_10k_blocks", |b| {
        b.iter(|| {
            out.clear();
            black_box(
                packer
                    .announce_ipv4(&attrs(), black_box(&prefixes), &mut out)
                    .unwrap(),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, decode, encode);
criterion_main!(benches);
