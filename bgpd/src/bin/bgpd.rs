//! `bgpd`: podroute's BGP speaker for one node or route reflector.
//!
//! Its desired state comes from etcd in Calico's data model (when
//! `ETCD_ENDPOINTS` is set, as in a calico-node pod) or from a TOML file.

use std::path::PathBuf;
use std::process::ExitCode;

use bgpd::fib::KernelFib;
use bgpd::speaker::{Speaker, SpeakerHandle};
use clap::{Parser, ValueEnum};
use confgen::secrets::{NoSecrets, SecretDir, SecretSource};
use confgen::watch::EtcdConfig;
use proto::config::SpeakerConfig;
use tokio::signal::unix::{signal, SignalKind};
use tracing::{error, info};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Datastore {
    /// Calico's resources in etcd.
    Etcd,
    /// A static TOML file (--config), re-read on SIGHUP.
    File,
}

#[derive(Parser, Debug)]
#[command(
    version,
    about = "podroute's BGP speaker: distributes pod CIDRs between Kubernetes nodes"
)]
struct Cli {
    /// Where the desired state comes from; etcd when ETCD_ENDPOINTS is set, else the file.
    #[arg(long, env = "BGPD_DATASTORE", value_enum)]
    datastore: Option<Datastore>,
    /// The speaker's configuration (TOML), for --datastore file; re-read on SIGHUP.
    #[arg(long, env = "BGPD_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// This node's name in the datastore (Calico's NODENAME).
    #[arg(long, env = "NODENAME")]
    node_name: Option<String>,
    /// etcd endpoints, comma-separated (Calico's ETCD_ENDPOINTS).
    #[arg(long, env = "ETCD_ENDPOINTS", value_name = "URLS")]
    etcd_endpoints: Option<String>,
    #[arg(long, env = "ETCD_CA_CERT_FILE", value_name = "FILE")]
    etcd_ca_cert_file: Option<PathBuf>,
    #[arg(long, env = "ETCD_CERT_FILE", value_name = "FILE")]
    etcd_cert_file: Option<PathBuf>,
    #[arg(long, env = "ETCD_KEY_FILE", value_name = "FILE")]
    etcd_key_file: Option<PathBuf>,
    /// A folder laid out like a mounted Secret volume (<name>/<key>), for BGP passwords.
    #[arg(long, env = "BGPD_SECRETS_DIR", value_name = "DIR")]
    secrets_dir: Option<PathBuf>,
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
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> ExitCode {
    let datastore = cli.datastore.unwrap_or(if cli.etcd_endpoints.is_some() {
        Datastore::Etcd
    } else {
        Datastore::File
    });
    match datastore {
        Datastore::File => {
            let Some(path) = cli.config.clone() else {
                eprintln!("bgpd: give --config FILE (or BGPD_CONFIG), or ETCD_ENDPOINTS and NODENAME for etcd");
                return ExitCode::from(2);
            };
            let config = match SpeakerConfig::load(&path) {
                Ok(config) => config,
                Err(e) => {
                    eprintln!("bgpd: {}: {e}", path.display());
                    return ExitCode::from(2);
                }
            };
            let Some((speaker, task)) = start(config).await else {
                return ExitCode::FAILURE;
            };
            serve_signals(&speaker, Some(&path)).await;
            stop(speaker, task).await
        }
        Datastore::Etcd => {
            let (Some(endpoints), Some(node)) =
                (cli.etcd_endpoints.as_deref(), cli.node_name.clone())
            else {
                eprintln!("bgpd: the etcd datastore needs ETCD_ENDPOINTS and NODENAME (or --etcd-endpoints and --node-name)");
                return ExitCode::from(2);
            };
            let etcd = EtcdConfig {
                ca_cert: cli.etcd_ca_cert_file.clone(),
                cert: cli.etcd_cert_file.clone(),
                key: cli.etcd_key_file.clone(),
                ..EtcdConfig::from_endpoints(endpoints)
            };
            let secrets = || -> Box<dyn SecretSource + Send + Sync> {
                match &cli.secrets_dir {
                    Some(dir) => Box::new(SecretDir(dir.clone())),
                    None => Box::new(NoSecrets),
                }
            };
            let mut snapshots = bgpd::datastore::start(etcd, node.clone());
            info!(%node, endpoints, "waiting for the datastore");
            let first_secrets = secrets();
            let first = tokio::select! {
                config = bgpd::datastore::first_config(&mut snapshots, &node, first_secrets.as_ref()) => config,
                _ = shutdown_signal() => return ExitCode::SUCCESS,
            };
            let Some(config) = first else {
                return ExitCode::FAILURE;
            };
            let Some((speaker, task)) = start(config.clone()).await else {
                return ExitCode::FAILURE;
            };
            let follower = tokio::spawn(bgpd::datastore::follow_changes(
                snapshots,
                node,
                secrets(),
                speaker.clone(),
                config,
            ));
            serve_signals(&speaker, None).await;
            follower.abort();
            stop(speaker, task).await
        }
    }
}

async fn start(config: SpeakerConfig) -> Option<(SpeakerHandle, tokio::task::JoinHandle<()>)> {
    let fib = Box::new(KernelFib::start(&config));
    match Speaker::start(config, fib).await {
        Ok((speaker, handle, events)) => Some((handle, tokio::spawn(speaker.run(events)))),
        Err(e) => {
            error!(error = %e, "cannot start");
            None
        }
    }
}

/// Until SIGTERM or SIGINT; SIGHUP re-reads the file, if there is one.
async fn serve_signals(speaker: &SpeakerHandle, file: Option<&PathBuf>) {
    let Ok(mut hangup) = signal(SignalKind::hangup()) else {
        shutdown_signal().await;
        return;
    };
    loop {
        tokio::select! {
            _ = hangup.recv() => match file {
                Some(path) => match SpeakerConfig::load(path) {
                    Ok(config) => {
                        info!(file = %path.display(), "configuration reloaded");
                        speaker.reconfigure(config);
                    }
                    Err(e) => error!(file = %path.display(), error = %e, "reload refused; the running configuration stays"),
                },
                None => info!("SIGHUP ignored: the configuration comes from etcd"),
            },
            _ = shutdown_signal() => return,
        }
    }
}

async fn shutdown_signal() {
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut terminate), Ok(mut interrupt)) => {
            tokio::select! {
                _ = terminate.recv() => {},
                _ = interrupt.recv() => {},
            }
        }
        _ => std::future::pending().await,
    }
}

async fn stop(speaker: SpeakerHandle, task: tokio::task::JoinHandle<()>) -> ExitCode {
    info!("shutting down");
    speaker.shutdown();
    let _ = task.await;
    ExitCode::SUCCESS
}
