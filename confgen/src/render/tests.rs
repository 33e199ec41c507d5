//! The renderer that re-uses its peers renders what a fresh render does,
//! and makes the peers again only when what they depend on changed.

use std::cell::Cell;

use super::*;
use crate::snapshot::RESOURCES;

/// Counts the lookups: a lookup means the peers were made.
#[derive(Default)]
struct Counting(Cell<usize>);

impl SecretSource for Counting {
    fn get(&self, _: &str, _: &str) -> Option<String> {
        self.0.set(self.0.get() + 1);
        Some("s3cret".into())
    }
}

fn put(snapshot: &mut Snapshot, key: &str, value: serde_json::Value) {
    snapshot
        .put(key, value.to_string().as_bytes())
        .expect("a good value");
}

fn node(snapshot: &mut Snapshot, name: &str, address: &str, rack: &str) {
    let value = serde_json::json!({"metadata": {"name": name, "labels": {"rack": rack}},
                                   "spec": {"bgp": {"ipv4Address": address}}});
    put(snapshot, &format!("{RESOURCES}nodes/{name}"), value);
}

fn affinity(snapshot: &mut Snapshot, block: &str) {
    let key = format!(
        "/calico/ipam/v2/host/n1/ipv4/block/{}",
        block.replace('/', "-")
    );
    put(snapshot, &key, serde_json::json!({"state": "confirmed"}));
}

#[test]
fn re_used_peers_render_as_a_fresh_render_does() {
    let secrets = Counting::default();
    let mut snapshot = Snapshot::default();
    // The mesh's password is read whenever the peers are made.
    let mesh = serde_json::json!({"metadata": {"name": "default"},
        "spec": {"nodeMeshPassword": {"secretKeyRef": {"name": "bgp", "key": "mesh"}}}});
    put(
        &mut snapshot,
        &format!("{RESOURCES}bgpconfigurations/default"),
        mesh,
    );
    node(&mut snapshot, "n1", "10.0.0.1/24", "a");
    node(&mut snapshot, "n2", "10.0.0.2/24", "a");
    put(
        &mut snapshot,
        &format!("{RESOURCES}bgppeers/tor"),
        serde_json::json!({"metadata": {"name": "tor"},
            "spec": {"nodeSelector": "rack == 'a'", "peerIP": "10.0.0.254", "asNumber": 65000,
                     "password": {"secretKeyRef": {"name": "bgp", "key": "tor"}}}}),
    );
    let mut renderer = Renderer::default();
    let mut check = |snapshot: &Snapshot, made: bool, what: &str| {
        let before = secrets.0.get();
        let cached = renderer.render(snapshot, "n1", &secrets).expect("renders");
        assert_eq!(secrets.0.get() > before, made, "{what}: peers made again?");
        let fresh = render(snapshot, "n1", &Counting::default()).expect("renders");
        assert_eq!(cached, fresh, "{what}");
    };
    check(&snapshot, true, "the first render");
    check(&snapshot, false, "nothing changed");
    affinity(&mut snapshot, "10.244.1.0/26");
    check(&snapshot, false, "an affinity");
    let pool = serde_json::json!({"metadata": {"name": "p"}, "spec": {"cidr": "10.244.0.0/16"}});
    put(&mut snapshot, &format!("{RESOURCES}ippools/p"), pool);
    check(&snapshot, false, "a pool");
    node(&mut snapshot, "n3", "10.0.0.3/24", "b");
    check(&snapshot, true, "a node");
    node(&mut snapshot, "n1", "10.0.0.1/24", "b");
    check(
        &snapshot,
        true,
        "this node's label: the tor no longer applies",
    );
    assert!(snapshot.delete(&format!("{RESOURCES}bgppeers/tor")));
    check(&snapshot, true, "the BGPPeer gone");
    let config = serde_json::json!({"metadata": {"name": "default"},
                                    "spec": {"nodeToNodeMeshEnabled": false}});
    put(
        &mut snapshot,
        &format!("{RESOURCES}bgpconfigurations/default"),
        config,
    );
    let rendered = renderer.render(&snapshot, "n1", &secrets).expect("renders");
    assert!(rendered.config.peers.is_empty(), "the mesh off: no peers");
}

#[test]
fn a_snapshot_listed_anew_is_never_taken_for_the_one_before() {
    // The same number of writes, another content: as after a reconnection,
    // when this node's address changed meanwhile.
    let build = |address: &str| {
        let mut snapshot = Snapshot::default();
        node(&mut snapshot, "n1", address, "a");
        node(&mut snapshot, "n2", "10.0.0.2/24", "a");
        snapshot
    };
    let mut renderer = Renderer::default();
    let before = renderer
        .render(&build("10.0.0.1/24"), "n1", &Counting::default())
        .expect("renders");
    assert_eq!(
        before.config.peers[0].source_address,
        Some("10.0.0.1".parse().unwrap())
    );
    let after = renderer
        .render(&build("10.0.0.9/24"), "n1", &Counting::default())
        .expect("renders");
    assert_eq!(
        after.config.peers[0].source_address,
        Some("10.0.0.9".parse().unwrap()),
        "the peers are made again from the new snapshot"
    );
}

/// BFD from the datastore: the annotation on the default BGPConfiguration
/// (the mesh) and on a BGPPeer, Calico Enterprise's failureDetectionMode
/// for a peer on the node's subnet only, and a bad value a problem that
/// costs only BFD.
#[test]
fn bfd_comes_from_annotations_and_failure_detection_mode() {
    use proto::config::BfdConfig;
    let mut snapshot = Snapshot::default();
    let mesh = serde_json::json!({"metadata": {"name": "default",
        "annotations": {"podroute.io/bfd": "100ms,5"}}, "spec": {}});
    put(
        &mut snapshot,
        &format!("{RESOURCES}bgpconfigurations/default"),
        mesh,
    );
    node(&mut snapshot, "n1", "10.0.0.1/24", "a");
    node(&mut snapshot, "n2", "10.0.0.2/24", "a");
    let peer = |name: &str, ip: &str, metadata: serde_json::Value, spec: serde_json::Value| {
        let mut spec = spec;
        spec["peerIP"] = ip.into();
        spec["asNumber"] = 65000.into();
        let mut metadata = metadata;
        metadata["name"] = name.into();
        serde_json::json!({"metadata": metadata, "spec": spec})
    };
    for (name, ip, metadata, spec) in [
        (
            "annotated",
            "10.9.0.1",
            serde_json::json!({"annotations": {"podroute.io/bfd": "on"}}),
            serde_json::json!({}),
        ),
        (
            "direct",
            "10.0.0.254",
            serde_json::json!({}),
            serde_json::json!({"failureDetectionMode": "BFDIfDirectlyConnected"}),
        ),
        (
            "far",
            "10.9.0.2",
            serde_json::json!({}),
            serde_json::json!({"failureDetectionMode": "BFDIfDirectlyConnected"}),
        ),
        (
            "bad",
            "10.9.0.3",
            serde_json::json!({"annotations": {"podroute.io/bfd": "soon"}}),
            serde_json::json!({}),
        ),
    ] {
        put(
            &mut snapshot,
            &format!("{RESOURCES}bgppeers/{name}"),
            peer(name, ip, metadata, spec),
        );
    }
    let rendered = render(&snapshot, "n1", &Counting::default()).expect("renders");
    let bfd_of = |address: &str| {
        rendered
            .config
            .peers
            .iter()
            .find(|p| p.address.to_string() == address)
            .unwrap_or_else(|| panic!("no peer {address}"))
            .bfd
    };
    let fast = BfdConfig {
        min_tx_ms: 100,
        min_rx_ms: 100,
        multiplier: 5,
    };
    assert_eq!(bfd_of("10.0.0.2"), Some(fast), "the mesh");
    assert_eq!(bfd_of("10.9.0.1"), Some(BfdConfig::default()));
    assert_eq!(bfd_of("10.0.0.254"), Some(BfdConfig::default()));
    assert_eq!(bfd_of("10.9.0.2"), None, "not on the node's subnet");
    assert_eq!(bfd_of("10.9.0.3"), None, "a bad value leaves BFD off");
    let problem = rendered
        .problems
        .iter()
        .find(|p| p.to_string().contains("podroute.io/bfd"))
        .expect("the bad annotation is a problem");
    assert!(problem.to_string().contains("bgppeers/bad"), "{problem}");
}
