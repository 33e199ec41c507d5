//! How the `podroute.v1` messages serialize with serde (for `bgpctl -o
//! json|yaml`): prost keeps enum fields as `i32` and timestamps as
//! `prost_types::Timestamp`, so those fields name their serializer here
//! (build.rs lists them).

use prost_types::Timestamp;
use serde::Serializer;

use crate::v1;

/// An enum value by its name without the enum's prefix, lower-cased
/// (`PEER_TYPE_MESH` → `mesh`); a number the enum does not know stays a
/// number.
fn short<S: Serializer>(
    name: Option<&str>,
    prefix: &str,
    value: i32,
    s: S,
) -> Result<S::Ok, S::Error> {
    match name {
        Some(name) => s.serialize_str(&name.strip_prefix(prefix).unwrap_or(name).to_lowercase()),
        None => s.serialize_i32(value),
    }
}

macro_rules! enum_names {
    ($($function:ident: $enum:ty, $prefix:literal;)*) => {
        $(
            pub(crate) fn $function<S: Serializer>(value: &i32, s: S) -> Result<S::Ok, S::Error> {
                let name = <$enum>::try_from(*value).ok().map(|v| v.as_str_name());
                short(name, $prefix, *value, s)
            }
        )*
    };
}

enum_names! {
    datastore_kind: v1::DatastoreKind, "DATASTORE_KIND_";
    sync_state: v1::SyncState, "SYNC_STATE_";
    peer_event: v1::PeerEvent, "PEER_EVENT_";
    peer_type: v1::PeerType, "PEER_TYPE_";
    session_state: v1::SessionState, "SESSION_STATE_";
    kernel_state: v1::KernelState, "KERNEL_STATE_";
}

/// RFC 3339, UTC (`2026-01-02T03:04:05.678Z`); unset is `null`.
pub(crate) fn time<S: Serializer>(value: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(time) => s.collect_str(time),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_and_times_read_well() {
        let peer = v1::Peer {
            name: "Mesh_10_0_0_2".into(),
            r#type: v1::PeerType::Mesh.into(),
            state: v1::SessionState::OpenConfirm.into(),
            since: Some(Timestamp {
                seconds: 1_795_316_645,
                nanos: 0,
            }),
            ..Default::default()
        };
        let json = serde_json::to_value(&peer).unwrap();
        assert_eq!(json["type"], "mesh");
        assert_eq!(json["state"], "open_confirm");
        assert_eq!(json["since"], "2026-11-22T03:04:05Z");
        assert_eq!(json["lastError"], serde_json::Value::Null);
        assert_eq!(json["remoteAs"], 0);
        let odd = v1::KernelRoute {
            state: 42,
            ..Default::default()
        };
        assert_eq!(serde_json::to_value(&odd).unwrap()["state"], 42);
    }
}
