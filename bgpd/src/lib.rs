//! podroute's BGP speaker: the wire codec (`packet`), the session state
//! machine (`fsm`), the RIB (`rib`), import and export rules (`policy`,
//! `export`), the speaker actor that owns them (`speaker`, fed by
//! `events` from the connections of `session`), the kernel side (`fib`),
//! the etcd datastore (`datastore`), the one way in for configuration
//! (`applier`, applying a `config_diff`) and the operator interfaces
//! (`api`). See `docs/ARCHITECTURE.md`.
//!
//! Public is what the binaries, the tests, the benchmarks and the fuzzers
//! use: the codecs (BGP's and BFD's), the RIB (its memory benchmark), the speaker's handle and
//! its FIB seam, the configuration sources, the operator interfaces. The
//! rest is the speaker's inside, and the compiler says when part of it
//! goes unused.

/// The version `--version` and the API report: the crate's, and the commit
/// it was built from (build.rs).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("PODROUTE_COMMIT"),
    ")"
);

pub mod api;
pub mod applier;
pub mod bfd;
mod config_diff;
pub mod datastore;
mod events;
mod export;
mod fasthash;
pub mod fib;
mod fsm;
pub mod log_filter;
mod neighbor;
pub mod node_status;
pub mod packet;
mod policy;
mod priority;
pub mod registration;
mod restart;
pub mod rib;
mod session;
pub mod speaker;
mod status;
