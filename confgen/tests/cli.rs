//! `confgen render` as operators run it, against a real etcd: the IPv6
//! rendering (bird6.cfg) holds the node's IPv6 peer, passwords are masked
//! unless `--show-secrets`, and that flag is refused where it cannot apply.

#![allow(
    clippy::unwrap_used,
    reason = "a test whose etcd does not answer fails loudly"
)]

use std::process::{Command, Output};

use confgen::snapshot::RESOURCES;
use serde_json::json;

#[path = "etcd/server.rs"]
#[allow(dead_code, reason = "the watcher tests' server; compaction is theirs")]
mod server;
use server::Server;

fn confgen(server: &Server, secrets: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_confgen"))
        .args(["render", "--node", "n1", "--secrets-dir"])
        .arg(secrets)
        .args(args)
        .env("ETCD_ENDPOINTS", &server.endpoint)
        .output()
        .unwrap()
}

#[tokio::test]
async fn bird6_and_passwords_as_asked() {
    let server = Server::start("cli").await;
    let mut kv = server.clients().await.kv;
    let v3 = "projectcalico.org/v3";
    for (key, value) in [
        (
            "bgpconfigurations/default",
            json!({"kind": "BGPConfiguration", "apiVersion": v3,
                   "metadata": {"name": "default"}, "spec": {"asNumber": 64512}}),
        ),
        (
            "nodes/n1",
            json!({"kind": "Node", "apiVersion": v3, "metadata": {"name": "n1"},
                   "spec": {"bgp": {"ipv4Address": "10.0.1.11/24",
                                    "ipv6Address": "fd00:1::11/64"}}}),
        ),
        (
            "bgppeers/tor6",
            json!({"kind": "BGPPeer", "apiVersion": v3, "metadata": {"name": "tor6"},
                   "spec": {"peerIP": "fd00:1::1", "asNumber": 65000,
                            "password": {"secretKeyRef": {"name": "bgp", "key": "tor6"}}}}),
        ),
    ] {
        kv.put(format!("{RESOURCES}{key}"), value.to_string(), None)
            .await
            .unwrap();
    }
    let secrets = std::env::temp_dir().join(format!("confgen-cli-{}", std::process::id()));
    std::fs::create_dir_all(secrets.join("bgp")).unwrap();
    std::fs::write(secrets.join("bgp/tor6"), "s3cret").unwrap();

    let masked = confgen(&server, &secrets, &["--format", "bird6"]);
    let text = String::from_utf8_lossy(&masked.stdout);
    assert!(masked.status.success(), "{masked:?}");
    assert!(text.contains("neighbor fd00:1::1 as 65000;"), "{text}");
    assert!(text.contains("password \"***\";"), "{text}");
    assert!(!text.contains("s3cret"), "{text}");
    // The IPv4 rendering has no IPv6 peer.
    let v4 = confgen(&server, &secrets, &["--format", "bird"]);
    assert!(!String::from_utf8_lossy(&v4.stdout).contains("fd00:1::1"));

    let shown = confgen(&server, &secrets, &["--format", "bird6", "--show-secrets"]);
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(text.contains("password \"s3cret\";"), "{text}");

    let refused = confgen(&server, &secrets, &["--format", "json", "--show-secrets"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--show-secrets"));
    let _ = std::fs::remove_dir_all(&secrets);
}

/// A node with IPv6 only renders with `CALICO_ROUTER_ID=hash` (the router
/// id from its name), and without it is refused, saying what to set.
#[tokio::test]
async fn an_ipv6_only_node_needs_calico_router_id() {
    let server = Server::start("cli-v6only").await;
    let mut kv = server.clients().await.kv;
    let node = json!({"kind": "Node", "apiVersion": "projectcalico.org/v3",
        "metadata": {"name": "n1"}, "spec": {"bgp": {"ipv6Address": "fd00:1::11/64"}}});
    kv.put(format!("{RESOURCES}nodes/n1"), node.to_string(), None)
        .await
        .unwrap();
    let secrets = std::env::temp_dir().join(format!("confgen-cli6-{}", std::process::id()));
    std::fs::create_dir_all(&secrets).unwrap();
    let refused = confgen(&server, &secrets, &[]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("CALICO_ROUTER_ID"));

    let hashed = Command::new(env!("CARGO_BIN_EXE_confgen"))
        .args(["render", "--node", "n1"])
        .env("ETCD_ENDPOINTS", &server.endpoint)
        .env("CALICO_ROUTER_ID", "hash")
        .output()
        .unwrap();
    assert!(hashed.status.success(), "{hashed:?}");
    let config: serde_json::Value = serde_json::from_slice(&hashed.stdout).unwrap();
    let expected = confgen::render::RouterIdSource::Hash
        .router_id("n1", None)
        .unwrap();
    assert_eq!(config["router_id"], expected.to_string());
    assert_eq!(config["addresses"], json!(["fd00:1::11/64"]));
    let _ = std::fs::remove_dir_all(&secrets);
}
