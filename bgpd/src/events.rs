//! The speaker actor's vocabulary: every event that reaches it, and the
//! identifiers they carry. The tasks around the actor only move bytes and
//! report; every decision is the actor's.
//!
//! ```text
//!  applier (etcd, static TOML) ── Reconfigure / Deconfigure ──┐
//!  routesync (kernel routes)   ── Learned ────────────────────┤
//!  BFD's thread (bfd/)         ── Bfd (a peer up or down) ────┤
//!  accept loop, one per listener ── Accepted ─────────────────┤   events
//!  connect task, one per attempt ── Connected ────────────────┼──────────► Speaker
//!  reader task, one per connection ── Session(Message, ...) ──┤  (one task: FSMs,
//!  writer task, one per connection ── Session(Stalled) ───────┤   RIB, update groups,
//!  signals (bgpd main)         ── Shutdown ───────────────────┘   timers)
//!                                                                   │  │  │
//!  operators (gRPC, BIRD socket, HTTP) ── Query (own queue, first) ─┘  │  │
//!  writer task ◄── encoded messages, per connection ───────────────────┘  │
//!  FibSink (routesync) ◄── best-route changes, one batch per flush ───────┘
//! ```
//!
//! The connections' tasks and the listeners come from a
//! [`crate::session::Network`]: TCP in bgpd, in-memory pipes in the
//! speaker's replay tests.

use std::io;
use std::net::{IpAddr, SocketAddr};

use crate::bfd::session::Change;
use crate::packet::{Message, Notification};
use crate::session::Stream;

/// A neighbor's index in the speaker; stable while the neighbor is configured.
pub type PeerId = u32;

/// Identifies one FSM instance of a neighbor, so that late events of a
/// replaced connection are recognised and dropped.
pub type SessionId = u64;

/// Everything that reaches the speaker actor.
#[derive(Debug)]
pub enum Event {
    /// A listener accepted a connection from `remote`.
    Accepted {
        stream: Stream,
        remote: SocketAddr,
    },
    /// An outgoing connection of (peer, session) opened, or failed.
    Connected {
        peer: PeerId,
        session: SessionId,
        result: io::Result<Stream>,
    },
    /// What a connection's reader or writer saw.
    Session {
        peer: PeerId,
        session: SessionId,
        event: SessionEvent,
    },
    Reconfigure(proto::config::SpeakerConfig),
    /// This node can run no BGP (its Node went, or lost its address).
    Deconfigure,
    /// Routes learned from the kernel came, changed or went (routesync).
    Learned(Vec<routesync::learn::LearnedChange>),
    /// A watched peer's BFD session came up or went down (bfd/).
    Bfd {
        peer: IpAddr,
        change: Change,
    },
    Shutdown(Stop),
}

// UPDATEs are nearly every event; boxing them costs an allocation each.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum SessionEvent {
    Message(Message),
    /// The peer sent something RFC 4271 §6 answers with this NOTIFICATION.
    Malformed(Notification),
    Closed(String),
    /// RFC 9687: what was queued for the peer made no progress for the send
    /// hold time; the peer is not reading.
    Stalled,
}

/// How the speaker ends its sessions when it stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// A Cease (Administrative Shutdown) to every peer: they drop its routes.
    Cease,
    /// For a restart or an upgrade: connections to peers that can keep its
    /// routes through a graceful restart (they sent the capability) close
    /// without a NOTIFICATION, so they do (RFC 4724 §4.2); the others get
    /// the Cease. The kernel's routes stay either way.
    GracefulRestart,
}
