//! `bgpd`: podroute's BGP speaker for one node or route reflector.
//!
//! Its desired state comes from etcd in Calico's data model (when
//! `ETCD_ENDPOINTS` is set, as in a calico-node pod) or from a TOML file.

use std::path::PathBuf;
use std::process::ExitCode;

use std::sync::{Arc, OnceLock};

use bgpd::api::{DatastoreSource, Sources};
use bgpd::applier::{Applier, Offer};
use bgpd::fib::KernelFib;
use bgpd::registration::{Find, Registration};
use bgpd::speaker::{spawn_when_configured, SpeakerHandle, Stop};
use clap::{CommandFactory, Parser, ValueEnum};
use confgen::secrets::{NoSecrets, SecretDir, SecretSource};
use confgen::watch::EtcdConfig;
use proto::config::SpeakerConfig;
use tokio::signal::unix::{signal, SignalKind};
use tracing::{error, info, warn};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Datastore {
    /// Calico's resources in etcd.
    Etcd,
    /// A static TOML file (--config), re-read on SIGHUP.
    File,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum StopMode {
    GracefulRestart,
    Cease,
}

impl From<StopMode> for Stop {
    fn from(mode: StopMode) -> Self {
        match mode {
            StopMode::GracefulRestart => Stop::GracefulRestart,
            StopMode::Cease => Stop::Cease,
        }
    }
}

#[derive(Parser, Debug)]
#[command(
    name = "bgpd",
    version = bgpd::VERSION,
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
    /// The CA that signs etcd's certificate (PEM); with it, etcd is reached
    /// over TLS and its certificate verified.
    #[arg(long, env = "ETCD_CA_CERT_FILE", value_name = "FILE")]
    etcd_ca_cert_file: Option<PathBuf>,
    /// This client's certificate for etcd (PEM), with --etcd-key-file.
    #[arg(long, env = "ETCD_CERT_FILE", value_name = "FILE")]
    etcd_cert_file: Option<PathBuf>,
    /// The key of --etcd-cert-file (PEM).
    #[arg(long, env = "ETCD_KEY_FILE", value_name = "FILE")]
    etcd_key_file: Option<PathBuf>,
    /// A folder laid out like a mounted Secret volume (<name>/<key>), for BGP passwords.
    #[arg(long, env = "BGPD_SECRETS_DIR", value_name = "DIR")]
    secrets_dir: Option<PathBuf>,
    /// Serve BIRD's control-socket protocol here (IPv4 peers), for calicoctl
    /// and calico-node's probes; a calico-node sidecar uses /var/run/calico/bird.ctl.
    #[arg(long, env = "BGPD_BIRD_SOCKET", value_name = "PATH")]
    bird_socket: Option<PathBuf>,
    /// The same for IPv6 peers (/var/run/calico/bird6.ctl in a sidecar).
    #[arg(long, env = "BGPD_BIRD6_SOCKET", value_name = "PATH")]
    bird6_socket: Option<PathBuf>,
    /// /liveness, /readiness and /metrics over HTTP; "off" to disable.
    #[arg(
        long,
        env = "BGPD_HTTP_LISTEN",
        value_name = "ADDR",
        default_value = "127.0.0.1:9180"
    )]
    http_listen: String,
    /// The operator API (gRPC, for bgpctl): a unix socket, mode 0600, its
    /// folder created; "off" to disable.
    #[arg(
        long,
        env = "BGPD_API_SOCKET",
        value_name = "PATH",
        default_value = bgpd::api::grpc::DEFAULT_SOCKET
    )]
    api_socket: PathBuf,
    /// How SIGTERM and SIGINT end the sessions. graceful-restart (for
    /// restarts and upgrades): peers that can keep this node's routes
    /// through a graceful restart see the connection close without a
    /// NOTIFICATION and keep them until it is back; cease: a Cease to every
    /// peer, which drops them. The kernel's routes stay either way.
    #[arg(
        long,
        env = "BGPD_STOP_MODE",
        value_enum,
        default_value = "graceful-restart"
    )]
    stop_mode: StopMode,
    /// Log filter: error, warn, info, debug, trace, or a tracing directive.
    /// Unset, the BGPConfiguration's logSeverityScreen applies (info
    /// without one); set, it always wins.
    #[arg(long, env = "BGPD_LOG", value_parser = log_filter)]
    log_level: Option<String>,
    /// With etcd: before starting, write this node's addresses into its Node
    /// resource (spec.bgp.ipv4Address, and ipv6Address with --ip6) when it has
    /// none, as calico-node's start-up does, for nodes without calico-node.
    /// An address already set is kept.
    #[arg(long, env = "BGPD_REGISTER_NODE")]
    register_node: bool,
    /// For --register-node: the node's IPv4 address with its prefix length,
    /// "autodetect" (by --ip-autodetection-method) or "none" (Calico's IP).
    #[arg(long, env = "IP", value_name = "ADDRESS", default_value = "autodetect")]
    ip: String,
    /// For --register-node: first-found, interface=REGEX, skip-interface=REGEX,
    /// can-reach=DEST or cidr=CIDR[,CIDR] (Calico's IP_AUTODETECTION_METHOD).
    #[arg(
        long,
        env = "IP_AUTODETECTION_METHOD",
        value_name = "METHOD",
        default_value = "first-found"
    )]
    ip_autodetection_method: String,
    /// For --register-node: the node's IPv6 address with its prefix length,
    /// "autodetect" (by --ip6-autodetection-method) or "none" (Calico's IP6;
    /// none unless asked, as in calico-node).
    #[arg(long, env = "IP6", value_name = "ADDRESS", default_value = "none")]
    ip6: String,
    /// For --register-node: how to find the IPv6 address, with the methods of
    /// --ip-autodetection-method (Calico's IP6_AUTODETECTION_METHOD).
    #[arg(
        long,
        env = "IP6_AUTODETECTION_METHOD",
        value_name = "METHOD",
        default_value = "first-found"
    )]
    ip6_autodetection_method: String,
    /// With etcd: what an unset BGPConfiguration programClusterRoutes means
    /// (Enabled, Disabled, EnabledIPIPOnly, EnabledNoEncapOnly). Enabled
    /// programs every pool but VXLAN ones, as BIRD did while Felix programmed
    /// no cluster routes; Calico's newest confd (v3.34-dev) takes an unset
    /// field as EnabledNoEncapOnly, Felix programming IP-in-IP pools.
    #[arg(
        long,
        env = "BGPD_CLUSTER_ROUTES_DEFAULT",
        value_name = "SETTING",
        default_value = "Enabled"
    )]
    cluster_routes_default: proto::config::ClusterRoutes,
    /// With etcd: the BGP router id, as calico-node's CALICO_ROUTER_ID: an
    /// IPv4 address, or "hash" (from the node's name, for nodes with IPv6
    /// only); the node's IPv4 address when unset.
    #[arg(long, env = "CALICO_ROUTER_ID", value_name = "ID", default_value = "")]
    router_id: confgen::render::RouterIdSource,
    /// With etcd: fill the status of this node's CalicoNodeStatus resources,
    /// as calico-node's status reporter does. Leave it off beside
    /// calico-node v3.22 or later: its own reporter fills them from bgpd's
    /// BIRD sockets.
    #[arg(long, env = "BGPD_NODE_STATUS_REPORTER")]
    node_status_reporter: bool,
    /// Print a completion script for SHELL and exit, e.g. `bgpd
    /// --completions bash > /etc/bash_completion.d/bgpd`.
    #[arg(long, value_name = "SHELL")]
    completions: Option<clap_complete::Shell>,
}

/// A log filter that tracing accepts, refused at parse time rather than
/// silently replaced.
fn log_filter(text: &str) -> Result<String, String> {
    tracing_subscriber::EnvFilter::try_new(text)
        .map(|_| text.to_owned())
        .map_err(|e| format!("not a log filter: {e}"))
}

/// This node's addresses, found as calico-node finds them (IP, IP6 and
/// their autodetection methods); a method that cannot be read is an error.
fn node_addresses(
    ip: &str,
    ip_method: &str,
    ip6: &str,
    ip6_method: &str,
) -> Result<Vec<ipnet::IpNet>, String> {
    use confgen::autodetect::{node_address, Family};
    let v4 = node_address(ip, ip_method, Family::V4).map_err(|e| format!("IP: {e}"))?;
    let v6 = node_address(ip6, ip6_method, Family::V6).map_err(|e| format!("IP6: {e}"))?;
    Ok(v4.into_iter().chain(v6).collect())
}

/// `--register-node`: the addresses found now, and how to find them again
/// when some are autodetected (calico-node follows only those).
fn registration(cli: &Cli, etcd: &EtcdConfig, node: &str) -> Result<Registration, String> {
    let (ip, ip_method) = (cli.ip.clone(), cli.ip_autodetection_method.clone());
    let (ip6, ip6_method) = (cli.ip6.clone(), cli.ip6_autodetection_method.clone());
    let found = node_addresses(&ip, &ip_method, &ip6, &ip6_method)?;
    // Unset, IP means autodetect (confgen's autodetect.rs).
    let autodetected = |text: &str, unset_detects: bool| {
        text.trim() == "autodetect" || (text.trim().is_empty() && unset_detects)
    };
    let follows = autodetected(&ip, true) || autodetected(&ip6, false);
    let find_again: Option<Find> = follows
        .then(|| Box::new(move || node_addresses(&ip, &ip_method, &ip6, &ip6_method)) as Find);
    Ok(Registration {
        etcd: etcd.clone(),
        node: node.to_owned(),
        found,
        find_again,
    })
}

/// jemalloc, with the settings of `.cargo/config.toml` built in.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(bgpd::api::bird6_name::HOLD) {
        bgpd::api::bird6_name::hold(args.get(2).map_or("", String::as_str));
    }
    let cli = Cli::parse();
    if let Some(shell) = cli.completions {
        clap_complete::generate(shell, &mut Cli::command(), "bgpd", &mut std::io::stdout());
        return ExitCode::SUCCESS;
    }
    let (filter, log) = bgpd::log_filter::LogFilter::layer(cli.log_level.clone());
    {
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;
        tracing_subscriber::registry()
            .with(filter)
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
            )
            .init();
    }
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
    runtime.block_on(run(cli, log))
}

/// Where the configuration comes from, checked before anything is served.
enum Source {
    File(PathBuf, Box<SpeakerConfig>),
    Etcd {
        etcd: EtcdConfig,
        node: String,
        endpoints: String,
    },
}

/// The source the command line names; a usage error (exit 2) otherwise.
fn source(cli: &Cli) -> Result<Source, String> {
    let datastore = cli.datastore.unwrap_or(if cli.etcd_endpoints.is_some() {
        Datastore::Etcd
    } else {
        Datastore::File
    });
    match datastore {
        Datastore::File => {
            let Some(path) = cli.config.clone() else {
                return Err(
                    "give --config FILE (or BGPD_CONFIG), or ETCD_ENDPOINTS and NODENAME for etcd"
                        .into(),
                );
            };
            // What only a datastore can hold is refused rather than ignored.
            for (asked, flag) in [
                (cli.register_node, "--register-node"),
                (cli.node_status_reporter, "--node-status-reporter"),
            ] {
                if asked {
                    return Err(format!(
                        "{flag} writes into etcd: it needs the etcd datastore (ETCD_ENDPOINTS)"
                    ));
                }
            }
            let config =
                SpeakerConfig::load(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(Source::File(path, Box::new(config)))
        }
        Datastore::Etcd => {
            let (Some(endpoints), Some(node)) = (cli.etcd_endpoints.clone(), cli.node_name.clone())
            else {
                return Err("the etcd datastore needs ETCD_ENDPOINTS and NODENAME (or --etcd-endpoints and --node-name)".into());
            };
            let etcd = EtcdConfig {
                ca_cert: cli.etcd_ca_cert_file.clone(),
                cert: cli.etcd_cert_file.clone(),
                key: cli.etcd_key_file.clone(),
                ..EtcdConfig::from_endpoints(&endpoints)
            };
            Ok(Source::Etcd {
                etcd,
                node,
                endpoints,
            })
        }
    }
}

/// Serves every operator interface at once, then feeds the applier from
/// the source: the speaker starts with the first configuration.
async fn run(cli: Cli, log: bgpd::log_filter::LogFilter) -> ExitCode {
    let source = match source(&cli) {
        Ok(source) => source,
        Err(e) => {
            eprintln!("bgpd: {e}");
            return ExitCode::from(2);
        }
    };
    let registration = match (&source, cli.register_node) {
        (Source::Etcd { etcd, node, .. }, true) => match registration(&cli, etcd, node) {
            Ok(registration) => Some(registration),
            Err(e) => {
                eprintln!("bgpd: --register-node: {e}");
                return ExitCode::from(2);
            }
        },
        _ => None,
    };
    let node_name = match &source {
        Source::File(_, config) => config.node_name.clone(),
        Source::Etcd { node, .. } => node.clone(),
    };
    let kernel: Arc<OnceLock<routesync::StatusReader>> = Arc::default();
    let slot = kernel.clone();
    let (speaker, mut task) = spawn_when_configured(
        node_name,
        Box::new(move |config: &SpeakerConfig, learned| {
            let fib = KernelFib::start(config, Some(learned));
            let _ = slot.set(fib.status());
            Box::new(fib) as Box<dyn bgpd::speaker::FibSink>
        }),
    );
    let (applier, datastore, reason) = match &source {
        Source::File(path, _) => (
            Applier::new(speaker.clone(), format!("reading {}", path.display())),
            DatastoreSource::File(path.clone()),
            None,
        ),
        Source::Etcd {
            etcd,
            node,
            endpoints,
        } => {
            let snapshots = bgpd::datastore::start(etcd.clone(), node.clone());
            let reason = bgpd::datastore::waiting_for(endpoints);
            (
                Applier::new(speaker.clone(), reason.clone()),
                DatastoreSource::Etcd {
                    endpoints: endpoints.clone(),
                    sync: snapshots,
                },
                Some(reason),
            )
        }
    };
    let applier = applier.with_log_filter(log);
    let sources = Sources {
        config: applier.subscribe(),
        kernel,
        datastore: Some(datastore.clone()),
    };
    let reporter = match (&source, &datastore, cli.node_status_reporter) {
        (Source::Etcd { etcd, node, .. }, DatastoreSource::Etcd { sync, .. }, true) => Some(
            bgpd::node_status::Reporter {
                node: node.clone(),
                speaker: speaker.clone(),
                sources: sources.clone(),
                ipv6_served: cli.bird6_socket.is_some(),
            }
            .spawn(etcd.clone(), sync.clone()),
        ),
        _ => None,
    };
    let api = serve_api(&cli, &speaker, sources.clone());
    let servers = serve_operators(&cli, &speaker, sources).await;
    if let Some(reason) = reason {
        info!(%reason, "serving; not configured yet");
    }
    if let Some(registration) = registration {
        tokio::spawn(registration.run());
    }
    // The source feeds the applier: the file now and on SIGHUP, etcd on
    // every change.
    let mut reloads = None;
    let mut follower = None;
    match (source, datastore) {
        (Source::File(path, config), _) => {
            applier.offer(Offer::Run {
                config,
                problems: Vec::new(),
            });
            reloads = Some((path, applier));
        }
        (
            Source::Etcd {
                node, endpoints, ..
            },
            DatastoreSource::Etcd { sync, .. },
        ) => {
            let secrets: Box<dyn SecretSource + Send + Sync> = match cli.secrets_dir.clone() {
                Some(dir) => Box::new(SecretDir(dir)),
                None => Box::new(NoSecrets),
            };
            let renderer = confgen::render::Renderer::with_settings(confgen::render::Settings {
                cluster_routes_default: cli.cluster_routes_default,
                router_id: cli.router_id,
            });
            follower = Some(tokio::spawn(bgpd::datastore::offer_changes(
                sync, node, endpoints, secrets, applier, renderer,
            )));
        }
        (Source::Etcd { .. }, DatastoreSource::File(_)) => {}
    }
    let failed = tokio::select! {
        _ = serve_signals(reloads.as_ref()) => false,
        ended = &mut task => {
            match ended {
                Ok(Ok(())) => error!("the speaker ended"),
                Ok(Err(e)) => error!(error = %e, "cannot start"),
                Err(e) => error!(error = %e, "the speaker failed"),
            }
            true
        }
    };
    for task in [follower, reporter].into_iter().flatten() {
        task.abort();
    }
    drop(api);
    servers.stop();
    if failed {
        return ExitCode::FAILURE;
    }
    stop(speaker, task, cli.stop_mode.into()).await
}

/// The servers of the operator interfaces, and the `bird6` name holder.
struct Operators {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    bird6_name: Option<std::process::Child>,
}

impl Operators {
    fn stop(mut self) {
        self.tasks.iter().for_each(|t| t.abort());
        if let Some(mut holder) = self.bird6_name.take() {
            let _ = holder.kill();
            let _ = holder.wait();
        }
    }
}

/// The operator interfaces: BIRD-compatible sockets and HTTP health and metrics.
async fn serve_operators(cli: &Cli, speaker: &SpeakerHandle, sources: Sources) -> Operators {
    use bgpd::api::bird::{serve, Daemon};
    let mut tasks = Vec::new();
    let mut bird6_name = None;
    for (path, daemon) in [
        (&cli.bird_socket, Daemon::Bird),
        (&cli.bird6_socket, Daemon::Bird6),
    ] {
        if let Some(path) = path {
            match serve(
                path.clone(),
                daemon,
                speaker.clone(),
                sources.kernel.clone(),
            ) {
                Ok(task) => tasks.push(task),
                Err(e) => {
                    error!(path = %path.display(), error = %e, "cannot serve the BIRD socket")
                }
            }
            if daemon == Daemon::Bird6 {
                match bgpd::api::bird6_name::spawn() {
                    Ok(holder) => bird6_name = Some(holder),
                    Err(e) => {
                        warn!(error = %e, "cannot start the bird6 name holder: calicoctl will not show the IPv6 table")
                    }
                }
            }
        }
    }
    if cli.http_listen != "off" {
        match cli.http_listen.parse() {
            Ok(address) => match bgpd::api::http::serve(address, speaker.clone(), sources).await {
                Ok(task) => tasks.push(task),
                Err(e) => error!(address = %cli.http_listen, error = %e, "cannot serve HTTP"),
            },
            Err(e) => {
                error!(address = %cli.http_listen, error = %e, "--http-listen is not an address")
            }
        }
    }
    Operators { tasks, bird6_name }
}

// ---- The operator API: gRPC on a unix socket, for bgpctl (api/grpc.rs). ----

/// Serves the gRPC API on --api-socket until the returned server is dropped
/// (which removes the socket). Without it (the error is logged) bgpd still
/// routes.
fn serve_api(
    cli: &Cli,
    speaker: &SpeakerHandle,
    sources: Sources,
) -> Option<bgpd::api::grpc::ApiServer> {
    if cli.api_socket.as_os_str() == "off" {
        return None;
    }
    let api = bgpd::api::grpc::Api::new(speaker.clone(), sources);
    match bgpd::api::grpc::serve(&cli.api_socket, api) {
        Ok(server) => Some(server),
        Err(e) => {
            error!(socket = %cli.api_socket.display(), error = %e, "cannot serve the operator API");
            None
        }
    }
}

// ---- end of the operator API ----

/// Until SIGTERM or SIGINT. SIGHUP re-reads the file, if the configuration
/// comes from one, and offers it to the applier.
async fn serve_signals(file: Option<&(PathBuf, Applier)>) {
    let Ok(mut hangup) = signal(SignalKind::hangup()) else {
        shutdown_signal().await;
        return;
    };
    loop {
        tokio::select! {
            _ = hangup.recv() => match file {
                Some((path, applier)) => match SpeakerConfig::load(path) {
                    Ok(config) => {
                        info!(file = %path.display(), "configuration reloaded");
                        applier.offer(Offer::Run { config: Box::new(config), problems: Vec::new() });
                    }
                    Err(e) => {
                        error!(file = %path.display(), error = %e, "reload refused; the running configuration stays");
                        applier.offer(Offer::Keep(format!("{}: {e}", path.display())));
                    }
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

async fn stop(
    speaker: SpeakerHandle,
    task: tokio::task::JoinHandle<Result<(), String>>,
    how: Stop,
) -> ExitCode {
    info!(?how, "shutting down");
    speaker.shutdown(how);
    let _ = task.await;
    ExitCode::SUCCESS
}
