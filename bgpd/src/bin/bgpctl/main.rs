//! `bgpctl`: podroute's operator CLI, a client of bgpd's gRPC API
//! (`podroute.v1`) on its unix socket.
//!
//! `bgpctl node status` prints what `calicoctl node status` prints, in the
//! same layout; `show` reads the speaker, its peers, its routes (with the
//! kernel's view) and its configuration; `peer reset|refresh` act on a
//! session; `watch peers` follows state changes. `-o json|yaml` gives the
//! same data for scripts.

mod table;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use bgpd::api::clock;
use bgpd::api::grpc::DEFAULT_SOCKET;
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use hyper_util::rt::TokioIo;
use proto::v1;
use proto::v1::bgpd_service_client::BgpdServiceClient;
use serde::Serialize;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

#[derive(Parser, Debug)]
#[command(
    name = "bgpctl",
    version = bgpd::VERSION,
    about = "podroute's operator CLI: asks bgpd over its API socket"
)]
struct Cli {
    /// bgpd's API socket.
    #[arg(
        long,
        env = "BGPD_API_SOCKET",
        value_name = "PATH",
        default_value = DEFAULT_SOCKET,
        global = true
    )]
    socket: PathBuf,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Output::Text, global = true)]
    output: Output,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Output {
    /// For people: calicoctl's table for `node status`, tables and blocks
    /// elsewhere.
    Text,
    Json,
    Yaml,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The node, as calicoctl shows it.
    Node {
        #[command(subcommand)]
        command: NodeCommand,
    },
    /// The speaker, its peers, routes and configuration.
    Show {
        #[command(subcommand)]
        what: Show,
    },
    /// Act on a peer's session.
    Peer {
        #[command(subcommand)]
        action: PeerAction,
    },
    /// Exec probes: exit 0 when live (--live) or ready (--ready, calico-node's
    /// rule), else print why and exit 1.
    Health {
        #[arg(long, required_unless_present = "live")]
        ready: bool,
        #[arg(long)]
        live: bool,
    },
    /// Follow changes as they happen (until interrupted).
    Watch {
        #[command(subcommand)]
        what: Watch,
    },
    /// Print a completion script for SHELL, e.g. `bgpctl completions bash >
    /// /etc/bash_completion.d/bgpctl`.
    Completions { shell: clap_complete::Shell },
}

#[derive(Subcommand, Debug)]
enum NodeCommand {
    /// BGP peers in `calicoctl node status` format.
    Status,
}

#[derive(Subcommand, Debug)]
enum Show {
    /// Version, identity, uptime, datastore and last configuration apply.
    Status,
    /// Every peer, or one in detail (by name, Mesh_10_0_0_2, or address).
    Peers { name: Option<String> },
    /// The Loc-RIB, or the routes inside PREFIX.
    Routes {
        prefix: Option<String>,
        /// Also how the kernel holds each route, and why.
        #[arg(long)]
        kernel: bool,
    },
    /// The running configuration (TOML; passwords hidden).
    Config,
}

#[derive(Subcommand, Debug)]
enum PeerAction {
    /// Restart the session (Cease, Administrative Reset).
    Reset { name: String },
    /// Ask the peer to send its routes again (ROUTE-REFRESH).
    Refresh { name: String },
}

#[derive(Subcommand, Debug)]
enum Watch {
    /// Peers added, removed, or changing state.
    Peers,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("bgpctl: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("bgpctl: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    if let Command::Completions { shell } = cli.command {
        clap_complete::generate(shell, &mut Cli::command(), "bgpctl", &mut std::io::stdout());
        return Ok(());
    }
    let mut client = connect(&cli.socket).await?;
    let output = cli.output;
    match cli.command {
        Command::Node {
            command: NodeCommand::Status,
        } => {
            let peers = client
                .list_peers(v1::ListPeersRequest::default())
                .await
                .map_err(rpc)?
                .into_inner()
                .peers;
            let status = NodeStatus::new(calico_process_running(), &peers, SystemTime::now());
            match output {
                Output::Text => print!("{}", status.render()),
                _ => print!("{}", encode(&status, output)?),
            }
        }
        // Answered above, without asking bgpd.
        Command::Completions { .. } => {}
        Command::Show { what } => show(&mut client, what, output).await?,
        Command::Peer { action } => {
            let name = match action {
                PeerAction::Reset { name } => {
                    let request = v1::ResetPeerRequest { name: name.clone() };
                    client.reset_peer(request).await.map_err(rpc)?;
                    name
                }
                PeerAction::Refresh { name } => {
                    let request = v1::RefreshPeerRequest { name: name.clone() };
                    client.refresh_peer(request).await.map_err(rpc)?;
                    name
                }
            };
            if output == Output::Text {
                println!("{name}: done");
            }
        }
        Command::Watch { what: Watch::Peers } => watch_peers(&mut client, output).await?,
        Command::Health { ready, live } => {
            let status = client
                .get_status(v1::GetStatusRequest::default())
                .await
                .map_err(rpc)?
                .into_inner();
            if live && !ready {
                println!("live");
                return Ok(());
            }
            if !status.configured {
                return Err(status.not_configured_reason);
            }
            let peers = client
                .list_peers(v1::ListPeersRequest::default())
                .await
                .map_err(rpc)?
                .into_inner()
                .peers;
            let started = status
                .started
                .map(|t| {
                    SystemTime::UNIX_EPOCH
                        + std::time::Duration::from_secs(u64::try_from(t.seconds).unwrap_or(0))
                })
                .unwrap_or(SystemTime::UNIX_EPOCH);
            let peers: Vec<(String, bool)> = peers
                .iter()
                .map(|p| {
                    (
                        p.address.clone(),
                        p.state == v1::SessionState::Established as i32,
                    )
                })
                .collect();
            bgpd::api::http::readiness_rule(
                started,
                status.graceful_restart_recovery,
                &peers,
                SystemTime::now(),
            )?;
            println!("ready");
        }
    }
    Ok(())
}

async fn show(
    client: &mut BgpdServiceClient<Channel>,
    what: Show,
    output: Output,
) -> Result<(), String> {
    let now = SystemTime::now();
    match what {
        Show::Status => {
            let status = client
                .get_status(v1::GetStatusRequest {})
                .await
                .map_err(rpc)?
                .into_inner();
            match output {
                Output::Text => print!("{}", status_text(&status, now)),
                _ => print!("{}", encode(&status, output)?),
            }
        }
        Show::Peers { name } => {
            let detail = name.is_some();
            let request = v1::ListPeersRequest {
                name: name.unwrap_or_default(),
            };
            let peers = client.list_peers(request).await.map_err(rpc)?.into_inner();
            match output {
                Output::Text if detail => {
                    for peer in &peers.peers {
                        print!("{}", peer_text(peer, now));
                    }
                }
                Output::Text => print!("{}", peers_table(&peers.peers, now)),
                _ => print!("{}", encode(&peers, output)?),
            }
        }
        Show::Routes { prefix, kernel } => {
            let request = v1::ListRoutesRequest {
                prefix: prefix.unwrap_or_default(),
                kernel,
            };
            let routes = client.list_routes(request).await.map_err(rpc)?.into_inner();
            match output {
                Output::Text => print!("{}", routes_text(&routes.routes)),
                _ => print!("{}", encode(&routes, output)?),
            }
        }
        Show::Config => {
            let config = client
                .get_config(v1::GetConfigRequest {})
                .await
                .map_err(rpc)?
                .into_inner();
            match output {
                Output::Text => print!("{}", config.toml),
                _ => {
                    let value: toml::Value = toml::from_str(&config.toml)
                        .map_err(|e| format!("bgpd sent a configuration that is not TOML: {e}"))?;
                    print!("{}", encode(&value, output)?);
                }
            }
        }
    }
    Ok(())
}

async fn watch_peers(
    client: &mut BgpdServiceClient<Channel>,
    output: Output,
) -> Result<(), String> {
    let mut stream = client
        .watch_peers(v1::WatchPeersRequest {})
        .await
        .map_err(rpc)?
        .into_inner();
    while let Some(event) = stream.message().await.map_err(rpc)? {
        match output {
            Output::Text => {
                let kind = v1::PeerEvent::try_from(event.event)
                    .map_or("?", |e| e.as_str_name())
                    .trim_start_matches("PEER_EVENT_")
                    .to_lowercase();
                let peer = event.peer.unwrap_or_default();
                println!(
                    "{} {kind:<8} {} {} {}",
                    clock::date_time(SystemTime::now()),
                    peer.name,
                    peer.address,
                    one_line(&peer.info)
                );
            }
            Output::Json => println!(
                "{}",
                serde_json::to_string(&event).map_err(|e| e.to_string())?
            ),
            Output::Yaml => print!("---\n{}", encode(&event, output)?),
        }
    }
    Ok(())
}

/// Connects first with a plain unix stream, so that a missing bgpd or a
/// socket we may not open is said in words; then speaks gRPC over it.
async fn connect(path: &Path) -> Result<BgpdServiceClient<Channel>, String> {
    let stream = UnixStream::connect(path)
        .await
        .map_err(|e| unreachable(path, &e))?;
    let first = Arc::new(Mutex::new(Some(stream)));
    let socket = path.to_owned();
    let channel = Endpoint::from_static("http://bgpd")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let first = first.clone();
            let socket = socket.clone();
            async move {
                let ready = first.lock().unwrap_or_else(PoisonError::into_inner).take();
                let stream = match ready {
                    Some(stream) => stream,
                    None => UnixStream::connect(&socket).await?,
                };
                Ok::<_, std::io::Error>(TokioIo::new(stream))
            }
        }))
        .await
        .map_err(|e| format!("cannot reach bgpd at {}: {e}", path.display()))?;
    Ok(BgpdServiceClient::new(channel))
}

fn unreachable(path: &Path, error: &std::io::Error) -> String {
    let path = path.display();
    match error.kind() {
        std::io::ErrorKind::NotFound => {
            format!("cannot reach bgpd at {path}: no such file — is bgpd running?")
        }
        std::io::ErrorKind::ConnectionRefused => {
            format!("cannot reach bgpd at {path}: connection refused — is bgpd running?")
        }
        std::io::ErrorKind::PermissionDenied => format!(
            "cannot reach bgpd at {path}: permission denied (the socket is for its owner \
             only: run bgpctl as the user bgpd runs as)"
        ),
        _ => format!("cannot reach bgpd at {path}: {error}"),
    }
}

/// An RPC's failure as one line.
fn rpc(status: tonic::Status) -> String {
    match status.code() {
        tonic::Code::NotFound | tonic::Code::InvalidArgument | tonic::Code::FailedPrecondition => {
            status.message().to_owned()
        }
        tonic::Code::Unavailable => format!("bgpd is not available: {}", status.message()),
        code => format!("{code}: {}", status.message()),
    }
}

fn encode<T: Serialize>(value: &T, output: Output) -> Result<String, String> {
    match output {
        Output::Json => serde_json::to_string_pretty(value)
            .map(|text| text + "\n")
            .map_err(|e| e.to_string()),
        _ => serde_norway::to_string(value).map_err(|e| e.to_string()),
    }
}

/// Whitespace runs as single spaces: calicoctl splits BIRD's row into
/// fields and joins the info back with one space.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn time(timestamp: Option<prost_types::Timestamp>) -> Option<SystemTime> {
    timestamp.and_then(|t| SystemTime::try_from(t).ok())
}

/// RFC 3339 to the second, UTC.
fn rfc3339(time: SystemTime) -> String {
    clock::date_time(time).replacen(' ', "T", 1) + "Z"
}

// ---- node status ----

const NODE_STATUS_HEADERS: [&str; 5] = ["Peer address", "Peer type", "State", "Since", "Info"];

/// `calicoctl node status`, as data.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct NodeStatus {
    /// calicoctl's first line: is Felix running on this host?
    calico_process_running: bool,
    ipv4_peers: Vec<PeerRow>,
    ipv6_peers: Vec<PeerRow>,
}

/// One row of the table; the first five fields are its cells.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PeerRow {
    peer_address: String,
    peer_type: &'static str,
    state: &'static str,
    since: String,
    info: String,
    name: String,
    bgp_state: String,
    since_time: Option<String>,
    last_error: Option<String>,
}

impl NodeStatus {
    fn new(calico_process_running: bool, peers: &[v1::Peer], now: SystemTime) -> Self {
        let (ipv6, ipv4): (Vec<&v1::Peer>, Vec<&v1::Peer>) =
            peers.iter().partition(|p| p.address.contains(':'));
        let rows =
            |peers: Vec<&v1::Peer>| peers.into_iter().map(|p| PeerRow::new(p, now)).collect();
        Self {
            calico_process_running,
            ipv4_peers: rows(ipv4),
            ipv6_peers: rows(ipv6),
        }
    }

    /// What calicoctl prints (status.go): the process line, then for each
    /// family a blank line, its title and its table (or "No IPvN peers
    /// found."), then a blank line.
    fn render(&self) -> String {
        let mut out = String::from(if self.calico_process_running {
            "Calico process is running.\n"
        } else {
            "Calico process is not running.\n"
        });
        for (family, rows) in [("4", &self.ipv4_peers), ("6", &self.ipv6_peers)] {
            out.push_str(&format!("\nIPv{family} BGP status\n"));
            if rows.is_empty() {
                out.push_str(&format!("No IPv{family} peers found.\n"));
            } else {
                let cells: Vec<Vec<String>> = rows.iter().map(PeerRow::cells).collect();
                out.push_str(&table::render(&NODE_STATUS_HEADERS, &cells));
            }
        }
        out.push('\n');
        out
    }
}

impl PeerRow {
    fn new(peer: &v1::Peer, now: SystemTime) -> Self {
        let since = time(peer.since);
        Self {
            peer_address: peer.address.clone(),
            peer_type: calico_peer_type(peer.r#type),
            state: if peer.state == v1::SessionState::Established as i32 {
                "up"
            } else {
                "start"
            },
            since: since.map(|t| clock::since(t, now)).unwrap_or_default(),
            info: one_line(&peer.info),
            name: peer.name.clone(),
            bgp_state: peer.bird_state.clone(),
            since_time: since.map(rfc3339),
            last_error: peer.last_error.clone(),
        }
    }

    fn cells(&self) -> Vec<String> {
        vec![
            self.peer_address.clone(),
            self.peer_type.to_owned(),
            self.state.to_owned(),
            self.since.clone(),
            self.info.clone(),
        ]
    }
}

/// calicoctl's names for the peer types.
fn calico_peer_type(kind: i32) -> &'static str {
    match v1::PeerType::try_from(kind) {
        Ok(v1::PeerType::Mesh) => "node-to-node mesh",
        Ok(v1::PeerType::Global) => "global",
        Ok(v1::PeerType::Node) => "node specific",
        _ => "unknown",
    }
}

/// The first line of `calicoctl node status`, decided as calicoctl decides
/// it: some process's argv[0] is `calico-felix` or `calico-node`, or its
/// argv[1] is `-felix` (status.go's `psContains` matches on any one
/// position). bgpd answering says nothing about Felix, so this looks.
fn calico_process_running() -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        })
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .any(|cmdline| {
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            is_felix(&args)
        })
}

fn is_felix(args: &[&[u8]]) -> bool {
    let at = |i: usize, word: &str| args.get(i).is_some_and(|a| *a == word.as_bytes());
    at(0, "calico-felix") || at(0, "calico-node") || at(1, "-felix")
}

// ---- show ----

fn status_text(status: &v1::GetStatusResponse, now: SystemTime) -> String {
    let mut out = format!("bgpd {}\n", status.version);
    let mut line = |label: &str, value: String| out.push_str(&format!("{label:<16}{value}\n"));
    line("Node:", status.node_name.clone());
    if !status.configured {
        line(
            "Configured:",
            format!("no: {}", status.not_configured_reason),
        );
    }
    line("Router ID:", status.router_id.clone());
    line("AS:", status.local_as.to_string());
    if !status.cluster_id.is_empty() {
        line(
            "Cluster ID:",
            format!("{} (route reflector)", status.cluster_id),
        );
    }
    if let Some(started) = time(status.started) {
        line(
            "Started:",
            format!(
                "{} UTC, up {}",
                clock::date_time(started),
                duration(status.uptime_seconds)
            ),
        );
    }
    if let Some(applied) = time(status.last_config_applied) {
        let age = now.duration_since(applied).unwrap_or_default().as_secs();
        line(
            "Configuration:",
            format!(
                "applied {} UTC ({} ago), {} reconfigurations since start",
                clock::date_time(applied),
                duration(age),
                status.reconfigurations
            ),
        );
    }
    if let Some(datastore) = &status.datastore {
        let sync = match v1::SyncState::try_from(datastore.sync) {
            Ok(v1::SyncState::Static) => "read at start and on SIGHUP".to_owned(),
            Ok(v1::SyncState::Connected) => format!("in sync, revision {}", datastore.revision),
            Ok(v1::SyncState::Disconnected) => format!(
                "unreachable; running revision {}'s configuration",
                datastore.revision
            ),
            _ => "sync state unknown".to_owned(),
        };
        let kind = match v1::DatastoreKind::try_from(datastore.kind) {
            Ok(v1::DatastoreKind::File) => "file",
            Ok(v1::DatastoreKind::Etcd) => "etcd",
            _ => "unknown",
        };
        line(
            "Datastore:",
            format!("{kind} {} ({sync})", datastore.source),
        );
    }
    line(
        "Converged:",
        if status.converged {
            "yes (End-of-RIB from every peer)"
        } else if status.graceful_restart_recovery {
            "no: graceful restart recovery (the table waits for every peer's)"
        } else {
            "no"
        }
        .to_owned(),
    );
    line(
        "Loc-RIB:",
        format!(
            "{} prefixes, {} attribute sets",
            status.prefixes, status.attribute_sets
        ),
    );
    if let Some(kernel) = &status.kernel {
        line(
            "Kernel:",
            format!(
                "{} installed, {} not installed, {} failed",
                kernel.installed, kernel.not_installed, kernel.failed
            ),
        );
    }
    line(
        "Problems:",
        match status.problems.len() {
            0 => "none".to_owned(),
            n => format!("{n} (skipped alone; everything else applies)"),
        },
    );
    for problem in &status.problems {
        let field = if problem.field.is_empty() {
            String::new()
        } else {
            format!(" {}", problem.field)
        };
        out.push_str(&format!(
            "  {}{field}: {}\n",
            problem.resource, problem.reason
        ));
    }
    out
}

fn duration(seconds: u64) -> String {
    let (d, h, m, s) = (
        seconds / 86_400,
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m{s:02}s"),
        (0, _, _) => format!("{h}h{m:02}m{s:02}s"),
        _ => format!("{d}d{h:02}h{m:02}m"),
    }
}

fn peers_table(peers: &[v1::Peer], now: SystemTime) -> String {
    if peers.is_empty() {
        return "No peers.\n".into();
    }
    let rows: Vec<Vec<String>> = peers
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                p.address.clone(),
                calico_peer_type(p.r#type).to_owned(),
                p.remote_as.to_string(),
                time(p.since)
                    .map(|t| clock::since(t, now))
                    .unwrap_or_default(),
                one_line(&p.info),
                p.counters
                    .map(|c| c.prefixes_in_rib)
                    .unwrap_or(0)
                    .to_string(),
            ]
        })
        .collect();
    table::render(
        &["Name", "Address", "Type", "AS", "Since", "Info", "Routes"],
        &rows,
    )
}

fn peer_text(peer: &v1::Peer, now: SystemTime) -> String {
    let mut out = format!("{}\n", peer.name);
    let mut line = |label: &str, value: String| out.push_str(&format!("  {label:<14}{value}\n"));
    line("Address:", format!("{} port {}", peer.address, peer.port));
    line("Type:", calico_peer_type(peer.r#type).to_owned());
    line("Remote AS:", peer.remote_as.to_string());
    if peer.passive {
        line("Passive:", "yes (waits for the peer to connect)".into());
    }
    let since = time(peer.since)
        .map(|t| {
            let age = now.duration_since(t).unwrap_or_default().as_secs();
            format!(" since {} UTC ({} ago)", clock::date_time(t), duration(age))
        })
        .unwrap_or_default();
    line("State:", format!("{}{since}", peer.bird_state));
    if let Some(error) = &peer.last_error {
        line("Last error:", error.clone());
    }
    if let Some(restart) = &peer.graceful_restart {
        let waiting = if restart.reconnected {
            "waiting for its End-of-RIB"
        } else {
            "waiting for it to come back"
        };
        let age = time(restart.since)
            .map(|t| {
                let age = now.duration_since(t).unwrap_or_default().as_secs();
                format!(" for {}", duration(age))
            })
            .unwrap_or_default();
        line(
            "Restarting:",
            format!("{} stale routes kept{age}, {waiting}", restart.stale_routes),
        );
    }
    if let Some(session) = &peer.session {
        let mut what = format!(
            "router id {}, hold time {} s, {}",
            session.peer_router_id,
            session.hold_time,
            if session.external { "eBGP" } else { "iBGP" }
        );
        if !session.local_address.is_empty() {
            what.push_str(&format!(", local address {}", session.local_address));
        }
        line("Session:", what);
        let mut capabilities = session.families.clone();
        for (on, name) in [
            (session.four_octet_as, "4-octet AS"),
            (session.route_refresh, "route refresh"),
            (session.extended_message, "extended message"),
            (session.graceful_restart, "graceful restart"),
        ] {
            if on {
                capabilities.push(name.to_owned());
            }
        }
        if !session.add_path_receive.is_empty() {
            capabilities.push(format!(
                "ADD-PATH receive {}",
                session.add_path_receive.join(" ")
            ));
        }
        if !session.add_path_send.is_empty() {
            capabilities.push(format!("ADD-PATH send {}", session.add_path_send.join(" ")));
        }
        line("Capabilities:", capabilities.join(", "));
    }
    if let Some(c) = &peer.counters {
        line(
            "Messages:",
            format!(
                "{} received ({} updates), {} sent ({} updates)",
                c.messages_received, c.updates_received, c.messages_sent, c.updates_sent
            ),
        );
        line(
            "Prefixes:",
            format!(
                "{} received, {} accepted, {} in the Loc-RIB",
                c.prefixes_received, c.prefixes_accepted, c.prefixes_in_rib
            ),
        );
    }
    out
}

fn routes_text(routes: &[v1::Route]) -> String {
    if routes.is_empty() {
        return "No routes.\n".into();
    }
    let mut out = String::new();
    for route in routes {
        out.push_str(&format!("{}\n", route.prefix));
        for path in &route.paths {
            let as_path = if path.as_path.is_empty() {
                "(empty)".to_owned()
            } else {
                path.as_path
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let mut text = format!(
                "    via {} from {}, AS path {as_path}",
                path.next_hop, path.from
            );
            if let Some(pref) = path.local_pref {
                text.push_str(&format!(", local pref {pref}"));
            }
            if let Some(med) = path.med {
                text.push_str(&format!(", MED {med}"));
            }
            if !path.communities.is_empty() {
                text.push_str(&format!(", communities {}", path.communities.join(" ")));
            }
            if path.best {
                text.push_str(" [best]");
            } else if path.multipath {
                text.push_str(" [multipath]");
            }
            out.push_str(&text);
            out.push('\n');
        }
        if route.paths.is_empty() {
            out.push_str("    (withdrawn from BGP)\n");
        }
        if let Some(kernel) = &route.kernel {
            let state = match v1::KernelState::try_from(kernel.state) {
                Ok(v1::KernelState::Installed) => "installed".to_owned(),
                Ok(v1::KernelState::NotInstalled) => "not installed".to_owned(),
                Ok(v1::KernelState::Failed) => format!("failed ({})", kernel.error),
                _ => "unknown".to_owned(),
            };
            out.push_str(&format!("    kernel: {state}: {}\n", kernel.reason));
            if !kernel.route.is_empty() {
                out.push_str(&format!("            {}\n", kernel.route));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const T: u64 = 1_795_316_645; // 2026-11-22 03:04:05 UTC

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
    }

    fn peer(
        address: &str,
        kind: v1::PeerType,
        state: v1::SessionState,
        info: &str,
        since: u64,
    ) -> v1::Peer {
        v1::Peer {
            name: format!("Mesh_{}", address.replace(['.', ':'], "_")),
            address: address.into(),
            port: 179,
            r#type: kind.into(),
            state: state.into(),
            bird_state: info.split_whitespace().next().unwrap_or("").into(),
            info: info.into(),
            since: Some(at(since).into()),
            ..Default::default()
        }
    }

    #[test]
    fn node_status_with_both_families() {
        let peers = [
            peer(
                "10.0.1.11",
                v1::PeerType::Mesh,
                v1::SessionState::Established,
                "Established",
                T,
            ),
            // BIRD pads the state to 14 columns; calicoctl joins on one space.
            peer(
                "10.0.1.12",
                v1::PeerType::Global,
                v1::SessionState::Active,
                "Active        Socket: Connection refused",
                T - 3600,
            ),
            peer(
                "fd80:24e2:f998:72d7::2",
                v1::PeerType::Node,
                v1::SessionState::Established,
                "Established",
                T - 30 * 3600,
            ),
        ];
        let status = NodeStatus::new(true, &peers, at(T + 60));
        assert_eq!(
            status.render(),
            "\
Calico process is running.

IPv4 BGP status
+--------------+-------------------+-------+----------+--------------------------------+
| PEER ADDRESS |     PEER TYPE     | STATE |  SINCE   |              INFO              |
+--------------+-------------------+-------+----------+--------------------------------+
| 10.0.1.11    | node-to-node mesh | up    | 03:04:05 | Established                    |
| 10.0.1.12    | global            | start | 02:04:05 | Active Socket: Connection      |
|              |                   |       |          | refused                        |
+--------------+-------------------+-------+----------+--------------------------------+

IPv6 BGP status
+------------------------+---------------+-------+------------+-------------+
|      PEER ADDRESS      |   PEER TYPE   | STATE |   SINCE    |    INFO     |
+------------------------+---------------+-------+------------+-------------+
| fd80:24e2:f998:72d7::2 | node specific | up    | 2026-11-20 | Established |
+------------------------+---------------+-------+------------+-------------+

"
        );
    }

    #[test]
    fn node_status_without_ipv6_peers_as_in_the_calico_docs() {
        let peers = [peer(
            "172.17.8.102",
            v1::PeerType::Mesh,
            v1::SessionState::Established,
            "Established",
            T,
        )];
        let status = NodeStatus::new(true, &peers, at(T + 1));
        assert_eq!(
            status.render(),
            "\
Calico process is running.

IPv4 BGP status
+--------------+-------------------+-------+----------+-------------+
| PEER ADDRESS |     PEER TYPE     | STATE |  SINCE   |    INFO     |
+--------------+-------------------+-------+----------+-------------+
| 172.17.8.102 | node-to-node mesh | up    | 03:04:05 | Established |
+--------------+-------------------+-------+----------+-------------+

IPv6 BGP status
No IPv6 peers found.

"
        );
    }

    #[test]
    fn node_status_without_peers_and_without_felix() {
        let status = NodeStatus::new(false, &[], at(T));
        assert_eq!(
            status.render(),
            "Calico process is not running.\n\nIPv4 BGP status\nNo IPv4 peers found.\n\n\
             IPv6 BGP status\nNo IPv6 peers found.\n\n"
        );
    }

    #[test]
    fn node_status_as_json_and_yaml() {
        let peers = [peer(
            "10.0.1.12",
            v1::PeerType::Global,
            v1::SessionState::Active,
            "Active        Socket: Connection refused",
            T,
        )];
        let status = NodeStatus::new(false, &peers, at(T + 5));
        let json: serde_json::Value =
            serde_json::from_str(&encode(&status, Output::Json).unwrap()).unwrap();
        let row = &json["ipv4Peers"][0];
        assert_eq!(row["peerAddress"], "10.0.1.12");
        assert_eq!(row["state"], "start");
        assert_eq!(row["info"], "Active Socket: Connection refused");
        assert_eq!(row["sinceTime"], "2026-11-22T03:04:05Z");
        assert_eq!(json["ipv6Peers"], serde_json::json!([]));
        let yaml = encode(&status, Output::Yaml).unwrap();
        assert!(yaml.contains("peerType: global"), "{yaml}");
        assert!(yaml.contains("calicoProcessRunning: false"), "{yaml}");
    }

    #[test]
    fn felix_is_found_as_calicoctl_finds_it() {
        let args = |words: &[&'static str]| words.iter().map(|w| w.as_bytes()).collect::<Vec<_>>();
        assert!(is_felix(&args(&["calico-node", "-felix", ""])));
        assert!(is_felix(&args(&["calico-felix", ""])));
        assert!(!is_felix(&args(&["/usr/bin/calico-felix", ""])));
        assert!(!is_felix(&args(&["bgpd", "--config", "x"])));
    }

    #[test]
    fn unreachable_sockets_are_explained() {
        let path = Path::new("/run/x.sock");
        let error = |kind| std::io::Error::from(kind);
        assert_eq!(
            unreachable(path, &error(std::io::ErrorKind::NotFound)),
            "cannot reach bgpd at /run/x.sock: no such file — is bgpd running?"
        );
        assert!(
            unreachable(path, &error(std::io::ErrorKind::PermissionDenied))
                .contains("permission denied")
        );
    }

    #[test]
    fn routes_read_like_birds() {
        let routes = [v1::Route {
            prefix: "10.244.1.0/26".into(),
            paths: vec![v1::Path {
                from: "Mesh_10_0_1_11".into(),
                next_hop: "10.0.1.11".into(),
                local_pref: Some(100),
                best: true,
                ..Default::default()
            }],
            kernel: Some(v1::KernelRoute {
                state: v1::KernelState::Installed.into(),
                reason: "next hop 10.0.1.11 is on 10.0.1.0/24, so via eth0".into(),
                error: String::new(),
                route: "10.244.1.0/26 via 10.0.1.11 dev eth0 proto bird".into(),
            }),
        }];
        assert_eq!(
            routes_text(&routes),
            "\
10.244.1.0/26
    via 10.0.1.11 from Mesh_10_0_1_11, AS path (empty), local pref 100 [best]
    kernel: installed: next hop 10.0.1.11 is on 10.0.1.0/24, so via eth0
            10.244.1.0/26 via 10.0.1.11 dev eth0 proto bird
"
        );
    }
}
