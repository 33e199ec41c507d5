#!/usr/bin/env bash
# The demo: a virtual Calico cluster in network namespaces (four nodes in two
# subnets joined by a router, etcd holding Calico's resources, bgpd on every
# node), then `bgpctl node status` and the kernel routes of every node, pings
# between pods, and a teardown that leaves nothing behind. `--keep` keeps the
# cluster up until Ctrl-C and says how to enter a node.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# Network namespaces need root: become it through sudo when not already.
if [ "$(id -u)" -ne 0 ]; then exec sudo --preserve-env=PATH,CARGO_HOME,RUSTUP_HOME bash "$0" "$@"; fi

bash scripts/setup.sh
echo "== building bgpd, bgpctl and testnets (release; the first build takes a few minutes)"
cargo build --release --locked --quiet -p bgpd -p testnets --bins
exec target/release/testnets demo \
    --bgpd target/release/bgpd \
    --bgpctl target/release/bgpctl \
    --topology testnets/topologies/demo.toml "$@"
