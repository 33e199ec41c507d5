//! Framing of a BGP byte stream for `tokio_util::codec` (RFC 4271 §4.1, §6.1).
//!
//! The header is checked as soon as its 19 octets arrive, so a peer that sends
//! garbage is refused before the rest of its "message" is awaited.

use std::io;

use bytes::{Bytes, BytesMut};
use thiserror::Error;
use tokio_util::codec::{Decoder, Encoder};

use super::context::{DecodeCtx, EncodeCtx};
use super::error::Notification;
use super::header::{EncodeError, Header, HEADER_LEN};
use super::Message;

#[derive(Debug, Error)]
pub enum CodecError {
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The peer sent something RFC 4271 §6 answers with this NOTIFICATION.
    #[error("received a bad message: {0}")]
    Notification(Notification),
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

/// Reads and writes messages for one session. The contexts start as plain
/// RFC 4271 and are replaced once the OPENs are exchanged.
#[derive(Clone, Debug, Default)]
pub struct BgpCodec {
    pub decode_ctx: DecodeCtx,
    pub encode_ctx: EncodeCtx,
}

impl BgpCodec {
    pub fn new(decode_ctx: DecodeCtx, encode_ctx: EncodeCtx) -> Self {
        Self {
            decode_ctx,
            encode_ctx,
        }
    }
}

impl Decoder for BgpCodec {
    type Item = Message;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Message>, CodecError> {
        let Some(head) = src.first_chunk::<HEADER_LEN>() else {
            return Ok(None);
        };
        let header = Header::check(head, self.decode_ctx.max_message_len())
            .map_err(CodecError::Notification)?;
        if src.len() < header.length {
            src.reserve(header.length - src.len());
            return Ok(None);
        }
        let frame = src.split_to(header.length);
        Message::decode(&frame, &self.decode_ctx)
            .map(Some)
            .map_err(CodecError::Notification)
    }
}

impl Encoder<&Message> for BgpCodec {
    type Error = CodecError;

    fn encode(&mut self, message: &Message, dst: &mut BytesMut) -> Result<(), CodecError> {
        Ok(message.encode(&self.encode_ctx, dst)?)
    }
}

/// Messages encoded once for many peers (see `UpdatePacker`) pass through as
/// they are.
impl Encoder<Bytes> for BgpCodec {
    type Error = CodecError;

    fn encode(&mut self, encoded: Bytes, dst: &mut BytesMut) -> Result<(), CodecError> {
        dst.extend_from_slice(&encoded);
        Ok(())
    }
}
