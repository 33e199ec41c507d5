//! The BFD fleet: one BFD session (RFC 5880 asynchronous mode, RFC 5881
//! single hop) per client of the route-reflector scenario, answering the
//! daemon under test and watching how punctual it is. It runs beside the
//! BGP fleet in the clients' namespace, on a thread of its own, so that
//! scanning the fan-out never makes its packets late.
//!
//! Punctuality is read from the kernel's receive timestamps
//! (SO_TIMESTAMPNS), not from when this thread got round to a packet: a
//! gap between two of the daemon's packets is the daemon's, whatever the
//! harness was doing.

use std::io::{self, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use bgpd::bfd::packet::{ControlPacket, State};
use bgpd::bfd::session::{jittered, Change, Session, Timers};
use nix::sys::socket::{recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags};
use nix::sys::time::TimeSpec;
use testnets::{Error, Host, Result};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::{joined, usage};

/// RFC 5881 §4: Control packets go to this port, from one in 49152-65535.
const BFD_PORT: u16 = 3784;
const FIRST_SOURCE_PORT: u16 = 49152;
/// RFC 5881 §5: single-hop packets leave at 255 and must arrive so.
const TTL: u8 = 255;

/// What the fleet saw of the daemon during one phase of a run, over every
/// client.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Punctuality {
    /// The daemon's packets counted (each after an Up one).
    pub packets: u64,
    /// The longest time between two of them to one client.
    pub longest_gap: Duration,
    /// Gaps of more than one and a half intervals: a packet missed.
    pub missed: u64,
    /// Gaps longer than the detection time: the client would have taken
    /// the session down.
    pub expired: u64,
    /// Times the daemon said a session was no longer Up: it missed ours.
    pub dropped_by_daemon: u64,
}

impl Punctuality {
    fn merge(&mut self, other: &Punctuality) {
        self.packets += other.packets;
        self.longest_gap = self.longest_gap.max(other.longest_gap);
        self.missed += other.missed;
        self.expired += other.expired;
        self.dropped_by_daemon += other.dropped_by_daemon;
    }
}

/// How many phases a run has; the fleet counts each on its own.
pub const PHASES: usize = 2;

pub struct BfdFleet {
    /// The phase now, `PHASES` before the first and after the last.
    phase: Arc<AtomicUsize>,
    stop: watch::Sender<bool>,
    tid: u32,
    up: std::sync::mpsc::Receiver<()>,
    thread: Option<JoinHandle<Result<[Punctuality; PHASES]>>>,
    clients: usize,
}

impl BfdFleet {
    /// Starts a session from each of `clients` to `daemon`, in `host`.
    pub fn start(host: &Host, daemon: Ipv4Addr, clients: Vec<Ipv4Addr>) -> BfdFleet {
        let phase = Arc::new(AtomicUsize::new(PHASES));
        let (stop, stopping) = watch::channel(false);
        let (up_tx, up) = std::sync::mpsc::channel();
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let count = clients.len();
        let shared = phase.clone();
        let thread = host.ns().spawn(move || {
            let _ = tid_tx.send(usage::current_thread());
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(Error::io("start the BFD fleet's runtime"))?;
            runtime.block_on(run(clients, daemon, shared, stopping, up_tx))
        });
        let tid = tid_rx.recv().unwrap_or(0);
        BfdFleet {
            phase,
            stop,
            tid,
            up,
            thread: Some(thread),
            clients: count,
        }
    }

    /// Waits until every session has been Up; the fleet's own error if it
    /// stopped (a socket it could not bind), rather than the wait's.
    pub fn up(&mut self, timeout: Duration) -> Result<()> {
        let deadline = std::time::Instant::now() + timeout;
        for n in 0..self.clients {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if self.up.recv_timeout(left).is_err() {
                if self.thread.as_ref().is_some_and(JoinHandle::is_finished) {
                    joined(self.thread.take(), "the BFD fleet's thread")?;
                }
                return Err(Error::Timeout {
                    what: format!("{} BFD sessions up", self.clients),
                    waited: timeout,
                    state: format!("{n} up"),
                });
            }
        }
        Ok(())
    }

    /// Counts what follows in phase `phase` (below [`PHASES`]).
    pub fn enter(&self, phase: usize) {
        self.phase.store(phase, Ordering::Relaxed);
    }

    /// The CPU time the fleet's thread has used so far.
    pub fn cpu(&self) -> Duration {
        usage::thread_cpu(self.tid)
    }

    /// Ends every session; what each phase saw.
    pub fn finish(mut self) -> Result<[Punctuality; PHASES]> {
        self.phase.store(PHASES, Ordering::Relaxed);
        self.stop.send_replace(true);
        joined(self.thread.take(), "the BFD fleet's thread")
    }
}

impl Drop for BfdFleet {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

async fn run(
    clients: Vec<Ipv4Addr>,
    daemon: Ipv4Addr,
    phase: Arc<AtomicUsize>,
    stop: watch::Receiver<bool>,
    up: std::sync::mpsc::Sender<()>,
) -> Result<[Punctuality; PHASES]> {
    let (up_tx, mut up_rx) = mpsc::unbounded_channel();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, address) in clients.into_iter().enumerate() {
        let client = Client::open(i, address, daemon)?;
        tasks.spawn(client.run(phase.clone(), stop.clone(), up_tx.clone()));
    }
    drop(up_tx);
    tokio::spawn(async move {
        while up_rx.recv().await.is_some() {
            let _ = up.send(());
        }
    });
    let mut total = [Punctuality::default(); PHASES];
    while let Some(seen) = tasks.join_next().await {
        let seen = seen.map_err(|e| Error::Bench(format!("a BFD client: {e}")))??;
        for (sum, one) in total.iter_mut().zip(&seen) {
            sum.merge(one);
        }
    }
    Ok(total)
}

struct Client {
    address: Ipv4Addr,
    /// Bound to the client's address and the well-known port.
    receiver: UdpSocket,
    /// From a source port of its own, at TTL 255, to the daemon.
    sender: UdpSocket,
    session: Session,
    /// xorshift state, for the transmit jitter.
    random: u64,
}

impl Client {
    fn open(i: usize, address: Ipv4Addr, daemon: Ipv4Addr) -> Result<Client> {
        let bind = |port| {
            std::net::UdpSocket::bind(SocketAddr::new(IpAddr::V4(address), port))
                .and_then(|s| {
                    s.set_nonblocking(true)?;
                    Ok(s)
                })
                .map_err(Error::io(format!("bind {address}:{port}")))
        };
        let receiver = bind(BFD_PORT)?;
        setsockopt(&receiver, sockopt::ReceiveTimestampns, &true)
            .and_then(|()| setsockopt(&receiver, sockopt::Ipv4RecvTtl, &true))
            .map_err(|e| Error::Bench(format!("{address}: receive options: {e}")))?;
        let source = FIRST_SOURCE_PORT + (i % 16_000) as u16;
        let sender = bind(source)?;
        sender
            .set_ttl(u32::from(TTL))
            .and_then(|()| sender.connect(SocketAddr::new(IpAddr::V4(daemon), BFD_PORT)))
            .map_err(Error::io(format!("{address}: aim at {daemon}")))?;
        let tokio = |s| UdpSocket::from_std(s).map_err(Error::io("register a BFD socket"));
        Ok(Client {
            address,
            receiver: tokio(receiver)?,
            sender: tokio(sender)?,
            session: Session::new(i as u32 + 1, Timers::default()),
            random: (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        })
    }

    async fn run(
        mut self,
        phase: Arc<AtomicUsize>,
        mut stop: watch::Receiver<bool>,
        up: mpsc::UnboundedSender<()>,
    ) -> Result<[Punctuality; PHASES]> {
        let mut seen = [Punctuality::default(); PHASES];
        let mut buf = [0u8; 64];
        // The arrival of the daemon's last packet, if it said Up.
        let mut last_up: Option<TimeSpec> = None;
        let mut next_send = Instant::now();
        let mut reported = false;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(next_send) => {
                    self.send().await?;
                    next_send = Instant::now() + self.pace();
                }
                received = receive(&self.receiver, &mut buf) => {
                    let (len, ttl, at) = received.map_err(Error::io("receive BFD"))?;
                    if ttl != Some(TTL) {
                        return Err(self.failed(&format!("a packet at TTL {ttl:?}, not 255")));
                    }
                    let packet = ControlPacket::decode(&buf[..len])
                        .map_err(|why| self.failed(&format!("an unreadable packet: {why}")))?;
                    let now = phase.load(Ordering::Relaxed);
                    if let (Some(stats), Some(at)) = (seen.get_mut(now), at) {
                        self.tally(stats, &packet, last_up, at);
                    }
                    last_up = at.filter(|_| packet.state == State::Up);
                    let pace = self.session.tx_interval();
                    let change = self.session.receive(&packet);
                    if change == Some(Change::Up) && !reported {
                        reported = true;
                        let _ = up.send(());
                    }
                    // A Final is owed at once (RFC 5880 §6.8.7), a change
                    // is news; and a new pace starts now: the peer times
                    // its detection by what it was just told (§6.8.4).
                    let repace = self.session.tx_interval() != pace;
                    if self.session.final_due() || change.is_some() || repace {
                        self.send().await?;
                        next_send = Instant::now() + self.pace();
                    }
                }
                _ = stop.changed() => return Ok(seen),
            }
        }
    }

    /// Counts one of the daemon's packets, `at` its arrival, `last_up` the
    /// arrival of the one before if that said Up.
    fn tally(
        &self,
        stats: &mut Punctuality,
        packet: &ControlPacket,
        last_up: Option<TimeSpec>,
        at: TimeSpec,
    ) {
        let Some(before) = last_up else { return };
        if packet.state != State::Up {
            stats.dropped_by_daemon += 1;
        }
        let gap = elapsed(before, at);
        stats.packets += 1;
        stats.longest_gap = stats.longest_gap.max(gap);
        let Some(detection) = self.session.detection_time() else {
            return;
        };
        // The daemon owes a packet every interval (RFC 5880 §6.8.7); the
        // detection time is that interval times its multiplier (§6.8.4).
        let interval = detection / u32::from(packet.detect_mult.max(1));
        if gap > interval * 3 / 2 {
            stats.missed += 1;
        }
        if gap > detection {
            stats.expired += 1;
        }
    }

    async fn send(&mut self) -> Result<()> {
        let octets = self.session.packet().encode();
        match self.sender.send(&octets).await {
            Ok(_) => Ok(()),
            // Nothing listens yet: the daemon is starting.
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Ok(()),
            Err(e) => Err(self.failed(&format!("send: {e}"))),
        }
    }

    /// The time to the next packet, jittered as bgpd's own (RFC 5880
    /// §6.8.7).
    fn pace(&mut self) -> Duration {
        self.random ^= self.random << 13;
        self.random ^= self.random >> 7;
        self.random ^= self.random << 17;
        let interval = self.session.tx_interval().unwrap_or(Duration::from_secs(1));
        jittered(interval, Timers::default().multiplier, self.random)
    }

    fn failed(&self, why: &str) -> Error {
        Error::Bench(format!("BFD client {}: {why}", self.address))
    }
}

/// The time from `earlier` to `later` (none if the clock went back).
fn elapsed(earlier: TimeSpec, later: TimeSpec) -> Duration {
    let nanos = |t: TimeSpec| i128::from(t.tv_sec()) * 1_000_000_000 + i128::from(t.tv_nsec());
    u64::try_from(nanos(later) - nanos(earlier)).map_or(Duration::ZERO, Duration::from_nanos)
}

/// The next datagram: its length, TTL and the kernel's receive time.
async fn receive(
    socket: &UdpSocket,
    buf: &mut [u8],
) -> io::Result<(usize, Option<u8>, Option<TimeSpec>)> {
    loop {
        socket.readable().await?;
        match socket.try_io(Interest::READABLE, || receive_now(socket, buf)) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            other => return other,
        }
    }
}

fn receive_now(
    socket: &UdpSocket,
    buf: &mut [u8],
) -> io::Result<(usize, Option<u8>, Option<TimeSpec>)> {
    let mut control = nix::cmsg_space!(TimeSpec, nix::libc::c_int);
    let mut iov = [IoSliceMut::new(buf)];
    let message = recvmsg::<()>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut control),
        MsgFlags::empty(),
    )?;
    let (mut ttl, mut at) = (None, None);
    for cmsg in message.cmsgs()? {
        match cmsg {
            ControlMessageOwned::Ipv4Ttl(value) => ttl = u8::try_from(value).ok(),
            ControlMessageOwned::ScmTimestampns(time) => at = Some(time),
            _ => {}
        }
    }
    Ok((message.bytes, ttl, at))
}
