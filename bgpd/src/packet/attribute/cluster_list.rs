//! The route-reflection attributes, both optional non-transitive (RFC 4456 §8):
//! ORIGINATOR_ID (type 9) and CLUSTER_LIST (type 10).
//!
//! ```text
//! ORIGINATOR_ID:  the originator's BGP Identifier (4 octets)
//! CLUSTER_LIST:   n x CLUSTER_ID (4 octets each), most recent first
//! ```

use std::net::Ipv4Addr;

use bytes::BufMut;

use super::Fault;

/// RFC 7606 §7.9: an ORIGINATOR_ID whose length is not four is malformed
/// (treat-as-withdraw).
pub(super) fn decode_originator_id(value: &[u8]) -> Result<Ipv4Addr, Fault> {
    let raw: [u8; 4] = value.try_into().map_err(|_| Fault::Length)?;
    Ok(Ipv4Addr::from(raw))
}

/// RFC 7606 §7.10: a CLUSTER_LIST whose length is zero or not a multiple of
/// four is malformed (treat-as-withdraw).
pub(super) fn decode_cluster_list(value: &[u8]) -> Result<Vec<Ipv4Addr>, Fault> {
    if value.is_empty() || value.len() % 4 != 0 {
        return Err(Fault::Length);
    }
    Ok(value
        .chunks_exact(4)
        .map(|c| Ipv4Addr::new(c[0], c[1], c[2], c[3]))
        .collect())
}

pub(super) fn encode_cluster_list(list: &[Ipv4Addr], buf: &mut impl BufMut) {
    list.iter().for_each(|id| buf.put_slice(&id.octets()));
}
