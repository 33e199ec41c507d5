//! Netlink, and nothing else: batched requests over one rtnetlink socket
//! ([`transport`], encoded by [`encode`]), the kernel's notifications of
//! other people's changes ([`monitor`]), the messages ([`message`]) and the
//! kernel's errors ([`error`]). Built on netlink-packet-route and
//! netlink-sys directly, as testnets reads routes, rather than on
//! rtnetlink's async handle: routesync runs on its own thread without a
//! runtime, and batching needs control of what goes into each `send`.

pub(crate) mod encode;
pub(crate) mod error;
pub(crate) mod message;
pub(crate) mod monitor;
pub(crate) mod transport;

pub(crate) use encode::Batch;
pub(crate) use error::{errno, KernelError};
pub(crate) use message::{NextHopSpec, NextHopSpecs, Owner, RouteInfo, RouteSpec};
pub(crate) use monitor::{Event, Monitor};
pub(crate) use transport::{Answer, Transport};
