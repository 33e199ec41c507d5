//! `testnets`: build a topology from TOML and keep it up, run the demo or
//! the benchmarks, or clean up after killed runs.

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
    /// Benchmark bgpd against BIRD 2, BIRD 1.6, FRR and GoBGP; write
    /// BENCHMARKS.md and a chart per scenario into DIR.
    Bench {
        /// Only these scenarios (S1, S4); all when none is given.
        scenarios: Vec<String>,
        /// The bgpd binary under test (a release build).
        #[arg(long)]
        bgpd: PathBuf,
        /// Small sizes and one run each: proves the harness in a minute or two.
        #[arg(long)]
        quick: bool,
        /// Where BENCHMARKS.md and benchmarks/*.svg go.
        #[arg(long, default_value = ".")]
        out: PathBuf,
        /// Only these daemons (bgpd, bird2, bird16, frr, gobgp), comma-separated.
        #[arg(long, value_delimiter = ',')]
        daemons: Vec<testnets::bench::Daemon>,
        /// Only these sizes, comma-separated.
        #[arg(long, value_delimiter = ',')]
        sizes: Vec<usize>,
    },
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
        Command::Bench {
            scenarios,
            bgpd,
            quick,
            out,
            daemons,
            sizes,
        } => {
            let options = testnets::bench::Options {
                bgpd,
                scenarios,
                quick,
                daemons,
                sizes,
            };
            let command = std::env::args().collect::<Vec<_>>().join(" ");
            let results = testnets::bench::run(&options, &mut |line| println!("{line}"))?;
            testnets::bench::report::write(&out, &results, &command, quick)?;
            println!("wrote {}", out.join("BENCHMARKS.md").display());
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
