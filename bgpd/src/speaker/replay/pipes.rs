//! A network of in-memory pipes for the replay tests: the speaker accepts
//! and opens connections as over TCP, and everything it does that the
//! outside could see (what it writes on each connection, the connections
//! it opens and closes, the keys it sets, the routes it hands the kernel)
//! goes, in the order it happens, into one [`Journal`].

use std::collections::BTreeSet;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use proto::config::Secret;
use routesync::FibUpdate;
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream};
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::Instant;

use crate::bfd::{Report, Watch, Watcher};
use crate::events::{Event, PeerId, SessionId};
use crate::session::sockopt::TtlPolicy;
use crate::session::{ConnectTo, Link, Network, Stream};
use crate::speaker::FibSink;

/// Which end opened a connection, as the peer sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Side {
    /// The peer dialed in: the speaker accepted it.
    In,
    /// The speaker connected out.
    Out,
}

/// One connection, named as the scenarios name it: `10.0.0.2/in`.
pub type ConnId = (IpAddr, Side);

/// What the outside saw, in order.
#[derive(Debug)]
pub enum Entry {
    /// The speaker wrote these octets (whole messages) on a connection.
    Wrote(ConnId, Vec<u8>),
    /// The speaker closed its side of a connection.
    Closed(ConnId),
    /// The speaker opened a connection to a peer that accepted it.
    Connected(ConnId),
    /// The speaker connected to a peer that was not listening.
    Refused(IpAddr),
    /// The speaker set (or cleared) a listener's TCP MD5 key for a peer.
    Key(IpAddr, bool),
    /// Routes handed to the kernel side.
    Fib(Vec<FibUpdate>),
    /// The kernel side was told every peer sent its table.
    Converged,
    /// BFD was asked to watch a peer, or to stop.
    BfdWatch(Watch),
    BfdForget(IpAddr),
}

/// What the world shares with the speaker's network and FIB.
#[derive(Debug, Default)]
pub struct World {
    /// What happened, and when on the (paused) clock.
    journal: Vec<(Instant, Entry)>,
    /// The speaker's events, once it listens.
    listening: Option<UnboundedSender<Event>>,
    /// Peers that accept the speaker's connections.
    pub accepting: BTreeSet<IpAddr>,
    /// Connections the speaker opened, for the harness to take up.
    pub opened: Vec<(ConnId, DuplexStream)>,
    /// The node's own addresses, the local end of every connection.
    pub node: Vec<IpAddr>,
}

pub type Shared = Arc<Mutex<World>>;

/// Room in each pipe: more than any scenario sends before it is read.
const PIPE_ROOM: usize = 1 << 20;

/// The local port of connections the speaker opens, as the kernel would
/// choose one; accepted ones are on 179.
const EPHEMERAL_PORT: u16 = 40_000;

fn lock(world: &Shared) -> std::sync::MutexGuard<'_, World> {
    world
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl World {
    fn record(&mut self, entry: Entry) {
        self.journal.push((Instant::now(), entry));
    }

    fn local_for(&self, remote: IpAddr) -> IpAddr {
        self.node
            .iter()
            .copied()
            .find(|a| a.is_ipv4() == remote.is_ipv4())
            .unwrap_or(if remote.is_ipv4() {
                IpAddr::from([0u8; 4])
            } else {
                IpAddr::from([0u16; 8])
            })
    }

    /// A connection's two ends: the speaker's link, and the pipe end the
    /// peer writes to.
    fn pipe(&self, world: &Shared, id: ConnId) -> (PipeLink, DuplexStream) {
        let (speaker_end, peer_end) = tokio::io::duplex(PIPE_ROOM);
        let (local_port, remote_port) = match id.1 {
            Side::In => (179, EPHEMERAL_PORT),
            Side::Out => (EPHEMERAL_PORT, 179),
        };
        let link = PipeLink {
            id,
            local: SocketAddr::new(self.local_for(id.0), local_port),
            remote: SocketAddr::new(id.0, remote_port),
            read: Some(speaker_end),
            world: world.clone(),
        };
        (link, peer_end)
    }
}

/// The peer at `remote` dials the speaker. `None` when nothing listens.
pub fn dial(world: &Shared, remote: IpAddr) -> Option<DuplexStream> {
    let w = lock(world);
    let events = w.listening.clone()?;
    let (link, peer_end) = w.pipe(world, (remote, Side::In));
    let remote = link.remote;
    drop(w);
    let stream = Box::new(link);
    events.send(Event::Accepted { stream, remote }).ok()?;
    Some(peer_end)
}

/// The speaker's end of one pipe: it reads what the peer wrote, and what
/// it writes goes to the journal.
#[derive(Debug)]
pub struct PipeLink {
    id: ConnId,
    local: SocketAddr,
    remote: SocketAddr,
    /// Taken by the reader; a link dropped with it was refused.
    read: Option<DuplexStream>,
    world: Shared,
}

impl Drop for PipeLink {
    fn drop(&mut self) {
        if self.read.is_some() {
            lock(&self.world).record(Entry::Closed(self.id));
        }
    }
}

impl Link for PipeLink {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }

    fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.remote)
    }

    fn apply_ttl(&self, _ttl: TtlPolicy) -> io::Result<()> {
        Ok(())
    }

    fn into_halves(
        mut self: Box<Self>,
    ) -> (
        Box<dyn AsyncRead + Send + Unpin>,
        Box<dyn AsyncWrite + Send + Unpin>,
    ) {
        let writer = JournalWriter {
            id: self.id,
            world: self.world.clone(),
        };
        let read = self.read.take().expect("a link is split once");
        (Box::new(read), Box::new(writer))
    }
}

/// The write half of a [`PipeLink`]: takes everything at once.
#[derive(Debug)]
struct JournalWriter {
    id: ConnId,
    world: Shared,
}

impl AsyncWrite for JournalWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        lock(&self.world).record(Entry::Wrote(self.id, buf.to_vec()));
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let octets: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
        let written = octets.len();
        lock(&self.world).record(Entry::Wrote(self.id, octets));
        Poll::Ready(Ok(written))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        lock(&self.world).record(Entry::Closed(self.id));
        Poll::Ready(Ok(()))
    }
}

/// The speaker's network in a replay test.
#[derive(Debug)]
pub struct PipeNetwork(pub Shared);

impl Network for PipeNetwork {
    fn listen(
        &mut self,
        _addresses: &[IpAddr],
        port: u16,
        events: &UnboundedSender<Event>,
    ) -> io::Result<Vec<SocketAddr>> {
        let mut world = lock(&self.0);
        world.listening = Some(events.clone());
        let any = IpAddr::from([0u16; 8]);
        Ok(vec![SocketAddr::new(any, port)])
    }

    fn stop_listening(&mut self) {
        lock(&self.0).listening = None;
    }

    fn listen_key(&self, peer: IpAddr, password: Option<&Secret>) -> io::Result<()> {
        lock(&self.0).record(Entry::Key(peer, password.is_some()));
        Ok(())
    }

    fn bfd(&mut self, _report: Report) -> io::Result<Box<dyn Watcher>> {
        Ok(Box::new(JournalBfd(self.0.clone())))
    }

    fn connect(
        &self,
        peer: PeerId,
        session: SessionId,
        to: ConnectTo,
        events: UnboundedSender<Event>,
    ) {
        let remote = to.remote.ip();
        let mut world = lock(&self.0);
        let result = if world.accepting.contains(&remote) {
            let (link, peer_end) = world.pipe(&self.0, (remote, Side::Out));
            world.opened.push(((remote, Side::Out), peer_end));
            world.record(Entry::Connected((remote, Side::Out)));
            Ok(Box::new(link) as Stream)
        } else {
            world.record(Entry::Refused(remote));
            Err(io::ErrorKind::ConnectionRefused.into())
        };
        let _ = events.send(Event::Connected {
            peer,
            session,
            result,
        });
    }
}

/// BFD in a replay test: what the speaker asks of it goes to the journal;
/// the scenario says when a peer's BFD comes up or goes down.
#[derive(Debug)]
struct JournalBfd(Shared);

impl Watcher for JournalBfd {
    fn watch(&self, watch: Watch) {
        lock(&self.0).record(Entry::BfdWatch(watch));
    }

    fn forget(&self, peer: IpAddr) {
        lock(&self.0).record(Entry::BfdForget(peer));
    }
}

/// The kernel side of a replay test: it writes to the journal.
#[derive(Debug)]
pub struct JournalFib {
    pub world: Shared,
    /// Whether the speaker finds routes of a previous run in the kernel.
    pub preserved: bool,
}

impl FibSink for JournalFib {
    fn apply(&mut self, updates: Vec<FibUpdate>) {
        lock(&self.world).record(Entry::Fib(updates));
    }

    fn converged(&mut self) {
        lock(&self.world).record(Entry::Converged);
    }

    fn forwarding_preserved(&self) -> bool {
        self.preserved
    }
}

/// The world's journal so far, emptied. What happened at one instant is
/// in an order of its own: first what the actor itself did (connects,
/// keys, routes), then each connection's writes in the order of the
/// connections; the writers' tasks ran in an order that says nothing.
pub fn take_journal(world: &Shared) -> Vec<Entry> {
    let mut journal = std::mem::take(&mut lock(world).journal);
    journal.sort_by_key(|(at, entry)| {
        let connection = match entry {
            Entry::Wrote(id, _) | Entry::Closed(id) => Some(*id),
            _ => None,
        };
        (*at, connection)
    });
    journal.into_iter().map(|(_, entry)| entry).collect()
}

/// Connections the speaker opened since last asked.
pub fn take_opened(world: &Shared) -> Vec<(ConnId, DuplexStream)> {
    std::mem::take(&mut lock(world).opened)
}
