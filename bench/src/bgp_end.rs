//! The harness's own ends of BGP sessions: blocking sockets opened inside a
//! host's namespace, an OPEN with a long hold time, then either a feeder
//! that writes pre-encoded UPDATEs or a sink that tallies every prefix it
//! receives (and sends the only KEEPALIVEs the harness needs: a feeder's
//! UPDATEs keep its session alive, RFC 4271 §4.4). Both use bgpd's codec; the
//! daemon under test is never asked anything while timing.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpStream};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bgpd::packet::{
    Capability, DecodeCtx, EncodeCtx, Family, Message, Negotiated, OpenMessage, UpdateMessage,
    HEADER_LEN,
};
use bytes::BytesMut;
use testnets::{Error, Host, Result};

use super::tally::Tally;

/// Seconds; longer than any run's deadline.
const HOLD_TIME: u16 = 240;
/// Often enough for any hold time a daemon negotiates down to (GoBGP: 90 s).
pub(super) const KEEPALIVE_EVERY: Duration = Duration::from_secs(20);

/// An Established session, before it is given a job.
pub struct BgpEnd {
    stream: TcpStream,
    reader: MessageReader,
    pub decode: DecodeCtx,
    pub encode: EncodeCtx,
}

impl BgpEnd {
    /// Connects from `host` to `peer`:179 and brings the session up,
    /// retrying while the daemon is not yet listening or refuses us.
    pub fn connect(
        host: &Host,
        peer: IpAddr,
        local_as: u32,
        router_id: Ipv4Addr,
        timeout: Duration,
    ) -> Result<Self> {
        let deadline = Instant::now() + timeout;
        loop {
            let attempt = host
                .ns()
                .enter(|| {
                    TcpStream::connect_timeout(&SocketAddr::new(peer, 179), Duration::from_secs(2))
                        .map_err(Error::io(format!("connect to {peer}")))
                })
                .and_then(|stream| Self::handshake(stream, local_as, router_id));
            match attempt {
                Ok(end) => return Ok(end),
                Err(e) if Instant::now() >= deadline => {
                    return Err(Error::Timeout {
                        what: format!("a session from {} to {peer}", host.name()),
                        waited: timeout,
                        state: e.to_string(),
                    })
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    fn handshake(mut stream: TcpStream, local_as: u32, router_id: Ipv4Addr) -> Result<Self> {
        stream
            .set_nodelay(true)
            .map_err(Error::io("set TCP_NODELAY"))?;
        let open = open_message(local_as, router_id);
        stream
            .write_all(&encoded(
                &Message::Open(open.clone()),
                &EncodeCtx::default(),
            )?)
            .map_err(Error::io("send OPEN"))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(Error::io("set read timeout"))?;
        let mut reader = MessageReader::new(stream.try_clone().map_err(Error::io("clone"))?);
        let remote = expect_open(reader.next_message(&DecodeCtx::default())?)?;
        let (decode, encode) = negotiate(&open, &remote);
        stream
            .write_all(&encoded(&Message::Keepalive, &encode)?)
            .map_err(Error::io("send KEEPALIVE"))?;
        expect_keepalive(reader.next_message(&decode)?)?;
        stream
            .write_all(&end_of_rib(&encode)?)
            .map_err(Error::io("send End-of-RIB"))?;
        stream
            .set_read_timeout(None)
            .map_err(Error::io("clear read timeout"))?;
        Ok(Self {
            stream,
            reader,
            decode,
            encode,
        })
    }

    /// Becomes a sink: a thread tallies every prefix announced or withdrawn
    /// into `tally` until the session ends.
    pub fn into_sink(self, tally: Arc<Tally>) -> Sink {
        let Self {
            stream,
            mut reader,
            decode,
            encode,
        } = self;
        // Dropping the sender (with the Sink) ends the keepalives at once.
        let (stop, stopped) = mpsc::channel::<()>();
        let keepalives = match (encoded(&Message::Keepalive, &encode), stream.try_clone()) {
            (Ok(keepalive), Ok(mut writer)) => Some(std::thread::spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(KEEPALIVE_EVERY) {
                    if writer.write_all(&keepalive).is_err() {
                        return;
                    }
                }
            })),
            _ => None,
        };
        let thread = std::thread::spawn(move || -> Result<()> {
            loop {
                let message = match reader.next_message(&decode) {
                    Ok(message) => message,
                    Err(_) if tally.closed() => return Ok(()),
                    Err(e) => return Err(e),
                };
                match message {
                    Message::Update(update) => tally.apply(&update),
                    Message::Notification(n) => {
                        return Err(Error::Bench(format!("the daemon sent {n:?}")))
                    }
                    _ => {}
                }
            }
        });
        Sink {
            stream,
            thread,
            keepalives: keepalives.map(|thread| (stop, thread)),
        }
    }

    /// Becomes a feeder: what the daemon sends is read and dropped (so it
    /// never blocks on us), and [`Feeder::feed`] writes.
    pub fn into_feeder(self) -> Feeder {
        let Self {
            stream, mut reader, ..
        } = self;
        let drain = std::thread::spawn(move || while reader.next_raw().is_ok() {});
        Feeder {
            stream,
            _drain: drain,
        }
    }
}

/// The OPEN every harness session sends: IPv4 unicast, route refresh,
/// four-octet AS numbers, and a hold time no run outlasts.
pub(super) fn open_message(local_as: u32, router_id: Ipv4Addr) -> OpenMessage {
    // Not 0 (which RFC 4271 §4.2 allows): GoBGP then times out every write.
    OpenMessage::new(
        local_as,
        HOLD_TIME,
        router_id,
        vec![
            Capability::Multiprotocol(Family::Ipv4Unicast.into()),
            Capability::RouteRefresh,
            Capability::FourOctetAs(local_as),
        ],
    )
}

pub(super) fn expect_open(message: Message) -> Result<OpenMessage> {
    match message {
        Message::Open(remote) => Ok(remote),
        other => Err(Error::Bench(format!("expected OPEN, got {other:?}"))),
    }
}

pub(super) fn expect_keepalive(message: Message) -> Result<()> {
    match message {
        Message::Keepalive => Ok(()),
        other => Err(Error::Bench(format!("expected KEEPALIVE, got {other:?}"))),
    }
}

/// How the session decodes and encodes, from the two OPENs.
pub(super) fn negotiate(open: &OpenMessage, remote: &OpenMessage) -> (DecodeCtx, EncodeCtx) {
    let negotiated = Negotiated::new(open, remote);
    (negotiated.decode_ctx(), negotiated.encode_ctx())
}

pub(super) fn encoded(message: &Message, ctx: &EncodeCtx) -> Result<BytesMut> {
    let mut out = BytesMut::new();
    message
        .encode(ctx, &mut out)
        .map_err(|e| Error::Bench(format!("encode {message:?}: {e}")))?;
    Ok(out)
}

/// End-of-RIB for IPv4 unicast: the harness's table is empty when a
/// session comes up (RFC 4724 §2), so no daemon waits on it.
pub(super) fn end_of_rib(ctx: &EncodeCtx) -> Result<BytesMut> {
    encoded(
        &Message::Update(UpdateMessage::end_of_rib(Family::Ipv4Unicast)),
        ctx,
    )
}

pub struct Sink {
    stream: TcpStream,
    thread: JoinHandle<Result<()>>,
    /// The keepalive writer and what stops it.
    keepalives: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
}

impl Sink {
    /// Closes the session and returns what the reading thread ran into.
    pub fn close(self) -> Result<()> {
        if let Some((stop, thread)) = self.keepalives {
            drop(stop);
            let _ = thread.join();
        }
        let _ = self.stream.shutdown(Shutdown::Both);
        self.thread
            .join()
            .unwrap_or_else(|_| Err(Error::Bench("the sink thread panicked".into())))
    }
}

pub struct Feeder {
    stream: TcpStream,
    _drain: JoinHandle<()>,
}

impl Feeder {
    /// Writes `messages` (whole encoded messages); returns when the first
    /// byte went and when the last was accepted by the socket.
    pub fn feed(&mut self, messages: &[u8]) -> Result<(Instant, Instant)> {
        let first = Instant::now();
        self.stream
            .write_all(messages)
            .map_err(Error::io("feed UPDATEs"))?;
        Ok((first, Instant::now()))
    }

    pub fn close(self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// Reads whole messages from a stream through one reused buffer.
struct MessageReader {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl MessageReader {
    fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            buf: vec![0; 1 << 20],
            start: 0,
            end: 0,
        }
    }

    /// The next message's bytes, header included.
    fn next_raw(&mut self) -> Result<&[u8]> {
        loop {
            let have = self.end - self.start;
            if have >= HEADER_LEN {
                let at = self.start;
                let len = usize::from(u16::from_be_bytes([self.buf[at + 16], self.buf[at + 17]]));
                if len < HEADER_LEN {
                    return Err(Error::Bench(format!("a message of length {len}")));
                }
                if have >= len {
                    self.start += len;
                    return Ok(&self.buf[at..at + len]);
                }
            }
            // Make room: move what is left to the front.
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            let read = self
                .stream
                .read(&mut self.buf[self.end..])
                .map_err(Error::io("read from the daemon"))?;
            if read == 0 {
                return Err(Error::Bench("the daemon closed the session".into()));
            }
            self.end += read;
        }
    }

    fn next_message(&mut self, ctx: &DecodeCtx) -> Result<Message> {
        let raw = self.next_raw()?;
        Message::decode(raw, ctx).map_err(|n| Error::Bench(format!("undecodable message: {n:?}")))
    }
}
