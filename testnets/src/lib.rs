//! Virtual clusters in Linux network namespaces, for tests, the demo and benchmarks.
//!
//! This crate will own topologies (L2 segments, hosts, routers, pods), launchers
//! for etcd, bgpd and third-party speakers (BIRD 1.6, BIRD 2, GoBGP, FRR), and
//! observation of kernel tables and sessions. Nothing depends on it.
