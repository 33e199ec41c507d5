//! [`Options`]: how routesync behaves over time, apart from the kernel
//! settings (`KernelConfig`) it is started and reconfigured with.

use std::time::Duration;

/// How routesync behaves over time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Routes of ours found in the kernel at start stay until the speaker
    /// reports convergence ([`Handle::converged`]); if it never does, those
    /// BGP does not want are removed this long after start anyway.
    ///
    /// [`Handle::converged`]: crate::Handle::converged
    pub sweep_after: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            sweep_after: Duration::from_secs(120),
        }
    }
}
