//! AGGREGATOR (type 7, optional transitive), RFC 4271 §5.1.7, and
//! AS4_AGGREGATOR (type 18, optional transitive), RFC 6793 §3.
//!
//! ```text
//! +---------------------------------+
//! | AS number (2 octets, or 4 with  |   AS4_AGGREGATOR and 4-octet sessions:
//! |            4-octet sessions)    |   always 4 octets
//! +---------------------------------+
//! | IPv4 address (4 octets)         |
//! +---------------------------------+
//! ```
//! ATOMIC_AGGREGATE (type 6, well-known discretionary, RFC 4271 §5.1.6) has no value.

use std::net::Ipv4Addr;

use bytes::BufMut;

use super::Fault;
use crate::packet::wire;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Aggregator {
    pub asn: u32,
    pub address: Ipv4Addr,
}

pub(super) fn len(four_octet: bool) -> usize {
    if four_octet {
        8
    } else {
        6
    }
}

/// RFC 7606 §7.7 (and RFC 6793 §6 for AS4_AGGREGATOR): a wrong length makes the
/// attribute malformed, and it is discarded.
pub(super) fn decode(value: &[u8], four_octet: bool) -> Result<Aggregator, Fault> {
    if value.len() != len(four_octet) {
        return Err(Fault::Length);
    }
    let read = |input| -> Result<Aggregator, wire::Short> {
        let (input, asn) = if four_octet {
            wire::u32(input)?
        } else {
            wire::u16(input).map(|(i, v)| (i, v.into()))?
        };
        let (_, address) = wire::ipv4(input)?;
        Ok(Aggregator { asn, address })
    };
    read(value).map_err(|_| Fault::Length)
}

pub(super) fn encode(asn: u32, address: Ipv4Addr, four_octet: bool, buf: &mut impl BufMut) {
    if four_octet {
        buf.put_u32(asn);
    } else {
        // Callers pass AS_TRANS for numbers that do not fit (RFC 6793 §4.2.2).
        buf.put_u16(u16::try_from(asn).unwrap_or(crate::packet::iana::AS_TRANS as u16));
    }
    buf.put_slice(&address.octets());
}

/// RFC 7606 §7.6: ATOMIC_AGGREGATE with a length other than zero is discarded.
pub(super) fn decode_atomic(value: &[u8]) -> Result<(), Fault> {
    if value.is_empty() {
        Ok(())
    } else {
        Err(Fault::Length)
    }
}
