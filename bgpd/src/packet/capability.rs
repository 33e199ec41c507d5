//! Capabilities advertised in OPEN (RFC 5492 §4).
//!
//! ```text
//! +------------------------------+
//! | Capability Code (1 octet)    |
//! +------------------------------+
//! | Capability Length (1 octet)  |
//! +------------------------------+
//! | Capability Value (variable)  |
//! +------------------------------+
//! ```

use bytes::{BufMut, Bytes};

use super::context::Family;
use super::iana::capability as cap;
use super::wire;

/// An AFI/SAFI pair as a peer may name it, known to podroute or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AfiSafi {
    pub afi: u16,
    pub safi: u8,
}

impl AfiSafi {
    pub fn family(self) -> Option<Family> {
        Family::from_afi_safi(self.afi, self.safi)
    }
}

impl From<Family> for AfiSafi {
    fn from(family: Family) -> Self {
        Self {
            afi: family.afi(),
            safi: family.safi(),
        }
    }
}

/// The Send/Receive field of ADD-PATH (RFC 7911 §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum AddPathMode {
    Receive = 1,
    Send = 2,
    Both = 3,
}

impl AddPathMode {
    pub fn receives(self) -> bool {
        matches!(self, Self::Receive | Self::Both)
    }

    pub fn sends(self) -> bool {
        matches!(self, Self::Send | Self::Both)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AddPathFamily {
    pub afi_safi: AfiSafi,
    pub mode: AddPathMode,
}

/// One family of the Graceful Restart capability (RFC 4724 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GracefulRestartFamily {
    pub afi_safi: AfiSafi,
    /// The F bit: forwarding state was preserved through the restart.
    pub forwarding_preserved: bool,
}

/// The Graceful Restart capability (RFC 4724 §3, N bit from RFC 8538 §2).
///
/// ```text
/// +--------------------------------------------------+
/// | Restart Flags (4 bits) | Restart Time (12 bits)  |
/// +--------------------------------------------------+
/// | AFI (16 bits) | SAFI (8 bits) | Flags (8 bits)   |  repeated
/// +--------------------------------------------------+
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GracefulRestart {
    /// The R bit: the sender has restarted.
    pub restarting: bool,
    /// The N bit: the sender supports graceful restart for NOTIFICATIONs.
    pub notification: bool,
    /// Seconds, at most 4095.
    pub restart_time: u16,
    pub families: Vec<GracefulRestartFamily>,
}

const GR_RESTARTING: u16 = 0x8000;
const GR_NOTIFICATION: u16 = 0x4000;
const GR_TIME_MASK: u16 = 0x0fff;
const GR_FORWARDING: u8 = 0x80;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Capability {
    /// RFC 4760 §8
    Multiprotocol(AfiSafi),
    /// RFC 2918 §2
    RouteRefresh,
    /// RFC 7313 §3
    EnhancedRouteRefresh,
    /// RFC 8654 §3
    ExtendedMessage,
    /// RFC 6793 §3: the speaker's own AS number.
    FourOctetAs(u32),
    /// RFC 4724 §3
    GracefulRestart(GracefulRestart),
    /// RFC 7911 §4
    AddPath(Vec<AddPathFamily>),
    /// Any other capability, kept as it came.
    Unknown { code: u8, value: Bytes },
}

/// A capability whose value does not fit its definition. RFC 4271 §6.2 sends
/// an OPEN Message Error with subcode 0 (Unspecific) for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct MalformedCapability;

impl Capability {
    pub fn code(&self) -> u8 {
        match self {
            Self::Multiprotocol(_) => cap::MULTIPROTOCOL,
            Self::RouteRefresh => cap::ROUTE_REFRESH,
            Self::EnhancedRouteRefresh => cap::ENHANCED_ROUTE_REFRESH,
            Self::ExtendedMessage => cap::EXTENDED_MESSAGE,
            Self::FourOctetAs(_) => cap::FOUR_OCTET_AS,
            Self::GracefulRestart(_) => cap::GRACEFUL_RESTART,
            Self::AddPath(_) => cap::ADD_PATH,
            Self::Unknown { code, .. } => *code,
        }
    }

    pub(super) fn decode(code: u8, value: &[u8]) -> Result<Self, MalformedCapability> {
        let unknown = || Self::Unknown {
            code,
            value: Bytes::copy_from_slice(value),
        };
        Ok(match code {
            cap::MULTIPROTOCOL => match *value {
                // AFI, Reserved, SAFI.
                [a, b, _, safi] => Self::Multiprotocol(AfiSafi {
                    afi: u16::from_be_bytes([a, b]),
                    safi,
                }),
                _ => return Err(MalformedCapability),
            },
            cap::ROUTE_REFRESH | cap::ENHANCED_ROUTE_REFRESH | cap::EXTENDED_MESSAGE => {
                if !value.is_empty() {
                    return Err(MalformedCapability);
                }
                match code {
                    cap::ROUTE_REFRESH => Self::RouteRefresh,
                    cap::ENHANCED_ROUTE_REFRESH => Self::EnhancedRouteRefresh,
                    _ => Self::ExtendedMessage,
                }
            }
            cap::FOUR_OCTET_AS => match wire::u32(value) {
                Ok(([], asn)) => Self::FourOctetAs(asn),
                _ => return Err(MalformedCapability),
            },
            cap::GRACEFUL_RESTART => Self::GracefulRestart(decode_graceful_restart(value)?),
            cap::ADD_PATH => {
                if value.is_empty() || value.len() % 4 != 0 {
                    return Err(MalformedCapability);
                }
                let families: Option<Vec<_>> = value.chunks_exact(4).map(decode_add_path).collect();
                // RFC 7911 §4: a Send/Receive value other than 1 to 3 makes the
                // capability one not understood: it is ignored, kept raw.
                families.map_or_else(unknown, Self::AddPath)
            }
            _ => unknown(),
        })
    }

    pub(super) fn encoded_len(&self) -> usize {
        2 + match self {
            Self::Multiprotocol(_) | Self::FourOctetAs(_) => 4,
            Self::RouteRefresh | Self::EnhancedRouteRefresh | Self::ExtendedMessage => 0,
            Self::GracefulRestart(gr) => 2 + 4 * gr.families.len(),
            Self::AddPath(families) => 4 * families.len(),
            Self::Unknown { value, .. } => value.len(),
        }
    }

    pub(super) fn encode(&self, buf: &mut impl BufMut) {
        buf.put_u8(self.code());
        buf.put_u8((self.encoded_len() - 2) as u8);
        match self {
            Self::Multiprotocol(f) => {
                buf.put_u16(f.afi);
                buf.put_u8(0);
                buf.put_u8(f.safi);
            }
            Self::RouteRefresh | Self::EnhancedRouteRefresh | Self::ExtendedMessage => {}
            Self::FourOctetAs(asn) => buf.put_u32(*asn),
            Self::GracefulRestart(gr) => {
                let mut head = gr.restart_time & GR_TIME_MASK;
                if gr.restarting {
                    head |= GR_RESTARTING;
                }
                if gr.notification {
                    head |= GR_NOTIFICATION;
                }
                buf.put_u16(head);
                for f in &gr.families {
                    buf.put_u16(f.afi_safi.afi);
                    buf.put_u8(f.afi_safi.safi);
                    buf.put_u8(if f.forwarding_preserved {
                        GR_FORWARDING
                    } else {
                        0
                    });
                }
            }
            Self::AddPath(families) => {
                for f in families {
                    buf.put_u16(f.afi_safi.afi);
                    buf.put_u8(f.afi_safi.safi);
                    buf.put_u8(f.mode as u8);
                }
            }
            Self::Unknown { value, .. } => buf.put_slice(value),
        }
    }
}

fn decode_graceful_restart(value: &[u8]) -> Result<GracefulRestart, MalformedCapability> {
    let (families, head) = wire::u16(value).map_err(|_| MalformedCapability)?;
    if families.len() % 4 != 0 {
        return Err(MalformedCapability);
    }
    Ok(GracefulRestart {
        restarting: head & GR_RESTARTING != 0,
        notification: head & GR_NOTIFICATION != 0,
        restart_time: head & GR_TIME_MASK,
        families: families
            .chunks_exact(4)
            .map(|c| GracefulRestartFamily {
                afi_safi: AfiSafi {
                    afi: u16::from_be_bytes([c[0], c[1]]),
                    safi: c[2],
                },
                forwarding_preserved: c[3] & GR_FORWARDING != 0,
            })
            .collect(),
    })
}

fn decode_add_path(chunk: &[u8]) -> Option<AddPathFamily> {
    let afi_safi = AfiSafi {
        afi: u16::from_be_bytes([chunk[0], chunk[1]]),
        safi: chunk[2],
    };
    let mode = match chunk[3] {
        1 => AddPathMode::Receive,
        2 => AddPathMode::Send,
        3 => AddPathMode::Both,
        _ => return None,
    };
    Some(AddPathFamily { afi_safi, mode })
}
