//! The contracts between podroute's parts.
//!
//! - [`config`]: the typed desired state of one speaker, `SpeakerConfig`
//!   (peers, originated prefixes, export rule, kernel section), with
//!   validation that names the field at fault. confgen renders it from etcd;
//!   bgpd also reads it from a TOML file.
//! - The gRPC API (`podroute.v1`, tonic and prost) comes with the operator
//!   interface.
//!
//! No logic beyond validation and conversions lives here, and no other
//! podroute crate is a dependency.

pub mod config;
