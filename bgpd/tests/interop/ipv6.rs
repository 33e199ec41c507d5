//! IPv6: bgpd in an iBGP mesh over IPv6 with BIRD 2 and FRR, each announcing
//! a /122 block (Calico's IPv6 block size) in MP_REACH_NLRI.

use ipnet::IpNet;
use testnets::speakers::bird::{Bird, BirdVersion};
use testnets::speakers::frr::Frr;
use testnets::speakers::Speaker;
use testnets::{require_privileges, Topology};

use crate::support::{start_bgpd, CONVERGE};

const NODES: [(&str, &str, &str, &str); 3] = [
    ("n0", "10.0.1.10", "fd00:1::10", "fd00:244::/122"),
    ("n1", "10.0.1.11", "fd00:1::11", "fd00:244::40/122"),
    ("n2", "10.0.1.12", "fd00:1::12", "fd00:244::80/122"),
];

fn bgpd_config() -> String {
    let mut c = String::from(
        "node_name = \"n0\"\nrouter_id = \"10.0.1.10\"\nlocal_as = 64512\naddresses = [\"10.0.1.10/24\", \"fd00:1::10/64\"]\n\n\
         [export]\nprefixes = [\"fd00:244::/48\"]\n\n[[originate]]\nprefix = \"fd00:244::/122\"\nkind = \"block\"\n",
    );
    for (_, _, v6, _) in &NODES[1..] {
        c.push_str(&format!("\n[[peer]]\naddress = \"{v6}\"\nremote_as = 64512\nkind = \"mesh\"\nconnect_delay_time = 1\n"));
    }
    c
}

const BIRD: &str = "router id 10.0.1.11;
protocol device { }
protocol kernel { ipv6 { import none; export where source = RTS_BGP; }; }
protocol static own { ipv6; route fd00:244::40/122 blackhole; }
template bgp mesh {
  local fd00:1::11 as 64512;
  direct;
  connect delay time 0;
  connect retry time 5;
  ipv6 { gateway direct; import all; export where source = RTS_STATIC; };
}
protocol bgp bgpd from mesh { neighbor fd00:1::10 as 64512; }
protocol bgp frr from mesh { neighbor fd00:1::12 as 64512; }
";

const FRR: &str = "frr defaults traditional
router bgp 64512
 bgp router-id 10.0.1.12
 no bgp default ipv4-unicast
 no bgp network import-check
 coalesce-time 100
 neighbor fd00:1::10 remote-as 64512
 neighbor fd00:1::10 timers connect 5
 neighbor fd00:1::11 remote-as 64512
 neighbor fd00:1::11 timers connect 5
 address-family ipv6 unicast
  network fd00:244::80/122
  neighbor fd00:1::10 activate
  neighbor fd00:1::11 activate
 exit-address-family
";

/// Stores a Calico resource at `key` (`nodes/n0`).
fn put_resource(etcd: &testnets::speakers::etcd::Etcd, key: &str, value: serde_json::Value) {
    etcd.put_json(&format!("{}/{key}", crate::support::RESOURCES), &value)
        .unwrap();
}

/// The nodes of [`NODES`] on one segment, each with both its addresses.
fn dual_stack(name: &str) -> Topology {
    let mut topology = Topology::new(name);
    topology.segment("lan");
    for (name, v4, v6, _) in NODES {
        topology
            .node(name)
            .iface("lan", &[&format!("{v4}/24"), &format!("{v6}/64")]);
    }
    topology
}

#[test]
fn bgpd_exchanges_ipv6_blocks_with_bird_and_frr() {
    require_privileges!();
    let net = dual_stack("bgpd-ipv6").build().unwrap();
    let _bgpd = start_bgpd(net.host("n0"), &bgpd_config());
    let bird = Bird::start(net.host("n1"), BirdVersion::V2, BIRD).unwrap();
    let frr = Frr::start(net.host("n2"), FRR).unwrap();

    let block = |i: usize| -> IpNet { NODES[i].3.parse().unwrap() };
    bird.wait_established(2, CONVERGE).unwrap();
    frr.wait_established(2, CONVERGE).unwrap();
    bird.wait_received(&[block(0), block(2)], CONVERGE).unwrap();
    frr.wait_received(&[block(0), block(1)], CONVERGE).unwrap();
    // BIRD installs bgpd's block via bgpd's IPv6 address.
    net.host("n1")
        .wait_for_routes("bgpd's IPv6 block", CONVERGE, |routes| {
            routes.iter().any(|r| {
                r.destination == block(0) && r.gateway() == Some("fd00:1::10".parse().unwrap())
            })
        })
        .unwrap();
}

/// The addresses bgpd listens on for BGP in `host` (`ss -ltn`).
fn bgp_listeners(host: &testnets::Host) -> Vec<String> {
    let out = host
        .exec("ss", ["-H", "-l", "-t", "-n", "( sport = :179 )"])
        .unwrap();
    let mut local: Vec<String> = out
        .lines()
        .filter_map(|l| l.split_whitespace().nth(3))
        .map(str::to_owned)
        .collect();
    local.sort();
    local
}

/// Calico's `bindMode: NodeIP` from etcd on a dual-stack node: bgpd listens
/// on the node's IPv4 and IPv6 addresses, nowhere else, and peers of both
/// families (BIRD 2, connecting as soon as they start) establish.
#[test]
fn bind_mode_node_ip_listens_on_both_of_the_nodes_addresses() {
    use serde_json::json;
    use testnets::speakers::bgpd::Bgpd;
    use testnets::speakers::etcd::Etcd;

    use crate::support::binary;

    require_privileges!();
    let mut topology = dual_stack("bindmode");
    topology.node("n3").iface("lan", &["10.0.1.13/24"]);
    let net = topology.build().unwrap();
    let etcd = Etcd::start(net.host("n3")).unwrap();
    let v3 = "projectcalico.org/v3";
    let put = |key: &str, value: serde_json::Value| put_resource(&etcd, key, value);
    put(
        "bgpconfigurations/default",
        json!({"kind": "BGPConfiguration", "apiVersion": v3, "metadata": {"name": "default"},
               "spec": {"nodeToNodeMeshEnabled": false, "bindMode": "NodeIP"}}),
    );
    put(
        "nodes/n0",
        json!({"kind": "Node", "apiVersion": v3, "metadata": {"name": "n0"},
               "spec": {"bgp": {"ipv4Address": "10.0.1.10/24", "ipv6Address": "fd00:1::10/64"}}}),
    );
    put(
        "bgppeers/v6",
        json!({"kind": "BGPPeer", "apiVersion": v3, "metadata": {"name": "v6"},
               "spec": {"peerIP": "fd00:1::11", "asNumber": 65001}}),
    );
    put(
        "bgppeers/v4",
        json!({"kind": "BGPPeer", "apiVersion": v3, "metadata": {"name": "v4"},
               "spec": {"peerIP": "10.0.1.12", "asNumber": 65002}}),
    );
    let _bgpd =
        Bgpd::start_with_etcd(net.host("n0"), binary(), etcd.endpoint(), "n0", 179).unwrap();
    assert_eq!(
        bgp_listeners(net.host("n0")),
        ["10.0.1.10:179", "[fd00:1::10]:179"],
        "the node's addresses only"
    );
    let peer = |router_id: &str, local: &str, asn: u32, neighbor: &str, family: &str| {
        format!(
            "router id {router_id};
protocol device {{ }}
protocol bgp n0 {{
  local {local} as {asn};
  neighbor {neighbor} as 64512;
  connect delay time 0;
  {family} {{ import all; export none; }};
}}
"
        )
    };
    let v6 = Bird::start(
        net.host("n1"),
        BirdVersion::V2,
        &peer("10.0.1.11", "fd00:1::11", 65001, "fd00:1::10", "ipv6"),
    )
    .unwrap();
    let v4 = Bird::start(
        net.host("n2"),
        BirdVersion::V2,
        &peer("10.0.1.12", "10.0.1.12", 65002, "10.0.1.10", "ipv4"),
    )
    .unwrap();
    v6.wait_established(1, CONVERGE).unwrap();
    v4.wait_established(1, CONVERGE).unwrap();
}

/// An IPv6-only cluster from etcd: Nodes with only `ipv6Address`, hosts
/// without any IPv4 address (etcd is reached over IPv6 too), and
/// `CALICO_ROUTER_ID=hash` giving each bgpd a router id from its node's
/// name. The mesh comes up over IPv6 and every kernel holds the other
/// nodes' /122 blocks through their IPv6 addresses.
#[test]
fn an_ipv6_only_mesh_from_etcd_with_hashed_router_ids() {
    use serde_json::json;
    use testnets::speakers::bgpd::Bgpd;
    use testnets::speakers::etcd::Etcd;

    use crate::support::{binary, block_key};

    require_privileges!();
    let mut topology = Topology::new("v6only");
    topology.segment("lan");
    for (name, _, v6, _) in NODES {
        topology.node(name).iface("lan", &[&format!("{v6}/64")]);
    }
    topology.node("n3").iface("lan", &["fd00:1::13/64"]);
    let net = topology.build().unwrap();
    let etcd = Etcd::start(net.host("n3")).unwrap();
    let v3 = "projectcalico.org/v3";
    let put = |key: &str, value: serde_json::Value| put_resource(&etcd, key, value);
    put(
        "ippools/v6",
        json!({"kind": "IPPool", "apiVersion": v3, "metadata": {"name": "v6"},
               "spec": {"cidr": "fd00:244::/48"}}),
    );
    for (name, _, v6, block) in NODES {
        put(
            &format!("nodes/{name}"),
            json!({"kind": "Node", "apiVersion": v3, "metadata": {"name": name},
                   "spec": {"bgp": {"ipv6Address": format!("{v6}/64")}}}),
        );
        etcd.put(
            &block_key(name, block),
            r#"{"state":"confirmed","deleted":false}"#,
        )
        .unwrap();
    }
    let hash = std::ffi::OsStr::new("hash");
    let bgpds: Vec<testnets::Process> = NODES
        .iter()
        .map(|(name, ..)| {
            Bgpd::spawn_with_etcd(
                net.host(name),
                binary(),
                etcd.endpoint(),
                name,
                &[("CALICO_ROUTER_ID", hash)],
            )
            .unwrap()
        })
        .collect();
    for (i, (name, ..)) in NODES.iter().enumerate() {
        let host = net.host(name);
        for (j, (_, _, v6, block)) in NODES.iter().enumerate() {
            if i == j {
                continue;
            }
            let block: IpNet = block.parse().unwrap();
            let via: std::net::IpAddr = v6.parse().unwrap();
            host.wait_for_routes(
                &format!("{block} via {via} on {name}"),
                CONVERGE,
                |routes| {
                    routes
                        .iter()
                        .any(|r| r.destination == block && r.gateway() == Some(via))
                },
            )
            .unwrap();
        }
    }
    drop(bgpds);
}
