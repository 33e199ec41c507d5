//! MP_REACH_NLRI (type 14, optional non-transitive), RFC 4760 §3.
//!
//! ```text
//! +---------------------------------------------------------+
//! | Address Family Identifier (2 octets)                    |
//! | Subsequent Address Family Identifier (1 octet)          |
//! | Length of Next Hop Network Address (1 octet)            |
//! | Network Address of Next Hop (variable)                  |
//! | Reserved (1 octet)                                      |
//! | Network Layer Reachability Information (variable)       |
//! +---------------------------------------------------------+
//! ```
//! IPv6 next hops are 16 octets (global) or 32 (global then link-local),
//! RFC 2545 §3. An IPv4 family may carry an IPv6 next hop (RFC 8950 §3).

use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::BufMut;

use super::Fault;
use crate::packet::context::Family;
use crate::packet::error::update_subcode;
use crate::packet::nlri::{self, Nlri};
use crate::packet::wire;

/// The next hop of multiprotocol routes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NextHop {
    V4(Ipv4Addr),
    V6 {
        global: Ipv6Addr,
        link_local: Option<Ipv6Addr>,
    },
}

impl NextHop {
    fn encoded_len(&self) -> usize {
        match self {
            Self::V4(_) => 4,
            Self::V6 {
                link_local: None, ..
            } => 16,
            Self::V6 {
                link_local: Some(_),
                ..
            } => 32,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MpReach {
    pub family: Family,
    pub next_hop: NextHop,
    pub nlri: Vec<Nlri>,
}

/// A malformed MP_REACH_NLRI or MP_UNREACH_NLRI: with the family when it could
/// be read, so that the caller can disable that family (RFC 7606 §7.11).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum MpFault {
    /// Too short to hold AFI and SAFI.
    Unreadable,
    /// An AFI/SAFI podroute does not speak: the attribute is discarded.
    UnknownFamily { afi: u16, safi: u8 },
    /// A known family with a malformed next hop or NLRI.
    Malformed { afi: u16, safi: u8 },
}

impl From<MpFault> for Fault {
    fn from(_: MpFault) -> Fault {
        Fault::Invalid(update_subcode::OPTIONAL_ATTRIBUTE_ERROR)
    }
}

/// Reads AFI and SAFI, the common head of both MP attributes.
pub(super) fn decode_family(value: &[u8]) -> Result<(&[u8], Family), MpFault> {
    let (rest, afi) = wire::u16(value).map_err(|_| MpFault::Unreadable)?;
    let (rest, safi) = wire::u8(rest).map_err(|_| MpFault::Unreadable)?;
    let family = Family::from_afi_safi(afi, safi).ok_or(MpFault::UnknownFamily { afi, safi })?;
    Ok((rest, family))
}

pub(super) fn decode(value: &[u8], add_path: impl Fn(Family) -> bool) -> Result<MpReach, MpFault> {
    let (rest, family) = decode_family(value)?;
    let malformed = MpFault::Malformed {
        afi: family.afi(),
        safi: family.safi(),
    };
    let (rest, nh_len) = wire::u8(rest).map_err(|_| malformed)?;
    let (rest, nh) = wire::take(rest, nh_len.into()).map_err(|_| malformed)?;
    let next_hop = match (family, nh.len()) {
        (Family::Ipv4Unicast, 4) => NextHop::V4(wire::ipv4(nh).map_err(|_| malformed)?.1),
        (_, 16) => NextHop::V6 {
            global: wire::ipv6(nh).map_err(|_| malformed)?.1,
            link_local: None,
        },
        (_, 32) => {
            let (nh, global) = wire::ipv6(nh).map_err(|_| malformed)?;
            let (_, link_local) = wire::ipv6(nh).map_err(|_| malformed)?;
            NextHop::V6 {
                global,
                link_local: Some(link_local),
            }
        }
        _ => return Err(malformed),
    };
    // RFC 4760 §3: the Reserved octet is ignored on receipt.
    let (rest, _reserved) = wire::u8(rest).map_err(|_| malformed)?;
    let mut prefixes = Vec::new();
    nlri::decode_all(rest, family, add_path(family), &mut prefixes).map_err(|_| malformed)?;
    Ok(MpReach {
        family,
        next_hop,
        nlri: prefixes,
    })
}

/// Octets of the value up to the NLRI.
pub(super) fn head_len(next_hop: &NextHop) -> usize {
    2 + 1 + 1 + next_hop.encoded_len() + 1
}

pub(super) fn encode_head(family: Family, next_hop: &NextHop, buf: &mut impl BufMut) {
    buf.put_u16(family.afi());
    buf.put_u8(family.safi());
    buf.put_u8(next_hop.encoded_len() as u8);
    match next_hop {
        NextHop::V4(addr) => buf.put_slice(&addr.octets()),
        NextHop::V6 { global, link_local } => {
            buf.put_slice(&global.octets());
            if let Some(ll) = link_local {
                buf.put_slice(&ll.octets());
            }
        }
    }
    buf.put_u8(0);
}
