//! What the kernel answers a request with: an errno, and with extended ACKs
//! (`NETLINK_EXT_ACK`) the kernel's own words, such as "Nexthop has invalid
//! gateway", which operators read in the route's status.

use std::fmt;
use std::io;

use netlink_packet_core::{ErrorMessage, NLM_F_ACK_TLVS, NLM_F_CAPPED};

/// Linux errno values (include/uapi/asm-generic/errno-base.h and errno.h)
/// that decide what routesync does next.
pub(crate) mod errno {
    /// Delete of a route that is not there (IPv6 and some IPv4 paths).
    pub const ENOENT: i32 = 2;
    /// Delete of a route that is not there (IPv4 `fib_table_delete`).
    pub const ESRCH: i32 = 3;
    /// `NLM_F_EXCL` met a route with the same key: someone else's.
    pub const EEXIST: i32 = 17;
    /// An interface index that no longer exists (the device was recreated).
    pub const ENODEV: i32 = 19;
    /// IPv4 "Nexthop has invalid gateway": a gateway not directly reachable.
    pub const EINVAL: i32 = 22;
    pub const ENETUNREACH: i32 = 101;
    /// Our receive buffer overflowed and the kernel dropped ACKs.
    pub const ENOBUFS: i32 = 105;
    /// IPv6's answer for a gateway not directly reachable.
    pub const EHOSTUNREACH: i32 = 113;
}

/// `NLMSGERR_ATTR_MSG` (include/uapi/linux/netlink.h): the extended ACK text.
const NLMSGERR_ATTR_MSG: u16 = 1;
const NLMSG_HDRLEN: usize = 16;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct KernelError {
    /// The positive errno.
    pub code: i32,
    /// The extended ACK message, when the kernel gave one.
    pub message: Option<String>,
}

impl KernelError {
    pub fn new(code: i32, message: impl Into<Option<String>>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// From an `NLMSG_ERROR` reply; `None` for a plain ACK. `flags` are the
    /// reply's header flags, which say how the payload is laid out.
    pub fn from_reply(error: &ErrorMessage, flags: u16) -> Option<Self> {
        let code = error.code?.get().abs();
        Some(Self::new(code, ext_ack_message(&error.header, flags)))
    }

    /// From a local socket error.
    pub fn io(error: &io::Error) -> Self {
        Self::new(error.raw_os_error().unwrap_or(0), error.to_string())
    }

    pub fn is(&self, code: i32) -> bool {
        self.code == code
    }
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let os = io::Error::from_raw_os_error(self.code);
        match &self.message {
            Some(message) if message != &os.to_string() => write!(f, "{message}: {os}"),
            _ => write!(f, "{os}"),
        }
    }
}

/// The payload of an `NLMSG_ERROR` after the error code is the request's
/// header (only the header with `NLM_F_CAPPED`, the whole request otherwise)
/// followed, with `NLM_F_ACK_TLVS`, by attributes; the message is a
/// NUL-terminated string (Documentation/userspace-api/netlink/intro.rst).
fn ext_ack_message(payload: &[u8], flags: u16) -> Option<String> {
    if flags & NLM_F_ACK_TLVS == 0 || payload.len() < NLMSG_HDRLEN {
        return None;
    }
    let request_len = if flags & NLM_F_CAPPED != 0 {
        NLMSG_HDRLEN
    } else {
        u32::from_ne_bytes(payload[0..4].try_into().ok()?) as usize
    };
    let mut rest = payload.get(align(request_len)..)?;
    while rest.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([rest[0], rest[1]]));
        let kind = u16::from_ne_bytes([rest[2], rest[3]]) & 0x3fff;
        if len < 4 || len > rest.len() {
            return None;
        }
        if kind == NLMSGERR_ATTR_MSG {
            let text = &rest[4..len];
            let text = text.split(|b| *b == 0).next().unwrap_or(text);
            return Some(String::from_utf8_lossy(text).into_owned());
        }
        rest = rest.get(align(len)..)?;
    }
    None
}

/// `NLMSG_ALIGN` / `NLA_ALIGN`: 4 bytes.
pub(crate) fn align(len: usize) -> usize {
    (len + 3) & !3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_extended_ack_message_is_read_after_a_capped_header() {
        let mut payload = vec![0u8; NLMSG_HDRLEN];
        let text = b"Nexthop has invalid gateway\0";
        let len = 4 + text.len();
        payload.extend_from_slice(&(len as u16).to_ne_bytes());
        payload.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
        payload.extend_from_slice(text);
        payload.resize(align(payload.len()), 0);
        let message = ext_ack_message(&payload, NLM_F_CAPPED | NLM_F_ACK_TLVS);
        assert_eq!(message.as_deref(), Some("Nexthop has invalid gateway"));
        assert_eq!(ext_ack_message(&payload, NLM_F_CAPPED), None);
    }

    #[test]
    fn errors_read_like_the_kernel_and_errno() {
        let error = KernelError::new(errno::EINVAL, "Nexthop has invalid gateway".to_owned());
        assert_eq!(
            error.to_string(),
            "Nexthop has invalid gateway: Invalid argument (os error 22)"
        );
        assert_eq!(
            KernelError::new(errno::EEXIST, None).to_string(),
            "File exists (os error 17)"
        );
    }
}
