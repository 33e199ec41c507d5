//! bgpctl's command line: the clap definitions of its flags and commands,
//! whose doc comments are its `--help`.

use std::path::PathBuf;

use bgpd::api::grpc::DEFAULT_SOCKET;
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "bgpctl",
    version = bgpd::VERSION,
    about = "podroute's operator CLI: asks bgpd over its API socket"
)]
pub(crate) struct Cli {
    /// bgpd's API socket.
    #[arg(
        long,
        env = "BGPD_API_SOCKET",
        value_name = "PATH",
        default_value = DEFAULT_SOCKET,
        global = true
    )]
    pub(crate) socket: PathBuf,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Output::Text, global = true)]
    pub(crate) output: Output,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Output {
    /// For people: calicoctl's table for `node status`, tables and blocks
    /// elsewhere.
    Text,
    Json,
    Yaml,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
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
pub(crate) enum NodeCommand {
    /// BGP peers in `calicoctl node status` format.
    Status,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Show {
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
pub(crate) enum PeerAction {
    /// Restart the session (Cease, Administrative Reset).
    Reset { name: String },
    /// Ask the peer to send its routes again (ROUTE-REFRESH).
    Refresh { name: String },
}

#[derive(Subcommand, Debug)]
pub(crate) enum Watch {
    /// Peers added, removed, or changing state.
    Peers,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }
}
