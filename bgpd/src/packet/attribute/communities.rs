//! The community attributes, all optional transitive:
//! COMMUNITIES (type 8, RFC 1997), EXTENDED COMMUNITIES (type 16, RFC 4360 §2)
//! and LARGE_COMMUNITY (type 32, RFC 8092 §3).
//!
//! ```text
//! COMMUNITIES:           n x 4 octets   (global administrator : local value, 2 + 2)
//! EXTENDED COMMUNITIES:  n x 8 octets   (type, sub-type, 6 octets of value)
//! LARGE_COMMUNITY:       n x 12 octets  (global administrator, local data 1, local data 2)
//! ```

use std::fmt;

use bytes::BufMut;

use super::Fault;

/// A standard community (RFC 1997).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Community(pub u32);

impl Community {
    /// RFC 1997: not advertised outside the AS (or confederation).
    pub const NO_EXPORT: Community = Community(0xFFFF_FF01);
    /// RFC 1997: not advertised to any peer.
    pub const NO_ADVERTISE: Community = Community(0xFFFF_FF02);
    /// RFC 1997: not advertised to external peers, even confederation members.
    pub const NO_EXPORT_SUBCONFED: Community = Community(0xFFFF_FF03);
    /// RFC 8326 §5: the path is about to go away; lower its preference.
    pub const GRACEFUL_SHUTDOWN: Community = Community(0xFFFF_0000);

    pub fn new(asn: u16, value: u16) -> Self {
        Self(u32::from(asn) << 16 | u32::from(value))
    }
}

impl fmt::Debug for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({},{})", self.0 >> 16, self.0 & 0xffff)
    }
}

/// An extended community (RFC 4360), kept as its eight octets.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExtCommunity(pub [u8; 8]);

impl ExtCommunity {
    /// A two-octet-AS-specific route target (RFC 4360 §4: type 0x00, sub-type 0x02).
    pub fn route_target(asn: u16, value: u32) -> Self {
        let mut raw = [0u8; 8];
        raw[1] = 0x02;
        raw[2..4].copy_from_slice(&asn.to_be_bytes());
        raw[4..].copy_from_slice(&value.to_be_bytes());
        Self(raw)
    }
}

impl fmt::Debug for ExtCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ext(")?;
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))?;
        write!(f, ")")
    }
}

/// A large community (RFC 8092).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LargeCommunity {
    pub global_admin: u32,
    pub local_data1: u32,
    pub local_data2: u32,
}

impl fmt::Debug for LargeCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "({},{},{})",
            self.global_admin, self.local_data1, self.local_data2
        )
    }
}

/// Splits a value into fixed-size items. RFC 7606 §7.8 (COMMUNITIES), §7.14
/// (EXTENDED COMMUNITIES) and RFC 8092 §6 (LARGE_COMMUNITY): a length of zero or
/// not a multiple of the item size is malformed (treat-as-withdraw).
fn items<const N: usize>(value: &[u8]) -> Result<impl Iterator<Item = [u8; N]> + '_, Fault> {
    if value.is_empty() || value.len() % N != 0 {
        return Err(Fault::Length);
    }
    Ok(value.chunks_exact(N).map(|chunk| {
        let mut item = [0u8; N];
        item.copy_from_slice(chunk);
        item
    }))
}

pub(super) fn decode_standard(value: &[u8]) -> Result<Vec<Community>, Fault> {
    Ok(items::<4>(value)?
        .map(|raw| Community(u32::from_be_bytes(raw)))
        .collect())
}

pub(super) fn decode_extended(value: &[u8]) -> Result<Vec<ExtCommunity>, Fault> {
    Ok(items::<8>(value)?.map(ExtCommunity).collect())
}

pub(super) fn decode_large(value: &[u8]) -> Result<Vec<LargeCommunity>, Fault> {
    Ok(items::<12>(value)?
        .map(|raw| {
            let word = |i: usize| u32::from_be_bytes([raw[i], raw[i + 1], raw[i + 2], raw[i + 3]]);
            LargeCommunity {
                global_admin: word(0),
                local_data1: word(4),
                local_data2: word(8),
            }
        })
        .collect())
}

pub(super) fn encode_standard(communities: &[Community], buf: &mut impl BufMut) {
    communities.iter().for_each(|c| buf.put_u32(c.0));
}

pub(super) fn encode_extended(communities: &[ExtCommunity], buf: &mut impl BufMut) {
    communities.iter().for_each(|c| buf.put_slice(&c.0));
}

pub(super) fn encode_large(communities: &[LargeCommunity], buf: &mut impl BufMut) {
    for c in communities {
        buf.put_u32(c.global_admin);
        buf.put_u32(c.local_data1);
        buf.put_u32(c.local_data2);
    }
}
