//! One BGP message, [`Message`]: the OPEN, UPDATE, NOTIFICATION, KEEPALIVE
//! or ROUTE-REFRESH a session carries, decoded from and encoded to the wire.

use bytes::BytesMut;

use super::context::{DecodeCtx, EncodeCtx, MAX_MESSAGE_LEN};
use super::error::Notification;
use super::header::{self, EncodeError, Header, HEADER_LEN};
use super::iana::MessageType;
use super::open::{self, OpenMessage};
use super::route_refresh::RouteRefreshMessage;
use super::update::UpdateMessage;

/// One BGP message.
// UPDATE is nearly every message a session carries; boxing it to shrink the
// rare ones would cost an allocation per UPDATE.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Message {
    Open(OpenMessage),
    Update(UpdateMessage),
    Notification(Notification),
    Keepalive,
    RouteRefresh(RouteRefreshMessage),
}

impl Message {
    pub fn kind(&self) -> MessageType {
        match self {
            Self::Open(_) => MessageType::Open,
            Self::Update(_) => MessageType::Update,
            Self::Notification(_) => MessageType::Notification,
            Self::Keepalive => MessageType::Keepalive,
            Self::RouteRefresh(_) => MessageType::RouteRefresh,
        }
    }

    /// Decodes one whole message, header included. The error is the
    /// NOTIFICATION RFC 4271 §6 prescribes; send it and close the session.
    pub fn decode(message: &[u8], ctx: &DecodeCtx) -> Result<Self, Notification> {
        let head: &[u8; HEADER_LEN] = message
            .first_chunk()
            .ok_or_else(|| Notification::bad_message_length(message.len() as u16))?;
        let header = Header::check(head, ctx.max_message_len())?;
        if header.length != message.len() {
            return Err(Notification::bad_message_length(message.len() as u16));
        }
        let body = &message[HEADER_LEN..];
        Ok(match header.kind {
            MessageType::Open => Self::Open(open::OpenMessage::decode(body)?),
            MessageType::Update => Self::Update(UpdateMessage::decode(body, ctx)?),
            MessageType::Notification => Self::Notification(
                Notification::decode_body(body)
                    .ok_or_else(|| Notification::bad_message_length(message.len() as u16))?,
            ),
            MessageType::Keepalive => Self::Keepalive,
            MessageType::RouteRefresh => Self::RouteRefresh(RouteRefreshMessage::decode(message)?),
        })
    }

    /// Appends the encoded message to `buf`. Fails, leaving `buf` as it was,
    /// when the message would exceed the session's size limit.
    pub fn encode(&self, ctx: &EncodeCtx, buf: &mut BytesMut) -> Result<(), EncodeError> {
        let max = match self {
            // RFC 8654 §4: OPEN and KEEPALIVE never exceed 4096 octets.
            Self::Open(_) | Self::Keepalive => MAX_MESSAGE_LEN,
            _ => ctx.max_message_len(),
        };
        header::encode_message(self.kind(), max, buf, |buf| match self {
            Self::Open(open) => open.encode_body(buf),
            Self::Update(update) => update.encode_body(ctx, buf),
            Self::Notification(n) => n.encode_body(buf),
            Self::Keepalive => {}
            Self::RouteRefresh(rr) => rr.encode_body(buf),
        })
    }

    /// Encodes into a new buffer; for tests and one-off messages.
    pub fn to_bytes(&self, ctx: &EncodeCtx) -> Result<bytes::Bytes, EncodeError> {
        let mut buf = BytesMut::new();
        self.encode(ctx, &mut buf)?;
        Ok(buf.freeze())
    }
}
