//! Packing many prefixes that share one attribute set into as few UPDATEs as the
//! session's message size allows (RFC 4271 §4.3; RFC 8654 raises the size).
//!
//! The attributes are encoded once per call and copied into each message; the
//! output is a run of complete messages in one buffer, which a caller can freeze
//! and send as it is to every peer of an update group.

use bytes::{BufMut, BytesMut};

use super::attribute::{self, NextHop, PathAttributes};
use super::context::{EncodeCtx, Family};
use super::header::{EncodeError, HEADER_LEN, MARKER};
use super::iana::MessageType;
use super::nlri::Nlri;
use super::update::patch_u16;

/// Withdrawn Routes Length and Total Path Attribute Length.
const UPDATE_FIXED_LEN: usize = HEADER_LEN + 4;

#[derive(Debug)]
pub struct UpdatePacker {
    ctx: EncodeCtx,
    /// The encoded attributes of the current call; kept to reuse its memory.
    attrs: BytesMut,
}

impl UpdatePacker {
    pub fn new(ctx: EncodeCtx) -> Self {
        Self {
            ctx,
            attrs: BytesMut::new(),
        }
    }

    pub fn ctx(&self) -> &EncodeCtx {
        &self.ctx
    }

    /// Announces IPv4 unicast prefixes in the NLRI field, with `attrs` (which
    /// must hold NEXT_HOP; its MP attributes are ignored). Returns the number of
    /// messages appended to `out`.
    pub fn announce_ipv4(
        &mut self,
        attrs: &PathAttributes,
        prefixes: &[Nlri],
        out: &mut BytesMut,
    ) -> Result<usize, EncodeError> {
        self.encode_attrs(attrs);
        let add_path = self.ctx.add_path.contains(Family::Ipv4Unicast);
        let room = self.room(self.attrs.len())?;
        let mut messages = 0;
        for chunk in Chunks::new(prefixes, add_path, room) {
            let chunk = chunk?;
            let start = begin_update(out);
            out.put_u16(0); // no withdrawn routes
            out.put_u16(self.attrs.len() as u16);
            out.put_slice(&self.attrs);
            chunk.iter().for_each(|n| n.encode(add_path, out));
            finish(out, start);
            messages += 1;
        }
        Ok(messages)
    }

    /// Announces prefixes of `family` in MP_REACH_NLRI with `next_hop`, plus
    /// `attrs` (whose own MP attributes are ignored).
    pub fn announce_mp(
        &mut self,
        family: Family,
        next_hop: NextHop,
        attrs: &PathAttributes,
        prefixes: &[Nlri],
        out: &mut BytesMut,
    ) -> Result<usize, EncodeError> {
        self.encode_attrs(attrs);
        let add_path = self.ctx.add_path.contains(family);
        let head_len = attribute::mp_reach_head_len(&next_hop);
        let room = self.room(self.attrs.len() + head_len)?;
        let reach = attribute::MpReach {
            family,
            next_hop,
            nlri: Vec::new(),
        };
        let mut messages = 0;
        for chunk in Chunks::new(prefixes, add_path, room) {
            let chunk = chunk?;
            let prefixes_len: usize = chunk.iter().map(|n| n.encoded_len(add_path)).sum();
            let start = begin_update(out);
            out.put_u16(0);
            out.put_u16((head_len + prefixes_len + self.attrs.len()) as u16);
            // RFC 7606 §5.1: MP_REACH_NLRI comes first.
            attribute::encode_mp_reach_head(&reach, prefixes_len, out);
            chunk.iter().for_each(|n| n.encode(add_path, out));
            out.put_slice(&self.attrs);
            finish(out, start);
            messages += 1;
        }
        Ok(messages)
    }

    /// Withdraws prefixes of `family`: IPv4 unicast in the Withdrawn Routes
    /// field, any other family in MP_UNREACH_NLRI.
    pub fn withdraw(
        &mut self,
        family: Family,
        prefixes: &[Nlri],
        out: &mut BytesMut,
    ) -> Result<usize, EncodeError> {
        let add_path = self.ctx.add_path.contains(family);
        let ipv4 = family == Family::Ipv4Unicast;
        let head_len = if ipv4 {
            0
        } else {
            attribute::MP_UNREACH_HEAD_LEN
        };
        let room = self.room(head_len)?;
        let mut messages = 0;
        for chunk in Chunks::new(prefixes, add_path, room) {
            let chunk = chunk?;
            let prefixes_len: usize = chunk.iter().map(|n| n.encoded_len(add_path)).sum();
            let start = begin_update(out);
            if ipv4 {
                out.put_u16(prefixes_len as u16);
                chunk.iter().for_each(|n| n.encode(add_path, out));
                out.put_u16(0);
            } else {
                out.put_u16(0);
                out.put_u16((head_len + prefixes_len) as u16);
                attribute::encode_mp_unreach_head(family, prefixes_len, out);
                chunk.iter().for_each(|n| n.encode(add_path, out));
            }
            finish(out, start);
            messages += 1;
        }
        Ok(messages)
    }

    fn encode_attrs(&mut self, attrs: &PathAttributes) {
        self.attrs.clear();
        attrs.encode_non_mp(&self.ctx, &mut self.attrs);
    }

    /// Octets left for prefixes once `used` octets of attributes are in a message.
    fn room(&self, used: usize) -> Result<usize, EncodeError> {
        let max = self.ctx.max_message_len();
        max.checked_sub(UPDATE_FIXED_LEN + used)
            .ok_or(EncodeError::TooLong {
                len: UPDATE_FIXED_LEN + used,
                max,
            })
    }
}

fn begin_update(out: &mut BytesMut) -> usize {
    let start = out.len();
    out.put_slice(&MARKER);
    out.put_u16(0);
    out.put_u8(MessageType::Update as u8);
    start
}

fn finish(out: &mut BytesMut, start: usize) {
    let len = out.len() - start;
    patch_u16(out, start + MARKER.len(), len);
}

/// Splits prefixes into runs whose encoding fits `room` octets.
struct Chunks<'a> {
    rest: &'a [Nlri],
    add_path: bool,
    room: usize,
}

impl<'a> Chunks<'a> {
    fn new(prefixes: &'a [Nlri], add_path: bool, room: usize) -> Self {
        Self {
            rest: prefixes,
            add_path,
            room,
        }
    }
}

impl<'a> Iterator for Chunks<'a> {
    type Item = Result<&'a [Nlri], EncodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let mut used = 0;
        let count = self
            .rest
            .iter()
            .take_while(|n| {
                used += n.encoded_len(self.add_path);
                used <= self.room
            })
            .count();
        if count == 0 {
            let len = self.rest[0].encoded_len(self.add_path);
            self.rest = &[];
            return Some(Err(EncodeError::TooLong {
                len,
                max: self.room,
            }));
        }
        let (chunk, rest) = self.rest.split_at(count);
        self.rest = rest;
        Some(Ok(chunk))
    }
}
