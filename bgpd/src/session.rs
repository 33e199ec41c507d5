//! TCP for BGP sessions: the listener, outgoing connects, and one reader and
//! one writer task per connection. These tasks only move bytes and frame
//! messages; every decision is the speaker's, reached through [`Event`]s.
//!
//! The reader decodes: it knows the OPEN this side sent, so when the peer's
//! OPEN arrives it derives the negotiated decode context itself, before it
//! reads the next message. No UPDATE can race a context update.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use futures::StreamExt;
use proto::config::Secret;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::task::JoinHandle;
use tokio_util::codec::FramedRead;
use tokio_util::task::TaskTracker;
use tracing::debug;

use crate::liveness::{Liveness, KEEPALIVE};
use crate::packet::{BgpCodec, CodecError, Message, Negotiated, Notification, OpenMessage};
use crate::rib::PeerId;
use crate::sockopt;

/// Identifies one FSM instance of a neighbor, so that late events of a
/// replaced connection are recognised and dropped.
pub type SessionId = u64;

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

/// Everything that reaches the speaker actor.
#[derive(Debug)]
pub enum Event {
    Accepted {
        stream: TcpStream,
        remote: SocketAddr,
    },
    Connected {
        peer: PeerId,
        session: SessionId,
        result: io::Result<TcpStream>,
    },
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
    Shutdown(Stop),
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

/// One established TCP connection: its writer's queue and its reader.
#[derive(Debug)]
pub struct Connection {
    writer: UnboundedSender<Bytes>,
    reader: JoinHandle<()>,
    /// What the reader and writer saw, for timers a busy speaker runs late.
    liveness: Arc<Liveness>,
    pub local: SocketAddr,
    pub remote: SocketAddr,
}

impl Connection {
    /// Starts the reader and writer of `stream`. `open` is the OPEN this side
    /// sends on it. The writer
    /// is tracked by `writers`, so that a stopping speaker can wait for its
    /// last words (a Cease) to go out before the process ends.
    pub fn start(
        stream: TcpStream,
        peer: PeerId,
        session: SessionId,
        open: OpenMessage,
        events: UnboundedSender<Event>,
        writers: &TaskTracker,
    ) -> io::Result<Self> {
        let (local, remote) = (stream.local_addr()?, stream.peer_addr()?);
        let _ = stream.set_nodelay(true);
        let (read, mut write) = stream.into_split();
        let (writer, queue) = unbounded_channel::<Bytes>();
        let send_hold = send_hold_time(open.hold_time);
        let stalled = events.clone();
        let liveness = Arc::new(Liveness::default());
        let (heard, silence) = (liveness.clone(), liveness.clone());
        writers.spawn(async move {
            match write_queued(queue, &mut write, send_hold, &silence).await {
                // The queue closed: what was queued (a final NOTIFICATION) is out.
                Ok(()) => {
                    let _ = write.shutdown().await;
                }
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    let _ = stalled.send(Event::Session {
                        peer,
                        session,
                        event: SessionEvent::Stalled,
                    });
                }
                // The reader reports a connection that failed.
                Err(_) => {}
            }
        });
        let reader = tokio::spawn(async move {
            let mut frames = FramedRead::new(read, BgpCodec::default());
            let send = |event| {
                events
                    .send(Event::Session {
                        peer,
                        session,
                        event,
                    })
                    .is_ok()
            };
            loop {
                let event = match frames.next().await {
                    Some(Ok(message)) => {
                        heard.heard_now();
                        if let Message::Open(their) = &message {
                            frames.decoder_mut().decode_ctx =
                                Negotiated::new(&open, their).decode_ctx();
                        }
                        SessionEvent::Message(message)
                    }
                    Some(Err(CodecError::Notification(n))) => SessionEvent::Malformed(n),
                    Some(Err(CodecError::Io(e))) => SessionEvent::Closed(strerror(&e)),
                    Some(Err(e)) => SessionEvent::Closed(e.to_string()),
                    None => SessionEvent::Closed("Connection closed".into()),
                };
                let last = !matches!(event, SessionEvent::Message(_));
                if !send(event) || last {
                    return;
                }
            }
        });
        Ok(Self {
            writer,
            reader,
            liveness,
            local,
            remote,
        })
    }

    /// What the connection's own tasks saw (see [`crate::liveness`]).
    pub fn liveness(&self) -> &Liveness {
        &self.liveness
    }

    /// Queues encoded messages for the writer. Nothing empty is queued: a
    /// write of it alone would return 0, which reads as a closed peer.
    pub fn send(&self, bytes: Bytes) {
        if !bytes.is_empty() {
            let _ = self.writer.send(bytes);
        }
    }

    /// Stops reading at once; the writer sends what is queued, then closes.
    pub fn close(self) {
        self.reader.abort();
    }
}

/// Most octets one write takes from the queue.
const GATHER_LIMIT: usize = 256 << 10;

/// Most queued messages one write takes: well under Linux's IOV_MAX (1024);
/// each is usually a whole flush's run of UPDATEs.
const GATHER_SLICES: usize = 64;

/// Writes what the speaker queues until it drops the queue. Whatever is
/// queued by the time a write starts goes in that one vectored write: a
/// reflector's flushes to hundreds of peers then cost a system call per
/// peer, not one per flush per peer, and the UPDATEs that every member of a
/// group shares are never copied per peer.
/// A write that makes no progress for `send_hold` fails with `TimedOut`.
/// When the queue stays empty for longer than the liveness allows, a
/// KEEPALIVE goes out of the writer's own accord.
async fn write_queued(
    mut queue: UnboundedReceiver<Bytes>,
    write: &mut OwnedWriteHalf,
    send_hold: Duration,
    liveness: &Liveness,
) -> io::Result<()> {
    let mut pending: VecDeque<Bytes> = VecDeque::new();
    let mut last_write = Instant::now();
    loop {
        let keepalive_due = liveness.writer_silence().map(|s| last_write + s);
        let first = tokio::select! {
            biased;
            first = queue.recv() => match first {
                Some(first) => first,
                None => return Ok(()),
            },
            () = sleep_until(keepalive_due) => {
                debug!("the speaker is late: the writer sends the KEEPALIVE");
                Bytes::from_static(&KEEPALIVE)
            }
        };
        let mut gathered = first.len();
        pending.push_back(first);
        while pending.len() < GATHER_SLICES && gathered < GATHER_LIMIT {
            match queue.try_recv() {
                Ok(bytes) => {
                    gathered += bytes.len();
                    pending.push_back(bytes);
                }
                Err(_) => break,
            }
        }
        write_all_within(write, &mut pending, send_hold).await?;
        last_write = Instant::now();
    }
}

/// Sleeps until `at`, or forever when there is none.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// RFC 9687 §3: the send hold time. Twice the hold time this side offers
/// (FRR's choice; eight minutes with Calico's 240 s, the RFC's suggestion),
/// and eight minutes for a session without a hold timer.
fn send_hold_time(hold_time: u16) -> Duration {
    match hold_time {
        0 => Duration::from_secs(480),
        secs => Duration::from_secs(2 * u64::from(secs)),
    }
}

/// Writes all of `pending`, emptying it, failing with `TimedOut` when no
/// octet goes out for `send_hold`: a slow peer that keeps reading is never
/// cut off.
async fn write_all_within(
    write: &mut OwnedWriteHalf,
    pending: &mut VecDeque<Bytes>,
    send_hold: Duration,
) -> io::Result<()> {
    while !pending.is_empty() {
        // The slices are made on the stack at each poll, not kept in the
        // writer's state: an idle session costs no room for them.
        let write_some = std::future::poll_fn(|cx| {
            let mut slices = [IoSlice::new(&[]); GATHER_SLICES];
            let count = slices
                .iter_mut()
                .zip(pending.iter())
                .map(|(slice, bytes)| *slice = IoSlice::new(bytes))
                .count();
            Pin::new(&mut *write).poll_write_vectored(cx, &slices[..count])
        });
        let written = match tokio::time::timeout(send_hold, write_some).await {
            Ok(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(Ok(written)) => written,
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(io::ErrorKind::TimedOut.into()),
        };
        consume(pending, written);
    }
    Ok(())
}

/// Drops the first `written` octets of `pending`: the messages written
/// whole, then the written part of the one the write stopped in.
fn consume(pending: &mut VecDeque<Bytes>, mut written: usize) {
    while let Some(front) = pending.front_mut() {
        if front.len() > written {
            front.advance(written);
            return;
        }
        written -= front.len();
        pending.pop_front();
    }
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
    pub ttl: Option<sockopt::TtlPolicy>,
}

/// Connects to `remote` from `source` (when given), within `timeout`, and
/// reports the result as an [`Event::Connected`].
pub fn connect(peer: PeerId, session: SessionId, to: ConnectTo, events: UnboundedSender<Event>) {
    tokio::spawn(async move {
        let remote = to.remote;
        let attempt = async {
            let socket = if remote.is_ipv4() {
                TcpSocket::new_v4()?
            } else {
                TcpSocket::new_v6()?
            };
            if let Some(password) = &to.password {
                sockopt::set_md5_key(
                    socket.as_raw_fd(),
                    remote.is_ipv6(),
                    remote.ip(),
                    Some(password.expose().as_bytes()),
                )
                .map_err(|e| io::Error::other(sockopt::KeyRefused(e)))?;
            }
            if let Some(ttl) = to.ttl {
                ttl.apply(socket.as_raw_fd(), remote.is_ipv6())?;
            }
            if let Some(source) = to.source {
                socket.bind(SocketAddr::new(source, 0))?;
            }
            socket.connect(remote).await
        };
        let result = match tokio::time::timeout(to.timeout, attempt).await {
            Ok(result) => result,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "Connection timed out",
            )),
        };
        let _ = events.send(Event::Connected {
            peer,
            session,
            result,
        });
    });
}

/// Binds the BGP port: on `address`, or on every address (IPv6 and, through
/// it, IPv4; IPv4 alone where IPv6 is off).
/// Binding is quick and done at once, so that the socket is there for the
/// TCP MD5 keys of the peers (RFC 2385) before anything is accepted.
pub fn listen(address: Option<IpAddr>, port: u16) -> io::Result<TcpListener> {
    let bind = |address: IpAddr| {
        let listener = std::net::TcpListener::bind(SocketAddr::new(address, port))?;
        listener.set_nonblocking(true)?;
        TcpListener::from_std(listener)
    };
    match address {
        Some(address) => bind(address),
        None => bind(IpAddr::from([0u16; 8])).or_else(|_| bind(IpAddr::from([0u8; 4]))),
    }
}

/// Binds the BGP port on each of `addresses` (one per family), or on every
/// address when there are none.
pub fn listen_on(addresses: &[IpAddr], port: u16) -> io::Result<Vec<TcpListener>> {
    if addresses.is_empty() {
        return Ok(vec![listen(None, port)?]);
    }
    addresses.iter().map(|a| listen(Some(*a), port)).collect()
}

/// The listening socket, for its TCP MD5 keys; valid while its accept loop
/// runs.
#[derive(Clone, Copy, Debug)]
pub struct ListenSocket {
    fd: std::os::fd::RawFd,
    v6: bool,
}

impl ListenSocket {
    pub fn of(listener: &TcpListener) -> io::Result<Self> {
        Ok(Self {
            fd: listener.as_raw_fd(),
            v6: listener.local_addr()?.is_ipv6(),
        })
    }

    /// Whether connections from `peer` can arrive here: an IPv4 socket
    /// takes no IPv6 peer (an IPv6 one takes IPv4 peers as mapped
    /// addresses when it is the dual-stack wildcard).
    pub fn serves(&self, peer: IpAddr) -> bool {
        self.v6 || peer.is_ipv4()
    }

    /// Connections from `peer` are signed with `password`, or no longer.
    pub fn set_key(&self, peer: IpAddr, password: Option<&Secret>) -> io::Result<()> {
        sockopt::set_md5_key(
            self.fd,
            self.v6,
            peer,
            password.map(|p| p.expose().as_bytes()),
        )
        .map_err(|e| io::Error::other(sockopt::KeyRefused(e)))
    }
}

/// Accepts connections for the speaker until it goes away.
pub fn accept_loop(listener: TcpListener, events: UnboundedSender<Event>) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, remote)) => {
                    // IPv4 peers reach a dual-stack socket as ::ffff:a.b.c.d.
                    let remote = SocketAddr::new(remote.ip().to_canonical(), remote.port());
                    if events.send(Event::Accepted { stream, remote }).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    debug!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    })
}

/// How a failed connect reads in status, as BIRD words it.
/// The system's words for a socket error, as BIRD shows them ("Connection
/// reset by peer"), without Rust's " (os error 104)".
fn strerror(error: &io::Error) -> String {
    let text = error.to_string();
    match text.find(" (os error ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

pub fn describe_connect_error(error: &io::Error) -> String {
    if error
        .get_ref()
        .is_some_and(|inner| inner.is::<sockopt::KeyRefused>())
    {
        // BIRD's words for it, without "Socket:" (a BGP error of its own).
        return "Kernel MD5 auth failed".to_owned();
    }
    let what = match error.kind() {
        io::ErrorKind::ConnectionRefused => "Connection refused".to_owned(),
        io::ErrorKind::TimedOut => "Connection timed out".to_owned(),
        io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => {
            "No route to host".to_owned()
        }
        _ => strerror(error),
    };
    // BIRD puts the state in its own column: "Active        Socket: ...".
    format!("Socket: {what}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_write_leaves_the_rest_in_order() {
        let mut pending: VecDeque<Bytes> = [&b"abc"[..], b"de", b"fghij"]
            .into_iter()
            .map(Bytes::from_static)
            .collect();
        consume(&mut pending, 4);
        assert_eq!(pending, ["e", "fghij"]);
        consume(&mut pending, 1);
        assert_eq!(pending, ["fghij"]);
        consume(&mut pending, 5);
        assert!(pending.is_empty());
    }

    /// Many messages, 65 MB in all, through a real loopback connection: far
    /// more than its socket buffers hold, so writes stop mid-message. Every
    /// octet arrives, in the order queued, and the writer ends with the queue.
    #[tokio::test]
    async fn the_writer_sends_everything_queued_in_order() {
        use tokio::io::AsyncReadExt;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (client, accepted) = tokio::join!(TcpStream::connect(address), listener.accept());
        let (_read, mut write) = client.unwrap().into_split();
        let (mut server, _) = accepted.unwrap();
        let (sender, queue) = unbounded_channel::<Bytes>();
        let mut expected = Vec::new();
        for i in 0..2_000u32 {
            // Sizes from 1 octet to 64 KiB, contents that show misordering.
            let size = 1 + (i as usize * 7919) % (64 << 10);
            let message: Vec<u8> = (0..size).map(|j| (i as usize + j) as u8).collect();
            expected.extend_from_slice(&message);
            sender.send(Bytes::from(message)).unwrap();
        }
        drop(sender);
        let liveness = Liveness::default();
        let writer = tokio::spawn(async move {
            let written = write_queued(queue, &mut write, Duration::from_secs(30), &liveness).await;
            write.shutdown().await.unwrap();
            written
        });
        let mut received = Vec::new();
        server.read_to_end(&mut received).await.unwrap();
        let received_len = received.len();
        writer.await.unwrap().unwrap();
        assert_eq!(received_len, expected.len());
        assert!(received == expected, "the octets arrived out of order");
    }

    #[test]
    fn socket_errors_read_as_bird_shows_them() {
        let reset = io::Error::from_raw_os_error(libc::ECONNRESET);
        assert_eq!(strerror(&reset), "Connection reset by peer");
        assert_eq!(
            describe_connect_error(&io::Error::from_raw_os_error(libc::ECONNREFUSED)),
            "Socket: Connection refused"
        );
        assert_eq!(
            describe_connect_error(&io::Error::from_raw_os_error(libc::EADDRNOTAVAIL)),
            "Socket: Cannot assign requested address"
        );
    }
}
