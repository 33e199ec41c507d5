//! The attributes whose value is one 32-bit number:
//! MULTI_EXIT_DISC (type 4, optional non-transitive, RFC 4271 §5.1.4) and
//! LOCAL_PREF (type 5, well-known, RFC 4271 §5.1.5).
//!
//! ```text
//! +-------------------------------+
//! |  value (4 octets)             |
//! +-------------------------------+
//! ```

use bytes::BufMut;

use super::Fault;
use crate::packet::wire;

pub(super) const LEN: usize = 4;

/// RFC 7606 §7.4 (MED) and §7.5 (LOCAL_PREF): a length other than four is
/// malformed (treat-as-withdraw).
pub(super) fn decode(value: &[u8]) -> Result<u32, Fault> {
    if value.len() != LEN {
        return Err(Fault::Length);
    }
    wire::u32(value).map(|(_, v)| v).map_err(|_| Fault::Length)
}

pub(super) fn encode(value: u32, buf: &mut impl BufMut) {
    buf.put_u32(value);
}
