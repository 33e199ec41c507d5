//! bgpd among BIRD 1.6 nodes configured as Calico's confd configures them: a
//! mixed mesh where bgpd nodes run from Calico's resources in etcd and BIRD
//! nodes from Calico's template, or from what confgen renders (issue 8,
//! scenario 4), both following the string-order direction rule, with pods
//! on every node reaching each other; and a BIRD 1.6 route reflector serving
//! bgpd clients.

use ipnet::IpNet;
use serde_json::json;
use testnets::speakers::bgpd::Bgpd;
use testnets::speakers::bird::{Bird, BirdVersion};
use testnets::speakers::etcd::Etcd;
use testnets::speakers::Speaker;
use testnets::{require_privileges, Host, Topology};

use crate::support::{
    binary, lan, node_config, put_block, put_node, start_bgpd, CONVERGE, RESOURCES,
};

/// The BIRD 1.6 configuration confd renders for a node
/// (docs/CALICO-CONTRACT.md §2 to §4), with the peers of the mesh and Calico's
/// passive rule (§2.4).
fn calico_bird16(me: &str, block: &str, mesh: &[&str]) -> String {
    let mut c = format!(
        "router id {me};
filter calico_export_to_bgp_peers {{
  if ( net = {block} ) then {{ accept; }}
  if ( net ~ {block} ) then {{ reject; }}
  if ( net ~ 10.244.0.0/16 ) then {{ accept; }}
  reject;
}}
protocol kernel {{ learn; persist; scan time 2; import all; export all; graceful restart; merge paths on; }}
protocol device {{ scan time 2; }}
protocol direct {{ interface -\"cali*\", \"*\"; }}
protocol static {{ route {block} blackhole; }}
template bgp bgp_template {{
  local as 64512;
  gateway recursive;
  add paths on;
  graceful restart;
  connect delay time 2;
  connect retry time 5;
  error wait time 5,30;
}}
"
    );
    for peer in mesh.iter().filter(|p| **p != me) {
        let passive = if *peer > me { "passive on;" } else { "" };
        c.push_str(&format!(
            "protocol bgp Mesh_{} from bgp_template {{ neighbor {peer} as 64512; source address {me}; import all; export filter calico_export_to_bgp_peers; {passive} }}\n",
            peer.replace('.', "_")
        ));
    }
    c
}

fn has_route(host: &Host, block: &str, next_hop: &str) {
    let block: IpNet = block.parse().unwrap();
    let next_hop = next_hop.parse().unwrap();
    host.wait_for_routes(&format!("{block} via {next_hop}"), CONVERGE, |routes| {
        routes.iter().any(|r| {
            r.destination == block && r.gateway() == Some(next_hop) && r.device() == Some("eth0")
        })
    })
    .unwrap();
}

/// (host, address, block, runs bgpd): as strings, .9 > .100 > .11 > .10.
const NODES: [(&str, &str, &str, bool); 4] = [
    ("b9", "10.0.1.9", "10.244.9.0/26", false),
    ("g10", "10.0.1.10", "10.244.10.0/26", true),
    ("b11", "10.0.1.11", "10.244.11.0/26", false),
    ("g100", "10.0.1.100", "10.244.100.0/26", true),
];

/// How the BIRD nodes of the mixed mesh get their configuration.
enum BirdConfig {
    /// Written here from Calico's templates.
    Template,
    /// Rendered by `confgen render --format bird-stock` from the same etcd.
    Confgen,
}

#[test]
fn a_mixed_mesh_of_bgpd_and_calicos_bird() {
    require_privileges!();
    mixed_mesh(BirdConfig::Template);
}

#[test]
fn a_mixed_mesh_with_bird_configured_by_confgen() {
    require_privileges!();
    mixed_mesh(BirdConfig::Confgen);
}

/// The BIRD 1.6 configuration confgen renders for `node` from etcd.
fn confgen_bird(etcd: &Etcd, node: &str) -> String {
    let config = confgen::watch::EtcdConfig::from_endpoints(etcd.endpoint());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (snapshot, bad) = runtime
        .block_on(confgen::watch::list_once(&config, node))
        .unwrap();
    assert!(bad.is_empty(), "{bad:?}");
    let rendered = confgen::render::render(&snapshot, node, &confgen::secrets::NoSecrets).unwrap();
    confgen::bird::render_bird(&rendered.config, confgen::bird::Flavor::Stock)
}

/// The pod on `node`: the fifth address of its block.
fn pod_address(block: &str) -> String {
    let network = block.split('/').next().unwrap();
    format!("{}.5", network.strip_suffix(".0").unwrap())
}

fn mixed_mesh(how: BirdConfig) {
    let mut topology = Topology::new("calico-mixed");
    topology.segment("lan");
    topology.host("etcd").iface("lan", &["10.0.1.200/24"]);
    // The nodes' default route: proxy ARP answers a pod's 169.254.1.1 only
    // when the node has a route to it, as every real node has.
    topology.router("r1").iface("lan", &["10.0.1.1/24"]);
    for (name, address, block, _) in NODES {
        topology
            .node(name)
            .iface("lan", &[&format!("{address}/24")]);
        topology.pod(&format!("pod-{name}"), name, &pod_address(block));
    }
    let net = topology.build().unwrap();
    let etcd = Etcd::start(net.host("etcd")).unwrap();
    let pool = json!({"kind": "IPPool", "apiVersion": "projectcalico.org/v3", "metadata": {"name": "pool"},
                      "spec": {"cidr": "10.244.0.0/16", "ipipMode": "CrossSubnet"}});
    etcd.put_json(&format!("{RESOURCES}/ippools/pool"), &pool)
        .unwrap();
    for (name, address, block, _) in NODES {
        put_node(&etcd, name, address);
        put_block(&etcd, name, block);
    }
    let mesh: Vec<&str> = NODES.iter().map(|n| n.1).collect();
    let mut birds = Vec::new();
    let mut bgpds = Vec::new();
    for (name, address, block, runs_bgpd) in NODES {
        if runs_bgpd {
            bgpds.push(
                Bgpd::start_with_etcd(net.host(name), binary(), etcd.endpoint(), name, 179)
                    .unwrap(),
            );
        } else {
            let config = match how {
                BirdConfig::Template => calico_bird16(address, block, &mesh),
                // etcd is reached from inside a host of the topology.
                BirdConfig::Confgen => net
                    .host("etcd")
                    .ns()
                    .enter(|| Ok(confgen_bird(&etcd, name)))
                    .unwrap(),
            };
            birds.push(Bird::start(net.host(name), BirdVersion::V1_6, &config).unwrap());
        }
    }
    // No direction deadlock: every BIRD has all three sessions up.
    for bird in &birds {
        bird.wait_established(3, CONVERGE).unwrap();
    }
    for (name, _, own, _) in NODES {
        for (_, address, block, _) in NODES.iter().filter(|n| n.2 != own) {
            has_route(net.host(name), block, address);
        }
    }
    // Full connectivity: every pod reaches every other, between BIRD and
    // bgpd nodes both ways, and between two of a kind.
    for (from, _, _, _) in NODES {
        for (to, _, block, _) in NODES.iter().filter(|n| n.0 != from) {
            let target = pod_address(block).parse().unwrap();
            net.pod(&format!("pod-{from}"))
                .ping(target)
                .unwrap_or_else(|e| panic!("pod on {from} to pod on {to}: {e}"));
        }
    }
    if matches!(how, BirdConfig::Confgen) {
        borrowed_and_elevated_both_ways(&net);
    }
}

/// What confgen's rendering gives BIRD of route learning and priority
/// agrees with bgpd both ways: a borrowed address on a BIRD node is routed
/// to it by bgpd nodes, one on a bgpd node by BIRD nodes, all at the normal
/// metric; an elevated route on a bgpd node inside a BIRD node's own block
/// reaches that BIRD node's kernel at its metric.
fn borrowed_and_elevated_both_ways(net: &testnets::Network) {
    let felix = |host: &str, address: &str, metric: &str| {
        let host = net.host(host);
        if host.ns().ip(["link", "show", "cali0mixed"]).is_err() {
            crate::support::workload(host, "cali0mixed");
        }
        host.ns()
            .ip([
                "route",
                "add",
                address,
                "dev",
                "cali0mixed",
                "scope",
                "link",
                "metric",
                metric,
            ])
            .unwrap();
    };
    let holds = |host: &str, shown: &str| {
        net.host(host)
            .wait_for_routes(shown, CONVERGE, |routes| {
                routes.iter().any(|r| r.to_string() == shown)
            })
            .unwrap();
    };
    // On BIRD's b9, an address of g10's block (Felix's route, no metric).
    felix("b9", "10.244.10.7/32", "0");
    for bgpd_node in ["g10", "g100"] {
        holds(
            bgpd_node,
            "10.244.10.7/32 via 10.0.1.9 dev eth0 proto bird metric 1024",
        );
    }
    // On bgpd's g100, an address of b11's block, at Felix's normal metric.
    felix("g100", "10.244.11.7/32", "1024");
    for bird_node in ["b9", "b11"] {
        holds(
            bird_node,
            "10.244.11.7/32 via 10.0.1.100 dev eth0 proto bird metric 1024",
        );
    }
    // On g100, a migrated VM inside b9's own block: elevated, it reaches
    // b9 at its metric, beside b9's block.
    felix("g100", "10.244.9.8/32", "512");
    holds(
        "b9",
        "10.244.9.8/32 via 10.0.1.100 dev eth0 proto bird metric 512",
    );
    holds(
        "b11",
        "10.244.9.8/32 via 10.0.1.100 dev eth0 proto bird metric 512",
    );
}

#[test]
fn a_bird16_reflector_serves_bgpd_clients() {
    require_privileges!();
    let net = lan("bird-rr", 3);
    let reflector = "router id 10.0.1.10;
protocol device { }
template bgp rr_clients {
  local 10.0.1.10 as 64512;
  rr client;
  rr cluster id 10.0.1.10;
  direct;
  gateway direct;
  connect delay time 0;
  connect retry time 5;
  import all;
  export all;
}
protocol bgp c1 from rr_clients { neighbor 10.0.1.11 as 64512; }
protocol bgp c2 from rr_clients { neighbor 10.0.1.12 as 64512; }
";
    let bird = Bird::start(net.host("n0"), BirdVersion::V1_6, reflector).unwrap();
    let _c1 = start_bgpd(
        net.host("n1"),
        &node_config(
            "n1",
            "10.0.1.11",
            "10.244.1.0/26",
            &[("10.0.1.10", 64512, "")],
        ),
    );
    let _c2 = start_bgpd(
        net.host("n2"),
        &node_config(
            "n2",
            "10.0.1.12",
            "10.244.2.0/26",
            &[("10.0.1.10", 64512, "")],
        ),
    );
    bird.wait_established(2, CONVERGE).unwrap();
    // Reflected routes keep the originator's next hop.
    has_route(net.host("n1"), "10.244.2.0/26", "10.0.1.12");
    has_route(net.host("n2"), "10.244.1.0/26", "10.0.1.11");
}
