use std::net::Ipv4Addr;

use super::*;
use crate::applier::ConfigState;
use crate::fsm::State;

fn speaker(started: SystemTime) -> SpeakerStatus {
    SpeakerStatus {
        node_name: "n1".into(),
        router_id: Ipv4Addr::new(10, 0, 0, 1),
        local_as: 64512,
        cluster_id: None,
        started,
        last_reconfigured: started,
        reconfigurations: 0,
        converged: false,
        recovering: false,
        prefixes: 3,
        attr_sets: 1,
        update_processing: {
            let mut h = routesync::Histogram::default();
            h.observe(std::time::Duration::from_micros(30));
            h
        },
    }
}

fn peer(address: &str, state: State) -> PeerStatus {
    PeerStatus::mesh_example(address, state)
}

#[test]
fn readiness_follows_calico_node() {
    let now = SystemTime::now();
    let young = speaker(now - Duration::from_secs(5));
    let old = speaker(now - Duration::from_secs(300));
    let (up, down) = (
        peer("10.0.0.2", State::Established),
        peer("10.0.0.3", State::Active),
    );
    assert_eq!(readiness(&young, &[], now), Ok(()), "no peers: ready");
    assert_eq!(
        readiness(&young, &[up.clone(), down.clone()], now),
        Err("BGP not established with 10.0.0.3".into())
    );
    assert_eq!(
        readiness(&old, &[up.clone(), down.clone()], now),
        Ok(()),
        "one up is enough later"
    );
    let other = peer("10.0.0.4", State::Idle);
    assert_eq!(
        readiness(&old, &[down, other], now),
        Err("BGP not established with 10.0.0.3,10.0.0.4".into())
    );
    assert_eq!(readiness(&young, std::slice::from_ref(&up), now), Ok(()));
    // calico-node's rule: no graceful restart recovery early on.
    let recovering = SpeakerStatus {
        recovering: true,
        ..young.clone()
    };
    assert_eq!(
        readiness(&recovering, std::slice::from_ref(&up), now),
        Err("graceful restart recovery in progress".into())
    );
    let old_recovering = SpeakerStatus {
        recovering: true,
        ..old.clone()
    };
    assert_eq!(readiness(&old_recovering, &[up], now), Ok(()));
}

#[test]
fn metrics_are_prometheus_text() {
    let text = metrics(
        &speaker(SystemTime::now()),
        &[peer("10.0.0.2", State::Established)],
        &Sources::of(ConfigState {
            problems: vec![confgen::problem::Problem::new("/k", "spec.x", "bad")],
            ..ConfigState::default()
        }),
    );
    assert!(text.contains("# TYPE podroute_peers gauge"), "{text}");
    assert!(text.contains("podroute_config_problems 1"), "{text}");
    assert!(text.contains("podroute_configured 0"), "{text}");
    assert!(
        text.contains("# TYPE podroute_update_processing_seconds histogram")
            && text.contains("podroute_update_processing_seconds_count 1"),
        "{text}"
    );
    assert!(
        text.contains("podroute_peers{state=\"Established\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("podroute_peer_up{peer=\"Mesh_10_0_0_2\",address=\"10.0.0.2\"} 1"),
        "{text}"
    );
    assert!(text.contains("podroute_rib_prefixes 3"), "{text}");
    // Every sample line is `name{labels} value` or `name value`.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (_, value) = line.rsplit_once(' ').unwrap();
        assert!(value.parse::<f64>().is_ok(), "{line}");
    }
}

#[test]
fn bfd_metrics_cover_the_peers_with_bfd_only() {
    let mut watched = peer("10.0.0.2", State::Idle);
    watched.bfd = Some(false);
    watched.stats.bfd_downs = 2;
    let text = metrics(
        &speaker(SystemTime::now()),
        &[watched, peer("10.0.0.3", State::Established)],
        &Sources::of(ConfigState::default()),
    );
    let label = "{peer=\"Mesh_10_0_0_2\",address=\"10.0.0.2\"}";
    assert!(
        text.contains(&format!("podroute_peer_bfd_up{label} 0")),
        "{text}"
    );
    assert!(
        text.contains(&format!("podroute_peer_bfd_downs_total{label} 2")),
        "{text}"
    );
    assert!(
        !text.contains("podroute_peer_bfd_up{peer=\"Mesh_10_0_0_3\""),
        "{text}"
    );
}
