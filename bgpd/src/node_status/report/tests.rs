use std::time::{Duration, UNIX_EPOCH};

use serde_json::json;

use super::*;
use crate::fsm::State;
use crate::packet::Origin;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_795_316_645 + secs)
}

fn speaker() -> SpeakerStatus {
    SpeakerStatus {
        node_name: "n0".into(),
        router_id: "10.0.1.10".parse().unwrap(),
        local_as: 64512,
        cluster_id: None,
        started: at(0),
        last_reconfigured: at(5),
        reconfigurations: 1,
        converged: true,
        recovering: false,
        prefixes: 2,
        attr_sets: 1,
        update_processing: Default::default(),
    }
}

fn peer(name: &str, address: &str, kind: PeerKind, state: State) -> PeerStatus {
    PeerStatus {
        name: name.into(),
        address: address.parse().unwrap(),
        port: 179,
        kind,
        remote_as: 64512,
        passive: false,
        state,
        since: at(10),
        last_error: None,
        session: None,
        stats: Default::default(),
        prefixes: 0,
        restart: None,
        bfd: None,
    }
}

fn path(from: &str, next_hop: &str, best: bool) -> PathStatus {
    PathStatus {
        from: from.into(),
        device: None,
        next_hop: next_hop.parse().unwrap(),
        origin: Some(Origin::Igp),
        as_path: Vec::new(),
        local_pref: Some(100),
        med: None,
        communities: Vec::new(),
        originator_id: None,
        cluster_list: Vec::new(),
        best,
        multipath: best,
    }
}

fn report(classes: &[&str], configured: bool) -> Value {
    let speaker = speaker();
    let peers = [
        peer(
            "Mesh_10_0_1_11",
            "10.0.1.11",
            PeerKind::Mesh,
            State::Established,
        ),
        peer(
            "Global_10_0_9_1",
            "10.0.9.1",
            PeerKind::Global,
            State::Active,
        ),
        peer(
            "Node_fd00__9",
            "fd00::9",
            PeerKind::Node,
            State::Established,
        ),
    ];
    let routes = [
        RouteStatus {
            prefix: "10.65.0.0/26".parse().unwrap(),
            paths: vec![path("local", "10.0.1.10", true)],
        },
        RouteStatus {
            prefix: "10.65.1.0/26".parse().unwrap(),
            paths: vec![
                path("Mesh_10_0_1_11", "10.0.1.11", true),
                path("Global_10_0_9_1", "10.0.1.11", false),
            ],
        },
    ];
    let classes: Vec<String> = classes.iter().map(|c| c.to_string()).collect();
    status(
        &classes,
        &Inputs {
            speaker: configured.then_some(&speaker),
            peers: &peers,
            routes: &routes,
            kernel: None,
            ipv6_served: true,
            now: at(60),
        },
    )
}

#[test]
fn every_class_in_calicos_format() {
    let status = report(&[AGENT, BGP, ROUTES], true);
    assert_eq!(status["lastUpdated"], "2026-11-22T03:05:05Z");
    assert_eq!(
        status["agent"]["birdV4"],
        json!({"state": "Ready", "version": version().trim_start_matches("BIRD "),
               "routerID": "10.0.1.10", "lastBootTime": "2026-11-22 03:04:05",
               "lastReconfigurationTime": "2026-11-22 03:04:10"})
    );
    assert_eq!(status["agent"]["birdV6"]["state"], "Ready");
    assert_eq!(
        status["bgp"],
        json!({
            "numberEstablishedV4": 1, "numberNotEstablishedV4": 1,
            "numberEstablishedV6": 1, "numberNotEstablishedV6": 0,
            "peersV4": [
                {"peerIP": "10.0.1.11", "type": "NodeMesh", "state": "Established", "since": "03:04:15"},
                {"peerIP": "10.0.9.1", "type": "GlobalPeer", "state": "Active", "since": "03:04:15"},
            ],
            "peersV6": [
                {"peerIP": "fd00::9", "type": "NodePeer", "state": "Established", "since": "03:04:15"},
            ],
        })
    );
    assert_eq!(
        status["routes"],
        json!({"routesV4": [
            {"type": "FIB", "destination": "10.65.0.0/26", "gateway": "N/A",
             "interface": "blackhole", "learnedFrom": {"sourceType": "Static"}},
            {"type": "FIB", "destination": "10.65.1.0/26", "gateway": "10.0.1.11",
             "interface": "?", "learnedFrom": {"sourceType": "NodeMesh", "peerIP": "10.0.1.11"}},
            {"type": "RIB", "destination": "10.65.1.0/26", "gateway": "10.0.1.11",
             "interface": "?", "learnedFrom": {"sourceType": "BGPPeer", "peerIP": "10.0.9.1"}},
        ]})
    );
}

#[test]
fn classes_not_asked_for_stay_empty() {
    let status = report(&[BGP], true);
    assert_eq!(status["agent"], json!({"birdV4": {}, "birdV6": {}}));
    assert_eq!(status["routes"], json!({}));
    assert_eq!(status["bgp"]["numberEstablishedV4"], 1);
}

#[test]
fn unconfigured_is_not_ready_with_nothing_else() {
    let status = report(&[AGENT, BGP, ROUTES], false);
    assert_eq!(
        status["agent"],
        json!({"birdV4": {"state": "NotReady"}, "birdV6": {"state": "NotReady"}})
    );
    assert_eq!(status["bgp"]["numberEstablishedV4"], 0);
    assert_eq!(status["bgp"].get("peersV4"), None);
    assert_eq!(status["routes"], json!({}));
}
