//! Generates the `podroute.v1` gRPC types and services from
//! `podroute/v1/*.proto` with protoc (Debian `protobuf-compiler`; the
//! well-known types come from `libprotobuf-dev`, see scripts/setup.sh).
//!
//! The messages also derive `serde::Serialize` (camelCase keys, enums by
//! their short lower-case name, timestamps in RFC 3339; see `src/json.rs`),
//! which is what `bgpctl -o json|yaml` prints.

use std::path::PathBuf;

/// Enum-typed fields (prost keeps them as `i32`) and the function in
/// `src/json.rs` that names their values.
const ENUM_FIELDS: &[(&str, &str)] = &[
    ("Datastore.kind", "datastore_kind"),
    ("Datastore.sync", "sync_state"),
    ("WatchPeersResponse.event", "peer_event"),
    ("Peer.type", "peer_type"),
    ("Peer.state", "session_state"),
    ("KernelRoute.state", "kernel_state"),
];

/// `google.protobuf.Timestamp` fields.
const TIME_FIELDS: &[&str] = &[
    "GetStatusResponse.started",
    "GetStatusResponse.last_config_applied",
    "Peer.since",
    "PeerRestart.since",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from("podroute/v1");
    let mut protos = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "proto") {
            protos.push(path);
        }
    }
    protos.sort();
    println!("cargo:rerun-if-changed=podroute");
    let mut builder = tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .message_attribute(".podroute.v1", "#[derive(serde::Serialize)]")
        .message_attribute(".podroute.v1", "#[serde(rename_all = \"camelCase\")]");
    for (field, function) in ENUM_FIELDS {
        builder = builder.field_attribute(
            format!(".podroute.v1.{field}"),
            format!("#[serde(serialize_with = \"crate::json::{function}\")]"),
        );
    }
    for field in TIME_FIELDS {
        builder = builder.field_attribute(
            format!(".podroute.v1.{field}"),
            "#[serde(serialize_with = \"crate::json::time\")]",
        );
    }
    builder.compile_protos(&protos, &[PathBuf::from(".")])?;
    Ok(())
}
