//! The NOTIFICATION message body (RFC 4271 §4.5). The type itself is
//! [`Notification`], which is also every decoder's error.

use bytes::{BufMut, Bytes};

use super::error::Notification;

impl Notification {
    /// Any body of two octets or more is a NOTIFICATION; the header check has
    /// already refused shorter ones (RFC 4271 §4.5: minimum length 21).
    pub(super) fn decode_body(body: &[u8]) -> Option<Self> {
        let (&code, rest) = body.split_first()?;
        let (&subcode, data) = rest.split_first()?;
        Some(Self {
            code,
            subcode,
            data: Bytes::copy_from_slice(data),
        })
    }

    pub(super) fn encode_body(&self, buf: &mut impl BufMut) {
        buf.put_u8(self.code);
        buf.put_u8(self.subcode);
        buf.put_slice(&self.data);
    }

    /// An Administrative Shutdown or Reset with a shutdown communication
    /// (RFC 9003 §2): a length octet and up to 255 octets of UTF-8, cut at a
    /// character boundary.
    pub fn with_shutdown_communication(subcode: u8, text: &str) -> Self {
        let mut end = text.len().min(255);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let mut data = Vec::with_capacity(end + 1);
        data.push(end as u8);
        data.extend_from_slice(&text.as_bytes()[..end]);
        Self::new(super::error::code::CEASE, subcode, data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::error::cease_subcode;

    #[test]
    fn shutdown_communication_round_trip() {
        let n = Notification::with_shutdown_communication(
            cease_subcode::ADMINISTRATIVE_SHUTDOWN,
            "maintenance",
        );
        assert_eq!(n.shutdown_communication(), Some("maintenance"));
        assert_eq!(
            n.to_string(),
            "Administrative shutdown (code 6, subcode 2): maintenance"
        );
        let long = "é".repeat(200);
        let n =
            Notification::with_shutdown_communication(cease_subcode::ADMINISTRATIVE_RESET, &long);
        assert_eq!(n.data[0], 254);
        assert_eq!(n.shutdown_communication().map(str::len), Some(254));
    }

    #[test]
    fn a_notification_without_subcode_is_refused() {
        assert_eq!(Notification::decode_body(&[6]), None);
        assert_eq!(
            Notification::decode_body(&[4, 0]),
            Some(Notification::new(4, 0, Bytes::new()))
        );
    }
}
