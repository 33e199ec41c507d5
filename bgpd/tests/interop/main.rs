//! bgpd with real peers in network namespaces: BIRD 1.6 (what Calico runs),
//! BIRD 2, GoBGP and FRR. Each test builds its own network through testnets.

#![allow(
    clippy::unwrap_used,
    reason = "a test that cannot build its network fails loudly"
)]

mod api;
mod bench;
mod bfd;
mod bfd_fuzzer;
mod bgpfilter;
mod borrowed_ips;
mod calico_mixed;
mod cluster;
mod cluster_routes;
mod communities;
mod ebgp;
mod etcd;
mod first_second;
mod flapping_peer;
mod flooding_peer;
mod fuzz;
mod graceful_restart;
mod image;
mod ipv6;
mod kernel_toggle;
mod log_level;
mod malformed;
mod md5;
mod mesh;
mod node_status;
mod operators;
mod peer_fields;
mod prefix_limit;
mod priority;
mod raw_peer;
mod reachable_by;
mod reconfigure;
mod reflection;
mod register_node;
mod restarting;
mod session_fuzzer;
mod stalled_peer;
mod support;
mod ttl;
