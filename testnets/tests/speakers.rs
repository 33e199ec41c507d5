//! Third-party speakers under the harness: BIRD 2, GoBGP, FRR and BIRD 1.6 in
//! an iBGP mesh, each announcing one /26, every kernel getting the others'
//! routes; and etcd reached from another subnet. This proves the harness and
//! the peers before bgpd joins them.

#![allow(
    clippy::unwrap_used,
    reason = "a test that cannot build its network fails loudly"
)]

use std::time::Duration;

use ipnet::IpNet;
use testnets::speakers::bird::{Bird, BirdVersion};
use testnets::speakers::etcd::Etcd;
use testnets::speakers::frr::Frr;
use testnets::speakers::gobgp::GoBgp;
use testnets::speakers::{SessionState, Speaker};
use testnets::{require_privileges, Topology};

const CONVERGE: Duration = Duration::from_secs(60);

/// (host, address, block) of the four mesh members.
const MEMBERS: [(&str, &str, &str); 4] = [
    ("n1", "10.0.1.11", "10.244.1.0/26"),
    ("n2", "10.0.1.12", "10.244.2.0/26"),
    ("n3", "10.0.1.13", "10.244.3.0/26"),
    ("n4", "10.0.1.14", "10.244.4.0/26"),
];

fn others(me: &str) -> impl Iterator<Item = (&'static str, &'static str, &'static str)> + '_ {
    MEMBERS.into_iter().filter(move |(name, _, _)| *name != me)
}

fn bird2_config() -> String {
    let mut config = String::from(
        "router id 10.0.1.11;
protocol device { scan time 10; }
protocol kernel { ipv4 { import none; export where source = RTS_BGP; }; merge paths on; }
protocol static own { ipv4; route 10.244.1.0/26 blackhole; }
template bgp mesh {
  local 10.0.1.11 as 64512;
  neighbor as 64512;
  direct;
  connect delay time 0;
  connect retry time 5;
  ipv4 { gateway direct; import all; export where source = RTS_STATIC; };
}
",
    );
    for (name, address, _) in others("n1") {
        config.push_str(&format!(
            "protocol bgp peer_{name} from mesh {{ neighbor {address}; }}\n"
        ));
    }
    config
}

fn bird16_config() -> String {
    let mut config = String::from(
        "router id 10.0.1.14;
protocol device { scan time 10; }
protocol kernel { scan time 10; import none; export where source = RTS_BGP; merge paths on; }
protocol static own { route 10.244.4.0/26 blackhole; }
template bgp mesh {
  local 10.0.1.14 as 64512;
  direct;
  gateway direct;
  connect delay time 0;
  connect retry time 5;
  import all;
  export where source = RTS_STATIC;
}
",
    );
    for (name, address, _) in others("n4") {
        config.push_str(&format!(
            "protocol bgp peer_{name} from mesh {{ neighbor {address} as 64512; }}\n"
        ));
    }
    config
}

fn gobgp_config() -> String {
    let mut config = String::from(
        "[global.config]\n  as = 64512\n  router-id = \"10.0.1.12\"\n  local-address-list = [\"10.0.1.12\"]\n",
    );
    for (_, address, _) in others("n2") {
        config.push_str(&format!(
            "[[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{address}\"\n    peer-as = 64512\n  \
             [neighbors.timers.config]\n    connect-retry = 5\n  [[neighbors.afi-safis]]\n    \
             [neighbors.afi-safis.config]\n      afi-safi-name = \"ipv4-unicast\"\n"
        ));
    }
    config
}

fn frr_config() -> String {
    let mut config = String::from(
        "frr defaults traditional\nrouter bgp 64512\n bgp router-id 10.0.1.13\n no bgp network import-check\n coalesce-time 100\n",
    );
    for (_, address, _) in others("n3") {
        config.push_str(&format!(
            " neighbor {address} remote-as 64512\n neighbor {address} timers connect 5\n"
        ));
    }
    config
        .push_str(" address-family ipv4 unicast\n  network 10.244.3.0/26\n exit-address-family\n");
    config
}

#[test]
fn bird_gobgp_and_frr_mesh_into_every_kernel() {
    require_privileges!();
    let mut topology = Topology::new("peer-mesh");
    topology.segment("lan");
    for (name, address, _) in MEMBERS {
        topology
            .node(name)
            .iface("lan", &[&format!("{address}/24")]);
    }
    let net = topology.build().unwrap();

    let bird2 = Bird::start(net.host("n1"), BirdVersion::V2, &bird2_config()).unwrap();
    let mut gobgp = GoBgp::start(net.host("n2"), &gobgp_config()).unwrap();
    gobgp.announce("10.244.2.0/26".parse().unwrap()).unwrap();
    gobgp.mirror_to_kernel().unwrap();
    let frr = Frr::start(net.host("n3"), &frr_config()).unwrap();
    let bird16 = Bird::start(net.host("n4"), BirdVersion::V1_6, &bird16_config()).unwrap();
    let speakers: [(&str, &dyn Speaker); 4] = [
        ("n1", &bird2),
        ("n2", &gobgp),
        ("n3", &frr),
        ("n4", &bird16),
    ];

    for (name, speaker) in speakers {
        let sessions = speaker.wait_established(3, CONVERGE).unwrap();
        assert!(
            sessions
                .iter()
                .all(|s| s.state == SessionState::Established),
            "{name}: {sessions:?}"
        );
        let expected: Vec<IpNet> = others(name)
            .map(|(_, _, block)| block.parse().unwrap())
            .collect();
        speaker.wait_received(&expected, CONVERGE).unwrap();
    }
    for (name, _, _) in MEMBERS {
        let host = net.host(name);
        let table = host
            .wait_for_routes("the other members' blocks", CONVERGE, |routes| {
                others(name).all(|(_, address, block)| {
                    routes.iter().any(|r| {
                        r.destination == block.parse::<IpNet>().unwrap()
                            && r.gateway() == Some(address.parse().unwrap())
                            && r.device() == Some("eth0")
                    })
                })
            })
            .unwrap();
        // Nobody installs its own block from a peer.
        let own: IpNet = MEMBERS
            .iter()
            .find(|m| m.0 == name)
            .unwrap()
            .2
            .parse()
            .unwrap();
        assert!(
            table
                .iter()
                .all(|r| r.destination != own || r.gateway().is_none()),
            "{name}: {table:?}"
        );
    }
}

#[test]
fn etcd_serves_hosts_on_other_subnets() {
    require_privileges!();
    let net = Topology::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/two-subnets.toml"),
    )
    .unwrap()
    .build()
    .unwrap();
    let etcd = Etcd::start(net.host("n1")).unwrap();
    let key = "/calico/resources/v3/projectcalico.org/ippools/default-ipv4-ippool";
    let pool = serde_json::json!({
        "kind": "IPPool",
        "apiVersion": "projectcalico.org/v3",
        "metadata": { "name": "default-ipv4-ippool" },
        "spec": { "cidr": "10.244.0.0/16", "ipipMode": "CrossSubnet", "blockSize": 26 },
    });
    etcd.put_json(key, &pool).unwrap();
    // Read back from n3, on the other subnet, through the router.
    let value = net
        .host("n3")
        .exec(
            "etcdctl",
            [
                "--endpoints",
                etcd.endpoint(),
                "get",
                key,
                "--print-value-only",
            ],
        )
        .unwrap();
    let read: serde_json::Value = serde_json::from_str(value.trim()).unwrap();
    assert_eq!(read, pool);
    etcd.delete(key).unwrap();
    assert_eq!(etcd.get(key).unwrap(), None);
}
