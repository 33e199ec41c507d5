//! What keeps a session alive must not wait on a busy speaker. The speaker
//! runs every session's timers in one task; a flood from one peer can keep
//! it busy for seconds (a million prefixes through a debug build), and the
//! events of the other peers queue behind it. So each connection's tasks
//! keep two facts of their own, shared with the speaker:
//!
//! - when the reader last took a message off the socket: a hold timer that
//!   fires while that message still waits in the speaker's queue is not the
//!   peer's silence (RFC 4271 §6.5), and is set again instead;
//! - the keepalive interval, once the speaker has armed it: a writer that
//!   has sent nothing for a third longer than that sends the KEEPALIVE
//!   itself (§4.4), so the peer's hold timer never sees a busy speaker as a
//!   dead one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

// Tokio's clock: the same as the system's in bgpd, and paused with the
// rest of a replay test's timers.
use tokio::time::Instant;

/// A KEEPALIVE: the header alone (RFC 4271 §4.4).
pub const KEEPALIVE: [u8; 19] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0, 19, 4,
];

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn millis_since_epoch(at: Instant) -> u64 {
    at.saturating_duration_since(epoch()).as_millis() as u64
}

/// One connection's liveness, written by its reader and the speaker, read
/// by the speaker and its writer.
#[derive(Debug)]
pub struct Liveness {
    /// Milliseconds since the epoch of the last message read (0: none yet).
    heard: AtomicU64,
    /// The keepalive interval in milliseconds (0: none armed).
    keepalive: AtomicU64,
}

impl Default for Liveness {
    fn default() -> Self {
        // Fix the epoch before any reading, so that 0 means "never".
        let _ = epoch();
        Self {
            heard: AtomicU64::new(0),
            keepalive: AtomicU64::new(0),
        }
    }
}

impl Liveness {
    /// The reader took a message off the socket.
    pub fn heard_now(&self) {
        self.heard
            .store(millis_since_epoch(Instant::now()).max(1), Ordering::Relaxed);
    }

    /// How long ago the reader last took a message; None before the first.
    pub fn heard_ago(&self) -> Option<Duration> {
        match self.heard.load(Ordering::Relaxed) {
            0 => None,
            at => {
                let now = millis_since_epoch(Instant::now());
                Some(Duration::from_millis(now.saturating_sub(at)))
            }
        }
    }

    /// The speaker armed the keepalive timer with `interval`.
    pub fn set_keepalive(&self, interval: Duration) {
        self.keepalive
            .store(interval.as_millis() as u64, Ordering::Relaxed);
    }

    /// How long the writer may stay silent before it sends a KEEPALIVE
    /// itself: a third more than the interval, so that on time the
    /// speaker's own comes first and nothing is sent twice.
    pub fn writer_silence(&self) -> Option<Duration> {
        match self.keepalive.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(Duration::from_millis(ms + ms / 3)),
        }
    }
}

/// What the speaker does when a hold timer fires: expire it, or set it
/// again for what is left when the reader heard from the peer within it.
pub fn hold_left(hold: Duration, heard_ago: Option<Duration>) -> Option<Duration> {
    let ago = heard_ago?;
    (ago < hold).then(|| hold - ago)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_heard_within_the_hold_time_keeps_the_timer() {
        let hold = Duration::from_secs(9);
        assert_eq!(hold_left(hold, None), None);
        assert_eq!(
            hold_left(hold, Some(Duration::from_secs(2))),
            Some(Duration::from_secs(7))
        );
        assert_eq!(hold_left(hold, Some(Duration::from_secs(9))), None);
    }

    #[test]
    fn liveness_records_what_the_tasks_saw() {
        let liveness = Liveness::default();
        assert_eq!(liveness.heard_ago(), None);
        assert_eq!(liveness.writer_silence(), None);
        liveness.heard_now();
        assert!(liveness.heard_ago().unwrap() < Duration::from_secs(1));
        liveness.set_keepalive(Duration::from_secs(3));
        assert_eq!(liveness.writer_silence(), Some(Duration::from_secs(4)));
    }

    #[test]
    fn the_keepalive_is_a_whole_message() {
        let ctx = crate::packet::DecodeCtx::default();
        assert_eq!(
            crate::packet::Message::decode(&KEEPALIVE, &ctx).unwrap(),
            crate::packet::Message::Keepalive
        );
    }
}
