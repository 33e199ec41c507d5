//! ROUTE-REFRESH (RFC 2918 §3), with the subtypes of Enhanced Route Refresh
//! (RFC 7313 §3.2).
//!
//! ```text
//!  0       7      15      23      31
//! +-------+-------+-------+-------+
//! |      AFI      | Subtype| SAFI  |
//! +-------+-------+-------+-------+
//! ```

use bytes::{BufMut, Bytes};

use super::context::Family;
use super::error::{code, route_refresh_subcode, Notification};
use super::header::HEADER_LEN;

/// The Message Subtype field (RFC 7313 §3.2); RFC 2918 called it Reserved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RefreshSubtype {
    /// 0: a normal route refresh request.
    Request,
    /// 1: Beginning of Route Refresh.
    BeginningOfRefresh,
    /// 2: End of Route Refresh.
    EndOfRefresh,
    /// Anything else: RFC 7313 §5 says the message is ignored.
    Other(u8),
}

impl From<u8> for RefreshSubtype {
    fn from(value: u8) -> Self {
        match value {
            0 => Self::Request,
            1 => Self::BeginningOfRefresh,
            2 => Self::EndOfRefresh,
            other => Self::Other(other),
        }
    }
}

impl From<RefreshSubtype> for u8 {
    fn from(value: RefreshSubtype) -> u8 {
        match value {
            RefreshSubtype::Request => 0,
            RefreshSubtype::BeginningOfRefresh => 1,
            RefreshSubtype::EndOfRefresh => 2,
            RefreshSubtype::Other(other) => other,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RouteRefreshMessage {
    pub afi: u16,
    pub subtype: RefreshSubtype,
    pub safi: u8,
}

impl RouteRefreshMessage {
    pub fn request(family: Family) -> Self {
        Self {
            afi: family.afi(),
            subtype: RefreshSubtype::Request,
            safi: family.safi(),
        }
    }

    /// The family, if podroute speaks it; RFC 2918 §4 says a request for any
    /// other is ignored.
    pub fn family(&self) -> Option<Family> {
        Family::from_afi_safi(self.afi, self.safi)
    }

    /// `message` is the whole message, which RFC 7313 §5 puts in the Data of
    /// the error for a wrong length.
    pub(super) fn decode(message: &[u8]) -> Result<Self, Notification> {
        match *message.get(HEADER_LEN..).unwrap_or_default() {
            [a, b, subtype, safi] => Ok(Self {
                afi: u16::from_be_bytes([a, b]),
                subtype: subtype.into(),
                safi,
            }),
            // RFC 7313 §5: a BoRR or EoRR of the wrong length is a ROUTE-REFRESH
            // Message Error; RFC 2918 leaves the plain request to §6.1.
            [_, _, 1 | 2, ..] => Err(Notification::new(
                code::ROUTE_REFRESH,
                route_refresh_subcode::INVALID_MESSAGE_LENGTH,
                Bytes::copy_from_slice(message),
            )),
            _ => Err(Notification::bad_message_length(message.len() as u16)),
        }
    }

    pub(super) fn encode_body(&self, buf: &mut impl BufMut) {
        buf.put_u16(self.afi);
        buf.put_u8(self.subtype.into());
        buf.put_u8(self.safi);
    }
}
