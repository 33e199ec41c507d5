//! Virtual clusters in Linux network namespaces, for tests, the demo and
//! benchmarks (the harness is the `bench` crate).
//!
//! - [`Topology`]: segments, hosts (nodes, routers, plain hosts) and pods,
//!   written with a builder or read from TOML; [`Topology::build`] makes a
//!   [`Network`] in fresh namespaces. Nothing touches the root namespace.
//! - Every name carries the run's id; namespaces, links and processes go away
//!   on drop, on panic and on Ctrl-C; `testnets clean` removes what a killed
//!   run left.
//! - [`Process`]: a program inside a host, with its output kept and readiness
//!   taken from the program's own signal.
//! - [`KernelRoute`]: a host's routes read over rtnetlink; [`wait_for`] waits
//!   for a condition with a deadline and shows the state on timeout.
//! - [`speakers`]: etcd, BIRD 1.6 and 2, GoBGP and FRR started in hosts and
//!   queried through their own CLIs.

pub mod clean;
pub mod cmd;
mod error;
mod monitor;
pub mod netns;
mod network;
mod process;
pub mod routes;
pub mod run;
pub mod speakers;
mod topology;
mod wait;

pub use error::{Error, Result};
pub use monitor::RouteMonitor;
pub use network::{Host, Network, Pod, POD_GATEWAY, TUNNEL_DEVICE};
pub use process::Process;
pub use routes::{KernelRoute, NextHop, RouteKind, MAIN_TABLE, PROTO_BIRD};
pub use topology::{
    HostBuilder, HostKind, HostSpec, Interface, PodSpec, Segment, StaticRoute, Topology,
};
pub use wait::{wait_for, Poll};

/// Whether this process may build namespaces (it runs as root). Tests that
/// need to build one skip, saying why, when it may not.
pub fn privileged() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Returns from the calling test, with the reason on stderr, when the process
/// may not build namespaces.
#[macro_export]
macro_rules! require_privileges {
    () => {
        if !$crate::privileged() {
            eprintln!("skipped: building network namespaces needs root (run the suite with sudo)");
            return;
        }
    };
}
