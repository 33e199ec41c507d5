//! podroute's BGP speaker: the wire codec ([`packet`]), the session state
//! machine ([`fsm`]), the RIB ([`rib`]), import and export rules ([`policy`],
//! [`export`]), the speaker actor that owns them ([`speaker`]), the kernel
//! side ([`fib`]), the etcd datastore ([`datastore`]), the one way in for
//! configuration ([`applier`], applying a [`config_diff`]) and the operator
//! interfaces ([`api`]). See `docs/ARCHITECTURE.md`.

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
pub mod config_diff;
pub mod datastore;
pub mod events;
pub mod export;
pub mod fasthash;
pub mod fib;
pub mod fsm;
pub mod log_filter;
pub mod neighbor;
pub mod node_status;
pub mod packet;
pub mod policy;
mod priority;
pub mod registration;
pub mod restart;
pub mod rib;
pub mod session;
pub mod speaker;
pub mod status;
