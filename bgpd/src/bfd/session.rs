//! One BFD session in asynchronous mode (RFC 5880 §6.8) as a pure state
//! machine: packets and the expiry of the detection time in, packets and
//! state changes out. The runner owns the clock and the sockets.

use std::time::Duration;

use super::packet::{ControlPacket, Diagnostic, State};

/// What an operator configures for a session (RFC 5880 §6.8.1's
/// bfd.DesiredMinTxInterval, bfd.RequiredMinRxInterval, bfd.DetectMult).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Timers {
    pub desired_min_tx: Duration,
    pub required_min_rx: Duration,
    pub multiplier: u8,
}

impl Default for Timers {
    /// BIRD's and FRR's defaults: 300 ms either way, three packets.
    fn default() -> Self {
        Self {
            desired_min_tx: Duration::from_millis(300),
            required_min_rx: Duration::from_millis(300),
            multiplier: 3,
        }
    }
}

/// RFC 5880 §6.8.3: while a session is not Up, packets go at most once a
/// second.
const SLOW_TX: Duration = Duration::from_secs(1);

/// What a received packet or an expiry changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// The session came Up.
    Up,
    /// The session left Up, for this reason.
    Down(Diagnostic),
}

/// One session's state (RFC 5880 §6.8.1).
#[derive(Clone, Debug)]
pub struct Session {
    local_discriminator: u32,
    remote_discriminator: u32,
    state: State,
    diagnostic: Diagnostic,
    timers: Timers,
    /// The peer's intervals and multiplier from its last packet; zero
    /// before the first.
    remote_desired_min_tx: Duration,
    remote_min_rx: Duration,
    remote_multiplier: u8,
    /// The intervals this side advertises now (§6.8.3: slow while not Up).
    advertised_tx: Duration,
    /// The transmit interval and receive interval in effect: they follow
    /// the advertised ones once a Poll Sequence ends (§6.8.3).
    effective_tx: Duration,
    effective_rx: Duration,
    /// A Poll Sequence runs: packets carry P until the peer sends F (§6.5).
    polling: bool,
    /// The peer polled: the next packet carries F, and goes at once.
    final_due: bool,
}

impl Session {
    /// A session in Down, as every one starts (§6.8.1).
    pub fn new(local_discriminator: u32, timers: Timers) -> Self {
        let advertised_tx = SLOW_TX.max(timers.desired_min_tx);
        Self {
            local_discriminator,
            remote_discriminator: 0,
            state: State::Down,
            diagnostic: Diagnostic::None,
            timers,
            remote_desired_min_tx: Duration::ZERO,
            remote_min_rx: Duration::from_micros(1),
            remote_multiplier: 0,
            advertised_tx,
            effective_tx: advertised_tx,
            effective_rx: timers.required_min_rx,
            polling: false,
            final_due: false,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn local_discriminator(&self) -> u32 {
        self.local_discriminator
    }

    pub fn remote_discriminator(&self) -> u32 {
        self.remote_discriminator
    }

    /// How often packets go now, before jitter: the slower of what this
    /// side wants and what the peer can take (§6.8.7). `None` when the
    /// peer asked for none (a Required Min RX of zero).
    pub fn tx_interval(&self) -> Option<Duration> {
        (!self.remote_min_rx.is_zero()).then(|| self.effective_tx.max(self.remote_min_rx))
    }

    /// How long without a packet from the peer before the session goes
    /// Down (§6.8.4, asynchronous mode): its multiplier times the slower of
    /// what this side can take and what the peer wants to send. `None`
    /// before the peer's first packet.
    pub fn detection_time(&self) -> Option<Duration> {
        (self.remote_multiplier > 0).then(|| {
            self.effective_rx.max(self.remote_desired_min_tx) * u32::from(self.remote_multiplier)
        })
    }

    /// Whether the next packet should go at once, not at its interval:
    /// a Final is owed (§6.8.7 "MUST be transmitted as soon as practicable").
    pub fn final_due(&self) -> bool {
        self.final_due
    }

    /// The packet to send now (§6.8.7).
    pub fn packet(&mut self) -> ControlPacket {
        let final_ = std::mem::take(&mut self.final_due);
        ControlPacket {
            diagnostic: self.diagnostic,
            state: self.state,
            // §6.8.7: never P and F together; the Final goes first.
            poll: self.polling && !final_,
            final_,
            control_plane_independent: false,
            demand: false,
            detect_mult: self.timers.multiplier,
            my_discriminator: self.local_discriminator,
            your_discriminator: self.remote_discriminator,
            desired_min_tx: micros(self.advertised_tx),
            required_min_rx: micros(self.timers.required_min_rx),
            required_min_echo_rx: 0,
        }
    }

    /// New timers from the configuration: advertised at once, in effect
    /// once the peer acknowledges them (§6.8.3).
    pub fn set_timers(&mut self, timers: Timers) {
        if timers == self.timers {
            return;
        }
        self.timers = timers;
        self.advertise();
    }

    /// Takes a packet from the peer (§6.8.6, from "If the Your
    /// Discriminator field is nonzero" on: the packet is already known to
    /// be this session's and well formed).
    pub fn receive(&mut self, packet: &ControlPacket) -> Option<Change> {
        self.remote_discriminator = packet.my_discriminator;
        self.remote_desired_min_tx = Duration::from_micros(packet.desired_min_tx.into());
        self.remote_min_rx = Duration::from_micros(packet.required_min_rx.into());
        self.remote_multiplier = packet.detect_mult;
        if packet.final_ && self.polling {
            // The peer took the new intervals: they apply here too.
            self.polling = false;
            self.effective_tx = self.advertised_tx;
            self.effective_rx = self.timers.required_min_rx;
        }
        if packet.poll {
            self.final_due = true;
        }
        if self.state == State::AdminDown {
            return None;
        }
        let was_up = self.state == State::Up;
        match (self.state, packet.state) {
            (State::Down, State::AdminDown) => {}
            (_, State::AdminDown) => {
                self.diagnostic = Diagnostic::NeighborDown;
                self.state = State::Down;
            }
            (State::Down, State::Down) => self.state = State::Init,
            (State::Down, State::Init) | (State::Init, State::Init | State::Up) => {
                self.state = State::Up;
            }
            (State::Up, State::Down) => {
                self.diagnostic = Diagnostic::NeighborDown;
                self.state = State::Down;
            }
            _ => {}
        }
        self.changed(was_up)
    }

    /// This side ends the session on purpose (§6.8.16): the peer, told
    /// AdminDown, takes it for no failure.
    pub fn admin_down(&mut self) {
        self.state = State::AdminDown;
        self.diagnostic = Diagnostic::AdminDown;
    }

    /// The detection time passed without a packet (§6.8.4): the session
    /// goes Down, and forgets the peer's discriminator (§6.8.1).
    pub fn expire(&mut self) -> Option<Change> {
        let was_up = self.state == State::Up;
        if matches!(self.state, State::Init | State::Up) {
            self.diagnostic = Diagnostic::TimeExpired;
            self.state = State::Down;
        }
        self.remote_discriminator = 0;
        self.remote_multiplier = 0;
        self.changed(was_up)
    }

    /// Whether leaving or reaching Up changed the session; the intervals
    /// follow (§6.8.3).
    fn changed(&mut self, was_up: bool) -> Option<Change> {
        let is_up = self.state == State::Up;
        if was_up == is_up {
            return None;
        }
        self.advertise();
        Some(if is_up {
            Change::Up
        } else {
            Change::Down(self.diagnostic)
        })
    }

    /// Advertises the intervals the state calls for; a change starts a
    /// Poll Sequence (§6.8.3). While not Up every change applies at once;
    /// while Up, sending faster and taking packets more slowly apply at
    /// once too (the peer then sees no gap), and the others once the peer
    /// answers the Poll: sending slower before it expects it, or detecting
    /// faster before it sends faster, would take a healthy session down.
    fn advertise(&mut self) {
        let wanted = if self.state == State::Up {
            self.timers.desired_min_tx
        } else {
            SLOW_TX.max(self.timers.desired_min_tx)
        };
        let rx_changed = self.effective_rx != self.timers.required_min_rx;
        if wanted == self.advertised_tx && !rx_changed {
            return;
        }
        self.advertised_tx = wanted;
        if self.state == State::Up {
            self.polling = true;
            self.effective_tx = self.effective_tx.min(wanted);
            self.effective_rx = self.effective_rx.max(self.timers.required_min_rx);
        } else {
            self.effective_tx = wanted;
            self.effective_rx = self.timers.required_min_rx;
        }
    }
}

/// The wait before the next packet (RFC 5880 §6.8.7): `interval` reduced
/// by a random 0-25 %, or 10-25 % for a multiplier of one, so that sessions
/// do not fall into step; `random` is any random number.
pub fn jittered(interval: Duration, multiplier: u8, random: u64) -> Duration {
    let ceiling = if multiplier == 1 { 90 } else { 100 };
    let percent = 75 + random % (ceiling - 75 + 1);
    interval * percent as u32 / 100
}

fn micros(interval: Duration) -> u32 {
    u32::try_from(interval.as_micros()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn packets_go_early_by_up_to_a_quarter_and_never_late() {
        for random in 0..200 {
            let next = jittered(MS(300), 3, random);
            assert!(next >= MS(225) && next <= MS(300), "{next:?}");
            let single = jittered(MS(300), 1, random);
            assert!(single >= MS(225) && single <= MS(270), "{single:?}");
        }
        assert_eq!(jittered(MS(300), 3, 25), MS(300), "the full interval");
        assert_eq!(jittered(MS(300), 3, 0), MS(225), "a quarter early");
    }

    /// What a peer with `timers` in `state` sends to `session`.
    fn from_peer(session: &Session, state: State, timers: Timers) -> ControlPacket {
        ControlPacket {
            diagnostic: Diagnostic::None,
            state,
            poll: false,
            final_: false,
            control_plane_independent: false,
            demand: false,
            detect_mult: timers.multiplier,
            my_discriminator: 99,
            your_discriminator: session.local_discriminator(),
            desired_min_tx: micros(timers.desired_min_tx),
            required_min_rx: micros(timers.required_min_rx),
            required_min_echo_rx: 0,
        }
    }

    /// Two sessions talk until neither has anything new to say.
    fn handshake(a: &mut Session, b: &mut Session) {
        for _ in 0..4 {
            let to_b = a.packet();
            b.receive(&to_b);
            let to_a = b.packet();
            a.receive(&to_a);
        }
    }

    #[test]
    fn a_three_way_handshake_brings_both_sides_up() {
        let mut a = Session::new(1, Timers::default());
        let mut b = Session::new(2, Timers::default());
        assert_eq!(b.receive(&a.packet()), None);
        assert_eq!(b.state(), State::Init);
        assert_eq!(a.receive(&b.packet()), Some(Change::Up));
        assert_eq!(b.receive(&a.packet()), Some(Change::Up));
        assert_eq!(a.remote_discriminator(), 2);
        assert_eq!(b.remote_discriminator(), 1);
    }

    #[test]
    fn packets_go_once_a_second_until_up_then_as_configured_after_a_poll() {
        let mut a = Session::new(1, Timers::default());
        let mut b = Session::new(2, Timers::default());
        assert_eq!(a.packet().desired_min_tx, 1_000_000);
        handshake(&mut a, &mut b);
        assert_eq!(a.state(), State::Up);
        // The Poll Sequence ended: both send at 300 ms and detect in 900.
        assert!(!a.packet().poll);
        assert_eq!(a.packet().desired_min_tx, 300_000);
        assert_eq!(a.tx_interval(), Some(MS(300)));
        assert_eq!(a.detection_time(), Some(MS(900)));
    }

    #[test]
    fn the_slower_side_sets_the_pace() {
        let slow = Timers {
            desired_min_tx: MS(500),
            required_min_rx: MS(700),
            multiplier: 5,
        };
        let mut a = Session::new(1, Timers::default());
        let mut b = Session::new(2, slow);
        handshake(&mut a, &mut b);
        // a sends no faster than b takes, and detects b's silence after
        // b's multiplier of b's sending interval; b hears a only every
        // 700 ms, a's multiplier of which is b's detection time.
        assert_eq!(a.tx_interval(), Some(MS(700)));
        assert_eq!(a.detection_time(), Some(MS(2500)));
        assert_eq!(b.tx_interval(), Some(MS(500)));
        assert_eq!(b.detection_time(), Some(MS(2100)));
    }

    #[test]
    fn silence_or_the_peer_saying_down_takes_the_session_down() {
        let mut a = Session::new(1, Timers::default());
        let mut b = Session::new(2, Timers::default());
        handshake(&mut a, &mut b);
        assert_eq!(a.expire(), Some(Change::Down(Diagnostic::TimeExpired)));
        assert_eq!(a.remote_discriminator(), 0);
        assert_eq!(a.packet().desired_min_tx, 1_000_000);
        let down = from_peer(&b, State::Down, Timers::default());
        assert_eq!(
            b.receive(&down),
            Some(Change::Down(Diagnostic::NeighborDown))
        );
        // And an expiry while Down changes nothing.
        assert_eq!(a.expire(), None);
    }

    #[test]
    fn a_poll_is_answered_with_a_final_at_once() {
        let mut a = Session::new(1, Timers::default());
        let mut packet = from_peer(&a, State::Down, Timers::default());
        packet.poll = true;
        a.receive(&packet);
        assert!(a.final_due());
        let answer = a.packet();
        assert!(answer.final_ && !answer.poll);
        assert!(!a.final_due());
    }

    #[test]
    fn new_timers_apply_once_the_peer_acknowledges_them() {
        let mut a = Session::new(1, Timers::default());
        let mut b = Session::new(2, Timers::default());
        handshake(&mut a, &mut b);
        let faster = Timers {
            desired_min_tx: MS(100),
            required_min_rx: MS(100),
            multiplier: 3,
        };
        a.set_timers(faster);
        b.set_timers(faster);
        let poll = a.packet();
        assert!(poll.poll);
        assert_eq!(poll.desired_min_tx, 100_000);
        // Not yet in effect on a's side.
        assert_eq!(a.detection_time(), Some(MS(900)));
        handshake(&mut a, &mut b);
        assert_eq!(a.tx_interval(), Some(MS(100)));
        assert_eq!(a.detection_time(), Some(MS(300)));
        assert!(!a.packet().poll);
    }

    #[test]
    fn sending_faster_applies_at_once_and_sending_slower_after_the_final() {
        let mut a = Session::new(1, Timers::default());
        let mut b = Session::new(2, Timers::default());
        handshake(&mut a, &mut b);
        let fast = Timers {
            desired_min_tx: MS(100),
            required_min_rx: MS(100),
            multiplier: 3,
        };
        b.set_timers(fast);
        handshake(&mut a, &mut b);
        // b takes 100 ms now: a may send that fast at once, its peer sees no
        // gap (RFC 5880 §6.8.3).
        a.set_timers(fast);
        assert_eq!(a.tx_interval(), Some(MS(100)));
        handshake(&mut a, &mut b);
        // Slower waits: b still expects a packet every 100 ms until it
        // answered the Poll.
        let slow = Timers {
            desired_min_tx: MS(600),
            ..fast
        };
        a.set_timers(slow);
        assert_eq!(a.tx_interval(), Some(MS(100)));
        assert!(a.packet().poll);
        handshake(&mut a, &mut b);
        assert_eq!(a.tx_interval(), Some(MS(600)));
    }

    #[test]
    fn a_peer_asking_for_no_packets_gets_none() {
        let mut a = Session::new(1, Timers::default());
        let mut silent = from_peer(&a, State::Down, Timers::default());
        silent.required_min_rx = 0;
        a.receive(&silent);
        assert_eq!(a.tx_interval(), None);
    }
}
