//! bgpd's log filter, changed while it runs: Calico's BGPConfiguration
//! `logSeverityScreen` (the SpeakerConfig's `log_level`) sets it, unless
//! the operator gave one (`--log`, `BGPD_LOG`), which always wins.

use proto::config::LogLevel;
use tracing::info;
use tracing_subscriber::{reload, EnvFilter, Registry};

/// The level used when neither the operator nor the datastore says.
pub const DEFAULT: &str = "info";

/// The filter of a level. Debug is podroute's own crates' debug, the
/// libraries' (gRPC, etcd's client) staying at info, as Calico's Debug
/// makes BIRD and confd talk, not their libraries.
fn directive(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Debug => "info,bgpd=debug,confgen=debug,routesync=debug",
        LogLevel::Info => "info",
        LogLevel::Warning => "warn",
        LogLevel::Error | LogLevel::Fatal => "error",
    }
}

/// The installed filter and how to change it.
#[derive(Debug)]
pub struct LogFilter {
    handle: reload::Handle<EnvFilter, Registry>,
    /// The operator's filter: the datastore's level never replaces it.
    operators: Option<String>,
}

impl LogFilter {
    /// The filter layer to install, and its handle: the operator's filter
    /// when given (already checked), else [`DEFAULT`].
    pub fn layer(operators: Option<String>) -> (reload::Layer<EnvFilter, Registry>, Self) {
        let filter = EnvFilter::try_new(operators.as_deref().unwrap_or(DEFAULT))
            .unwrap_or_else(|_| EnvFilter::new(DEFAULT));
        let (layer, handle) = reload::Layer::new(filter);
        (layer, Self { handle, operators })
    }

    /// Applies the configuration's level (`None`: the default), unless the
    /// operator set one.
    pub fn apply(&self, level: Option<LogLevel>) {
        if self.operators.is_some() {
            return;
        }
        let directive = level.map_or(DEFAULT, directive);
        if self
            .handle
            .modify(|filter| *filter = EnvFilter::new(directive))
            .is_ok()
        {
            // Said at the level every filter shows but error-only ones.
            info!(level = ?level, "log level from the configuration");
        }
    }
}
