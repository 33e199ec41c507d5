//! What operators see: BIRD's control-socket protocol read by the real
//! `birdc` of BIRD 1.6 and BIRD 2 and by calicoctl's parsing rules, and the
//! HTTP health and metrics endpoints.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;

use testnets::speakers::bird::{Bird, BirdVersion};
use testnets::speakers::Speaker;
use testnets::{require_privileges, wait_for, Poll};

use crate::support::{lan, start_operator_node, CONVERGE};

/// A row of `calicoctl node status` (calicoctl/commands/node/status.go).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct CalicoRow {
    address: String,
    kind: String,
    state: String,
    since: String,
    info: String,
}

/// `show protocols` read as calicoctl reads it, to the letter: greeting 0001,
/// header 2002 with exactly these columns, rows 1002- or continuation ' ',
/// end 0000; BGP rows named Global_/Node_/Mesh_ only.
pub(crate) fn calicoctl_show_protocols(socket: &Path) -> Result<Vec<CalicoRow>, String> {
    let mut stream = UnixStream::connect(socket).map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(stream.try_clone().map_err(|e| e.to_string())?);
    let mut line = String::new();
    reader.read_line(&mut line).map_err(|e| e.to_string())?;
    if !line.starts_with("0001 ") {
        return Err(format!("no greeting: {line:?}"));
    }
    stream
        .write_all(b"show protocols\n")
        .map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
            return Err("the reply ended early".into());
        }
        let text = line.trim_end_matches('\n');
        let row = if let Some(header) = text.strip_prefix("2002-") {
            if header.split_whitespace().collect::<Vec<_>>()
                != ["name", "proto", "table", "state", "since", "info"]
            {
                return Err("unknown BIRD table output format".into());
            }
            continue;
        } else if let Some(row) = text.strip_prefix("1002-") {
            row
        } else if let Some(row) = text.strip_prefix(' ') {
            row
        } else if text.starts_with("0000") {
            return Ok(rows);
        } else {
            return Err(format!("unexpected output line from BIRD: {text:?}"));
        };
        let columns: Vec<&str> = row.split_whitespace().collect();
        if columns.len() < 5 || columns[1] != "BGP" {
            continue;
        }
        let Some((kind, ip)) = columns[0].split_once('_') else {
            continue;
        };
        let kind = match kind {
            "Global" => "global",
            "Mesh" => "node-to-node mesh",
            "Node" => "node specific",
            _ => continue,
        };
        let separator = if ip.matches('_').count() == 3 {
            "."
        } else {
            ":"
        };
        rows.push(CalicoRow {
            address: ip.replace('_', separator),
            kind: kind.into(),
            state: columns[3].into(),
            since: columns[4].into(),
            info: columns[5..].join(" "),
        });
    }
}

/// A route as calico-node's status reporter takes it from `show route`
/// (node/pkg/status/populators/route.go): destination, gateway, interface,
/// the protocol it came from, and whether it is the primary (`] *`).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ReporterRoute {
    pub dest: String,
    pub gateway: String,
    pub iface: String,
    pub from: String,
    pub primary: bool,
}

impl ReporterRoute {
    fn new(dest: &str, gateway: &str, iface: &str, from: &str) -> Self {
        Self {
            dest: dest.into(),
            gateway: gateway.into(),
            iface: iface.into(),
            from: from.into(),
            primary: true,
        }
    }

    /// One line's text: `DEST via GW on IFACE [FROM ...`, `DEST dev IFACE
    /// [FROM ...` or `DEST blackhole [FROM ...`, DEST empty for a further
    /// route of the network before.
    fn read(text: &str, previous: &str) -> Option<Self> {
        let (head, bracket) = text.split_once(" [")?;
        let from = bracket.split_whitespace().next()?.to_owned();
        let words: Vec<&str> = head.split_whitespace().collect();
        let (dest, rest) = match words.first() {
            Some(w) if w.contains('/') => (w.to_string(), &words[1..]),
            _ => (previous.to_owned(), &words[..]),
        };
        let (gateway, iface) = match rest {
            ["via", gateway, "on", iface] => (gateway.to_string(), iface.to_string()),
            ["dev", iface] => ("N/A".into(), iface.to_string()),
            ["blackhole"] => ("N/A".into(), "blackhole".into()),
            ["unreachable"] => ("N/A".into(), "unreachable".into()),
            _ => return None,
        };
        Some(Self {
            dest,
            gateway,
            iface,
            from,
            primary: text.contains("] *"),
        })
    }
}

/// `show route` read as calico-node's status reporter reads it, to the
/// letter: rows 1007- or continuation ' ', end 0000, anything else an error.
pub(crate) fn reporter_show_route(socket: &Path) -> Result<Vec<ReporterRoute>, String> {
    let mut stream = UnixStream::connect(socket).map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(stream.try_clone().map_err(|e| e.to_string())?);
    stream
        .write_all(b"show route\n")
        .map_err(|e| e.to_string())?;
    let mut routes: Vec<ReporterRoute> = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
            return Err("the reply ended early".into());
        }
        let text = line.trim_end_matches('\n');
        let row = if text.starts_with("0000") {
            return Ok(routes);
        } else if text.starts_with("0001") {
            continue;
        } else if let Some(row) = text.strip_prefix("1007-") {
            row
        } else if let Some(row) = text.strip_prefix(' ') {
            row
        } else {
            return Err(format!("unexpected output line from BIRD: {text:?}"));
        };
        let previous = routes.last().map_or("", |r| r.dest.as_str());
        routes.push(ReporterRoute::read(row, previous).ok_or(format!("failed to parse {row:?}"))?);
    }
}

fn birdc(version: BirdVersion, client: &str, socket: &Path, command: &str) -> String {
    let out = Command::new(version.sbin().join(client))
        .arg("-s")
        .arg(socket)
        .args(command.split(' '))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{client}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A GET on the host's loopback, from inside its namespace.
pub(crate) fn get(host: &testnets::Host, path: &str) -> (u16, String) {
    let path = path.to_owned();
    host.ns()
        .enter(move || {
            let mut stream = std::net::TcpStream::connect("127.0.0.1:9180").map_err(|e| {
                testnets::Error::Io {
                    what: "connect".into(),
                    source: e,
                }
            })?;
            write!(stream, "GET {path} HTTP/1.0\r\n\r\n").unwrap();
            let mut response = String::new();
            stream.read_to_string(&mut response).unwrap();
            let code = response
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            let body = response
                .split_once("\r\n\r\n")
                .map(|(_, b)| b.to_owned())
                .unwrap_or_default();
            Ok((code, body))
        })
        .unwrap()
}

#[test]
fn calicoctl_birdc_and_probes_read_bgpd() {
    require_privileges!();
    let net = lan("bgpd-operators", 3);
    let socket: PathBuf = net.host("n0").dir().join("bird.ctl");
    let _bgpd = start_operator_node(&net, &["--bird-socket", socket.to_str().unwrap()]);
    let bird = Bird::start(
        net.host("n1"),
        BirdVersion::V2,
        "router id 10.0.1.11;\nprotocol device { }\nprotocol static { ipv4; route 10.244.1.0/26 blackhole; }\nprotocol bgp bgpd { local 10.0.1.11 as 64512; neighbor 10.0.1.10 as 64512; connect delay time 0; ipv4 { import all; export where source = RTS_STATIC; }; }\n",
    )
    .unwrap();
    bird.wait_established(1, CONVERGE).unwrap();

    // calicoctl: the mesh peer up and Established, the other one refused.
    let rows = wait_for("calicoctl's view", CONVERGE, || {
        let rows = calicoctl_show_protocols(&socket).map_err(testnets::Error::Netlink)?;
        let done = rows.iter().any(|r| r.state == "up")
            && rows.iter().any(|r| r.info.contains("Connection refused"));
        Ok(if done {
            Poll::Ready(rows)
        } else {
            Poll::Pending(format!("{rows:?}"))
        })
    })
    .unwrap();
    let mesh = rows.iter().find(|r| r.address == "10.0.1.11").unwrap();
    assert_eq!(
        (mesh.kind.as_str(), mesh.state.as_str(), mesh.info.as_str()),
        ("node-to-node mesh", "up", "Established")
    );
    assert_eq!(mesh.since.len(), 8, "HH:MM:SS: {}", mesh.since);
    let global = rows.iter().find(|r| r.address == "10.0.1.12").unwrap();
    assert_eq!(
        (global.kind.as_str(), global.state.as_str()),
        ("global", "start")
    );
    assert!(
        global.info.starts_with("Active Socket: Connection refused")
            || global.info.starts_with("Connect Socket:"),
        "{global:?}"
    );

    // The real birdc of BIRD 1.6 (Calico's) and of BIRD 2, and birdcl.
    for (version, client) in [
        (BirdVersion::V1_6, "birdc"),
        (BirdVersion::V2, "birdc"),
        (BirdVersion::V2, "birdcl"),
    ] {
        let status = birdc(version, client, &socket, "show status");
        assert!(
            status.contains("BIRD v")
                && status.contains("+podroute")
                && status.contains("Daemon is up and running"),
            "{client}: {status}"
        );
        let protocols = birdc(version, client, &socket, "show protocols");
        assert!(
            protocols.contains("Mesh_10_0_1_11") && protocols.contains("Established"),
            "{client}: {protocols}"
        );
    }
    let details = birdc(
        BirdVersion::V1_6,
        "birdc",
        &socket,
        "show protocols all Mesh_10_0_1_11",
    );
    assert!(
        details.contains("BGP state:          Established")
            && details.contains("Neighbor address: 10.0.1.11"),
        "{details}"
    );

    // `show route`, as calico-node's status reporter reads it to fill a
    // CalicoNodeStatus, and as birdc shows it.
    let installed = net
        .host("n0")
        .wait_for_routes("n1's block", CONVERGE, |routes| {
            routes
                .iter()
                .any(|r| r.destination.to_string() == "10.244.1.0/26")
        })
        .unwrap();
    let uplink = installed
        .iter()
        .find(|r| r.destination.to_string() == "10.244.1.0/26")
        .and_then(|r| r.device().map(str::to_owned))
        .unwrap();
    let routes = reporter_show_route(&socket).unwrap();
    assert_eq!(
        routes,
        [
            ReporterRoute::new("10.244.0.0/26", "N/A", "blackhole", "static1"),
            ReporterRoute::new("10.244.1.0/26", "10.0.1.11", &uplink, "Mesh_10_0_1_11"),
        ]
    );
    let table = birdc(BirdVersion::V1_6, "birdc", &socket, "show route");
    assert!(
        table.contains(&format!(
            "10.244.1.0/26      via 10.0.1.11 on {uplink} [Mesh_10_0_1_11 "
        )),
        "{table}"
    );
    let one = birdc(
        BirdVersion::V1_6,
        "birdc",
        &socket,
        "show route for 10.244.1.7 all",
    );
    assert!(
        one.contains("10.244.1.0/26")
            && one.contains("Type: BGP unicast univ")
            && one.contains("BGP.next_hop: 10.0.1.11")
            && !one.contains("10.244.0.0/26"),
        "{one}"
    );
    let count = birdc(BirdVersion::V2, "birdc", &socket, "show route count");
    assert!(count.contains("2 of 2 routes for 2 networks"), "{count}");

    // calico-node's readiness rule: right after start every peer must be up.
    let (code, body) = get(net.host("n0"), "/readiness");
    assert_eq!(
        (code, body.trim()),
        (503, "BGP not established with 10.0.1.12")
    );
    assert_eq!(get(net.host("n0"), "/liveness").0, 200);
    let (code, metrics) = get(net.host("n0"), "/metrics");
    assert_eq!(code, 200);
    assert!(
        metrics.contains("podroute_peer_up{peer=\"Mesh_10_0_1_11\",address=\"10.0.1.11\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("podroute_kernel_routes{state=\"installed\"}"),
        "{metrics}"
    );
}
