//! etcd as the source of truth, in Calico's v3 data model.
//!
//! This crate will own the etcd watcher (list, then watch from revision + 1),
//! Calico's resource types and selector language, and the pure function
//! `render(snapshot, node) -> SpeakerConfig` that computes one node's speaker
//! configuration, plus a BIRD 1.6 rendering for migration diffs. etcd is used
//! nowhere else in podroute.
