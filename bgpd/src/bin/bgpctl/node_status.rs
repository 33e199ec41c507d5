//! `bgpctl node status`: the peers as `calicoctl node status` shows them, as
//! data (for `-o json|yaml`) and as its text, with its first line, whether
//! Felix runs on this host, decided as calicoctl decides it.

use std::time::SystemTime;

use bgpd::api::clock;
use proto::v1;
use serde::Serialize;

use crate::render::{calico_peer_type, one_line, rfc3339, time};
use crate::table;

const NODE_STATUS_HEADERS: [&str; 5] = ["Peer address", "Peer type", "State", "Since", "Info"];

/// `calicoctl node status`, as data.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NodeStatus {
    /// calicoctl's first line: is Felix running on this host?
    calico_process_running: bool,
    ipv4_peers: Vec<PeerRow>,
    ipv6_peers: Vec<PeerRow>,
}

/// One row of the table; the first five fields are its cells.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PeerRow {
    peer_address: String,
    peer_type: &'static str,
    state: &'static str,
    since: String,
    info: String,
    name: String,
    bgp_state: String,
    since_time: Option<String>,
    last_error: Option<String>,
}

impl NodeStatus {
    pub(crate) fn new(calico_process_running: bool, peers: &[v1::Peer], now: SystemTime) -> Self {
        let (ipv6, ipv4): (Vec<&v1::Peer>, Vec<&v1::Peer>) =
            peers.iter().partition(|p| p.address.contains(':'));
        let rows =
            |peers: Vec<&v1::Peer>| peers.into_iter().map(|p| PeerRow::new(p, now)).collect();
        Self {
            calico_process_running,
            ipv4_peers: rows(ipv4),
            ipv6_peers: rows(ipv6),
        }
    }

    /// What calicoctl prints (status.go): the process line, then for each
    /// family a blank line, its title and its table (or "No IPvN peers
    /// found."), then a blank line.
    pub(crate) fn render(&self) -> String {
        let mut out = String::from(if self.calico_process_running {
            "Calico process is running.\n"
        } else {
            "Calico process is not running.\n"
        });
        for (family, rows) in [("4", &self.ipv4_peers), ("6", &self.ipv6_peers)] {
            out.push_str(&format!("\nIPv{family} BGP status\n"));
            if rows.is_empty() {
                out.push_str(&format!("No IPv{family} peers found.\n"));
            } else {
                let cells: Vec<Vec<String>> = rows.iter().map(PeerRow::cells).collect();
                out.push_str(&table::render(&NODE_STATUS_HEADERS, &cells));
            }
        }
        out.push('\n');
        out
    }
}

impl PeerRow {
    fn new(peer: &v1::Peer, now: SystemTime) -> Self {
        let since = time(peer.since);
        Self {
            peer_address: peer.address.clone(),
            peer_type: calico_peer_type(peer.r#type),
            state: if peer.state == v1::SessionState::Established as i32 {
                "up"
            } else {
                "start"
            },
            since: since.map(|t| clock::since(t, now)).unwrap_or_default(),
            info: one_line(&peer.info),
            name: peer.name.clone(),
            bgp_state: peer.bird_state.clone(),
            since_time: since.map(rfc3339),
            last_error: peer.last_error.clone(),
        }
    }

    fn cells(&self) -> Vec<String> {
        vec![
            self.peer_address.clone(),
            self.peer_type.to_owned(),
            self.state.to_owned(),
            self.since.clone(),
            self.info.clone(),
        ]
    }
}

/// The first line of `calicoctl node status`, decided as calicoctl decides
/// it: some process's argv[0] is `calico-felix` or `calico-node`, or its
/// argv[1] is `-felix` (status.go's `psContains` matches on any one
/// position). bgpd answering says nothing about Felix, so this looks.
pub(crate) fn calico_process_running() -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        })
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .any(|cmdline| {
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            is_felix(&args)
        })
}

fn is_felix(args: &[&[u8]]) -> bool {
    let at = |i: usize, word: &str| args.get(i).is_some_and(|a| *a == word.as_bytes());
    at(0, "calico-felix") || at(0, "calico-node") || at(1, "-felix")
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use proto::v1;

    use super::{is_felix, NodeStatus};
    use crate::cli::Output;
    use crate::render::encode;

    const T: u64 = 1_795_316_645; // 2026-11-22 03:04:05 UTC

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
    }

    fn peer(
        address: &str,
        kind: v1::PeerType,
        state: v1::SessionState,
        info: &str,
        since: u64,
    ) -> v1::Peer {
        v1::Peer {
            name: format!("Mesh_{}", address.replace(['.', ':'], "_")),
            address: address.into(),
            port: 179,
            r#type: kind.into(),
            state: state.into(),
            bird_state: info.split_whitespace().next().unwrap_or("").into(),
            info: info.into(),
            since: Some(at(since).into()),
            ..Default::default()
        }
    }

    #[test]
    fn node_status_with_both_families() {
        let peers = [
            peer(
                "10.0.1.11",
                v1::PeerType::Mesh,
                v1::SessionState::Established,
                "Established",
                T,
            ),
            // BIRD pads the state to 14 columns; calicoctl joins on one space.
            peer(
                "10.0.1.12",
                v1::PeerType::Global,
                v1::SessionState::Active,
                "Active        Socket: Connection refused",
                T - 3600,
            ),
            peer(
                "fd80:24e2:f998:72d7::2",
                v1::PeerType::Node,
                v1::SessionState::Established,
                "Established",
                T - 30 * 3600,
            ),
        ];
        let status = NodeStatus::new(true, &peers, at(T + 60));
        assert_eq!(
            status.render(),
            "\
Calico process is running.

IPv4 BGP status
+--------------+-------------------+-------+----------+--------------------------------+
| PEER ADDRESS |     PEER TYPE     | STATE |  SINCE   |              INFO              |
+--------------+-------------------+-------+----------+--------------------------------+
| 10.0.1.11    | node-to-node mesh | up    | 03:04:05 | Established                    |
| 10.0.1.12    | global            | start | 02:04:05 | Active Socket: Connection      |
|              |                   |       |          | refused                        |
+--------------+-------------------+-------+----------+--------------------------------+

IPv6 BGP status
+------------------------+---------------+-------+------------+-------------+
|      PEER ADDRESS      |   PEER TYPE   | STATE |   SINCE    |    INFO     |
+------------------------+---------------+-------+------------+-------------+
| fd80:24e2:f998:72d7::2 | node specific | up    | 2026-11-20 | Established |
+------------------------+---------------+-------+------------+-------------+

"
        );
    }

    #[test]
    fn node_status_without_ipv6_peers_as_in_the_calico_docs() {
        let peers = [peer(
            "172.17.8.102",
            v1::PeerType::Mesh,
            v1::SessionState::Established,
            "Established",
            T,
        )];
        let status = NodeStatus::new(true, &peers, at(T + 1));
        assert_eq!(
            status.render(),
            "\
Calico process is running.

IPv4 BGP status
+--------------+-------------------+-------+----------+-------------+
| PEER ADDRESS |     PEER TYPE     | STATE |  SINCE   |    INFO     |
+--------------+-------------------+-------+----------+-------------+
| 172.17.8.102 | node-to-node mesh | up    | 03:04:05 | Established |
+--------------+-------------------+-------+----------+-------------+

IPv6 BGP status
No IPv6 peers found.

"
        );
    }

    #[test]
    fn node_status_without_peers_and_without_felix() {
        let status = NodeStatus::new(false, &[], at(T));
        assert_eq!(
            status.render(),
            "Calico process is not running.\n\nIPv4 BGP status\nNo IPv4 peers found.\n\n\
             IPv6 BGP status\nNo IPv6 peers found.\n\n"
        );
    }

    #[test]
    fn node_status_as_json_and_yaml() {
        let peers = [peer(
            "10.0.1.12",
            v1::PeerType::Global,
            v1::SessionState::Active,
            "Active        Socket: Connection refused",
            T,
        )];
        let status = NodeStatus::new(false, &peers, at(T + 5));
        let json: serde_json::Value =
            serde_json::from_str(&encode(&status, Output::Json).unwrap()).unwrap();
        let row = &json["ipv4Peers"][0];
        assert_eq!(row["peerAddress"], "10.0.1.12");
        assert_eq!(row["state"], "start");
        assert_eq!(row["info"], "Active Socket: Connection refused");
        assert_eq!(row["sinceTime"], "2026-11-22T03:04:05Z");
        assert_eq!(json["ipv6Peers"], serde_json::json!([]));
        let yaml = encode(&status, Output::Yaml).unwrap();
        assert!(yaml.contains("peerType: global"), "{yaml}");
        assert!(yaml.contains("calicoProcessRunning: false"), "{yaml}");
    }

    #[test]
    fn felix_is_found_as_calicoctl_finds_it() {
        let args = |words: &[&'static str]| words.iter().map(|w| w.as_bytes()).collect::<Vec<_>>();
        assert!(is_felix(&args(&["calico-node", "-felix", ""])));
        assert!(is_felix(&args(&["calico-felix", ""])));
        assert!(!is_felix(&args(&["/usr/bin/calico-felix", ""])));
        assert!(!is_felix(&args(&["bgpd", "--config", "x"])));
    }
}
