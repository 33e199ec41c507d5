//! `bench`: benchmark bgpd against BIRD 2, BIRD 1.6, FRR and GoBGP; write
//! BENCHMARKS.md and a chart per scenario (`scripts/bench.sh` runs it).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Benchmark bgpd against BIRD 2, BIRD 1.6, FRR and GoBGP; write
/// BENCHMARKS.md and a chart per scenario into DIR.
#[derive(Parser)]
#[command(version)]
struct Cli {
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
    daemons: Vec<bench::Daemon>,
    /// Only these sizes, comma-separated.
    #[arg(long, value_delimiter = ',')]
    sizes: Vec<usize>,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> testnets::Result<()> {
    let Cli {
        scenarios,
        bgpd,
        quick,
        out,
        daemons,
        sizes,
    } = cli;
    let options = bench::Options {
        bgpd,
        scenarios,
        quick,
        daemons,
        sizes,
    };
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let results = bench::run(&options, &mut |line| println!("{line}"))?;
    bench::report::write(&out, &results, &command, quick)?;
    println!("wrote {}", out.join("BENCHMARKS.md").display());
    Ok(())
}
