//! Bidirectional Forwarding Detection for BGP peers (RFC 5880, single hop
//! over UDP RFC 5881, multihop RFC 5883): a peer that dies is seen in under
//! a second, where the hold timer takes minutes.
//!
//! - [`packet`]: the Control packet, decoded and encoded.
//! - [`session`]: one session's state machine, pure.
//! - [`sockets`]: the UDP sockets, and the TTL each packet came with.
//! - [`runner`]: BFD's own thread, which runs every session and tells the
//!   speaker when a peer comes up or goes down.

pub mod packet;
mod runner;
pub mod session;
mod sockets;

pub use runner::{Bfd, Report, Watch};

/// What the speaker asks of BFD: [`Bfd`], or a replay test's journal.
pub trait Watcher: Send + std::fmt::Debug {
    /// Watches a peer, or changes how; a change of address or kind starts
    /// its session again.
    fn watch(&self, watch: Watch);

    /// Stops watching a peer: it is told AdminDown (RFC 5880 §6.8.16), so
    /// it takes the end for no failure.
    fn forget(&self, peer: std::net::IpAddr);
}
