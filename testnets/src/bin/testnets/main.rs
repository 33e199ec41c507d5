//! `testnets`: build a topology from TOML and keep it up, run the demo, or
//! clean up after killed runs. The benchmarks are the `bench` crate's binary.

mod demo;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use testnets::Topology;

#[derive(Parser)]
#[command(version, about = "Virtual clusters in network namespaces")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Remove namespaces, processes and folders left by runs that were killed.
    Clean,
    /// Build the topology in FILE and keep it until Ctrl-C.
    Up { file: PathBuf },
    /// Run the demo cluster: etcd, bgpd on four nodes, their status and routes.
    Demo {
        /// The bgpd binary to run on every node.
        #[arg(long)]
        bgpd: PathBuf,
        /// The bgpctl binary to query them with.
        #[arg(long)]
        bgpctl: PathBuf,
        /// The topology (four nodes n1..n4 as in the default).
        #[arg(long, default_value = "testnets/topologies/demo.toml")]
        topology: PathBuf,
        /// Keep the cluster up until Ctrl-C, to look around in it.
        #[arg(long)]
        keep: bool,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("testnets: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> testnets::Result<()> {
    match cli.command {
        Command::Clean => {
            let cleaned = testnets::clean::clean()?;
            println!(
                "removed {} namespaces and {} folders of dead runs",
                cleaned.namespaces.len(),
                cleaned.folders.len()
            );
            for name in cleaned.namespaces {
                println!("  {name}");
            }
            Ok(())
        }
        Command::Demo {
            bgpd,
            bgpctl,
            topology,
            keep,
        } => demo::run(&topology, &demo::Binaries { bgpd, bgpctl }, keep),
        Command::Up { file } => {
            let topology = Topology::load(&file)?;
            let network = topology.build()?;
            println!(
                "{} is up ({} hosts); Ctrl-C removes it",
                network.name(),
                network.hosts().count()
            );
            for host in network.hosts() {
                println!(
                    "  {:<12} ip netns exec {} bash",
                    host.name(),
                    host.ns().name()
                );
            }
            // Ctrl-C ends the process through the run's handler, which removes
            // every namespace; until then, wait.
            loop {
                std::thread::park();
            }
        }
    }
}
