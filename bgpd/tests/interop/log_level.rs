//! Calico's BGPConfiguration logSeverityScreen sets bgpd's log level live
//! when the operator gave none: Debug shows the sessions' state changes,
//! Warning hides even the "configuration changed" lines, and Info brings
//! them back; no restart in between.

use serde_json::json;
use testnets::speakers::bgpd::Bgpd;
use testnets::speakers::etcd::Etcd;
use testnets::{require_privileges, wait_for, Poll};

use crate::support::{binary, lan, put_node, CONVERGE, RESOURCES};

fn set_level(etcd: &Etcd, level: &str) {
    let config = json!({"kind": "BGPConfiguration", "apiVersion": "projectcalico.org/v3",
        "metadata": {"name": "default"},
        "spec": {"nodeToNodeMeshEnabled": false, "logSeverityScreen": level}});
    etcd.put_json(&format!("{RESOURCES}/bgpconfigurations/default"), &config)
        .unwrap();
}

fn put_peer(etcd: &Etcd, name: &str, address: &str) {
    let resource = json!({"kind": "BGPPeer", "apiVersion": "projectcalico.org/v3",
        "metadata": {"name": name}, "spec": {"peerIP": address, "asNumber": 65000}});
    etcd.put_json(&format!("{RESOURCES}/bgppeers/{name}"), &resource)
        .unwrap();
}

/// Until the API shows a peer at `address`: its configuration applied.
fn wait_configured(bgpd: &Bgpd, address: &str) {
    wait_for(&format!("peer {address} configured"), CONVERGE, || {
        let peers = bgpd.peers()?;
        Ok(if peers.iter().any(|p| p["address"] == address) {
            Poll::Ready(())
        } else {
            Poll::Pending(format!("{} peers", peers.len()))
        })
    })
    .unwrap();
}

fn wait_logged(bgpd: &Bgpd, what: &str) {
    wait_for(&format!("{what:?} in bgpd's log"), CONVERGE, || {
        Ok(if bgpd.log().contains(what) {
            Poll::Ready(())
        } else {
            Poll::Pending("not yet".into())
        })
    })
    .unwrap();
}

#[test]
fn log_severity_screen_sets_the_level_live() {
    require_privileges!();
    let net = lan("loglevel", 2);
    let etcd = Etcd::start(net.host("n1")).unwrap();
    set_level(&etcd, "Debug");
    put_node(&etcd, "n0", "10.0.1.10");
    put_peer(&etcd, "first", "10.0.1.98");
    let bgpd =
        Bgpd::start_with_etcd_log_from_config(net.host("n0"), binary(), etcd.endpoint(), "n0", 179)
            .unwrap();
    // Debug: the session's state changes are logged.
    wait_logged(&bgpd, "level=Some(Debug)");
    wait_logged(&bgpd, "DEBUG");
    wait_configured(&bgpd, "10.0.1.98");
    let mark = bgpd.log().len();

    // Warning: what follows at info is not logged, while it happens (the
    // second peer is configured: the API shows it).
    set_level(&etcd, "Warning");
    put_peer(&etcd, "second", "10.0.1.99");
    wait_configured(&bgpd, "10.0.1.99");

    // Info again: said, and the info lines come back.
    set_level(&etcd, "Info");
    wait_logged(&bgpd, "level=Some(Info)");
    let log = bgpd.log();
    let back = log.find("level=Some(Info)").unwrap();
    let (quiet, after) = (&log[mark..back], &log[back..]);
    assert!(
        !quiet.contains("configuration changed"),
        "nothing at info while at Warning: {quiet}"
    );
    wait_for("info lines again", CONVERGE, || {
        Ok(if bgpd.log()[back..].contains("configuration changed") {
            Poll::Ready(())
        } else {
            Poll::Pending(after.to_owned())
        })
    })
    .unwrap();
}
