//! Kernel programming: the speaker's best routes become kernel routes.

mod classify;
mod fib;

pub use classify::{classify, classify_entry, Action, Decision, Hop, NodeNetwork, Via};
pub use fib::{FibEntry, FibUpdate};
