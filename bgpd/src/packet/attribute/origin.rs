//! ORIGIN (type 1, well-known mandatory), RFC 4271 §4.3 and §5.1.1.
//!
//! ```text
//! +--------+
//! | origin |   0 = IGP, 1 = EGP, 2 = INCOMPLETE
//! +--------+
//! ```

use bytes::BufMut;

use super::Fault;
use crate::packet::error::update_subcode;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Origin {
    Igp = 0,
    Egp = 1,
    Incomplete = 2,
}

pub(super) const LEN: usize = 1;

/// RFC 7606 §7.1: a length other than one or an undefined value is malformed
/// (treat-as-withdraw, chosen by the caller).
pub(super) fn decode(value: &[u8]) -> Result<Origin, Fault> {
    match value {
        [0] => Ok(Origin::Igp),
        [1] => Ok(Origin::Egp),
        [2] => Ok(Origin::Incomplete),
        [_] => Err(Fault::Invalid(update_subcode::INVALID_ORIGIN_ATTRIBUTE)),
        _ => Err(Fault::Length),
    }
}

pub(super) fn encode(origin: Origin, buf: &mut impl BufMut) {
    buf.put_u8(origin as u8);
}
