//! Golden tests: Calico resources in YAML (tests/golden/<case>/input.yaml,
//! with `kind: BlockAffinity` documents for affinities) are loaded as etcd
//! keys and values, and every node with a BGP address is rendered; the result
//! must equal tests/golden/<case>/expected/<node>.json, and the warnings
//! warnings.txt. `UPDATE_GOLDEN=1` rewrites the expected files.

#![allow(
    clippy::unwrap_used,
    reason = "a golden file that cannot be read fails the test"
)]

use std::fs;
use std::path::Path;

use confgen::render::render;
use confgen::secrets::SecretDir;
use confgen::snapshot::{Key, Snapshot};
use serde::Deserialize;
use serde_json::Value;

/// The etcd key of a resource document, as Calico stores it.
fn key_of(document: &Value) -> String {
    let kind = document["kind"].as_str().unwrap();
    if kind == "BlockAffinity" {
        let node = document["node"].as_str().unwrap().to_owned();
        let cidr = document["cidr"].as_str().unwrap().parse().unwrap();
        return Key::Affinity { node, cidr }.path();
    }
    let name = document["metadata"]["name"].as_str().unwrap();
    Key::of_resource(kind, name).unwrap_or_else(|| panic!("unknown kind {kind}"))
}

fn load(case: &Path) -> Snapshot {
    let text = fs::read_to_string(case.join("input.yaml")).unwrap();
    let mut snapshot = Snapshot::default();
    for document in serde_norway::Deserializer::from_str(&text) {
        let value = Value::deserialize(document).unwrap();
        let stored = if value["kind"] == "BlockAffinity" {
            serde_json::json!({ "state": value.get("state").cloned().unwrap_or(Value::Null), "deleted": false })
        } else {
            value.clone()
        };
        snapshot
            .put(&key_of(&value), stored.to_string().as_bytes())
            .unwrap();
    }
    snapshot
}

/// Debian's BIRD 1.6 (unpacked by scripts/setup.sh) must accept the stock
/// rendering: `bird -p` parses a configuration and exits.
fn check_with_bird16(config: &proto::config::SpeakerConfig, what: &str) {
    let bird = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache/bird16/root/usr/sbin/bird");
    assert!(bird.exists(), "BIRD 1.6 is missing: run scripts/setup.sh");
    let file = std::env::temp_dir().join(format!(
        "confgen-{}-{}.conf",
        std::process::id(),
        what.replace('/', "_")
    ));
    fs::write(
        &file,
        confgen::bird::render_bird(config, confgen::bird::Flavor::Stock),
    )
    .unwrap();
    let out = std::process::Command::new(&bird)
        .arg("-p")
        .arg("-c")
        .arg(&file)
        .output()
        .unwrap();
    let _ = fs::remove_file(&file);
    assert!(
        out.status.success(),
        "{what}: BIRD 1.6 refuses the rendering: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_case_renders_as_expected() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut cases: Vec<_> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 10, "the golden cases are there");
    let mut failures = Vec::new();
    for case in cases {
        let snapshot = load(&case);
        let secrets = SecretDir(case.join("secrets"));
        let mut warnings = String::new();
        for (name, node) in &snapshot.nodes {
            let expected_path = case.join("expected").join(format!("{name}.json"));
            let (got, bird) = match render(&snapshot, name, &secrets) {
                Ok(rendered) => {
                    for warning in &rendered.problems {
                        warnings.push_str(&format!("{name}: {warning}\n"));
                    }
                    let bird =
                        confgen::bird::render_bird(&rendered.config, confgen::bird::Flavor::Calico);
                    check_with_bird16(&rendered.config, &format!("{}/{name}", case.display()));
                    (
                        serde_json::to_string_pretty(&rendered.config).unwrap() + "\n",
                        bird,
                    )
                }
                Err(e) => {
                    assert!(node.spec.bgp.is_none(), "{}: {name}: {e}", case.display());
                    continue;
                }
            };
            let bird_path = expected_path.with_extension("bird");
            if update {
                fs::create_dir_all(expected_path.parent().unwrap()).unwrap();
                fs::write(&expected_path, &got).unwrap();
                fs::write(&bird_path, &bird).unwrap();
            } else {
                for (path, text) in [(&expected_path, &got), (&bird_path, &bird)] {
                    if fs::read_to_string(path).ok().as_deref() != Some(text.as_str()) {
                        failures.push(format!("{} differs:\n{text}", path.display()));
                    }
                }
            }
        }
        let warnings_path = case.join("warnings.txt");
        if update {
            if warnings.is_empty() {
                let _ = fs::remove_file(&warnings_path);
            } else {
                fs::write(&warnings_path, &warnings).unwrap();
            }
        } else if fs::read_to_string(&warnings_path).unwrap_or_default() != warnings {
            failures.push(format!("{} differs:\n{warnings}", warnings_path.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Goldens print passwords as ***: the values themselves are checked here.
#[test]
fn passwords_come_from_the_secret_folder() {
    let case = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/passwords");
    let rendered = render(&load(&case), "node1", &SecretDir(case.join("secrets"))).unwrap();
    let password = |address: &str| {
        let peer = rendered
            .config
            .peers
            .iter()
            .find(|p| p.address.to_string() == address)
            .unwrap();
        peer.password.as_ref().map(|p| p.expose().to_owned())
    };
    assert_eq!(password("10.0.1.1").as_deref(), Some("tor-s3cret"));
    assert_eq!(
        password("10.0.1.12").as_deref(),
        Some("mesh-s3cret"),
        "trailing newline trimmed"
    );
    assert_eq!(password("10.0.1.2"), None);
    assert_eq!(
        rendered
            .config
            .peers
            .iter()
            .find(|p| p.kind == proto::config::PeerKind::Mesh)
            .unwrap()
            .restart_time,
        120
    );
}

/// `confgen render --format toml` writes what bgpd --config reads.
#[test]
fn rendered_configs_round_trip_through_toml() {
    for case in [
        "route-reflector",
        "ipv6",
        "communities",
        "mesh-off-explicit-peers",
    ] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(case);
        let snapshot = load(&path);
        for name in snapshot.nodes.keys() {
            let rendered = render(&snapshot, name, &confgen::secrets::NoSecrets).unwrap();
            let text = toml::to_string(&rendered.config).unwrap();
            let back = proto::config::SpeakerConfig::from_toml(&text)
                .unwrap_or_else(|e| panic!("{case}/{name}: {e}\n{text}"));
            assert_eq!(back, rendered.config, "{case}/{name}");
        }
    }
}
