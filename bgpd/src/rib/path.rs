//! A path: one way to reach a prefix, from one source.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use super::attrs::RouteAttrs;

pub use crate::events::PeerId;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// Originated by this speaker (its blocks and static ranges).
    Local,
    Peer(PeerId),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Path {
    pub source: Source,
    /// The ADD-PATH Path Identifier it came with (0 without ADD-PATH).
    pub path_id: u32,
    /// Kept from a peer in graceful restart until it sends the path again
    /// or its End-of-RIB sweeps it (RFC 4724 §4.2). It fills padding: the
    /// path is no larger for it.
    pub stale: bool,
    pub attrs: Arc<RouteAttrs>,
}

/// What selection and export need to know about a path's source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SourceInfo {
    /// Learned from a peer in another AS.
    pub ebgp: bool,
    pub router_id: Ipv4Addr,
    pub address: IpAddr,
    /// The source is a client of this route reflector.
    pub rr_client: bool,
}
