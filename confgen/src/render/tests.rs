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
