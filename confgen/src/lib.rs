//! etcd as the source of truth, in Calico's v3 data model.
//!
//! - [`resources`]: Calico's Node, BGPConfiguration, BGPPeer, IPPool and
//!   block affinities as stored in etcd.
//! - [`snapshot`]: the keys and values of a datastore, parsed; a bad value is
//!   reported with its key and skipped, never fatal.
//! - [`problem`]: what could not be used, by key and field; one bad value,
//!   entry or peer costs only itself.
//! - [`render`]: the pure function from a snapshot and a node name to that
//!   node's `SpeakerConfig`.
//!
//! - [`autodetect`] and [`register`]: the node's address found as
//!   calico-node finds it, and written into its Node when the Node has none.
//!
//! etcd is used nowhere else in podroute.

pub mod autodetect;
pub mod bird;
pub mod node_status;
pub mod problem;
pub mod register;
pub mod render;
pub mod resources;
pub mod secrets;
pub mod selector;
pub mod snapshot;
pub mod watch;
