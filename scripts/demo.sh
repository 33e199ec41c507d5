#!/usr/bin/env bash
# The demo: a virtual Calico cluster in network namespaces running bgpd, then
# `bgpctl node status` and the kernel routes of every node.
#
# The speaker, kernel programming and etcd pieces it needs are still being built
# (see README.md, "Status"). Until they land, this prints what the demo will do
# and checks that the codec it will run on passes its tests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cat <<'TEXT'
podroute demo: not available yet.

When the speaker, routesync and confgen land, this command will:
  1. start etcd and a 4-node cluster in two subnets joined by a router
     (network namespaces on this machine; nothing touches the host's network),
  2. write Calico resources (an IP pool in CrossSubnet mode, nodes, block
     affinities) into etcd,
  3. start bgpd on every node, then print `bgpctl node status` and each node's
     kernel routes with the encapsulation chosen (eth0 or tunl0 onlink),
  4. ping between pods on different nodes, and tear everything down.

What exists today is the BGP wire codec; running its tests now:
TEXT
bash scripts/setup.sh
cargo test -p bgpd --locked --quiet 2>&1 | grep -E '^test result' || true
