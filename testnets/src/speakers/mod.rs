//! Third-party BGP speakers and etcd, started inside a host from a config
//! string, ready when their own CLI answers, and queried through it.

pub mod bgpd;
pub mod bird;
pub mod etcd;
pub mod frr;
pub mod gobgp;

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;

use crate::error::{Error, Result};
use crate::wait::{wait_for, Poll};

/// How long a daemon gets to answer its CLI after start.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A BGP session as the speaker itself reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// The speaker's name for the session (BIRD's protocol name, or the address).
    pub name: String,
    pub peer: Option<IpAddr>,
    pub state: SessionState,
}

/// RFC 4271 §8.2.2 states, plus what a speaker says when a session is off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionState {
    Idle,
    Connect,
    Active,
    OpenSent,
    OpenConfirm,
    Established,
    Down,
}

impl SessionState {
    /// From the words BIRD, GoBGP and FRR use.
    pub fn parse(text: &str) -> Self {
        match text.to_ascii_lowercase().as_str() {
            "idle" => Self::Idle,
            "connect" => Self::Connect,
            "active" => Self::Active,
            "opensent" => Self::OpenSent,
            "openconfirm" => Self::OpenConfirm,
            "established" => Self::Established,
            _ => Self::Down,
        }
    }
}

impl fmt::Display for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.name)?;
        if let Some(peer) = self.peer {
            write!(f, "({peer}) ")?;
        }
        write!(f, "{:?}", self.state)
    }
}

/// What the tests ask of every speaker.
pub trait Speaker {
    fn name(&self) -> &str;

    /// Its BGP sessions.
    fn sessions(&self) -> Result<Vec<Session>>;

    /// Prefixes in its RIB that it learned from peers.
    fn received(&self) -> Result<Vec<IpNet>>;

    /// Waits until `count` sessions are Established.
    fn wait_established(&self, count: usize, timeout: Duration) -> Result<Vec<Session>> {
        let what = format!("{count} established sessions on {}", self.name());
        wait_for(&what, timeout, || {
            let sessions = self.sessions()?;
            let up = sessions
                .iter()
                .filter(|s| s.state == SessionState::Established)
                .count();
            Ok(if up >= count {
                Poll::Ready(sessions)
            } else {
                Poll::Pending(sessions.iter().map(|s| format!("  {s}\n")).collect())
            })
        })
    }

    /// Waits until every prefix of `prefixes` was received.
    fn wait_received(&self, prefixes: &[IpNet], timeout: Duration) -> Result<Vec<IpNet>> {
        let what = format!("{prefixes:?} received by {}", self.name());
        wait_for(&what, timeout, || {
            let received = self.received()?;
            Ok(if prefixes.iter().all(|p| received.contains(p)) {
                Poll::Ready(received)
            } else {
                Poll::Pending(format!("received: {received:?}"))
            })
        })
    }
}

/// Writes a config file into a host's folder.
pub(crate) fn write_file(dir: &Path, name: &str, text: &str) -> Result<PathBuf> {
    let path = dir.join(name);
    std::fs::write(&path, text).map_err(Error::io(format!("write {}", path.display())))?;
    Ok(path)
}

/// Parses the prefixes that start lines (BIRD's `show route`).
pub(crate) fn leading_prefixes(text: &str) -> Vec<IpNet> {
    text.lines()
        .filter_map(|line| line.split_whitespace().next()?.parse().ok())
        .collect()
}

pub(crate) fn parse_json(what: &str, text: &str) -> Result<serde_json::Value> {
    serde_json::from_str(text).map_err(|e| Error::Parse {
        what: what.into(),
        detail: e.to_string(),
    })
}
