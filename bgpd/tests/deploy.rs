//! Everything in `deploy/` is checked offline: the Kubernetes manifests
//! against the Kubernetes schemas (kubernetes-validate, strict: an unknown
//! field fails), the environment and probes they give bgpd against what bgpd
//! and bgpctl accept, the Calico resources by rendering the reflector's and
//! a client's configuration from them, and the systemd unit and its config
//! by bgpd's own parsers.

#![allow(
    clippy::unwrap_used,
    reason = "a deploy file that cannot be read fails the test"
)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use confgen::render::render;
use confgen::secrets::NoSecrets;
use confgen::snapshot::{Key, Snapshot};
use proto::config::SpeakerConfig;
use serde::Deserialize;
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn deploy(path: &str) -> PathBuf {
    repo().join("deploy").join(path)
}

fn documents(path: &Path) -> Vec<Value> {
    let text = fs::read_to_string(path).unwrap();
    serde_norway::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap())
        .collect()
}

fn kubernetes_validate(files: &[PathBuf]) -> Output {
    let validator = repo().join(".cache/venv/bin/kubernetes-validate");
    assert!(
        validator.exists(),
        "{} is missing: run scripts/setup.sh",
        validator.display()
    );
    Command::new(validator)
        .args(["--strict", "--quiet"])
        .args(files)
        .output()
        .unwrap()
}

fn manifests() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(deploy("kubernetes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn the_kubernetes_manifests_pass_the_schemas() {
    let files = manifests();
    assert!(files.len() >= 2, "{files:?}");
    let out = kubernetes_validate(&files);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The validator does refuse a misspelt field: this check can fail.
    let broken = std::env::temp_dir().join(format!("deploy-broken-{}.yaml", std::process::id()));
    let text = fs::read_to_string(&files[0]).unwrap();
    fs::write(&broken, text.replacen("livenessProbe", "livenesProbe", 1)).unwrap();
    let out = kubernetes_validate(std::slice::from_ref(&broken));
    let _ = fs::remove_file(&broken);
    assert!(!out.status.success(), "a misspelt field is refused");
}

/// The bgpd containers of every manifest: their command, environment and
/// probes.
fn bgpd_containers() -> Vec<Value> {
    manifests()
        .iter()
        .flat_map(|file| documents(file))
        .flat_map(|doc| {
            doc["spec"]["template"]["spec"]["containers"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|c| c["name"] == "bgpd")
        .collect()
}

fn help(binary: &str, args: &[&str]) -> String {
    let out = Command::new(binary)
        .args(args)
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_manifests_give_bgpd_only_what_it_reads() {
    let containers = bgpd_containers();
    assert_eq!(containers.len(), 2, "the sidecar and the reflector");
    let bgpd_help = help(env!("CARGO_BIN_EXE_bgpd"), &[]);
    for container in &containers {
        for env in container["env"].as_array().unwrap() {
            let name = env["name"].as_str().unwrap();
            assert!(
                bgpd_help.contains(&format!("[env: {name}=")),
                "bgpd reads no {name}"
            );
        }
        // The probes parse: against no bgpd, bgpctl says why and exits 1;
        // arguments it does not know would exit 2.
        for probe in ["livenessProbe", "readinessProbe"] {
            let command: Vec<&str> = container[probe]["exec"]["command"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap())
                .collect();
            assert_eq!(command[0], "/usr/local/bin/bgpctl");
            let out = Command::new(env!("CARGO_BIN_EXE_bgpctl"))
                .args(&command[1..])
                .args(["--socket", "/nonexistent/bgpd.sock"])
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(1), "{probe}: {command:?}: {out:?}");
        }
    }
}

/// Calico's etcd key for a resource document.
fn key_of(document: &Value) -> String {
    let kind = document["kind"].as_str().unwrap();
    let name = document["metadata"]["name"].as_str().unwrap();
    Key::of_resource(kind, name).unwrap_or_else(|| panic!("unknown kind {kind}"))
}

#[test]
fn the_calico_resources_make_every_node_a_client_of_the_reflector() {
    let mut snapshot = Snapshot::default();
    let mut put = |doc: &Value| {
        assert!(
            snapshot
                .put(&key_of(doc), doc.to_string().as_bytes())
                .unwrap(),
            "{doc} is taken"
        );
    };
    for doc in documents(&deploy("calico/route-reflectors.yaml")) {
        put(&doc);
    }
    // Two nodes as calico-node registers them, a pool and a block.
    for (name, address) in [("node-a", "10.0.0.21/24"), ("node-b", "10.0.0.22/24")] {
        put(
            &serde_json::json!({"kind": "Node", "apiVersion": "projectcalico.org/v3",
            "metadata": {"name": name}, "spec": {"bgp": {"ipv4Address": address}}}),
        );
    }
    put(
        &serde_json::json!({"kind": "IPPool", "apiVersion": "projectcalico.org/v3",
        "metadata": {"name": "default-ipv4-ippool"},
        "spec": {"cidr": "192.168.0.0/16", "ipipMode": "CrossSubnet", "blockSize": 26}}),
    );
    snapshot
        .put(
            &Key::Affinity {
                node: "node-a".into(),
                cidr: "192.168.1.0/26".parse().unwrap(),
            }
            .path(),
            br#"{"state":"confirmed","deleted":false}"#,
        )
        .unwrap();

    let rr = render(&snapshot, "rr-1", &NoSecrets).unwrap();
    assert_eq!(rr.config.cluster_id, Some("244.0.0.1".parse().unwrap()));
    let mut clients: Vec<String> = rr
        .config
        .peers
        .iter()
        .filter(|p| p.route_reflector_client)
        .map(|p| p.address.to_string())
        .collect();
    clients.sort();
    assert_eq!(clients, ["10.0.0.21", "10.0.0.22"], "{:?}", rr.config.peers);
    assert_eq!(rr.config.peers.len(), 2, "no mesh: {:?}", rr.config.peers);

    let client = render(&snapshot, "node-a", &NoSecrets).unwrap();
    let peers: Vec<String> = client
        .config
        .peers
        .iter()
        .map(|p| format!("{} {}", p.protocol_name(), p.route_reflector_client))
        .collect();
    assert_eq!(peers, ["Node_10_0_0_10 false"], "only the reflector");
    assert!(rr.problems.is_empty() && client.problems.is_empty());
}

#[test]
fn the_systemd_reflector_config_and_unit_are_what_bgpd_takes() {
    let text = fs::read_to_string(deploy("systemd/bgpd.toml")).unwrap();
    let config = SpeakerConfig::from_toml(&text).unwrap();
    assert!(config.cluster_id.is_some() && !config.kernel.enabled);
    assert_eq!(
        config
            .peers
            .iter()
            .filter(|p| p.route_reflector_client)
            .count(),
        2
    );
    // Every flag of ExecStart is one bgpd has.
    let unit = fs::read_to_string(deploy("systemd/bgpd.service")).unwrap();
    let mut exec = String::new();
    for line in unit.split("ExecStart=").nth(1).unwrap().lines() {
        exec.push_str(line.trim_end_matches('\\'));
        exec.push(' ');
        if !line.ends_with('\\') {
            break;
        }
    }
    let bgpd_help = help(env!("CARGO_BIN_EXE_bgpd"), &[]);
    let flags: Vec<&str> = exec
        .split_whitespace()
        .filter(|w| w.starts_with("--"))
        .collect();
    assert!(flags.len() >= 4, "{exec}");
    for flag in flags {
        assert!(
            bgpd_help.contains(&format!("{flag} ")),
            "bgpd has no {flag}"
        );
    }
}
