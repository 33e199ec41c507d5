//! BFD's own thread: every session's timers, sockets and state, away from
//! the speaker. A busy speaker (a full table arriving, a reflector's
//! fan-out) must not make a packet late, or the peers would see this node
//! die (the lesson of `session/liveness.rs`); so BFD does not share its
//! task, its queue or even its runtime. The speaker says which peers to
//! watch; BFD says when one comes up or goes down.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::net::UdpSocket;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio_util::time::delay_queue::{DelayQueue, Key};
use tracing::{debug, info, warn};

use super::packet::{ControlPacket, State};
use super::session::{jittered, Change, Session, Timers};
use super::sockets::{self, Received, MULTIHOP_PORT, SINGLE_HOP_PORT, TTL};
use super::Watcher;

/// A peer BFD is to watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watch {
    pub peer: IpAddr,
    /// The address packets go from; the kernel's choice when `None`.
    pub local: Option<IpAddr>,
    /// RFC 5883 (port 4784, any TTL) rather than RFC 5881 (3784, TTL 255).
    pub multihop: bool,
    pub timers: Timers,
}

/// Where BFD says that a watched peer came up or went down.
pub type Report = Box<dyn Fn(IpAddr, Change) + Send>;

enum Command {
    Watch(Watch),
    Forget(IpAddr),
}

/// Talks to BFD's thread; dropping it ends the thread.
#[derive(Debug)]
pub struct Bfd {
    commands: UnboundedSender<Command>,
}

impl Bfd {
    /// Starts BFD's thread, with nothing to watch yet.
    pub fn start(report: Report) -> io::Result<Self> {
        let (commands, receiver) = unbounded_channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("bfd".into())
            .spawn(move || runtime.block_on(Runner::new(report).run(receiver)))?;
        Ok(Self { commands })
    }
}

impl Watcher for Bfd {
    fn watch(&self, watch: Watch) {
        let _ = self.commands.send(Command::Watch(watch));
    }

    fn forget(&self, peer: IpAddr) {
        let _ = self.commands.send(Command::Forget(peer));
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Timer {
    Transmit,
    Detect,
}

/// One watched peer.
struct Entry {
    watch: Watch,
    session: Session,
    socket: UdpSocket,
    transmit: Option<Key>,
    detect: Option<Key>,
}

/// A datagram a listener took, for the runner.
struct Datagram {
    received: Received,
    multihop: bool,
    octets: [u8; 64],
}

struct Runner {
    report: Report,
    peers: HashMap<IpAddr, Entry>,
    by_discriminator: HashMap<u32, IpAddr>,
    /// (IPv6, multihop) listeners started; each forwards to `datagrams`.
    listening: HashSet<(bool, bool)>,
    datagrams: (UnboundedSender<Datagram>, UnboundedReceiver<Datagram>),
    timers: DelayQueue<(IpAddr, Timer)>,
    next_discriminator: u32,
    /// xorshift state, for jitter and discriminators.
    random: u64,
}

impl Runner {
    fn new(report: Report) -> Self {
        let random = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
            | 1;
        Self {
            report,
            peers: HashMap::new(),
            by_discriminator: HashMap::new(),
            listening: HashSet::new(),
            datagrams: unbounded_channel(),
            timers: DelayQueue::new(),
            next_discriminator: (random as u32) | 1,
            random,
        }
    }

    async fn run(mut self, mut commands: UnboundedReceiver<Command>) {
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    Some(Command::Watch(watch)) => self.watch(watch),
                    Some(Command::Forget(peer)) => self.forget(peer).await,
                    None => break,
                },
                Some(datagram) = self.datagrams.1.recv() => self.received(datagram).await,
                Some(expired) = self.timers.next() => {
                    let (peer, timer) = expired.into_inner();
                    self.fired(peer, timer).await;
                }
            }
        }
        let peers: Vec<IpAddr> = self.peers.keys().copied().collect();
        for peer in peers {
            self.forget(peer).await;
        }
    }

    fn random(&mut self) -> u64 {
        self.random ^= self.random << 13;
        self.random ^= self.random >> 7;
        self.random ^= self.random << 17;
        self.random
    }

    fn watch(&mut self, watch: Watch) {
        if let Some(entry) = self.peers.get_mut(&watch.peer) {
            if entry.watch.local == watch.local && entry.watch.multihop == watch.multihop {
                entry.session.set_timers(watch.timers);
                entry.watch = watch;
                return;
            }
            self.drop_entry(watch.peer);
        }
        if let Err(e) = self.listen(watch.peer.is_ipv6(), watch.multihop) {
            warn!(peer = %watch.peer, error = %e, "BFD cannot listen");
            return;
        }
        let port = if watch.multihop {
            MULTIHOP_PORT
        } else {
            SINGLE_HOP_PORT
        };
        let start = self.random() as u16;
        let socket = match sockets::sender(watch.local, watch.peer, port, start) {
            Ok(socket) => socket,
            Err(e) => {
                warn!(peer = %watch.peer, error = %e, "BFD cannot send");
                return;
            }
        };
        let discriminator = self.new_discriminator();
        info!(peer = %watch.peer, multihop = watch.multihop, "BFD session started");
        let peer = watch.peer;
        let session = Session::new(discriminator, watch.timers);
        self.by_discriminator.insert(discriminator, peer);
        let transmit = Some(self.timers.insert((peer, Timer::Transmit), Duration::ZERO));
        self.peers.insert(
            peer,
            Entry {
                watch,
                session,
                socket,
                transmit,
                detect: None,
            },
        );
    }

    fn new_discriminator(&mut self) -> u32 {
        loop {
            let candidate = self.next_discriminator;
            self.next_discriminator = self.next_discriminator.wrapping_add(1).max(1);
            if candidate != 0 && !self.by_discriminator.contains_key(&candidate) {
                return candidate;
            }
        }
    }

    /// Starts the listener of a family and kind, once.
    fn listen(&mut self, v6: bool, multihop: bool) -> io::Result<()> {
        if self.listening.contains(&(v6, multihop)) {
            return Ok(());
        }
        let port = if multihop {
            MULTIHOP_PORT
        } else {
            SINGLE_HOP_PORT
        };
        let socket = Arc::new(sockets::listen(v6, port)?);
        let forward = self.datagrams.0.clone();
        tokio::spawn(async move {
            let mut octets = [0u8; 64];
            loop {
                match sockets::receive(&socket, &mut octets).await {
                    Ok(received) => {
                        let datagram = Datagram {
                            received,
                            multihop,
                            octets,
                        };
                        if forward.send(datagram).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        debug!(error = %e, "BFD receive failed");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
        });
        self.listening.insert((v6, multihop));
        Ok(())
    }

    fn drop_entry(&mut self, peer: IpAddr) -> Option<Entry> {
        let entry = self.peers.remove(&peer)?;
        self.by_discriminator
            .remove(&entry.session.local_discriminator());
        for key in [entry.transmit, entry.detect].into_iter().flatten() {
            self.timers.remove(&key);
        }
        Some(entry)
    }

    async fn forget(&mut self, peer: IpAddr) {
        if let Some(mut entry) = self.drop_entry(peer) {
            entry.session.admin_down();
            let _ = entry.socket.send(&entry.session.packet().encode()).await;
            info!(%peer, "BFD session stopped");
        }
    }

    async fn fired(&mut self, peer: IpAddr, timer: Timer) {
        match timer {
            Timer::Transmit => {
                if let Some(entry) = self.peers.get_mut(&peer) {
                    entry.transmit = None;
                }
                self.send(peer).await;
            }
            Timer::Detect => {
                let Some(entry) = self.peers.get_mut(&peer) else {
                    return;
                };
                entry.detect = None;
                if let Some(change) = entry.session.expire() {
                    self.changed(peer, change).await;
                }
            }
        }
    }

    /// Sends the session's packet now, and arms the next one, jittered
    /// (§6.8.7).
    async fn send(&mut self, peer: IpAddr) {
        let jitter = self.random();
        let Some(entry) = self.peers.get_mut(&peer) else {
            return;
        };
        let packet = entry.session.packet();
        if let Err(e) = entry.socket.send(&packet.encode()).await {
            debug!(%peer, error = %e, "BFD send failed");
        }
        if let Some(key) = entry.transmit.take() {
            self.timers.remove(&key);
        }
        if let Some(interval) = entry.session.tx_interval() {
            let next = jittered(interval, packet.detect_mult, jitter);
            entry.transmit = Some(self.timers.insert((peer, Timer::Transmit), next));
        }
    }

    async fn received(&mut self, datagram: Datagram) {
        let Received { from, ttl, len } = datagram.received;
        let octets = &datagram.octets[..len.min(datagram.octets.len())];
        // RFC 5881 §5: a single-hop packet left its sender at 255 and
        // crossed no router.
        if !datagram.multihop && ttl != Some(TTL) {
            debug!(%from, ?ttl, "BFD packet discarded: TTL is not 255");
            return;
        }
        let packet = match ControlPacket::decode(octets) {
            Ok(packet) => packet,
            Err(why) => {
                debug!(%from, %why, "BFD packet discarded");
                return;
            }
        };
        let source = from.ip().to_canonical();
        let peer = match packet.your_discriminator {
            0 => source,
            mine => match self.by_discriminator.get(&mine) {
                Some(peer) => *peer,
                None => {
                    debug!(%from, discriminator = mine, "BFD packet for no session");
                    return;
                }
            },
        };
        let Some(entry) = self.peers.get_mut(&peer) else {
            debug!(%from, "BFD packet from a peer not watched");
            return;
        };
        if entry.watch.multihop != datagram.multihop || peer != source {
            debug!(%from, "BFD packet on the wrong port or from the wrong address");
            return;
        }
        let pace = entry.session.tx_interval();
        let change = entry.session.receive(&packet);
        let repace = entry.session.tx_interval() != pace;
        if let Some(key) = entry.detect.take() {
            self.timers.remove(&key);
        }
        if let Some(detect) = entry.session.detection_time() {
            entry.detect = Some(self.timers.insert((peer, Timer::Detect), detect));
        }
        // A Final is owed at once; and a session that was sending nothing
        // (the peer wanted none) starts again when it may.
        let idle = entry.transmit.is_none() && entry.session.tx_interval().is_some();
        // A new pace (the peer answered a Poll, or asks for another) starts
        // now, not after a packet due at the old one.
        let answer_now = entry.session.final_due() || idle || repace;
        if let Some(change) = change {
            self.changed(peer, change).await;
        } else if answer_now {
            self.send(peer).await;
        }
    }

    /// Reports a change, and tells the peer at once.
    async fn changed(&mut self, peer: IpAddr, change: Change) {
        match change {
            Change::Up => info!(%peer, "BFD session up"),
            Change::Down(why) => warn!(%peer, why = why.describe(), "BFD session down"),
        }
        (self.report)(peer, change);
        if self
            .peers
            .get(&peer)
            .is_some_and(|e| e.session.state() != State::AdminDown)
        {
            self.send(peer).await;
        }
    }
}
