//! The speaker's one way to the network, a seam as `FibSink` is the one to
//! the kernel: bgpd runs on [`super::TcpNetwork`] (and BFD's UDP); the
//! speaker's replay tests run it on in-memory pipes, without root, sockets
//! or real time.

use std::fmt::Debug;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use proto::config::Secret;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc::UnboundedSender;

use super::sockopt::TtlPolicy;
use crate::bfd::{Report, Watcher};
use crate::events::{Event, PeerId, SessionId};

/// The reading half of a [`Link`].
pub type ReadHalf = Box<dyn AsyncRead + Send + Unpin>;
/// The writing half of a [`Link`].
pub type WriteHalf = Box<dyn AsyncWrite + Send + Unpin>;

/// A connection's byte stream, before its reader and writer start.
pub trait Link: Send + Debug {
    fn local_addr(&self) -> io::Result<SocketAddr>;
    fn peer_addr(&self) -> io::Result<SocketAddr>;
    /// RFC 5082 §3 on an accepted connection: from now on, what arrives
    /// from further away than the peer may be is dropped.
    fn apply_ttl(&self, ttl: TtlPolicy) -> io::Result<()>;
    /// The halves the reader and the writer own.
    fn into_halves(self: Box<Self>) -> (ReadHalf, WriteHalf);
}

/// A connection as events carry it.
pub type Stream = Box<dyn Link>;

/// Where connections come from and go to.
pub trait Network: Send + Debug {
    /// Binds the BGP port on each of `addresses` (on every address when
    /// there are none), in place of what was bound before; accepted
    /// connections come to `events` as [`Event::Accepted`].
    fn listen(
        &mut self,
        addresses: &[IpAddr],
        port: u16,
        events: &UnboundedSender<Event>,
    ) -> io::Result<Vec<SocketAddr>>;

    /// Accepts nothing more (the speaker is stopping).
    fn stop_listening(&mut self);

    /// RFC 2385: connections accepted from `peer` are signed with
    /// `password`, or no longer.
    fn listen_key(&self, peer: IpAddr, password: Option<&Secret>) -> io::Result<()>;

    /// Starts watching peers with BFD (RFC 5880); what it sees goes to
    /// `report`. Called once, for the first peer configured for it.
    fn bfd(&mut self, report: Report) -> io::Result<Box<dyn Watcher>>;

    /// Opens a connection for (peer, session); the outcome comes to
    /// `events` as [`Event::Connected`].
    fn connect(
        &self,
        peer: PeerId,
        session: SessionId,
        to: ConnectTo,
        events: UnboundedSender<Event>,
    );
}

/// Where and how to open a connection to a peer.
#[derive(Clone, Debug)]
pub struct ConnectTo {
    pub remote: SocketAddr,
    pub source: Option<IpAddr>,
    pub timeout: Duration,
    /// The TCP MD5 key (RFC 2385), when the peer has a password.
    pub password: Option<Secret>,
    /// TTL security (RFC 5082) or multihop, when configured.
    pub ttl: Option<TtlPolicy>,
}
