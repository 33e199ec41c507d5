//! Kernel programming: the speaker's best routes become kernel routes.
//!
//! Today: [`FibUpdate`], what the speaker hands over. To come with the
//! routesync issue: route classification (direct, `tunl0 onlink`, recursive
//! gateway, blackhole, not installed) per IP pool mode, batched netlink
//! programming, reconciliation with a stale sweep after restart, and a kernel
//! event monitor that repairs drift. Netlink is used nowhere else in the daemon.

mod fib;

pub use fib::{FibEntry, FibUpdate};
