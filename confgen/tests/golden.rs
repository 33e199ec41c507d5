//! Golden tests: Calico resources in YAML (tests/golden/<case>/input.yaml,
//! with `kind: BlockAffinity` documents for affinities) are loaded as etcd
//! keys and values, and every node with a BGP address is rendered; the result
//! must equal tests/golden/<case>/expected/<node>.json, its BIRD 1.6
//! renderings <node>.bird and (with IPv6) <node>.bird6, and the warnings
//! warnings.txt. `UPDATE_GOLDEN=1` rewrites the expected files.

#![allow(
    clippy::unwrap_used,
    reason = "a golden file that cannot be read fails the test"
)]

use std::fs;
use std::path::Path;

use confgen::bird::{render, Family, Flavor, Options};
use confgen::render::render as render_node;
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

fn options(flavor: Flavor, family: Family) -> Options {
    Options {
        flavor,
        family,
        show_secrets: false,
    }
}

/// Debian's BIRD 1.6 (unpacked by scripts/setup.sh) must accept the stock
/// rendering: `bird -p` (or `bird6 -p`) parses a configuration and exits.
fn check_with_bird16(config: &proto::config::SpeakerConfig, family: Family, what: &str) {
    let daemon = match family {
        Family::V4 => "bird",
        Family::V6 => "bird6",
    };
    let bird = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../.cache/bird16/root/usr/sbin")
        .join(daemon);
    assert!(bird.exists(), "BIRD 1.6 is missing: run scripts/setup.sh");
    let file = std::env::temp_dir().join(format!(
        "confgen-{}-{}-{daemon}.conf",
        std::process::id(),
        what.replace('/', "_")
    ));
    fs::write(&file, render(config, options(Flavor::Stock, family))).unwrap();
    let out = std::process::Command::new(&bird)
        .arg("-p")
        .arg("-c")
        .arg(&file)
        .output()
        .unwrap();
    let _ = fs::remove_file(&file);
    assert!(
        out.status.success(),
        "{what}: BIRD 1.6 {daemon} refuses the rendering: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The rendering and the SpeakerConfig bgpd runs come from one `render()`:
/// each family's rendering holds exactly that family's peers, under their
/// names, and its originated prefixes as blackholes.
fn check_agreement(config: &proto::config::SpeakerConfig, family: Family, text: &str, what: &str) {
    let mut peers: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("protocol bgp "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    let mut expected: Vec<String> = config
        .peers
        .iter()
        .filter(|p| family.holds(p.address))
        .map(|p| p.protocol_name())
        .collect();
    peers.sort();
    expected.sort();
    assert_eq!(peers, expected, "{what}: peers");
    let mut blackholes: Vec<String> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("route "))
        .filter_map(|l| l.strip_suffix(" blackhole;"))
        .map(str::to_owned)
        .collect();
    let mut originated: Vec<String> = config
        .originate
        .iter()
        .filter(|o| family.holds(o.prefix.addr()))
        .map(|o| o.prefix.to_string())
        .collect();
    blackholes.sort();
    originated.sort();
    assert_eq!(blackholes, originated, "{what}: originated prefixes");
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
            let (got, bird, bird6) = match render_node(&snapshot, name, &secrets) {
                Ok(rendered) => {
                    for warning in &rendered.problems {
                        warnings.push_str(&format!("{name}: {warning}\n"));
                    }
                    let config = &rendered.config;
                    let what = format!("{}/{name}", case.display());
                    let bird = render(config, options(Flavor::Calico, Family::V4));
                    check_with_bird16(config, Family::V4, &what);
                    check_agreement(config, Family::V4, &bird, &what);
                    // bird6.cfg where the node has IPv6 (Calico renders its
                    // peers only then).
                    let bird6 = config.address_for(false).map(|_| {
                        let bird6 = render(config, options(Flavor::Calico, Family::V6));
                        check_with_bird16(config, Family::V6, &what);
                        check_agreement(config, Family::V6, &bird6, &what);
                        bird6
                    });
                    (
                        serde_json::to_string_pretty(config).unwrap() + "\n",
                        bird,
                        bird6,
                    )
                }
                Err(e) => {
                    assert!(node.spec.bgp.is_none(), "{}: {name}: {e}", case.display());
                    continue;
                }
            };
            let bird_path = expected_path.with_extension("bird");
            let bird6_path = expected_path.with_extension("bird6");
            if update {
                fs::create_dir_all(expected_path.parent().unwrap()).unwrap();
                fs::write(&expected_path, &got).unwrap();
                fs::write(&bird_path, &bird).unwrap();
                match &bird6 {
                    Some(text) => fs::write(&bird6_path, text).unwrap(),
                    None => {
                        let _ = fs::remove_file(&bird6_path);
                    }
                }
            } else {
                for (path, text) in [
                    (&expected_path, Some(&got)),
                    (&bird_path, Some(&bird)),
                    (&bird6_path, bird6.as_ref()),
                ] {
                    if fs::read_to_string(path).ok().as_ref() != text {
                        failures.push(format!("{} differs:\n{text:?}", path.display()));
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
    let rendered = render_node(&load(&case), "node1", &SecretDir(case.join("secrets"))).unwrap();
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
            let rendered = render_node(&snapshot, name, &confgen::secrets::NoSecrets).unwrap();
            let text = toml::to_string(&rendered.config).unwrap();
            let back = proto::config::SpeakerConfig::from_toml(&text)
                .unwrap_or_else(|e| panic!("{case}/{name}: {e}\n{text}"));
            assert_eq!(back, rendered.config, "{case}/{name}");
        }
    }
}
