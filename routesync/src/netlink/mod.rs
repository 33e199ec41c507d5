//! Netlink, and nothing else: batched requests over one rtnetlink socket
//! ([`transport`]), the messages ([`message`]) and the kernel's errors
//! ([`error`]). Built on netlink-packet-route and netlink-sys directly, as
//! testnets reads routes, rather than on rtnetlink's async handle: routesync
//! runs on its own thread without a runtime, and batching needs control of
//! what goes into each `send`.

pub(crate) mod error;
pub(crate) mod message;
pub(crate) mod transport;

pub(crate) use error::{errno, KernelError};
pub(crate) use message::{NextHopSpec, Owner, RouteSpec};
pub(crate) use transport::{Answer, Request, Transport};
