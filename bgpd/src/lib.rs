//! podroute's BGP speaker.
//!
//! Today this crate holds the BGP-4 wire codec ([`packet`]). The session state
//! machine, RIBs, mesh and route-reflection rules, config apply and the API
//! servers follow (see `docs/ARCHITECTURE.md`).

pub mod api;
pub mod datastore;
pub mod export;
pub mod fasthash;
pub mod fib;
pub mod fsm;
pub mod neighbor;
pub mod packet;
pub mod policy;
pub mod rib;
pub mod session;
pub mod speaker;
pub mod status;
