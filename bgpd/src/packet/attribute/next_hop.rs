//! NEXT_HOP (type 3, well-known mandatory for IPv4 NLRI), RFC 4271 §5.1.3.
//!
//! ```text
//! +-------------------------------+
//! |  IPv4 address (4 octets)      |
//! +-------------------------------+
//! ```
//!
//! Whether the address is usable (not 0.0.0.0, not the receiver's own, not a
//! martian) is a question for the speaker, not the codec (RFC 7606 §7.3).

use std::net::Ipv4Addr;

use bytes::BufMut;

use super::Fault;
use crate::packet::wire;

pub(super) const LEN: usize = 4;

/// RFC 7606 §7.3: a length other than four is malformed (treat-as-withdraw).
pub(super) fn decode(value: &[u8]) -> Result<Ipv4Addr, Fault> {
    if value.len() != LEN {
        return Err(Fault::Length);
    }
    wire::ipv4(value)
        .map(|(_, addr)| addr)
        .map_err(|_| Fault::Length)
}

pub(super) fn encode(addr: Ipv4Addr, buf: &mut impl BufMut) {
    buf.put_slice(&addr.octets());
}
