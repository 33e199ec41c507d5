#!/usr/bin/env bash
# The benchmarks: bgpd side by side with BIRD 2, BIRD 1.6, FRR and GoBGP on
# this machine, release builds, one warm-up and five measured runs each.
# Writes BENCHMARKS.md and benchmarks/*.svg at the repository's root.
#   scripts/bench.sh            every scenario
#   scripts/bench.sh S4         some of them
#   scripts/bench.sh --quick    small sizes, one run: proves the harness
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# Network namespaces need root: become it through sudo when not already.
if [ "$(id -u)" -ne 0 ]; then exec sudo --preserve-env=PATH,CARGO_HOME,RUSTUP_HOME bash "$0" "$@"; fi

bash scripts/setup.sh
echo "== building bgpd and bench (release)"
cargo build --release --locked --quiet -p bgpd -p bench --bins
exec target/release/bench --bgpd target/release/bgpd --out . "$@"
