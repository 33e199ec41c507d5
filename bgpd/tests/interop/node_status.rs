//! CalicoNodeStatus filled by bgpd's own reporter (`--node-status-reporter`)
//! in a real etcd: every class in Calico's format, kept up to date every
//! `updatePeriodSeconds`, once for a period of 0, only for this node's
//! requests, the rest of each resource left as it was; and what it says of
//! routes is what calico-node's reporter reads from the BIRD socket.

use std::ffi::OsStr;

use serde_json::{json, Value};
use testnets::speakers::bgpd::Bgpd;
use testnets::speakers::etcd::Etcd;
use testnets::{require_privileges, wait_for, Poll};

use crate::operators::reporter_show_route;
use crate::support::{binary, lan, put_block, put_node, CONVERGE, RESOURCES};

fn request(name: &str, node: &str, classes: &[&str], period: u32) -> Value {
    json!({"kind": "CalicoNodeStatus", "apiVersion": "projectcalico.org/v3",
           "metadata": {"name": name, "uid": format!("uid-{name}")},
           "spec": {"node": node, "classes": classes, "updatePeriodSeconds": period}})
}

fn key(name: &str) -> String {
    format!("{RESOURCES}/caliconodestatuses/{name}")
}

fn stored(etcd: &Etcd, name: &str) -> Value {
    etcd.get(&key(name))
        .unwrap()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or(Value::Null)
}

/// Waits until the stored resource `name` satisfies `done`.
fn wait_stored(etcd: &Etcd, name: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    wait_for(what, CONVERGE, || {
        let value = stored(etcd, name);
        Ok(if done(&value) {
            Poll::Ready(value)
        } else {
            Poll::Pending(value.to_string())
        })
    })
    .unwrap()
}

#[test]
fn bgpd_fills_its_nodes_calico_node_status() {
    require_privileges!();
    let net = lan("node-status", 3);
    let etcd = Etcd::start(net.host("n0")).unwrap();
    put_node(&etcd, "n1", "10.0.1.11");
    put_node(&etcd, "n2", "10.0.1.12");
    put_block(&etcd, "n1", "10.244.1.0/26");
    put_block(&etcd, "n2", "10.244.2.0/26");
    for (name, node, classes, period) in [
        ("n1-all", "n1", &["Agent", "BGP", "Routes"][..], 1),
        ("n1-once", "n1", &["BGP"][..], 0),
        ("n2-all", "n2", &["Agent", "BGP", "Routes"][..], 1),
    ] {
        etcd.put_json(&key(name), &request(name, node, classes, period))
            .unwrap();
    }
    let socket = net.host("n1").dir().join("bird.ctl");
    let env: [(&str, &OsStr); 2] = [
        ("BGPD_BIRD_SOCKET", socket.as_os_str()),
        ("BGPD_NODE_STATUS_REPORTER", OsStr::new("true")),
    ];
    let _n1 = Bgpd::spawn_with_etcd(net.host("n1"), binary(), etcd.endpoint(), "n1", &env).unwrap();
    let mut n2 =
        Bgpd::spawn_with_etcd(net.host("n2"), binary(), etcd.endpoint(), "n2", &[]).unwrap();

    let all = wait_stored(&etcd, "n1-all", "n1's full status with n2's block", |v| {
        v["status"]["bgp"]["numberEstablishedV4"] == 1
            && v["status"]["routes"]["routesV4"]
                .as_array()
                .is_some_and(|r| r.len() == 2)
    });
    // The request as the operator wrote it, the status beside it.
    assert_eq!(
        all["spec"],
        request("n1-all", "n1", &["Agent", "BGP", "Routes"], 1)["spec"]
    );
    assert_eq!(all["metadata"]["uid"], "uid-n1-all");
    let status = &all["status"];
    let agent = &status["agent"]["birdV4"];
    assert_eq!(
        (&agent["state"], &agent["routerID"]),
        (&json!("Ready"), &json!("10.0.1.11"))
    );
    assert!(
        agent["version"]
            .as_str()
            .is_some_and(|v| v.starts_with('v')),
        "{agent}"
    );
    assert_eq!(
        status["agent"]["birdV6"],
        json!({"state": "NotReady"}),
        "no bird6.ctl served"
    );
    let updated = status["lastUpdated"].as_str().unwrap();
    assert!(
        updated.len() == 20 && updated.ends_with('Z'),
        "RFC 3339: {updated}"
    );
    let peer = &status["bgp"]["peersV4"][0];
    assert_eq!(
        (&peer["peerIP"], &peer["type"], &peer["state"]),
        (
            &json!("10.0.1.12"),
            &json!("NodeMesh"),
            &json!("Established")
        )
    );
    assert_eq!(status["bgp"]["numberNotEstablishedV4"], 0);

    // Its routes are what calico-node's reporter reads from the socket.
    let from_socket = reporter_show_route(&socket).unwrap();
    let routes = status["routes"]["routesV4"].as_array().unwrap();
    assert_eq!(
        routes.len(),
        from_socket.len(),
        "{routes:?} against {from_socket:?}"
    );
    for (route, seen) in routes.iter().zip(&from_socket) {
        assert_eq!(
            (
                route["destination"].as_str().unwrap(),
                route["gateway"].as_str().unwrap(),
                route["interface"].as_str().unwrap(),
                route["type"] == "FIB"
            ),
            (
                seen.dest.as_str(),
                seen.gateway.as_str(),
                seen.iface.as_str(),
                seen.primary
            ),
        );
    }
    assert_eq!(routes[0]["learnedFrom"], json!({"sourceType": "Static"}));
    assert_eq!(
        routes[1]["learnedFrom"],
        json!({"sourceType": "NodeMesh", "peerIP": "10.0.1.12"})
    );

    // Once for a period of 0, with only the class asked for: as things
    // stood then, and not again.
    let once = wait_stored(&etcd, "n1-once", "n1's one-time status", |v| {
        v["status"]["bgp"]["peersV4"][0]["peerIP"] == "10.0.1.12"
    });
    assert_eq!(once["status"]["agent"], json!({"birdV4": {}, "birdV6": {}}));
    assert_eq!(once["status"]["routes"], json!({}));

    // Every period: n2 gone, the status says so.
    n2.stop();
    let after = wait_stored(&etcd, "n1-all", "n1's status to see n2 down", |v| {
        v["status"]["bgp"]["numberNotEstablishedV4"] == 1
    });
    // n2 stopped for a graceful restart: n1 keeps its block meanwhile.
    assert_eq!(
        after["status"]["routes"]["routesV4"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert_eq!(stored(&etcd, "n1-once"), once, "a period of 0 reports once");
    // n2's request is n2's to answer: n1 never writes it.
    assert_eq!(stored(&etcd, "n2-all").get("status"), None);
}
