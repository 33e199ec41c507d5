//! The fleet (benchmarks.md §5): hundreds of BGP client sessions held by one
//! thread of the harness, each from an address of its own, for the
//! route-reflector scenario. The thread lives in the clients' namespace and
//! runs a single-threaded runtime, so the fleet costs one core at most and
//! leaves the other to the daemon under test.
//!
//! Each client opens its session, announces nothing until told, then
//! writes its UPDATE (encoded before the clock starts) when the whole fleet
//! is told to announce. A session the daemon ends is opened again, and
//! counted. What the daemon reflects is scanned on the wire for
//! IPv4 prefixes and tallied per client, without decoding attributes.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bgpd::packet::{
    DecodeCtx, EncodeCtx, Message, Nlri, Origin, PathAttributes, UpdatePacker, HEADER_LEN,
};
use bytes::{Buf, BytesMut};
use ipnet::{IpNet, Ipv4Net};
use testnets::{Error, Host, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, watch};

use super::bgp_end::{
    encoded, end_of_rib, expect_keepalive, expect_open, negotiate, open_message, KEEPALIVE_EVERY,
};
use super::tally::Tally;
use super::{joined, usage};

const BGP_PORT: u16 = 179;
const UPDATE: u8 = 2;
const NOTIFICATION: u8 = 3;

/// One client: where it connects from, and what it announces.
#[derive(Clone, Debug)]
pub struct ClientSpec {
    pub address: Ipv4Addr,
    pub blocks: Vec<Ipv4Net>,
    /// What it observes of the others' blocks.
    pub tally: Arc<Tally>,
    /// Sessions the daemon ended, counted over the fleet.
    pub ended_by_daemon: Arc<AtomicUsize>,
}

/// What every client is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Wait,
    Announce,
    Stop,
}

pub struct Fleet {
    phase: watch::Sender<Phase>,
    /// The fleet's thread, for its CPU time (0 if it never started).
    tid: u32,
    up: std::sync::mpsc::Receiver<Result<()>>,
    thread: Option<JoinHandle<Result<()>>>,
    clients: usize,
}

impl Fleet {
    /// Starts every client in `host`, each connecting (and retrying until
    /// `setup` has passed) to `peer` in AS `asn`.
    pub fn start(
        host: &Host,
        peer: IpAddr,
        asn: u32,
        clients: Vec<ClientSpec>,
        setup: Duration,
    ) -> Fleet {
        let (phase, watching) = watch::channel(Phase::Wait);
        let (up_tx, up) = std::sync::mpsc::channel();
        let count = clients.len();
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let thread = host.ns().spawn(move || {
            let _ = tid_tx.send(usage::current_thread());
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(Error::io("start the fleet's runtime"))?;
            runtime.block_on(run(clients, peer, asn, setup, watching, up_tx))
        });
        // Sent first thing in the namespace (or never, if it cannot enter).
        let tid = tid_rx.recv().unwrap_or(0);
        Fleet {
            phase,
            tid,
            up,
            thread: Some(thread),
            clients: count,
        }
    }

    /// Waits until every session is Established; returns when the last was.
    pub fn established(&self, timeout: Duration) -> Result<Instant> {
        let deadline = Instant::now() + timeout;
        for n in 0..self.clients {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.up.recv_timeout(left) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    return Err(Error::Timeout {
                        what: format!("{} client sessions", self.clients),
                        waited: timeout,
                        state: format!("{n} established"),
                    })
                }
            }
        }
        Ok(Instant::now())
    }

    /// The CPU time the fleet's thread has used so far.
    pub fn cpu(&self) -> Duration {
        usage::thread_cpu(self.tid)
    }

    /// Every client writes its UPDATE now; returns the moment before the
    /// first could.
    pub fn announce(&self) -> Instant {
        let t0 = Instant::now();
        self.phase.send_replace(Phase::Announce);
        t0
    }

    /// Closes every session; returns the first error a client ran into.
    pub fn close(mut self) -> Result<()> {
        self.phase.send_replace(Phase::Stop);
        joined(self.thread.take(), "the fleet's thread")
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.phase.send_replace(Phase::Stop);
    }
}

async fn run(
    clients: Vec<ClientSpec>,
    peer: IpAddr,
    asn: u32,
    setup: Duration,
    phase: watch::Receiver<Phase>,
    up: std::sync::mpsc::Sender<Result<()>>,
) -> Result<()> {
    let (up_tx, mut up_rx) = mpsc::unbounded_channel();
    let mut tasks = tokio::task::JoinSet::new();
    for spec in clients {
        let client = Client {
            spec,
            peer: SocketAddr::new(peer, BGP_PORT),
            asn,
        };
        tasks.spawn(client.run(setup, phase.clone(), up_tx.clone()));
    }
    drop(up_tx);
    // Hand each client's coming up (or failing to) to the caller.
    tokio::spawn(async move {
        while let Some(result) = up_rx.recv().await {
            let _ = up.send(result);
        }
    });
    let mut first_error = None;
    while let Some(result) = tasks.join_next().await {
        let result = result.unwrap_or_else(|e| Err(Error::Bench(format!("a client: {e}"))));
        if let (Err(e), None) = (result, &first_error) {
            first_error = Some(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

struct Client {
    spec: ClientSpec,
    peer: SocketAddr,
    asn: u32,
}

/// How a client's session ended.
enum Ended {
    /// The fleet was told to stop.
    Stop,
    /// The daemon ended it (a NOTIFICATION, or the connection closed).
    ByDaemon,
}

impl Client {
    /// Holds the client's session until the fleet stops; a session the
    /// daemon ends is opened again, as a node would, and counted.
    async fn run(
        self,
        setup: Duration,
        mut phase: watch::Receiver<Phase>,
        up: mpsc::UnboundedSender<Result<()>>,
    ) -> Result<()> {
        let mut reported = false;
        loop {
            let session = match self.open(setup).await {
                Ok(session) => session,
                Err(e) => {
                    if !reported {
                        let _ = up.send(Err(Error::Bench(e.to_string())));
                    }
                    return Err(e);
                }
            };
            if !reported {
                reported = true;
                let _ = up.send(Ok(()));
            }
            match self.hold(session, &mut phase).await? {
                Ended::Stop => return Ok(()),
                Ended::ByDaemon => {
                    self.spec.ended_by_daemon.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// Keeps one session: KEEPALIVEs, the announcement when the fleet is
    /// told (at once if it already was), and every UPDATE tallied.
    async fn hold(&self, session: Session, phase: &mut watch::Receiver<Phase>) -> Result<Ended> {
        let (mut reader, mut writer) = session.stream.into_split();
        let keepalive = encoded(&Message::Keepalive, &session.encode)?;
        let announce = self.announcement(session.encode)?;
        if *phase.borrow_and_update() == Phase::Announce {
            writer
                .write_all(&announce)
                .await
                .map_err(Error::io("announce"))?;
        }
        let mut buf = session.leftover;
        let mut events = Vec::new();
        let mut keepalives = tokio::time::interval(KEEPALIVE_EVERY);
        loop {
            tokio::select! {
                read = reader.read_buf(&mut buf) => {
                    match read {
                        Ok(0) | Err(_) if *phase.borrow() == Phase::Stop => return Ok(Ended::Stop),
                        Ok(0) | Err(_) => return Ok(Ended::ByDaemon),
                        Ok(_) => {
                            if self.take_messages(&mut buf, &mut events)? {
                                return Ok(Ended::ByDaemon);
                            }
                        }
                    }
                }
                _ = keepalives.tick() => {
                    writer.write_all(&keepalive).await.map_err(Error::io("send KEEPALIVE"))?;
                }
                changed = phase.changed() => {
                    let now = *phase.borrow_and_update();
                    match (changed, now) {
                        (Ok(()), Phase::Announce) => {
                            writer.write_all(&announce).await.map_err(Error::io("announce"))?;
                        }
                        (Ok(()), Phase::Wait) => {}
                        _ => return Ok(Ended::Stop),
                    }
                }
            }
        }
    }

    fn failed(&self, why: &str) -> Error {
        Error::Bench(format!("client {}: {why}", self.spec.address))
    }

    /// Connects from the client's address, retrying while the daemon is
    /// not yet listening or turns us away, and brings the session up.
    async fn open(&self, setup: Duration) -> Result<Session> {
        let deadline = tokio::time::Instant::now() + setup;
        loop {
            let attempt = tokio::time::timeout(Duration::from_secs(5), self.handshake()).await;
            match attempt {
                Ok(Ok(session)) => return Ok(session),
                Ok(Err(e)) if tokio::time::Instant::now() >= deadline => return Err(e),
                Err(_) if tokio::time::Instant::now() >= deadline => {
                    return Err(self.failed("no session in time"))
                }
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    async fn handshake(&self) -> Result<Session> {
        let socket = TcpSocket::new_v4().map_err(Error::io("socket"))?;
        socket
            .bind(SocketAddr::new(IpAddr::V4(self.spec.address), 0))
            .map_err(Error::io(format!("bind {}", self.spec.address)))?;
        let mut stream = socket
            .connect(self.peer)
            .await
            .map_err(Error::io(format!("connect to {}", self.peer)))?;
        stream
            .set_nodelay(true)
            .map_err(Error::io("set TCP_NODELAY"))?;
        let open = open_message(self.asn, self.spec.address);
        let greeting = encoded(&Message::Open(open.clone()), &EncodeCtx::default())?;
        stream
            .write_all(&greeting)
            .await
            .map_err(Error::io("send OPEN"))?;
        let mut buf = BytesMut::with_capacity(4096);
        let raw = next_message(&mut stream, &mut buf).await?;
        let remote = expect_open(decode(&raw, &DecodeCtx::default())?)?;
        let (decode_ctx, encode) = negotiate(&open, &remote);
        stream
            .write_all(&encoded(&Message::Keepalive, &encode)?)
            .await
            .map_err(Error::io("send KEEPALIVE"))?;
        let raw = next_message(&mut stream, &mut buf).await?;
        expect_keepalive(decode(&raw, &decode_ctx)?)?;
        stream
            .write_all(&end_of_rib(&encode)?)
            .await
            .map_err(Error::io("send End-of-RIB"))?;
        Ok(Session {
            stream,
            encode,
            leftover: buf,
        })
    }

    /// The client's blocks as iBGP announces them (RFC 4271 §5.1.5: with
    /// LOCAL_PREF), next hop itself.
    fn announcement(&self, ctx: EncodeCtx) -> Result<BytesMut> {
        let attrs = PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(Default::default()),
            next_hop: Some(self.spec.address),
            local_pref: Some(100),
            ..PathAttributes::default()
        };
        let nlri: Vec<Nlri> = self
            .spec
            .blocks
            .iter()
            .map(|b| Nlri::new(IpNet::V4(*b)))
            .collect();
        let mut out = BytesMut::new();
        UpdatePacker::new(ctx)
            .announce_ipv4(&attrs, &nlri, &mut out)
            .map_err(|e| Error::Bench(format!("encode an announcement: {e}")))?;
        Ok(out)
    }

    /// Tallies every whole message in `buf` (in one go: one lock of the
    /// tally per read, not per message) and leaves the rest; true when the
    /// daemon sent a NOTIFICATION, which ends the session.
    fn take_messages(&self, buf: &mut BytesMut, events: &mut Vec<(Ipv4Net, bool)>) -> Result<bool> {
        let mut ended = false;
        while let Some(len) = whole_message(buf)? {
            let message = &buf[..len];
            match message[HEADER_LEN - 1] {
                UPDATE => scan_update(&message[HEADER_LEN..], events)
                    .ok_or_else(|| self.failed("a malformed UPDATE"))?,
                NOTIFICATION => {
                    ended = true;
                    break;
                }
                _ => {}
            }
            buf.advance(len);
        }
        if !events.is_empty() {
            self.spec.tally.apply_routes(events.drain(..));
        }
        Ok(ended)
    }
}

struct Session {
    stream: TcpStream,
    encode: EncodeCtx,
    /// What arrived after the handshake's last message.
    leftover: BytesMut,
}

/// The length of the first message in `buf` when all of it is there.
fn whole_message(buf: &BytesMut) -> Result<Option<usize>> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let len = usize::from(u16::from_be_bytes([buf[16], buf[17]]));
    if len < HEADER_LEN {
        return Err(Error::Bench(format!("a message of length {len}")));
    }
    Ok((buf.len() >= len).then_some(len))
}

async fn next_message(stream: &mut TcpStream, buf: &mut BytesMut) -> Result<BytesMut> {
    loop {
        if let Some(len) = whole_message(buf)? {
            return Ok(buf.split_to(len));
        }
        if stream
            .read_buf(buf)
            .await
            .map_err(Error::io("read from the daemon"))?
            == 0
        {
            return Err(Error::Bench("the daemon closed the session".into()));
        }
    }
}

fn decode(raw: &[u8], ctx: &DecodeCtx) -> Result<Message> {
    Message::decode(raw, ctx).map_err(|n| Error::Bench(format!("undecodable message: {n:?}")))
}

/// The IPv4 prefixes an UPDATE body withdraws and announces in its own
/// fields (RFC 4271 §4.3), attributes skipped: (prefix, announced).
/// `None` when the fields do not add up.
fn scan_update(mut body: &[u8], events: &mut Vec<(Ipv4Net, bool)>) -> Option<()> {
    let withdrawn_len = usize::from(read_u16(&mut body)?);
    let withdrawn = body.get(..withdrawn_len)?;
    scan_prefixes(withdrawn, false, events)?;
    body.advance(withdrawn_len);
    let attrs_len = usize::from(read_u16(&mut body)?);
    scan_prefixes(body.get(attrs_len..)?, true, events)
}

fn read_u16(body: &mut &[u8]) -> Option<u16> {
    (body.len() >= 2).then(|| body.get_u16())
}

fn scan_prefixes(
    mut field: &[u8],
    announced: bool,
    events: &mut Vec<(Ipv4Net, bool)>,
) -> Option<()> {
    while let Some((&len, rest)) = field.split_first() {
        let octets = usize::from(len).div_ceil(8);
        if len > 32 || rest.len() < octets {
            return None;
        }
        let mut addr = [0u8; 4];
        addr[..octets].copy_from_slice(&rest[..octets]);
        events.push((Ipv4Net::new(Ipv4Addr::from(addr), len).ok()?, announced));
        field = &rest[octets..];
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use bgpd::packet::Family;

    use super::*;

    #[test]
    fn an_update_is_scanned_for_its_withdrawals_and_announcements() {
        let nlri = |s: &str| Nlri::new(s.parse().unwrap());
        let attrs = PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(Default::default()),
            next_hop: Some(Ipv4Addr::new(10, 1, 0, 16)),
            local_pref: Some(100),
            ..PathAttributes::default()
        };
        let mut packer = UpdatePacker::new(EncodeCtx::default());
        let mut out = BytesMut::new();
        packer
            .withdraw(Family::Ipv4Unicast, &[nlri("10.244.0.0/26")], &mut out)
            .unwrap();
        packer
            .announce_ipv4(
                &attrs,
                &[nlri("10.244.0.64/26"), nlri("10.0.0.0/8")],
                &mut out,
            )
            .unwrap();
        let mut events = Vec::new();
        while let Some(len) = whole_message(&out).unwrap() {
            let message = out.split_to(len);
            assert_eq!(message[HEADER_LEN - 1], UPDATE);
            scan_update(&message[HEADER_LEN..], &mut events).unwrap();
        }
        let shown: Vec<(String, bool)> = events.iter().map(|(p, a)| (p.to_string(), *a)).collect();
        assert_eq!(
            shown,
            [
                ("10.244.0.0/26".to_owned(), false),
                ("10.244.0.64/26".to_owned(), true),
                ("10.0.0.0/8".to_owned(), true),
            ]
        );
    }

    #[test]
    fn a_truncated_update_is_refused() {
        let mut events = Vec::new();
        assert!(
            scan_update(&[0, 5, 24, 10], &mut events).is_none(),
            "withdrawn runs past the end"
        );
        assert!(
            scan_update(&[0, 0, 0, 0, 26, 10], &mut events).is_none(),
            "a cut prefix"
        );
        assert!(scan_update(&[0, 0, 0, 0, 33, 1, 2, 3, 4, 5], &mut events).is_none());
        assert!(
            scan_update(&[0, 0, 0, 0], &mut events).is_some(),
            "an empty UPDATE"
        );
    }
}
