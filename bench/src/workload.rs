//! The UPDATE streams a feeder writes, encoded before any clock starts:
//! prefixes in attribute sets of a thousand (benchmarks.md S1 (a)), each set
//! its own AS path, then the withdrawal of them all.

use std::net::Ipv4Addr;

use bgpd::packet::{AsPath, EncodeCtx, Family, Nlri, Origin, PathAttributes, UpdatePacker};
use bytes::BytesMut;
use ipnet::IpNet;
use testnets::{Error, Result};

use super::duts::FEEDER_AS;
use super::tally::Prefixes;

/// Prefixes per attribute set.
const SET_SIZE: usize = 1000;

/// Announcements of every prefix with next hop `next_hop`, and their
/// withdrawal, as whole messages for a session with `ctx`.
pub fn encode(
    prefixes: &Prefixes,
    next_hop: Ipv4Addr,
    ctx: EncodeCtx,
) -> Result<(BytesMut, BytesMut)> {
    let nlri: Vec<Nlri> = (0..prefixes.count())
        .map(|i| Nlri::new(IpNet::V4(prefixes.nth(i))))
        .collect();
    let mut packer = UpdatePacker::new(ctx);
    let mut announce = BytesMut::new();
    for (set, chunk) in nlri.chunks(SET_SIZE).enumerate() {
        let attrs = PathAttributes {
            origin: Some(Origin::Igp),
            // A private AS per set, far from the daemons' own.
            as_path: Some(AsPath::sequence([FEEDER_AS, 100 + set as u32])),
            next_hop: Some(next_hop),
            ..PathAttributes::default()
        };
        packer
            .announce_ipv4(&attrs, chunk, &mut announce)
            .map_err(|e| Error::Bench(format!("encode announcements: {e}")))?;
    }
    let mut withdraw = BytesMut::new();
    packer
        .withdraw(Family::Ipv4Unicast, &nlri, &mut withdraw)
        .map_err(|e| Error::Bench(format!("encode withdrawals: {e}")))?;
    Ok((announce, withdraw))
}

#[cfg(test)]
mod tests {
    use bgpd::packet::{DecodeCtx, Message, HEADER_LEN};

    use super::*;

    /// Splits whole messages and decodes them.
    fn decode_all(mut bytes: &[u8]) -> Vec<Message> {
        let mut out = Vec::new();
        while bytes.len() >= HEADER_LEN {
            let len = usize::from(u16::from_be_bytes([bytes[16], bytes[17]]));
            out.push(Message::decode(&bytes[..len], &DecodeCtx::default()).unwrap());
            bytes = &bytes[len..];
        }
        assert!(bytes.is_empty());
        out
    }

    #[test]
    fn every_prefix_is_announced_once_and_withdrawn_once() {
        let prefixes = Prefixes::new(Ipv4Addr::new(11, 0, 0, 0), 24, 2500);
        let (announce, withdraw) =
            encode(&prefixes, Ipv4Addr::new(10, 0, 1, 1), EncodeCtx::default()).unwrap();
        let mut announced = Vec::new();
        let mut paths = std::collections::BTreeSet::new();
        for m in decode_all(&announce) {
            let Message::Update(u) = m else {
                panic!("{m:?}")
            };
            paths.insert(format!("{:?}", u.attrs.as_path));
            announced.extend(u.nlri.iter().map(|n| n.prefix));
        }
        assert_eq!(announced.len(), 2500);
        assert_eq!(paths.len(), 3, "three attribute sets for 2500 prefixes");
        let withdrawn: usize = decode_all(&withdraw)
            .iter()
            .map(|m| match m {
                Message::Update(u) => u.withdrawn.len(),
                _ => 0,
            })
            .sum();
        assert_eq!(withdrawn, 2500);
    }
}
