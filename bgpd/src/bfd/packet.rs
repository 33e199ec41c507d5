//! The BFD Control packet (RFC 5880 §4.1), without authentication: what
//! BIRD, FRR and GoBGP send for BGP peers unless told otherwise.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Vers |  Diag   |Sta|P|F|C|A|D|M|  Detect Mult  |    Length     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       My Discriminator                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                      Your Discriminator                       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Desired Min TX Interval                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                   Required Min RX Interval                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                 Required Min Echo RX Interval                 |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Intervals are in microseconds. [`ControlPacket::decode`] applies the
//! checks of §6.8.6 that need only the packet; a packet that fails one is
//! discarded, and the error says which.

/// The BFD version this codec speaks (RFC 5880 §4.1).
pub const VERSION: u8 = 1;

/// A Control packet without an Authentication Section.
pub const LEN: usize = 24;

/// The session states (RFC 5880 §4.1, "State (Sta)").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    AdminDown = 0,
    Down = 1,
    Init = 2,
    Up = 3,
}

impl State {
    fn from_bits(bits: u8) -> Self {
        match bits & 0b11 {
            0 => Self::AdminDown,
            1 => Self::Down,
            2 => Self::Init,
            _ => Self::Up,
        }
    }
}

/// Why a session last left Up, or why this side says Down (RFC 5880 §4.1,
/// "Diagnostic (Diag)").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Diagnostic {
    None,
    /// 1: Control Detection Time Expired.
    TimeExpired,
    /// 2: Echo Function Failed.
    EchoFailed,
    /// 3: Neighbor Signaled Session Down.
    NeighborDown,
    /// 4: Forwarding Plane Reset.
    ForwardingReset,
    /// 5: Path Down.
    PathDown,
    /// 6: Concatenated Path Down.
    ConcatenatedPathDown,
    /// 7: Administratively Down.
    AdminDown,
    /// 8: Reverse Concatenated Path Down.
    ReverseConcatenatedPathDown,
    /// 9-31: reserved; kept as sent.
    Other(u8),
}

impl Diagnostic {
    fn from_bits(bits: u8) -> Self {
        match bits & 0x1f {
            0 => Self::None,
            1 => Self::TimeExpired,
            2 => Self::EchoFailed,
            3 => Self::NeighborDown,
            4 => Self::ForwardingReset,
            5 => Self::PathDown,
            6 => Self::ConcatenatedPathDown,
            7 => Self::AdminDown,
            8 => Self::ReverseConcatenatedPathDown,
            other => Self::Other(other),
        }
    }

    fn bits(self) -> u8 {
        match self {
            Self::None => 0,
            Self::TimeExpired => 1,
            Self::EchoFailed => 2,
            Self::NeighborDown => 3,
            Self::ForwardingReset => 4,
            Self::PathDown => 5,
            Self::ConcatenatedPathDown => 6,
            Self::AdminDown => 7,
            Self::ReverseConcatenatedPathDown => 8,
            Self::Other(bits) => bits & 0x1f,
        }
    }

    /// In RFC 5880's words, as BIRD shows them.
    pub fn describe(self) -> &'static str {
        match self {
            Self::None => "No diagnostic",
            Self::TimeExpired => "Control detection time expired",
            Self::EchoFailed => "Echo function failed",
            Self::NeighborDown => "Neighbor signaled session down",
            Self::ForwardingReset => "Forwarding plane reset",
            Self::PathDown => "Path down",
            Self::ConcatenatedPathDown => "Concatenated path down",
            Self::AdminDown => "Administratively down",
            Self::ReverseConcatenatedPathDown => "Reverse concatenated path down",
            Self::Other(_) => "Unknown diagnostic",
        }
    }
}

/// One Control packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ControlPacket {
    pub diagnostic: Diagnostic,
    pub state: State,
    /// P: the sender asks for a Final (a change of its intervals, §6.5).
    pub poll: bool,
    /// F: the answer to a Poll.
    pub final_: bool,
    /// C: the sender's BFD does not share fate with its control plane.
    pub control_plane_independent: bool,
    /// D: demand mode; this implementation never asks for it (§6.6).
    pub demand: bool,
    pub detect_mult: u8,
    pub my_discriminator: u32,
    pub your_discriminator: u32,
    /// Microseconds.
    pub desired_min_tx: u32,
    /// Microseconds.
    pub required_min_rx: u32,
    /// Microseconds; 0: this side does not take Echo packets.
    pub required_min_echo_rx: u32,
}

/// Why a received packet is discarded (RFC 5880 §6.8.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Discard {
    #[error("shorter than a BFD Control packet ({0} octets)")]
    Short(usize),
    #[error("version {0}, not 1")]
    Version(u8),
    #[error("Length field {length} does not fit the {received} octets received")]
    Length { length: u8, received: usize },
    #[error("authentication, which no session here uses")]
    Authenticated,
    #[error("Detect Mult of zero")]
    ZeroDetectMult,
    #[error("Multipoint bit set")]
    Multipoint,
    #[error("My Discriminator of zero")]
    ZeroDiscriminator,
    #[error("Your Discriminator of zero in state {0:?}")]
    NoYourDiscriminator(State),
}

const FLAG_POLL: u8 = 0x20;
const FLAG_FINAL: u8 = 0x10;
const FLAG_CPI: u8 = 0x08;
const FLAG_AUTH: u8 = 0x04;
const FLAG_DEMAND: u8 = 0x02;
const FLAG_MULTIPOINT: u8 = 0x01;

impl ControlPacket {
    /// Decodes one received packet, or says why it is discarded.
    pub fn decode(octets: &[u8]) -> Result<Self, Discard> {
        let Some(head) = octets.first_chunk::<LEN>() else {
            return Err(Discard::Short(octets.len()));
        };
        let version = head[0] >> 5;
        if version != VERSION {
            return Err(Discard::Version(version));
        }
        let flags = head[1];
        let length = head[3];
        if usize::from(length) < LEN || usize::from(length) > octets.len() {
            return Err(Discard::Length {
                length,
                received: octets.len(),
            });
        }
        if flags & FLAG_AUTH != 0 {
            return Err(Discard::Authenticated);
        }
        let word =
            |at: usize| u32::from_be_bytes([head[at], head[at + 1], head[at + 2], head[at + 3]]);
        let packet = Self {
            diagnostic: Diagnostic::from_bits(head[0]),
            state: State::from_bits(flags >> 6),
            poll: flags & FLAG_POLL != 0,
            final_: flags & FLAG_FINAL != 0,
            control_plane_independent: flags & FLAG_CPI != 0,
            demand: flags & FLAG_DEMAND != 0,
            detect_mult: head[2],
            my_discriminator: word(4),
            your_discriminator: word(8),
            desired_min_tx: word(12),
            required_min_rx: word(16),
            required_min_echo_rx: word(20),
        };
        if packet.detect_mult == 0 {
            return Err(Discard::ZeroDetectMult);
        }
        if flags & FLAG_MULTIPOINT != 0 {
            return Err(Discard::Multipoint);
        }
        if packet.my_discriminator == 0 {
            return Err(Discard::ZeroDiscriminator);
        }
        if packet.your_discriminator == 0 && !matches!(packet.state, State::Down | State::AdminDown)
        {
            return Err(Discard::NoYourDiscriminator(packet.state));
        }
        Ok(packet)
    }

    /// The packet's 24 octets.
    pub fn encode(&self) -> [u8; LEN] {
        let mut out = [0u8; LEN];
        out[0] = (VERSION << 5) | self.diagnostic.bits();
        let mut flags = (self.state as u8) << 6;
        for (set, bit) in [
            (self.poll, FLAG_POLL),
            (self.final_, FLAG_FINAL),
            (self.control_plane_independent, FLAG_CPI),
            (self.demand, FLAG_DEMAND),
        ] {
            if set {
                flags |= bit;
            }
        }
        out[1] = flags;
        out[2] = self.detect_mult;
        out[3] = LEN as u8;
        for (at, value) in [
            (4, self.my_discriminator),
            (8, self.your_discriminator),
            (12, self.desired_min_tx),
            (16, self.required_min_rx),
            (20, self.required_min_echo_rx),
        ] {
            out[at..at + 4].copy_from_slice(&value.to_be_bytes());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up() -> ControlPacket {
        ControlPacket {
            diagnostic: Diagnostic::None,
            state: State::Up,
            poll: false,
            final_: true,
            control_plane_independent: false,
            demand: false,
            detect_mult: 3,
            my_discriminator: 0x0102_0304,
            your_discriminator: 7,
            desired_min_tx: 300_000,
            required_min_rx: 300_000,
            required_min_echo_rx: 0,
        }
    }

    #[test]
    fn a_packet_reads_as_it_was_written() {
        let packet = up();
        let octets = packet.encode();
        // Version 1, no diagnostic; Up with F; 3; 24 octets.
        assert_eq!(octets[..4], [0x20, 0xd0, 3, 24]);
        assert_eq!(octets[4..8], [1, 2, 3, 4]);
        assert_eq!(octets[12..16], 300_000u32.to_be_bytes());
        assert_eq!(ControlPacket::decode(&octets), Ok(packet));
    }

    #[test]
    fn what_rfc_5880_discards_is_discarded_with_its_reason() {
        let good = up().encode();
        let with = |change: fn(&mut [u8; LEN])| {
            let mut octets = good;
            change(&mut octets);
            ControlPacket::decode(&octets)
        };
        assert_eq!(ControlPacket::decode(&good[..20]), Err(Discard::Short(20)));
        assert_eq!(with(|o| o[0] = 0x40), Err(Discard::Version(2)));
        assert_eq!(
            with(|o| o[3] = 23),
            Err(Discard::Length {
                length: 23,
                received: 24
            })
        );
        assert_eq!(
            with(|o| o[3] = 28),
            Err(Discard::Length {
                length: 28,
                received: 24
            })
        );
        assert_eq!(with(|o| o[1] |= FLAG_AUTH), Err(Discard::Authenticated));
        assert_eq!(with(|o| o[2] = 0), Err(Discard::ZeroDetectMult));
        assert_eq!(with(|o| o[1] |= FLAG_MULTIPOINT), Err(Discard::Multipoint));
        assert_eq!(with(|o| o[4..8].fill(0)), Err(Discard::ZeroDiscriminator));
        assert_eq!(
            with(|o| o[8..12].fill(0)),
            Err(Discard::NoYourDiscriminator(State::Up))
        );
        // Down without knowing the peer's discriminator is how every
        // session starts.
        let down = with(|o| {
            o[1] = (State::Down as u8) << 6;
            o[8..12].fill(0);
        });
        assert_eq!(down.map(|p| p.state), Ok(State::Down));
    }

    #[test]
    fn octets_past_the_length_field_are_ignored_and_reserved_diagnostics_kept() {
        let mut octets = up().encode().to_vec();
        octets.extend_from_slice(&[0xee; 4]);
        octets[0] = (VERSION << 5) | 20;
        let packet = ControlPacket::decode(&octets).unwrap();
        assert_eq!(packet.diagnostic, Diagnostic::Other(20));
        assert_eq!(packet.encode()[0], (VERSION << 5) | 20);
    }
}
