//! The message header (RFC 4271 §4.1) and its checks (§6.1).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +                           Marker (16 octets of ones)          +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Length               |      Type     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use bytes::{BufMut, Bytes, BytesMut};
use thiserror::Error;

use super::context::MAX_MESSAGE_LEN;
use super::error::{header_subcode, Notification};
use super::iana::MessageType;

pub const MARKER: [u8; 16] = [0xff; 16];
pub const HEADER_LEN: usize = 19;

/// The shortest message of each type (RFC 4271 §4.2 to §4.5, RFC 2918 §3).
fn min_len(kind: MessageType) -> usize {
    match kind {
        MessageType::Open => 29,
        MessageType::Update => 23,
        MessageType::Notification => 21,
        MessageType::Keepalive => HEADER_LEN,
        MessageType::RouteRefresh => 23,
    }
}

/// A header that passed the checks of RFC 4271 §6.1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The whole message's length, header included.
    pub length: usize,
    pub kind: MessageType,
}

impl Header {
    /// Checks the first 19 octets of a message: the marker, a length that fits
    /// the type and `max_len`, and a known type. Errors carry the Data that
    /// §6.1 names (the Length field, or the Type field).
    pub fn check(head: &[u8; HEADER_LEN], max_len: usize) -> Result<Self, Notification> {
        if head[..16] != MARKER {
            return Err(Notification::header(
                header_subcode::CONNECTION_NOT_SYNCHRONIZED,
                Bytes::new(),
            ));
        }
        let length_field = u16::from_be_bytes([head[16], head[17]]);
        let length = usize::from(length_field);
        let kind = MessageType::try_from(head[18]).map_err(|kind| {
            Notification::header(
                header_subcode::BAD_MESSAGE_TYPE,
                Bytes::copy_from_slice(&[kind]),
            )
        })?;
        // RFC 8654 §4: OPEN and KEEPALIVE stay within 4096 octets even when
        // extended messages are negotiated.
        let max = match kind {
            MessageType::Open | MessageType::Keepalive => max_len.min(MAX_MESSAGE_LEN),
            _ => max_len,
        };
        let exact = matches!(kind, MessageType::Keepalive);
        if length < min_len(kind) || length > max || (exact && length != HEADER_LEN) {
            return Err(Notification::bad_message_length(length_field));
        }
        Ok(Self { length, kind })
    }
}

/// A message could not be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum EncodeError {
    #[error("message of {len} octets exceeds the limit of {max} for this session")]
    TooLong { len: usize, max: usize },
}

/// Writes a message: header, then the body `body` writes, then the length.
/// On error nothing is left in `buf`.
pub(super) fn encode_message(
    kind: MessageType,
    max_len: usize,
    buf: &mut BytesMut,
    body: impl FnOnce(&mut BytesMut),
) -> Result<(), EncodeError> {
    let start = buf.len();
    buf.put_slice(&MARKER);
    buf.put_u16(0);
    buf.put_u8(kind as u8);
    body(buf);
    let len = buf.len() - start;
    if len > max_len {
        buf.truncate(start);
        return Err(EncodeError::TooLong { len, max: max_len });
    }
    buf[start + 16..start + 18].copy_from_slice(&(len as u16).to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(length: u16, kind: u8) -> [u8; HEADER_LEN] {
        let mut h = [0xff; HEADER_LEN];
        h[16..18].copy_from_slice(&length.to_be_bytes());
        h[18] = kind;
        h
    }

    #[test]
    fn accepts_valid_headers() {
        assert_eq!(
            Header::check(&head(19, 4), 4096),
            Ok(Header {
                length: 19,
                kind: MessageType::Keepalive
            })
        );
        assert_eq!(
            Header::check(&head(5000, 2), 65535).map(|h| h.length),
            Ok(5000)
        );
    }

    #[test]
    fn errors_carry_the_data_rfc4271_names() {
        let mut bad_marker = head(19, 4);
        bad_marker[3] = 0;
        assert_eq!(
            Header::check(&bad_marker, 4096),
            Err(Notification::header(1, Bytes::new()))
        );
        assert_eq!(
            Header::check(&head(20, 4), 4096),
            Err(Notification::bad_message_length(20))
        );
        assert_eq!(
            Header::check(&head(18, 2), 4096),
            Err(Notification::bad_message_length(18))
        );
        assert_eq!(
            Header::check(&head(5000, 2), 4096),
            Err(Notification::bad_message_length(5000))
        );
        assert_eq!(
            Header::check(&head(5000, 1), 65535),
            Err(Notification::bad_message_length(5000))
        );
        assert_eq!(
            Header::check(&head(28, 1), 4096),
            Err(Notification::bad_message_length(28))
        );
        assert_eq!(
            Header::check(&head(19, 9), 4096),
            Err(Notification::header(3, Bytes::from_static(&[9])))
        );
    }
}
