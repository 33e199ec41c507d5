//! Errors shaped like the NOTIFICATION they become (RFC 4271 §4.5, §6), and the
//! RFC 7606 actions that UPDATE attribute errors call for.
//!
//! A decoder never returns a string error: every failure is a [`Notification`]
//! with the code, subcode and data that RFC 4271 §6 prescribes, so the session
//! sends exactly what it was given.

use std::fmt;

use bytes::Bytes;

/// NOTIFICATION error codes (RFC 4271 §4.5; RFC 7313 §5 for code 7; RFC
/// 9687 §4 for code 8).
/// <https://www.iana.org/assignments/bgp-parameters/bgp-parameters.xhtml#bgp-parameters-3>
pub mod code {
    pub const MESSAGE_HEADER: u8 = 1;
    pub const OPEN_MESSAGE: u8 = 2;
    pub const UPDATE_MESSAGE: u8 = 3;
    pub const HOLD_TIMER_EXPIRED: u8 = 4;
    pub const FSM: u8 = 5;
    pub const CEASE: u8 = 6;
    pub const ROUTE_REFRESH: u8 = 7;
    pub const SEND_HOLD_TIMER_EXPIRED: u8 = 8;
}

/// Message Header Error subcodes (RFC 4271 §6.1).
pub mod header_subcode {
    pub const CONNECTION_NOT_SYNCHRONIZED: u8 = 1;
    pub const BAD_MESSAGE_LENGTH: u8 = 2;
    pub const BAD_MESSAGE_TYPE: u8 = 3;
}

/// OPEN Message Error subcodes (RFC 4271 §6.2, RFC 5492 §5).
pub mod open_subcode {
    pub const UNSPECIFIC: u8 = 0;
    pub const UNSUPPORTED_VERSION: u8 = 1;
    pub const BAD_PEER_AS: u8 = 2;
    pub const BAD_BGP_IDENTIFIER: u8 = 3;
    pub const UNSUPPORTED_OPTIONAL_PARAMETER: u8 = 4;
    pub const UNACCEPTABLE_HOLD_TIME: u8 = 6;
    pub const UNSUPPORTED_CAPABILITY: u8 = 7;
}

/// UPDATE Message Error subcodes (RFC 4271 §6.3).
pub mod update_subcode {
    pub const MALFORMED_ATTRIBUTE_LIST: u8 = 1;
    pub const UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE: u8 = 2;
    pub const MISSING_WELL_KNOWN_ATTRIBUTE: u8 = 3;
    pub const ATTRIBUTE_FLAGS_ERROR: u8 = 4;
    pub const ATTRIBUTE_LENGTH_ERROR: u8 = 5;
    pub const INVALID_ORIGIN_ATTRIBUTE: u8 = 6;
    pub const INVALID_NEXT_HOP_ATTRIBUTE: u8 = 8;
    pub const OPTIONAL_ATTRIBUTE_ERROR: u8 = 9;
    pub const INVALID_NETWORK_FIELD: u8 = 10;
    pub const MALFORMED_AS_PATH: u8 = 11;
}

/// Cease subcodes (RFC 4486 §4, RFC 8203).
pub mod cease_subcode {
    pub const MAXIMUM_PREFIXES_REACHED: u8 = 1;
    pub const ADMINISTRATIVE_SHUTDOWN: u8 = 2;
    pub const PEER_DECONFIGURED: u8 = 3;
    pub const ADMINISTRATIVE_RESET: u8 = 4;
    pub const CONNECTION_REJECTED: u8 = 5;
    pub const OTHER_CONFIGURATION_CHANGE: u8 = 6;
    pub const CONNECTION_COLLISION_RESOLUTION: u8 = 7;
    pub const OUT_OF_RESOURCES: u8 = 8;
    pub const HARD_RESET: u8 = 9;
    /// RFC 9384 §3: the peer's BFD session went down.
    pub const BFD_DOWN: u8 = 10;
}

/// ROUTE-REFRESH Message Error subcodes (RFC 7313 §5).
pub mod route_refresh_subcode {
    pub const INVALID_MESSAGE_LENGTH: u8 = 1;
}

// ===== Notification =====

/// A NOTIFICATION message, and the error of every decoder.
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Error code    | Error subcode |   Data (variable)             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Notification {
    pub code: u8,
    pub subcode: u8,
    pub data: Bytes,
}

impl Notification {
    pub fn new(code: u8, subcode: u8, data: impl Into<Bytes>) -> Self {
        Self {
            code,
            subcode,
            data: data.into(),
        }
    }

    pub fn header(subcode: u8, data: impl Into<Bytes>) -> Self {
        Self::new(code::MESSAGE_HEADER, subcode, data)
    }

    pub fn open(subcode: u8, data: impl Into<Bytes>) -> Self {
        Self::new(code::OPEN_MESSAGE, subcode, data)
    }

    pub fn update(subcode: u8, data: impl Into<Bytes>) -> Self {
        Self::new(code::UPDATE_MESSAGE, subcode, data)
    }

    pub fn cease(subcode: u8) -> Self {
        Self::new(code::CEASE, subcode, Bytes::new())
    }

    /// RFC 4271 §6.1: Bad Message Length carries the erroneous Length field.
    pub fn bad_message_length(length: u16) -> Self {
        Self::header(
            header_subcode::BAD_MESSAGE_LENGTH,
            Bytes::copy_from_slice(&length.to_be_bytes()),
        )
    }

    /// RFC 4271 §6.3: Malformed Attribute List has no data.
    pub fn malformed_attribute_list() -> Self {
        Self::update(update_subcode::MALFORMED_ATTRIBUTE_LIST, Bytes::new())
    }

    /// RFC 4271 §6.3: Invalid Network Field has no data.
    pub fn invalid_network_field() -> Self {
        Self::update(update_subcode::INVALID_NETWORK_FIELD, Bytes::new())
    }

    /// The text of an Administrative Shutdown or Reset (RFC 9003 §2), when the
    /// data holds a well-formed one.
    pub fn shutdown_communication(&self) -> Option<&str> {
        let shutdown = self.code == code::CEASE
            && matches!(
                self.subcode,
                cease_subcode::ADMINISTRATIVE_SHUTDOWN | cease_subcode::ADMINISTRATIVE_RESET
            );
        let (&len, text) = self.data.split_first()?;
        if !shutdown || usize::from(len) != text.len() {
            return None;
        }
        std::str::from_utf8(text).ok()
    }

    /// The error's name in the words BIRD uses in `show protocols` ("Hold timer
    /// expired", "Malformed AS_PATH", ...), which operators know.
    pub fn describe(&self) -> &'static str {
        use header_subcode as h;
        use open_subcode as o;
        use update_subcode as u;
        match (self.code, self.subcode) {
            (code::MESSAGE_HEADER, h::CONNECTION_NOT_SYNCHRONIZED) => "Connection not synchronized",
            (code::MESSAGE_HEADER, h::BAD_MESSAGE_LENGTH) => "Bad message length",
            (code::MESSAGE_HEADER, h::BAD_MESSAGE_TYPE) => "Bad message type",
            (code::MESSAGE_HEADER, _) => "Invalid message header",
            (code::OPEN_MESSAGE, o::UNSUPPORTED_VERSION) => "Unsupported version number",
            (code::OPEN_MESSAGE, o::BAD_PEER_AS) => "Bad peer AS",
            (code::OPEN_MESSAGE, o::BAD_BGP_IDENTIFIER) => "Bad BGP identifier",
            (code::OPEN_MESSAGE, o::UNSUPPORTED_OPTIONAL_PARAMETER) => {
                "Unsupported optional parameter"
            }
            (code::OPEN_MESSAGE, o::UNACCEPTABLE_HOLD_TIME) => "Unacceptable hold time",
            (code::OPEN_MESSAGE, o::UNSUPPORTED_CAPABILITY) => "Required capability missing",
            (code::OPEN_MESSAGE, _) => "Invalid OPEN message",
            (code::UPDATE_MESSAGE, u::MALFORMED_ATTRIBUTE_LIST) => "Malformed attribute list",
            (code::UPDATE_MESSAGE, u::UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE) => {
                "Unrecognized well-known attribute"
            }
            (code::UPDATE_MESSAGE, u::MISSING_WELL_KNOWN_ATTRIBUTE) => {
                "Missing mandatory attribute"
            }
            (code::UPDATE_MESSAGE, u::ATTRIBUTE_FLAGS_ERROR) => "Attribute flags error",
            (code::UPDATE_MESSAGE, u::ATTRIBUTE_LENGTH_ERROR) => "Attribute length error",
            (code::UPDATE_MESSAGE, u::INVALID_ORIGIN_ATTRIBUTE) => "Invalid ORIGIN attribute",
            (code::UPDATE_MESSAGE, u::INVALID_NEXT_HOP_ATTRIBUTE) => "Invalid NEXT_HOP attribute",
            (code::UPDATE_MESSAGE, u::OPTIONAL_ATTRIBUTE_ERROR) => "Optional attribute error",
            (code::UPDATE_MESSAGE, u::INVALID_NETWORK_FIELD) => "Invalid network field",
            (code::UPDATE_MESSAGE, u::MALFORMED_AS_PATH) => "Malformed AS_PATH",
            (code::UPDATE_MESSAGE, _) => "Invalid UPDATE message",
            (code::HOLD_TIMER_EXPIRED, _) => "Hold timer expired",
            (code::SEND_HOLD_TIMER_EXPIRED, _) => "Send hold timer expired",
            (code::FSM, _) => "Finite state machine error",
            (code::CEASE, cease_subcode::MAXIMUM_PREFIXES_REACHED) => {
                "Maximum number of prefixes reached"
            }
            (code::CEASE, cease_subcode::ADMINISTRATIVE_SHUTDOWN) => "Administrative shutdown",
            (code::CEASE, cease_subcode::PEER_DECONFIGURED) => "Peer de-configured",
            (code::CEASE, cease_subcode::ADMINISTRATIVE_RESET) => "Administrative reset",
            (code::CEASE, cease_subcode::CONNECTION_REJECTED) => "Connection rejected",
            (code::CEASE, cease_subcode::OTHER_CONFIGURATION_CHANGE) => {
                "Other configuration change"
            }
            (code::CEASE, cease_subcode::CONNECTION_COLLISION_RESOLUTION) => {
                "Connection collision resolution"
            }
            (code::CEASE, cease_subcode::OUT_OF_RESOURCES) => "Out of Resources",
            (code::CEASE, cease_subcode::HARD_RESET) => "Hard reset",
            (code::CEASE, cease_subcode::BFD_DOWN) => "BFD down",
            (code::CEASE, _) => "Cease",
            (code::ROUTE_REFRESH, _) => "Invalid ROUTE-REFRESH message",
            _ => "Unknown error",
        }
    }
}

impl fmt::Display for Notification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (code {}, subcode {})",
            self.describe(),
            self.code,
            self.subcode
        )?;
        if let Some(text) = self.shutdown_communication() {
            write!(f, ": {text}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Notification {}

// ===== RFC 7606 =====

/// What RFC 7606 asks the receiver of a malformed UPDATE to do, ordered so that
/// the strongest action compares greatest (RFC 7606 §3.h: when several errors
/// are found, the most severe approach is taken).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AttrAction {
    /// "attribute discard": drop the attribute, use the rest of the UPDATE.
    Discard,
    /// "treat-as-withdraw": every prefix the UPDATE announces is withdrawn.
    TreatAsWithdraw,
    /// "AFI/SAFI disable" (RFC 4760 §7): stop using one address family.
    AfiSafiDisable { afi: u16, safi: u8 },
    /// "session reset": send the NOTIFICATION and close the session.
    SessionReset,
}

/// One malformed attribute found in an UPDATE: the action RFC 7606 prescribes,
/// and the NOTIFICATION RFC 4271 §6.3 would send for it (sent only when the
/// action is a reset; logged otherwise).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AttrError {
    pub type_code: u8,
    pub action: AttrAction,
    pub notification: Notification,
}

impl fmt::Display for AttrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "attribute {}: {} ({:?})",
            self.type_code, self.notification, self.action
        )
    }
}
