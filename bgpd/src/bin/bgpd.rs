//! `bgpd`: podroute's BGP speaker for one node or route reflector.

use std::path::PathBuf;
use std::process::ExitCode;

use bgpd::fib::KernelFib;
use bgpd::speaker::Speaker;
use clap::Parser;
use proto::config::SpeakerConfig;
use tokio::signal::unix::{signal, SignalKind};
use tracing::{error, info};

#[derive(Parser, Debug)]
#[command(
    version,
    about = "podroute's BGP speaker: distributes pod CIDRs between Kubernetes nodes"
)]
struct Cli {
    /// The speaker's configuration (TOML); re-read on SIGHUP.
    #[arg(long, env = "BGPD_CONFIG", value_name = "FILE")]
    config: PathBuf,
    /// Log filter: error, warn, info, debug, trace, or a tracing directive.
    #[arg(long, env = "BGPD_LOG", default_value = "info")]
    log_level: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&cli.log_level)
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let config = match SpeakerConfig::load(&cli.config) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("bgpd: {}: {e}", cli.config.display());
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("bgpd: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(cli, config))
}

async fn run(cli: Cli, config: SpeakerConfig) -> ExitCode {
    let (speaker, handle, events) =
        match Speaker::start(config.clone(), Box::new(KernelFib::start(&config))).await {
            Ok(started) => started,
            Err(e) => {
                error!(error = %e, "cannot start");
                return ExitCode::FAILURE;
            }
        };
    let task = tokio::spawn(speaker.run(events));
    let (Ok(mut hangup), Ok(mut terminate), Ok(mut interrupt)) = (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        error!("cannot install signal handlers");
        return ExitCode::FAILURE;
    };
    loop {
        tokio::select! {
            _ = hangup.recv() => match SpeakerConfig::load(&cli.config) {
                Ok(config) => {
                    info!(file = %cli.config.display(), "configuration reloaded");
                    handle.reconfigure(config);
                }
                Err(e) => error!(file = %cli.config.display(), error = %e, "reload refused; the running configuration stays"),
            },
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
        }
    }
    info!("shutting down");
    handle.shutdown();
    let _ = task.await;
    ExitCode::SUCCESS
}
