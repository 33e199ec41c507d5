//! MP_UNREACH_NLRI (type 15, optional non-transitive), RFC 4760 §4.
//!
//! ```text
//! +---------------------------------------------------------+
//! | Address Family Identifier (2 octets)                    |
//! | Subsequent Address Family Identifier (1 octet)          |
//! | Withdrawn Routes (variable)                             |
//! +---------------------------------------------------------+
//! ```
//! With no withdrawn routes, it is the End-of-RIB marker of its family
//! (RFC 4724 §2).

use bytes::BufMut;

use super::mp_reach::{decode_family, MpFault};
use crate::packet::context::Family;
use crate::packet::nlri::{self, Nlri};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MpUnreach {
    pub family: Family,
    pub withdrawn: Vec<Nlri>,
}

pub(super) const HEAD_LEN: usize = 3;

pub(super) fn decode(
    value: &[u8],
    add_path: impl Fn(Family) -> bool,
) -> Result<MpUnreach, MpFault> {
    let (rest, family) = decode_family(value)?;
    let mut withdrawn = Vec::new();
    nlri::decode_all(rest, family, add_path(family), &mut withdrawn).map_err(|_| {
        MpFault::Malformed {
            afi: family.afi(),
            safi: family.safi(),
        }
    })?;
    Ok(MpUnreach { family, withdrawn })
}

pub(super) fn encode_head(family: Family, buf: &mut impl BufMut) {
    buf.put_u16(family.afi());
    buf.put_u8(family.safi());
}
