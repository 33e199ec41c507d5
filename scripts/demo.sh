#!/usr/bin/env bash
# The demo: a virtual Calico cluster in network namespaces (four nodes in two
# subnets joined by a router, etcd holding Calico's resources, bgpd on every
# node), then `bgpctl node status` and the kernel routes of every node, pings
# between pods, and a teardown that leaves nothing behind.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# Network namespaces need root: become it through sudo when not already.
if [ "$(id -u)" -ne 0 ]; then exec sudo --preserve-env=PATH,CARGO_HOME,RUSTUP_HOME bash "$0" "$@"; fi

bash scripts/setup.sh
echo "== building bgpd, bgpctl and testnets"
cargo build --locked --quiet -p bgpd -p testnets --bins
exec target/debug/testnets demo \
    --bgpd target/debug/bgpd \
    --bgpctl target/debug/bgpctl \
    --topology testnets/topologies/demo.toml
