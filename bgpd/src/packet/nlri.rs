//! Network Layer Reachability Information: prefixes as they appear in the
//! Withdrawn Routes and NLRI fields and inside MP_REACH / MP_UNREACH.
//!
//! ```text
//! +---------------------------+
//! |   Path Identifier (4)     |   only with ADD-PATH (RFC 7911 §3)
//! +---------------------------+
//! |   Length (1 octet)        |   prefix length in bits
//! +---------------------------+
//! |   Prefix (variable)       |   ceil(Length / 8) octets
//! +---------------------------+
//! ```
//!
//! This is the hot loop of UPDATE decoding, so it indexes the slice directly
//! rather than going through the generic leaf readers.

use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::BufMut;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::context::Family;

/// One prefix, with its ADD-PATH Path Identifier when the session uses one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Nlri {
    pub prefix: IpNet,
    pub path_id: Option<u32>,
}

/// The NLRI field could not be parsed: a prefix longer than its family allows,
/// or a field that ends inside a prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidNlri;

impl Nlri {
    pub fn new(prefix: IpNet) -> Self {
        Self {
            prefix,
            path_id: None,
        }
    }

    pub fn with_path_id(prefix: IpNet, path_id: u32) -> Self {
        Self {
            prefix,
            path_id: Some(path_id),
        }
    }

    pub fn family(&self) -> Family {
        match self.prefix {
            IpNet::V4(_) => Family::Ipv4Unicast,
            IpNet::V6(_) => Family::Ipv6Unicast,
        }
    }

    /// Octets this prefix takes on the wire.
    pub fn encoded_len(&self, add_path: bool) -> usize {
        let path_id = if add_path { 4 } else { 0 };
        path_id + 1 + prefix_octets(self.prefix.prefix_len())
    }

    /// Writes the prefix; with `add_path`, a missing Path Identifier is written as 0.
    /// Assembled on the stack and written with one call: this runs per prefix.
    pub fn encode(&self, add_path: bool, buf: &mut impl BufMut) {
        let mut raw = [0u8; 4 + 1 + 16];
        let mut at = 0;
        if add_path {
            raw[..4].copy_from_slice(&self.path_id.unwrap_or(0).to_be_bytes());
            at = 4;
        }
        let len = self.prefix.prefix_len();
        raw[at] = len;
        at += 1;
        let octets = prefix_octets(len);
        match self.prefix {
            IpNet::V4(net) => {
                raw[at..at + octets].copy_from_slice(&net.network().octets()[..octets])
            }
            IpNet::V6(net) => {
                raw[at..at + octets].copy_from_slice(&net.network().octets()[..octets])
            }
        }
        buf.put_slice(&raw[..at + octets]);
    }
}

/// Octets needed for a prefix of `len` bits.
fn prefix_octets(len: u8) -> usize {
    usize::from(len).div_ceil(8)
}

/// Decodes a whole NLRI field of one family. Bits beyond the prefix length are
/// cleared: they carry no meaning (RFC 4271 §4.3 "trailing bits ... irrelevant").
pub fn decode_all(
    mut input: &[u8],
    family: Family,
    add_path: bool,
    out: &mut Vec<Nlri>,
) -> Result<(), InvalidNlri> {
    // A /26 with its length octet takes 5 octets; reserve for the common case.
    out.reserve(input.len() / 5);
    while !input.is_empty() {
        let path_id = if add_path {
            let (id, rest) = input.split_first_chunk::<4>().ok_or(InvalidNlri)?;
            input = rest;
            Some(u32::from_be_bytes(*id))
        } else {
            None
        };
        let (&len, rest) = input.split_first().ok_or(InvalidNlri)?;
        if len > family.max_prefix_len() {
            return Err(InvalidNlri);
        }
        let octets = prefix_octets(len);
        let bits = rest.get(..octets).ok_or(InvalidNlri)?;
        input = &rest[octets..];
        let prefix = match family {
            Family::Ipv4Unicast => {
                let mut raw = [0u8; 4];
                raw[..octets].copy_from_slice(bits);
                IpNet::V4(
                    Ipv4Net::new(Ipv4Addr::from(raw), len)
                        .map_err(|_| InvalidNlri)?
                        .trunc(),
                )
            }
            Family::Ipv6Unicast => {
                let mut raw = [0u8; 16];
                raw[..octets].copy_from_slice(bits);
                IpNet::V6(
                    Ipv6Net::new(Ipv6Addr::from(raw), len)
                        .map_err(|_| InvalidNlri)?
                        .trunc(),
                )
            }
        };
        out.push(Nlri { prefix, path_id });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8], family: Family, add_path: bool) -> Result<Vec<Nlri>, InvalidNlri> {
        let mut out = Vec::new();
        decode_all(bytes, family, add_path, &mut out).map(|()| out)
    }

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn ipv4_prefixes_of_every_octet_count() {
        let bytes = [0, 8, 10, 26, 10, 244, 1, 64, 32, 192, 0, 2, 1];
        let got = decode(&bytes, Family::Ipv4Unicast, false).unwrap();
        let want: Vec<_> = ["0.0.0.0/0", "10.0.0.0/8", "10.244.1.64/26", "192.0.2.1/32"]
            .into_iter()
            .map(|s| Nlri::new(net(s)))
            .collect();
        assert_eq!(got, want);
        let mut buf = Vec::new();
        want.iter().for_each(|n| n.encode(false, &mut buf));
        assert_eq!(buf, bytes);
    }

    #[test]
    fn ipv6_prefix_with_path_id() {
        let bytes = [
            0, 0, 0, 7, 122, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x40,
        ];
        let got = decode(&bytes, Family::Ipv6Unicast, true).unwrap();
        assert_eq!(got, vec![Nlri::with_path_id(net("fd00::40/122"), 7)]);
        assert_eq!(got[0].encoded_len(true), bytes.len());
    }

    #[test]
    fn trailing_bits_are_cleared() {
        let got = decode(&[25, 10, 1, 2, 0xff, 1, 0xff], Family::Ipv4Unicast, false).unwrap();
        assert_eq!(
            got,
            vec![
                Nlri::new(net("10.1.2.128/25")),
                Nlri::new(net("128.0.0.0/1"))
            ]
        );
    }

    #[test]
    fn overlong_and_truncated_prefixes_are_invalid() {
        assert_eq!(
            decode(&[33, 1, 2, 3, 4, 5], Family::Ipv4Unicast, false),
            Err(InvalidNlri)
        );
        assert_eq!(decode(&[129], Family::Ipv6Unicast, false), Err(InvalidNlri));
        assert_eq!(
            decode(&[24, 10, 1], Family::Ipv4Unicast, false),
            Err(InvalidNlri)
        );
        assert_eq!(
            decode(&[0, 0, 1], Family::Ipv4Unicast, true),
            Err(InvalidNlri)
        );
    }
}
