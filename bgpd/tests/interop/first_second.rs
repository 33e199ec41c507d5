//! bgpd answers from its first second: before etcd answers, while its Node
//! is missing or has no BGP address, its API, BIRD socket and HTTP are up
//! and say why nothing runs; a Node that loses its address ends its
//! sessions as Calico's BIRD does, and gets them back with it. Resources
//! that cannot be used are named, each costing only itself.

use std::ffi::OsStr;
use std::path::PathBuf;

use serde_json::{json, Value};
use testnets::speakers::bgpd::{api_socket, Bgpd};
use testnets::speakers::etcd::Etcd;
use testnets::{require_privileges, wait_for, Host, Network, Poll};

use crate::operators::{calicoctl_show_protocols, get};
use crate::support::{binary, lan, put_block, put_node, CONVERGE, RESOURCES};

/// `bgpctl -o json ARGS` against the bgpd in `host`.
fn bgpctl(host: &Host, args: &[&str]) -> Result<Value, String> {
    let out = std::process::Command::new(binary().with_file_name("bgpctl"))
        .arg("--socket")
        .arg(api_socket(host))
        .args(["-o", "json"])
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
}

/// Waits until `host`'s bgpd reports the state `done` accepts.
fn wait_status(host: &Host, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    wait_for(what, CONVERGE, || {
        Ok(match bgpctl(host, &["show", "status"]) {
            Ok(status) if done(&status) => Poll::Ready(status),
            Ok(status) => Poll::Pending(status.to_string()),
            Err(e) => Poll::Pending(e),
        })
    })
    .unwrap()
}

fn not_configured_because(status: &Value, reason: &str) -> bool {
    status["configured"] != true
        && status["notConfiguredReason"]
            .as_str()
            .is_some_and(|r| r.starts_with(reason))
}

/// bgpd for `node`, with its BIRD socket in the host's folder.
fn spawn(net: &Network, endpoint: &str, node: &str) -> (testnets::Process, PathBuf) {
    let host = net.host(node);
    let socket = host.dir().join("bird.ctl");
    let env: [(&str, &OsStr); 1] = [("BGPD_BIRD_SOCKET", socket.as_os_str())];
    let process = Bgpd::spawn_with_etcd(host, binary(), endpoint, node, &env).unwrap();
    (process, socket)
}

fn peer_states(host: &Host) -> Vec<(String, String)> {
    bgpctl(host, &["show", "peers"]).map_or_else(
        |_| Vec::new(),
        |json| {
            json["peers"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| {
                    let field = |k: &str| p[k].as_str().unwrap_or_default().to_owned();
                    (field("address"), field("state"))
                })
                .collect()
        },
    )
}

fn wait_peers(host: &Host, what: &str, want: &[(&str, &str)]) {
    wait_for(what, CONVERGE, || {
        let peers = peer_states(host);
        let now: Vec<(&str, &str)> = peers
            .iter()
            .map(|(a, s)| (a.as_str(), s.as_str()))
            .collect();
        Ok(if now == want {
            Poll::Ready(())
        } else {
            Poll::Pending(format!("{now:?}"))
        })
    })
    .unwrap();
}

#[test]
fn every_interface_answers_before_configuration_and_says_why() {
    require_privileges!();
    let net = lan("first-second", 3);
    // etcd is down when bgpd starts.
    let mut etcd = Etcd::start(net.host("n0")).unwrap();
    let endpoint = etcd.endpoint().to_owned();
    etcd.process().stop();
    let (_n1, socket) = spawn(&net, &endpoint, "n1");
    let n1 = net.host("n1");

    let status = wait_status(n1, "n1 to answer without etcd", |s| {
        not_configured_because(s, &format!("waiting for etcd at {endpoint}"))
    });
    assert_eq!(status["nodeName"], "n1");
    assert_eq!(get(n1, "/liveness").0, 200, "alive while waiting");
    let (code, body) = get(n1, "/readiness");
    assert_eq!(code, 503, "{body}");
    assert!(body.starts_with("waiting for etcd at"), "{body}");
    assert_eq!(
        calicoctl_show_protocols(&socket),
        Ok(Vec::new()),
        "calicoctl's view: no peers yet"
    );
    assert!(get(n1, "/metrics").1.contains("podroute_configured 0"));

    // etcd comes up without this node in it, then with a Node that has no
    // BGP address, then with one.
    let etcd = Etcd::start(net.host("n0")).unwrap();
    wait_status(n1, "n1 to find no Node", |s| {
        not_configured_because(s, "node n1 not found in the datastore")
    });
    let bare = json!({"kind": "Node", "apiVersion": "projectcalico.org/v3",
                      "metadata": {"name": "n1"}, "spec": {}});
    etcd.put_json(&format!("{RESOURCES}/nodes/n1"), &bare)
        .unwrap();
    wait_status(n1, "n1 to find its Node without BGP", |s| {
        not_configured_because(s, "node n1 has no BGP address: BGP is off on this node")
    });
    assert_eq!(get(n1, "/readiness").0, 503);
    put_node(&etcd, "n1", "10.0.1.11");
    put_node(&etcd, "n2", "10.0.1.12");
    put_block(&etcd, "n1", "10.244.1.0/26");
    let _n2 = spawn(&net, etcd.endpoint(), "n2");
    wait_peers(n1, "n1 to peer with n2", &[("10.0.1.12", "established")]);
    wait_for("n1 to be ready", CONVERGE, || {
        let (code, body) = get(n1, "/readiness");
        Ok(if code == 200 {
            Poll::Ready(())
        } else {
            Poll::Pending(body)
        })
    })
    .unwrap();

    // n1 loses its address: its sessions end, as Calico's BIRD runs with no
    // BGP then. The address back, the session is back.
    etcd.put_json(&format!("{RESOURCES}/nodes/n1"), &bare)
        .unwrap();
    wait_status(n1, "n1 to report BGP off", |s| {
        not_configured_because(s, "node n1 has no BGP address")
    });
    wait_peers(n1, "n1 to end its sessions", &[]);
    // n2 no longer has n1 as a mesh peer: a Node without an address is in
    // no one's mesh (docs/CALICO-CONTRACT.md §2.4).
    wait_peers(net.host("n2"), "n2 to drop n1", &[]);
    assert_eq!(calicoctl_show_protocols(&socket), Ok(Vec::new()));
    put_node(&etcd, "n1", "10.0.1.11");
    wait_peers(n1, "n1 to peer again", &[("10.0.1.12", "established")]);
    let status = bgpctl(n1, &["show", "status"]).unwrap();
    assert_eq!(status["configured"], true, "{status}");
}

#[test]
fn bad_resources_are_named_and_cost_only_themselves() {
    require_privileges!();
    let net = lan("bad-resources", 3);
    let etcd = Etcd::start(net.host("n0")).unwrap();
    put_node(&etcd, "n1", "10.0.1.11");
    put_node(&etcd, "n2", "10.0.1.12");
    // The default BGPConfiguration with an empty entry (valid in Calico)
    // and a bad one: the AS and the other ranges still apply.
    let config = json!({"kind": "BGPConfiguration", "apiVersion": "projectcalico.org/v3",
        "metadata": {"name": "default"},
        "spec": {"asNumber": 65001, "serviceClusterIPs": [
            {"cidr": "10.101.0.0/16"}, {}, {"cidr": "10.102.0.0/33"}]}});
    etcd.put_json(&format!("{RESOURCES}/bgpconfigurations/default"), &config)
        .unwrap();
    let broken = format!("{RESOURCES}/bgppeers/broken");
    etcd.put(&broken, r#"{"kind":"BGPPeer","spec":{"peerIP":7}}"#)
        .unwrap();
    // A multicast peer, configured as Calico does (it never comes up).
    let multicast = json!({"kind": "BGPPeer", "apiVersion": "projectcalico.org/v3",
        "metadata": {"name": "multicast"}, "spec": {"peerIP": "239.1.1.1", "asNumber": 65515}});
    etcd.put_json(&format!("{RESOURCES}/bgppeers/multicast"), &multicast)
        .unwrap();
    let (_n1, _) = spawn(&net, etcd.endpoint(), "n1");
    let (_n2, _) = spawn(&net, etcd.endpoint(), "n2");
    let n1 = net.host("n1");

    wait_for("n1 to peer with n2 in AS 65001", CONVERGE, || {
        let peers = peer_states(n1);
        Ok(
            if peers
                .iter()
                .any(|(a, s)| a == "10.0.1.12" && s == "established")
            {
                Poll::Ready(())
            } else {
                Poll::Pending(format!("{peers:?}"))
            },
        )
    })
    .unwrap();
    let status = bgpctl(n1, &["show", "status"]).unwrap();
    assert_eq!(status["localAs"], 65001, "{status}");
    let problems: Vec<(String, String)> = status["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["resource"].as_str().unwrap().to_owned(),
                p["field"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        problems,
        [
            (
                format!("{RESOURCES}/bgpconfigurations/default"),
                "spec.serviceClusterIPs[2].cidr".to_owned()
            ),
            (broken.clone(), String::new()),
        ],
        "{status}"
    );
    let metrics = get(n1, "/metrics").1;
    assert!(metrics.contains("podroute_config_problems 2"), "{metrics}");
    let peers = peer_states(n1);
    assert!(peers.iter().any(|(a, _)| a == "239.1.1.1"), "{peers:?}");
    // n2 has the service range n1 advertises.
    wait_for("n2 to get 10.101.0.0/16 from n1", CONVERGE, || {
        let routes = bgpctl(net.host("n2"), &["show", "routes"]).unwrap_or_default();
        Ok(if routes.to_string().contains("10.101.0.0/16") {
            Poll::Ready(())
        } else {
            Poll::Pending(routes.to_string())
        })
    })
    .unwrap();

    // Fixed, the problem goes.
    etcd.delete(&broken).unwrap();
    wait_status(n1, "the broken peer's problem to go", |s| {
        s["problems"].as_array().is_some_and(|p| p.len() == 1)
    });
}
