//! The BGP-4 wire codec: every message a calico-node-class speaker sends or
//! receives, decoded and encoded side by side, with no I/O.
//!
//! - [`Message::decode`] takes one framed message and a [`DecodeCtx`]; its
//!   error is the [`Notification`] to send. UPDATE attribute errors follow
//!   RFC 7606 and come back as data in [`UpdateMessage::errors`].
//! - [`Message::encode`] writes one message for an [`EncodeCtx`].
//! - [`BgpCodec`] frames a byte stream for tokio; [`UpdatePacker`] writes many
//!   prefixes that share attributes into as few UPDATEs as fit.

mod attribute;
mod capability;
mod codec;
mod context;
mod error;
mod header;
pub mod iana;
mod message;
mod negotiated;
mod nlri;
mod notification;
mod open;
mod pack;
mod route_refresh;
mod update;
mod wire;

pub use self::attribute::{
    flags as attr_flags, Aggregator, AsPath, AsSegment, Community, ExtCommunity, LargeCommunity,
    MpReach, MpUnreach, NextHop, Origin, PathAttributes, RawAttribute, SegmentKind,
    MAX_SEGMENT_LEN,
};
pub use self::capability::{
    AddPathFamily, AddPathMode, AfiSafi, Capability, GracefulRestart, GracefulRestartFamily,
};
pub use self::codec::{BgpCodec, CodecError};
pub use self::context::{
    DecodeCtx, EncodeCtx, Family, FamilySet, MAX_EXTENDED_MESSAGE_LEN, MAX_MESSAGE_LEN,
};
pub use self::error::{
    cease_subcode, code, header_subcode, open_subcode, route_refresh_subcode, update_subcode,
    AttrAction, AttrError, Notification,
};
pub use self::header::{EncodeError, Header, HEADER_LEN, MARKER};
pub use self::message::Message;
pub use self::negotiated::Negotiated;
pub use self::nlri::Nlri;
pub use self::open::{OpenMessage, BGP_VERSION};
pub use self::pack::UpdatePacker;
pub use self::route_refresh::{RefreshSubtype, RouteRefreshMessage};
pub use self::update::UpdateMessage;
