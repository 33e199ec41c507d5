//! The BGP finite state machine of RFC 4271 §8, with no I/O: `process` takes
//! one event and returns what to do (send, connect, arm a timer, deliver an
//! UPDATE). The session driver applies the outputs; unit tests drive it
//! directly.
//!
//! One `Fsm` serves one connection attempt at a time. Connection collisions
//! (§6.8) are resolved above it: a second connection gets a second `Fsm`, and
//! the neighbor keeps the one §6.8 says to keep.
//!
//! Timing follows Calico's BIRD template: the first connection is attempted
//! `connect_delay` after start (BIRD's `connect delay time`; 0: at once),
//! then every
//! `connect_retry`; after an error the FSM rests in Idle for the error wait
//! (5 s, doubling up to 30 s: `error wait time 5,30`) and starts again; after
//! a closed connection or a Cease it starts again at once.

use std::net::Ipv4Addr;

use bytes::Bytes;

use crate::packet::{
    cease_subcode, code, open_subcode, Capability, Message, Negotiated, Notification, OpenMessage,
    RouteRefreshMessage, UpdateMessage,
};

/// RFC 4271 §8.2.2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    Idle,
    Connect,
    Active,
    OpenSent,
    OpenConfirm,
    Established,
}

impl State {
    /// The name BIRD shows in `show protocols` (`BGP state:`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Idle => "Idle",
            Self::Connect => "Connect",
            Self::Active => "Active",
            Self::OpenSent => "OpenSent",
            Self::OpenConfirm => "OpenConfirm",
            Self::Established => "Established",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Timer {
    ConnectRetry,
    Hold,
    Keepalive,
    /// Rest in Idle after an error before starting again (BIRD's error wait).
    IdleHold,
}

/// The events of RFC 4271 §8.1 this FSM takes (their numbers in comments).
// Messages, UPDATEs above all, are most events; boxing them would cost an
// allocation each.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// Event 1 ManualStart, or Event 4 with passive TCP establishment.
    Start,
    /// Event 2 ManualStop, with the Cease subcode to send if connected.
    Stop { subcode: u8 },
    /// Event 9.
    ConnectRetryTimerExpires,
    /// Event 10.
    HoldTimerExpires,
    /// Event 11.
    KeepaliveTimerExpires,
    /// Event 13 IdleHoldTimer_Expires (automatic restart).
    IdleHoldTimerExpires,
    /// Events 16 Tcp_CR_Acked and 17 TcpConnectionConfirmed.
    TcpConnected,
    /// Event 18 TcpConnectionFails, with the reason as the socket gave it.
    TcpFails { reason: String },
    /// Events 19 BGPOpen, 25 NotifMsg, 26 KeepAliveMsg, 27 UpdateMsg, and ROUTE-REFRESH.
    Message(Message),
    /// Events 21 BGPHeaderErr, 22 BGPOpenMsgErr, 28 UpdateMsgErr: what to send.
    DecodeError(Notification),
    /// The peer sent more paths than its limit allows: send this Cease
    /// (RFC 4486 §4), then rest in Idle for `restart` seconds, refusing the
    /// peer meanwhile (RFC 4271 §8.1.1 IdleHoldTime).
    PrefixLimitExceeded {
        notification: Notification,
        restart: u16,
    },
}

/// Why a session ended, in the words BIRD shows after the state
/// ("Received: Hold timer expired", "Error: Bad peer AS").
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DownReason {
    /// We sent this NOTIFICATION.
    Sent(Notification),
    /// The peer sent this NOTIFICATION.
    Received(Notification),
    /// The connection failed or closed.
    Connection(String),
    /// Stopped by configuration or an operator.
    Stopped,
}

impl DownReason {
    pub fn describe(&self) -> String {
        match self {
            Self::Sent(n) => format!("Error: {}", n.describe()),
            Self::Received(n) => match n.shutdown_communication() {
                Some(text) => format!("Received: {}: {text}", n.describe()),
                None => format!("Received: {}", n.describe()),
            },
            Self::Connection(reason) => format!("Socket: {reason}"),
            Self::Stopped => "Shutdown".into(),
        }
    }
}

#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Open a TCP connection to the peer.
    Connect,
    /// Close the TCP connection.
    Disconnect,
    Send(Message),
    /// Arm a timer for this many seconds (replacing it if armed).
    Arm(Timer, u16),
    Cancel(Timer),
    StateChanged {
        from: State,
        to: State,
    },
    Established(Negotiated),
    Update(UpdateMessage),
    RouteRefresh(RouteRefreshMessage),
    /// The session went down (from OpenSent or later), and why.
    Down(DownReason),
}

/// What the FSM needs to know about its peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FsmConfig {
    /// The AS this speaker presents to the peer.
    pub local_as: u32,
    pub remote_as: u32,
    pub router_id: Ipv4Addr,
    pub hold_time: u16,
    /// Explicit keepalive interval; a third of the negotiated hold time otherwise.
    pub keepalive_time: Option<u16>,
    pub connect_retry: u16,
    pub connect_delay: u16,
    /// Error wait: (first, largest); doubled for each failure in a row.
    pub error_wait: (u16, u16),
    /// Never connect; wait for the peer.
    pub passive: bool,
    /// What the OPEN advertises (the 4-octet AS capability is added).
    pub capabilities: Vec<Capability>,
}

/// RFC 4271 §8.2.2 suggests a "large value" for the hold timer until the
/// peer's OPEN arrives: four minutes.
const OPEN_HOLD_TIME: u16 = 240;

/// RFC 6608 subcodes of the FSM Error code.
mod fsm_subcode {
    pub const UNEXPECTED_IN_OPEN_SENT: u8 = 1;
    pub const UNEXPECTED_IN_OPEN_CONFIRM: u8 = 2;
    pub const UNEXPECTED_IN_ESTABLISHED: u8 = 3;
}

#[derive(Debug)]
pub struct Fsm {
    config: FsmConfig,
    state: State,
    open: OpenMessage,
    negotiated: Option<Negotiated>,
    /// The next error wait, doubled on each failure in a row.
    error_wait: u16,
}

impl Fsm {
    pub fn new(config: FsmConfig) -> Self {
        let open = OpenMessage::new(
            config.local_as,
            config.hold_time,
            config.router_id,
            config.capabilities.clone(),
        );
        let error_wait = config.error_wait.0;
        Self {
            config,
            state: State::Idle,
            open,
            negotiated: None,
            error_wait,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// The OPEN this side sends.
    pub fn open(&self) -> &OpenMessage {
        &self.open
    }

    /// Capabilities for the OPENs of connections to come (a graceful
    /// restart recovery ended: RFC 4724 §3's bits are cleared).
    pub fn set_capabilities(&mut self, capabilities: Vec<Capability>) {
        self.open = OpenMessage::new(
            self.config.local_as,
            self.config.hold_time,
            self.config.router_id,
            capabilities.clone(),
        );
        self.config.capabilities = capabilities;
    }

    /// The peer's BGP Identifier, once its OPEN arrived (for §6.8).
    pub fn peer_id(&self) -> Option<Ipv4Addr> {
        self.negotiated.as_ref().map(|n| n.peer_id)
    }

    pub fn process(&mut self, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        let from = self.state;
        match (self.state, input) {
            (_, Input::Stop { subcode }) => self.stop(subcode, &mut out),
            (
                State::Established,
                Input::PrefixLimitExceeded {
                    notification,
                    restart,
                },
            ) => {
                out.push(Output::Send(Message::Notification(notification.clone())));
                self.down(DownReason::Sent(notification), &mut out);
                // A Cease is no error to `down`, which starts again at once.
                self.state = State::Idle;
                out.push(Output::Cancel(Timer::ConnectRetry));
                out.push(Output::Arm(Timer::IdleHold, restart.max(1)));
            }
            (_, Input::PrefixLimitExceeded { .. }) => {}

            (State::Idle, Input::Start | Input::IdleHoldTimerExpires) => {
                // Start in Active, listening; connect when the retry timer
                // first fires, connect_delay from now (BIRD's connect delay),
                // or at once when it is 0: the peer is known to wait for us.
                self.state = State::Active;
                if self.config.passive {
                } else if self.config.connect_delay == 0 {
                    self.state = State::Connect;
                    out.push(Output::Connect);
                    out.push(Output::Arm(Timer::ConnectRetry, self.config.connect_retry));
                } else {
                    out.push(Output::Arm(Timer::ConnectRetry, self.config.connect_delay));
                }
            }
            (State::Idle, _) => {}

            (State::Connect | State::Active, Input::ConnectRetryTimerExpires) => {
                if self.state == State::Connect {
                    out.push(Output::Disconnect);
                }
                self.state = State::Connect;
                out.push(Output::Connect);
                out.push(Output::Arm(Timer::ConnectRetry, self.config.connect_retry));
            }
            (State::Connect | State::Active, Input::TcpConnected) => {
                out.push(Output::Cancel(Timer::ConnectRetry));
                out.push(Output::Send(Message::Open(self.open.clone())));
                out.push(Output::Arm(Timer::Hold, OPEN_HOLD_TIME));
                self.state = State::OpenSent;
            }
            (State::Connect | State::Active, Input::TcpFails { .. }) => {
                self.state = State::Active;
                if !self.config.passive {
                    out.push(Output::Arm(Timer::ConnectRetry, self.config.connect_retry));
                }
            }
            (State::Connect | State::Active, _) => {}

            (State::OpenSent, Input::Message(Message::Open(open))) => {
                self.receive_open(open, &mut out)
            }
            (State::OpenConfirm, Input::Message(Message::Keepalive)) => {
                if let Some(negotiated) = self.negotiated.clone() {
                    self.arm_hold(&mut out);
                    self.state = State::Established;
                    self.error_wait = self.config.error_wait.0;
                    out.push(Output::Established(negotiated));
                }
            }
            (State::OpenConfirm | State::Established, Input::KeepaliveTimerExpires) => {
                out.push(Output::Send(Message::Keepalive));
                if let Some(interval) = self.keepalive_interval() {
                    out.push(Output::Arm(Timer::Keepalive, interval));
                }
            }
            (State::Established, Input::Message(Message::Keepalive)) => self.arm_hold(&mut out),
            (State::Established, Input::Message(Message::Update(update))) => {
                self.arm_hold(&mut out);
                out.push(Output::Update(update));
            }
            (State::Established, Input::Message(Message::RouteRefresh(refresh))) => {
                self.arm_hold(&mut out);
                out.push(Output::RouteRefresh(refresh));
            }
            (
                State::OpenSent | State::OpenConfirm | State::Established,
                Input::HoldTimerExpires,
            ) => {
                self.fail(
                    Notification::new(code::HOLD_TIMER_EXPIRED, 0, Bytes::new()),
                    &mut out,
                );
            }
            (
                State::OpenSent | State::OpenConfirm | State::Established,
                Input::Message(Message::Notification(n)),
            ) => {
                self.down(DownReason::Received(n), &mut out);
            }
            (State::OpenSent | State::OpenConfirm | State::Established, Input::DecodeError(n)) => {
                self.fail(n, &mut out);
            }
            (
                State::OpenSent | State::OpenConfirm | State::Established,
                Input::TcpFails { reason },
            ) => {
                self.down(DownReason::Connection(reason), &mut out);
            }
            (State::OpenSent | State::OpenConfirm | State::Established, Input::Message(_)) => {
                // RFC 6608: a message that has no place in this state.
                let subcode = match self.state {
                    State::OpenSent => fsm_subcode::UNEXPECTED_IN_OPEN_SENT,
                    State::OpenConfirm => fsm_subcode::UNEXPECTED_IN_OPEN_CONFIRM,
                    _ => fsm_subcode::UNEXPECTED_IN_ESTABLISHED,
                };
                self.fail(
                    Notification::new(code::FSM, subcode, Bytes::new()),
                    &mut out,
                );
            }
            (State::OpenSent | State::OpenConfirm | State::Established, _) => {}
        }
        if self.state != from {
            out.push(Output::StateChanged {
                from,
                to: self.state,
            });
        }
        out
    }

    /// RFC 4271 §6.2 checks, then negotiation; KEEPALIVE and OpenConfirm.
    fn receive_open(&mut self, open: OpenMessage, out: &mut Vec<Output>) {
        if let Err(notification) = self.check_open(&open) {
            self.fail(notification, out);
            return;
        }
        let negotiated = Negotiated::new(&self.open, &open);
        self.negotiated = Some(negotiated);
        out.push(Output::Send(Message::Keepalive));
        self.arm_hold(out);
        if let Some(interval) = self.keepalive_interval() {
            out.push(Output::Arm(Timer::Keepalive, interval));
        }
        self.state = State::OpenConfirm;
    }

    fn check_open(&self, open: &OpenMessage) -> Result<(), Notification> {
        open.validate()?;
        if open.asn() != self.config.remote_as {
            // BIRD and FRR put the peer's My AS field in the data.
            let data = Bytes::copy_from_slice(&open.my_as.to_be_bytes());
            return Err(Notification::open(open_subcode::BAD_PEER_AS, data));
        }
        // RFC 6286 §2.2: an internal peer may not share our identifier.
        if open.bgp_id == self.config.router_id && self.config.remote_as == self.config.local_as {
            return Err(Notification::open(
                open_subcode::BAD_BGP_IDENTIFIER,
                Bytes::new(),
            ));
        }
        Ok(())
    }

    /// The negotiated hold time; zero means no hold timer and no keepalives.
    pub fn hold_time(&self) -> u16 {
        self.negotiated
            .as_ref()
            .map_or(OPEN_HOLD_TIME, |n| n.hold_time)
    }

    fn keepalive_interval(&self) -> Option<u16> {
        let hold = self.hold_time();
        if hold == 0 {
            return None;
        }
        let third = (hold / 3).max(1);
        Some(
            self.config
                .keepalive_time
                .map_or(third, |k| k.clamp(1, third)),
        )
    }

    fn arm_hold(&self, out: &mut Vec<Output>) {
        match self.hold_time() {
            0 => out.push(Output::Cancel(Timer::Hold)),
            hold => out.push(Output::Arm(Timer::Hold, hold)),
        }
    }

    /// Sends `notification`, closes, and rests before starting again.
    fn fail(&mut self, notification: Notification, out: &mut Vec<Output>) {
        out.push(Output::Send(Message::Notification(notification.clone())));
        self.down(DownReason::Sent(notification), out);
    }

    /// After a session ends. An error (a NOTIFICATION other than Cease, sent
    /// or received, which includes a hold timer expiry) rests in Idle for
    /// the error wait and doubles it. A closed connection or a Cease is no
    /// error: back to Active at once, accepting the peer's connection and
    /// connecting after the connect delay. BIRD does the same (its startup
    /// delay grows on errors only), and it matters: a peer that restarts
    /// closes its sessions, and two sides both resting in Idle would refuse
    /// each other's connections for ever longer.
    fn down(&mut self, reason: DownReason, out: &mut Vec<Output>) {
        out.push(Output::Disconnect);
        self.cancel_session_timers(out);
        let error = match &reason {
            DownReason::Sent(n) | DownReason::Received(n) => n.code != code::CEASE,
            DownReason::Connection(_) | DownReason::Stopped => false,
        };
        out.push(Output::Down(reason));
        self.negotiated = None;
        if error {
            self.state = State::Idle;
            out.push(Output::Arm(Timer::IdleHold, self.error_wait));
            self.error_wait = self
                .error_wait
                .saturating_mul(2)
                .min(self.config.error_wait.1);
        } else {
            // After a closed connection or a Cease, never at once, even at a
            // connect delay of 0: a peer that ends every session must not
            // make this one reconnect in a loop.
            self.state = State::Active;
            if !self.config.passive {
                out.push(Output::Arm(
                    Timer::ConnectRetry,
                    self.config.connect_delay.max(1),
                ));
            }
        }
    }

    fn stop(&mut self, subcode: u8, out: &mut Vec<Output>) {
        let connected = matches!(
            self.state,
            State::OpenSent | State::OpenConfirm | State::Established
        );
        if connected {
            out.push(Output::Send(Message::Notification(Notification::cease(
                subcode,
            ))));
        }
        if self.state != State::Idle {
            out.push(Output::Disconnect);
        }
        self.cancel_session_timers(out);
        out.push(Output::Cancel(Timer::ConnectRetry));
        out.push(Output::Cancel(Timer::IdleHold));
        if connected {
            out.push(Output::Down(DownReason::Stopped));
        }
        self.negotiated = None;
        self.state = State::Idle;
    }

    fn cancel_session_timers(&self, out: &mut Vec<Output>) {
        out.push(Output::Cancel(Timer::Hold));
        out.push(Output::Cancel(Timer::Keepalive));
    }
}

/// Stopping because configuration removed the peer uses this Cease subcode.
pub const STOP_DECONFIGURED: u8 = cease_subcode::PEER_DECONFIGURED;
/// Stopping by an operator's request.
pub const STOP_ADMIN: u8 = cease_subcode::ADMINISTRATIVE_SHUTDOWN;

#[cfg(test)]
mod tests;
