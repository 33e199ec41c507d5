//! The one error type of the harness: every failure says what was being done
//! and shows the state that matters (a command's stderr, a table, a log).

use std::io;
use std::time::Duration;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error("`{command}` failed: {detail}")]
    Command { command: String, detail: String },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("topology: {0}")]
    Topology(String),
    #[error("timed out after {waited:?} waiting for {what}; as it stood:\n{state}")]
    Timeout {
        what: String,
        waited: Duration,
        state: String,
    },
    #[error("{name} exited before it was ready ({status}); its output:\n{log}")]
    Exited {
        name: String,
        status: String,
        log: String,
    },
    #[error("netlink: {0}")]
    Netlink(String),
    /// A benchmark run that failed (the `bench` crate's harness).
    #[error("bench: {0}")]
    Bench(String),
    #[error("cannot parse {what}: {detail}")]
    Parse { what: String, detail: String },
}

impl Error {
    /// Wraps an I/O error with what was being done (`map_err(Error::io(..))`).
    pub fn io(what: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
        let what = what.into();
        move |source| Error::Io { what, source }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
