//! The OPEN message (RFC 4271 §4.2), its optional parameters (RFC 5492 §4,
//! RFC 9072 for the extended length) and its checks (§6.2).
//!
//! ```text
//! +-----------------+-------------------+--------------+-------------------+
//! | Version (1)     | My AS (2)         | Hold Time (2)| BGP Identifier (4)|
//! +-----------------+-------------------+--------------+-------------------+
//! | Opt Parm Len (1)| Optional Parameters (variable):                      |
//! |                 |   Parm. Type (1) | Parm. Length (1) | Parm. Value     |
//! +-----------------+------------------------------------------------------+
//! ```
//! RFC 9072: when Opt Parm Len and the first Parm. Type are both 255, a two
//! octet length follows, and every parameter length is two octets.

use std::net::Ipv4Addr;

use bytes::{BufMut, Bytes};

use super::capability::Capability;
use super::error::{open_subcode, Notification};
use super::iana::{open_param, AS_TRANS};
use super::wire;

pub const BGP_VERSION: u8 = 4;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OpenMessage {
    pub version: u8,
    /// The 2-octet My AS field: AS_TRANS when the real AS needs four octets.
    pub my_as: u16,
    pub hold_time: u16,
    pub bgp_id: Ipv4Addr,
    /// Every capability of every Capabilities parameter, in order.
    pub capabilities: Vec<Capability>,
}

fn unspecific() -> Notification {
    Notification::open(open_subcode::UNSPECIFIC, Bytes::new())
}

impl OpenMessage {
    /// An OPEN for `asn`, which also advertises it in the 4-octet AS capability
    /// (RFC 6793 §4.1) and puts AS_TRANS in My AS when it does not fit.
    pub fn new(
        asn: u32,
        hold_time: u16,
        bgp_id: Ipv4Addr,
        mut capabilities: Vec<Capability>,
    ) -> Self {
        if !capabilities
            .iter()
            .any(|c| matches!(c, Capability::FourOctetAs(_)))
        {
            capabilities.push(Capability::FourOctetAs(asn));
        }
        let my_as = u16::try_from(asn).unwrap_or(AS_TRANS as u16);
        Self {
            version: BGP_VERSION,
            my_as,
            hold_time,
            bgp_id,
            capabilities,
        }
    }

    /// The sender's AS: from the 4-octet AS capability when present (RFC 6793 §4.1).
    pub fn asn(&self) -> u32 {
        self.capabilities
            .iter()
            .find_map(|c| match c {
                Capability::FourOctetAs(asn) => Some(*asn),
                _ => None,
            })
            .unwrap_or(u32::from(self.my_as))
    }

    pub(super) fn decode(body: &[u8]) -> Result<Self, Notification> {
        let short = |_| unspecific();
        let (rest, version) = wire::u8(body).map_err(short)?;
        let (rest, my_as) = wire::u16(rest).map_err(short)?;
        let (rest, hold_time) = wire::u16(rest).map_err(short)?;
        let (rest, bgp_id) = wire::ipv4(rest).map_err(short)?;
        let (rest, params_len) = wire::u8(rest).map_err(short)?;
        let extended = params_len == 255 && rest.first() == Some(&open_param::EXTENDED_LENGTH);
        let params = if extended {
            let (rest, _marker) = wire::u8(rest).map_err(short)?;
            let (rest, len) = wire::u16(rest).map_err(short)?;
            exact(rest, len.into())?
        } else {
            exact(rest, params_len.into())?
        };
        let capabilities = decode_params(params, extended)?;
        Ok(Self {
            version,
            my_as,
            hold_time,
            bgp_id,
            capabilities,
        })
    }

    /// The checks of RFC 4271 §6.2 that need no configuration: version, hold
    /// time, identifier. The peer's AS is the session's to check.
    pub fn validate(&self) -> Result<(), Notification> {
        if self.version != BGP_VERSION {
            // The Data is the largest version this side supports, in two octets.
            let data = Bytes::copy_from_slice(&u16::from(BGP_VERSION).to_be_bytes());
            return Err(Notification::open(open_subcode::UNSUPPORTED_VERSION, data));
        }
        if self.hold_time == 1 || self.hold_time == 2 {
            return Err(Notification::open(
                open_subcode::UNACCEPTABLE_HOLD_TIME,
                Bytes::new(),
            ));
        }
        // RFC 6286 §2.2: the identifier is a non-zero 4-octet number.
        if self.bgp_id.is_unspecified() {
            return Err(Notification::open(
                open_subcode::BAD_BGP_IDENTIFIER,
                Bytes::new(),
            ));
        }
        Ok(())
    }

    pub(super) fn encode_body(&self, buf: &mut impl BufMut) {
        buf.put_u8(self.version);
        buf.put_u16(self.my_as);
        buf.put_u16(self.hold_time);
        buf.put_slice(&self.bgp_id.octets());

        let caps_len: usize = self.capabilities.iter().map(Capability::encoded_len).sum();
        if caps_len == 0 {
            buf.put_u8(0);
        } else if caps_len + 2 <= 255 {
            buf.put_u8((caps_len + 2) as u8);
            buf.put_u8(open_param::CAPABILITIES);
            buf.put_u8(caps_len as u8);
            self.capabilities.iter().for_each(|c| c.encode(buf));
        } else {
            // RFC 9072 §2: the parameters no longer fit one octet of length.
            buf.put_u8(255);
            buf.put_u8(open_param::EXTENDED_LENGTH);
            buf.put_u16((caps_len + 3) as u16);
            buf.put_u8(open_param::CAPABILITIES);
            buf.put_u16(caps_len as u16);
            self.capabilities.iter().for_each(|c| c.encode(buf));
        }
    }
}

/// The optional parameters must fill the rest of the message exactly.
fn exact(rest: &[u8], len: usize) -> Result<&[u8], Notification> {
    if rest.len() == len {
        Ok(rest)
    } else {
        Err(unspecific())
    }
}

fn decode_params(mut params: &[u8], extended: bool) -> Result<Vec<Capability>, Notification> {
    let short = |_| unspecific();
    let mut capabilities = Vec::new();
    while !params.is_empty() {
        let (rest, kind) = wire::u8(params).map_err(short)?;
        let (rest, len) = if extended {
            wire::u16(rest)
                .map(|(r, l)| (r, usize::from(l)))
                .map_err(short)?
        } else {
            wire::u8(rest)
                .map(|(r, l)| (r, usize::from(l)))
                .map_err(short)?
        };
        let (rest, mut value) = wire::take(rest, len).map_err(short)?;
        params = rest;
        if kind != open_param::CAPABILITIES {
            return Err(Notification::open(
                open_subcode::UNSUPPORTED_OPTIONAL_PARAMETER,
                Bytes::new(),
            ));
        }
        while !value.is_empty() {
            let (rest, code) = wire::u8(value).map_err(short)?;
            let (rest, len) = wire::u8(rest).map_err(short)?;
            let (rest, cap) = wire::take(rest, len.into()).map_err(short)?;
            value = rest;
            capabilities.push(Capability::decode(code, cap).map_err(|_| unspecific())?);
        }
    }
    Ok(capabilities)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_as_goes_in_the_capability_and_as_trans_in_my_as() {
        let open = OpenMessage::new(4_200_000_001, 240, Ipv4Addr::new(10, 0, 0, 1), vec![]);
        assert_eq!(open.my_as, 23456);
        assert_eq!(open.asn(), 4_200_000_001);
        assert_eq!(
            OpenMessage::new(64512, 240, Ipv4Addr::new(10, 0, 0, 1), vec![]).my_as,
            64512
        );
    }

    #[test]
    fn validate_names_the_rfc_subcodes() {
        let ok = OpenMessage::new(64512, 90, Ipv4Addr::new(10, 0, 0, 1), vec![]);
        assert_eq!(ok.validate(), Ok(()));
        let v3 = OpenMessage {
            version: 3,
            ..ok.clone()
        };
        assert_eq!(
            v3.validate(),
            Err(Notification::open(1, Bytes::from_static(&[0, 4])))
        );
        let hold = OpenMessage {
            hold_time: 2,
            ..ok.clone()
        };
        assert_eq!(hold.validate().map_err(|n| n.subcode), Err(6));
        let zero = OpenMessage {
            hold_time: 0,
            ..ok.clone()
        };
        assert_eq!(zero.validate(), Ok(()));
        let id = OpenMessage {
            bgp_id: Ipv4Addr::UNSPECIFIED,
            ..ok
        };
        assert_eq!(id.validate().map_err(|n| n.subcode), Err(3));
    }
}
