//! The operator API (gRPC on a unix socket) through the real `bgpctl`:
//! calicoctl's table for a session with BIRD 2, JSON and YAML, the routes
//! with the kernel's view, the running configuration, a reset that BIRD
//! sees, the watch stream, and the errors an operator meets.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use testnets::speakers::bird::{Bird, BirdVersion};
use testnets::speakers::Speaker;
use testnets::{require_privileges, wait_for, Poll};

use crate::support::{lan, start_operator_node, CONVERGE};

fn bgpctl(socket: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bgpctl"))
        .arg("--socket")
        .arg(socket)
        .args(args)
        .output()
        .unwrap()
}

/// bgpctl's standard output; the test fails on a non-zero exit.
fn ok(socket: &Path, args: &[&str]) -> String {
    let out = bgpctl(socket, args);
    assert!(
        out.status.success(),
        "bgpctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The cells of the table row for `address`.
fn row(table: &str, address: &str) -> Option<Vec<String>> {
    table
        .lines()
        .find(|l| l.starts_with(&format!("| {address} ")))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_owned())
                .collect()
        })
}

/// BIRD's since for its protocol `bgpd`, with its state.
fn bird_since(bird: &Bird) -> (String, String) {
    let out = bird.cmd("show protocols").unwrap();
    let line = out
        .lines()
        .find(|l| l.split_whitespace().take(2).eq(["bgpd", "BGP"]))
        .unwrap_or_else(|| panic!("no bgpd protocol in {out}"))
        .to_owned();
    let columns: Vec<&str> = line.split_whitespace().collect();
    (columns[3].to_owned(), columns[4].to_owned())
}

#[test]
fn bgpctl_reads_and_resets_bgpd() {
    require_privileges!();
    let net = lan("bgpd-api", 3);
    let socket: PathBuf = net.host("n0").dir().join("api").join("bgpd.sock");
    let _bgpd = start_operator_node(&net, &["--api-socket", socket.to_str().unwrap()]);
    let bird = Bird::start(
        net.host("n1"),
        BirdVersion::V2,
        "router id 10.0.1.11;\nprotocol device { }\n\
         protocol static { ipv4; route 10.244.1.0/26 blackhole; }\n\
         protocol bgp bgpd { local 10.0.1.11 as 64512; neighbor 10.0.1.10 as 64512; connect delay time 0;\n\
         ipv4 { import all; export all; next hop self; }; }\n",
    )
    .unwrap();
    bird.wait_established(1, CONVERGE).unwrap();

    // Exec probes: live; not ready right after start while a peer is down
    // (calico-node's rule), with the reason.
    assert_eq!(ok(&socket, &["health", "--live"]).trim(), "live");
    let probe = bgpctl(&socket, &["health", "--ready"]);
    assert!(!probe.status.success());
    assert_eq!(
        String::from_utf8_lossy(&probe.stderr).trim(),
        "bgpctl: BGP not established with 10.0.1.12"
    );

    // The socket is its owner's only.
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&socket).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);

    // calicoctl's layout: the BIRD peer up and Established, the other one
    // trying; no IPv6 peers.
    let status = wait_for("bgpctl node status", CONVERGE, || {
        let out = ok(&socket, &["node", "status"]);
        let up = row(&out, "10.0.1.11").is_some_and(|r| r[2] == "up");
        Ok(if up {
            Poll::Ready(out)
        } else {
            Poll::Pending(out)
        })
    })
    .unwrap();
    assert!(status.starts_with("Calico process is "), "{status}");
    assert!(
        status.contains(
            "\n\nIPv4 BGP status\n+--------------+-------------------+-------+----------+"
        ),
        "{status}"
    );
    assert!(
        status.contains("| PEER ADDRESS |     PEER TYPE     | STATE |  SINCE   |"),
        "{status}"
    );
    assert!(
        status.ends_with("\nIPv6 BGP status\nNo IPv6 peers found.\n\n"),
        "{status}"
    );
    let mesh = row(&status, "10.0.1.11").unwrap();
    assert_eq!(
        mesh[..3],
        ["10.0.1.11", "node-to-node mesh", "up"],
        "{status}"
    );
    assert_eq!(mesh[4], "Established", "{status}");
    let since = mesh[3].as_bytes();
    assert!(
        since.len() == 8 && since[2] == b':' && since[5] == b':',
        "HH:MM:SS: {status}"
    );
    let global = row(&status, "10.0.1.12").unwrap();
    assert_eq!(global[1..3], ["global", "start"], "{status}");

    // The same as JSON and YAML.
    let json: serde_json::Value =
        serde_json::from_str(&ok(&socket, &["node", "status", "-o", "json"])).unwrap();
    let peers = json["ipv4Peers"].as_array().unwrap();
    let mesh = peers
        .iter()
        .find(|p| p["peerAddress"] == "10.0.1.11")
        .unwrap();
    assert_eq!(
        (mesh["state"].as_str(), mesh["bgpState"].as_str()),
        (Some("up"), Some("Established"))
    );
    assert_eq!(mesh["name"], "Mesh_10_0_1_11");
    assert_eq!(json["ipv6Peers"], serde_json::json!([]));
    let yaml = ok(&socket, &["-o", "yaml", "node", "status"]);
    assert!(yaml.contains("peerType: node-to-node mesh"), "{yaml}");

    // The speaker, its configuration, a peer in detail, the routes.
    let speaker: serde_json::Value =
        serde_json::from_str(&ok(&socket, &["show", "status", "-o", "json"])).unwrap();
    assert_eq!(
        (speaker["nodeName"].as_str(), speaker["localAs"].as_u64()),
        (Some("n0"), Some(64512))
    );
    assert_eq!(speaker["datastore"]["kind"], "file");
    assert!(
        speaker["lastConfigApplied"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{speaker}"
    );
    let config = ok(&socket, &["show", "config"]);
    assert!(
        config.contains("node_name = \"n0\"") && config.contains("10.0.1.12"),
        "{config}"
    );
    let detail = ok(&socket, &["show", "peers", "Mesh_10_0_1_11"]);
    assert!(
        detail.contains("State:        Established since"),
        "{detail}"
    );
    assert!(detail.contains("route refresh"), "{detail}");
    let routes = wait_for("the BIRD route with the kernel's view", CONVERGE, || {
        let out = ok(
            &socket,
            &["show", "routes", "10.244.0.0/16", "--kernel", "-o", "json"],
        );
        let json: serde_json::Value = serde_json::from_str(&out).unwrap();
        let learned = json["routes"].as_array().unwrap().iter().any(|r| {
            r["prefix"] == "10.244.1.0/26"
                && r["paths"][0]["from"] == "Mesh_10_0_1_11"
                && r["kernel"]["reason"]
                    .as_str()
                    .is_some_and(|s| !s.is_empty())
        });
        Ok(if learned {
            Poll::Ready(out)
        } else {
            Poll::Pending(out)
        })
    })
    .unwrap();
    assert!(routes.contains("\"best\": true"), "{routes}");
    let text = ok(&socket, &["show", "routes", "--kernel"]);
    assert!(
        text.contains("10.244.1.0/26\n    via 10.0.1.11 from Mesh_10_0_1_11")
            && text.contains("    kernel: "),
        "{text}"
    );

    // Watch the peers while the BIRD session is reset: BIRD sees the session
    // restart (its since changes) and the watch reports the changes.
    let mut watch = Command::new(env!("CARGO_BIN_EXE_bgpctl"))
        .arg("--socket")
        .arg(&socket)
        .args(["-o", "json", "watch", "peers"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (send, events) = mpsc::channel();
    let stdout = watch.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                return;
            }
        }
    });
    let first = events.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(first.contains("\"event\":\"existing\""), "{first}");

    let (state, before) = bird_since(&bird);
    assert_eq!(state, "up");
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(
        ok(&socket, &["peer", "reset", "10.0.1.11"]),
        "10.0.1.11: done\n"
    );
    wait_for("BIRD's session to restart", CONVERGE, || {
        let (state, since) = bird_since(&bird);
        Ok(if state == "up" && since != before {
            Poll::Ready(())
        } else {
            Poll::Pending(format!("{state} {since}"))
        })
    })
    .unwrap();
    let mut seen = Vec::new();
    let reset_seen = wait_for("the watch to see the reset", CONVERGE, || {
        while let Ok(line) = events.try_recv() {
            seen.push(line);
        }
        // The sample every 500 ms may miss the short time down; `since`
        // changes all the same.
        let back_up = seen
            .iter()
            .rfind(|l| l.contains("\"event\":\"changed\"") && l.contains("Mesh_10_0_1_11"))
            .is_some_and(|l| l.contains("\"state\":\"established\""));
        Ok(if back_up {
            Poll::Ready(())
        } else {
            Poll::Pending(format!("{seen:?}"))
        })
    });
    let _ = watch.kill();
    let _ = watch.wait();
    reset_seen.unwrap();

    // Errors an operator meets.
    let missing = net.host("n0").dir().join("nothing-here.sock");
    let out = bgpctl(&missing, &["node", "status"]);
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "bgpctl: cannot reach bgpd at {}: no such file — is bgpd running?\n",
            missing.display()
        )
    );
    // Another user than bgpd's (root's) may not open the socket.
    let out = Command::new("runuser")
        .args([
            "-u",
            "nobody",
            "--",
            env!("CARGO_BIN_EXE_bgpctl"),
            "--socket",
        ])
        .arg(&socket)
        .args(["node", "status"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with(&format!(
            "bgpctl: cannot reach bgpd at {}: permission denied",
            socket.display()
        )),
        "{out:?}"
    );
    let out = bgpctl(&socket, &["peer", "reset", "Mesh_10_9_9_9"]);
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "bgpctl: no peer named Mesh_10_9_9_9\n"
    );
    let out = bgpctl(&socket, &["peer", "refresh", "10.0.1.12"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not established"),
        "{out:?}"
    );
    let out = bgpctl(&socket, &["show", "routes", "ten"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("\"ten\" is not a prefix"),
        "{out:?}"
    );
}
