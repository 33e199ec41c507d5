//! Every route change in a host, as `ip monitor route` prints it: proof that
//! a route was never deleted, which no snapshot of the table can give.

use std::time::Duration;

use crate::error::Result;
use crate::network::Host;
use crate::process::Process;
use crate::wait::{wait_for, Poll};

/// A route only the monitor's start-up check uses.
const MARKER: &str = "203.0.113.0/24";

/// How long `ip monitor` gets to start listening.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub struct RouteMonitor {
    process: Process,
}

impl RouteMonitor {
    /// Starts `ip monitor route` in `host`, returning once it listens: a
    /// marker route is added (again on each try, since a change made before
    /// it listened is not printed) until it shows up, then removed.
    pub fn start(host: &Host) -> Result<Self> {
        let process = host.spawn(
            "route-monitor",
            "stdbuf",
            &["-oL", "ip", "monitor", "route"],
        )?;
        let marker = |verb: &str| {
            host.ns()
                .ip(["route", verb, "blackhole", MARKER, "proto", "static"])
                .map(drop)
        };
        wait_for("ip monitor to listen", LISTEN_TIMEOUT, || {
            let _ = marker("del");
            marker("add")?;
            let log = process.log();
            Ok(if log.contains(MARKER) {
                Poll::Ready(())
            } else {
                Poll::Pending(log)
            })
        })?;
        marker("del")?;
        Ok(Self { process })
    }

    /// The lines printed for deletions of `prefix` since the start.
    pub fn deletions(&self, prefix: &str) -> Vec<String> {
        let wanted = format!("Deleted {prefix} ");
        self.process
            .log()
            .lines()
            .filter(|l| {
                l.starts_with(&wanted) || l.starts_with(&format!("Deleted blackhole {prefix} "))
            })
            .map(str::to_owned)
            .collect()
    }
}
