//! `bgpctl`: podroute's operator CLI, a client of bgpd's gRPC API
//! (`podroute.v1`) on its unix socket.
//!
//! `bgpctl node status` prints what `calicoctl node status` prints, in the
//! same layout; `show` reads the speaker, its peers, its routes (with the
//! kernel's view) and its configuration; `peer reset|refresh` act on a
//! session; `watch peers` follows state changes. `-o json|yaml` gives the
//! same data for scripts.
//!
//! This file holds `main` and the dispatch: each command asks bgpd through
//! the client (client.rs) and prints the answer (render.rs, node_status.rs).

mod cli;
mod client;
mod node_status;
mod render;
mod table;

use std::process::ExitCode;
use std::time::SystemTime;

use clap::{CommandFactory, Parser};
use proto::v1;

use crate::cli::{Cli, Command, NodeCommand, Output, PeerAction, Show, Watch};
use crate::client::Client;
use crate::node_status::{calico_process_running, NodeStatus};
use crate::render::{encode, event_text, peer_text, peers_table, routes_text, status_text};

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
    let mut client = Client::connect(&cli.socket).await?;
    let output = cli.output;
    match cli.command {
        Command::Node {
            command: NodeCommand::Status,
        } => node_status(&mut client, output).await?,
        // Answered above, without asking bgpd.
        Command::Completions { .. } => {}
        Command::Show { what } => show(&mut client, what, output).await?,
        Command::Peer { action } => peer(&mut client, action, output).await?,
        Command::Watch { what: Watch::Peers } => watch_peers(&mut client, output).await?,
        Command::Health { ready, live } => health(&mut client, ready, live).await?,
    }
    Ok(())
}

async fn node_status(client: &mut Client, output: Output) -> Result<(), String> {
    let peers = client.peers(None).await?.peers;
    let status = NodeStatus::new(calico_process_running(), &peers, SystemTime::now());
    match output {
        Output::Text => print!("{}", status.render()),
        _ => print!("{}", encode(&status, output)?),
    }
    Ok(())
}

async fn show(client: &mut Client, what: Show, output: Output) -> Result<(), String> {
    let now = SystemTime::now();
    match what {
        Show::Status => {
            let status = client.status().await?;
            match output {
                Output::Text => print!("{}", status_text(&status, now)),
                _ => print!("{}", encode(&status, output)?),
            }
        }
        Show::Peers { name } => {
            let detail = name.is_some();
            let peers = client.peers(name).await?;
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
            let routes = client.routes(prefix, kernel).await?;
            match output {
                Output::Text => print!("{}", routes_text(&routes.routes)),
                _ => print!("{}", encode(&routes, output)?),
            }
        }
        Show::Config => {
            let config = client.config().await?;
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

async fn peer(client: &mut Client, action: PeerAction, output: Output) -> Result<(), String> {
    let name = match action {
        PeerAction::Reset { name } => {
            client.reset_peer(name.clone()).await?;
            name
        }
        PeerAction::Refresh { name } => {
            client.refresh_peer(name.clone()).await?;
            name
        }
    };
    if output == Output::Text {
        println!("{name}: done");
    }
    Ok(())
}

async fn watch_peers(client: &mut Client, output: Output) -> Result<(), String> {
    let mut events = client.watch_peers().await?;
    while let Some(event) = events.next().await? {
        match output {
            Output::Text => println!("{}", event_text(event, SystemTime::now())),
            Output::Json => println!(
                "{}",
                serde_json::to_string(&event).map_err(|e| e.to_string())?
            ),
            Output::Yaml => print!("---\n{}", encode(&event, output)?),
        }
    }
    Ok(())
}

/// The exec probes: `live` when bgpd answers; ready by calico-node's rule
/// (bgpd::api::http::readiness_rule), else why not.
async fn health(client: &mut Client, ready: bool, live: bool) -> Result<(), String> {
    let status = client.status().await?;
    if live && !ready {
        println!("live");
        return Ok(());
    }
    if !status.configured {
        return Err(status.not_configured_reason);
    }
    let peers = client.peers(None).await?.peers;
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
    Ok(())
}
