//! Scenario 3: two route reflectors with one cluster ID
//! (docs/CALICO-CONTRACT.md §2.5), a BGPPeer with selectors peering every node
//! with them, the mesh off, and eight clients. One reflector stops and no
//! client loses a route; then the mixed mode: the mesh back on among the
//! clients, beside the reflectors.

use serde_json::json;
use testnets::speakers::bgpd::Bgpd;
use testnets::speakers::etcd::Etcd;
use testnets::{require_privileges, wait_for, Host, Network, Poll};

use crate::cluster::{
    established_since, put_pool, start_from_etcd, table_changes_while, wait_for_every_block,
};
use crate::support::{bgp_connections, lan, put_block, put_node, CONVERGE, RESOURCES};

/// n1 and n2 reflect; they hold no blocks (dedicated reflector nodes).
const REFLECTORS: [(&str, &str); 2] = [("n1", "10.0.1.11"), ("n2", "10.0.1.12")];

/// Clients n3..n10 at 10.0.1.13..20, with block 10.244.<i>.0/26.
fn clients() -> Vec<(String, String, String)> {
    (3..=10)
        .map(|i| {
            (
                format!("n{i}"),
                format!("10.0.1.{}", 10 + i),
                format!("10.244.{i}.0/26"),
            )
        })
        .collect()
}

fn put_mesh(etcd: &Etcd, enabled: bool) {
    let config = json!({"kind": "BGPConfiguration", "apiVersion": "projectcalico.org/v3",
                        "metadata": {"name": "default"},
                        "spec": {"nodeToNodeMeshEnabled": enabled}});
    etcd.put_json(&format!("{RESOURCES}/bgpconfigurations/default"), &config)
        .unwrap();
}

/// Calico's procedure: a cluster ID and a label on each reflector, then
/// one BGPPeer from every node to the labelled ones.
fn put_reflectors(etcd: &Etcd) {
    for (name, address) in REFLECTORS {
        let node = json!({"kind": "Node", "apiVersion": "projectcalico.org/v3",
            "metadata": {"name": name, "labels": {"route-reflector": "true"}},
            "spec": {"bgp": {"ipv4Address": format!("{address}/24"),
                             "routeReflectorClusterID": "224.0.0.1"}}});
        etcd.put_json(&format!("{RESOURCES}/nodes/{name}"), &node)
            .unwrap();
    }
    let peer = json!({"kind": "BGPPeer", "apiVersion": "projectcalico.org/v3",
        "metadata": {"name": "peer-with-reflectors"},
        "spec": {"nodeSelector": "all()", "peerSelector": "route-reflector == 'true'"}});
    etcd.put_json(&format!("{RESOURCES}/bgppeers/peer-with-reflectors"), &peer)
        .unwrap();
}

/// Waits until every client routes every other client's block via its
/// originator (reflection keeps the next hop, RFC 4456 §10) and its own as
/// a blackhole.
fn wait_for_every_client(net: &Network) {
    wait_for_every_block(net, &clients(), "every client's block");
}

/// Waits until `host`'s BGP connections are to exactly `peers`.
fn wait_for_connections(host: &Host, peers: &[String]) {
    let mut peers = peers.to_vec();
    peers.sort();
    wait_for(
        &format!("{}'s sessions to {peers:?}", host.name()),
        CONVERGE,
        || {
            let now = bgp_connections(host);
            Ok(if now == peers {
                Poll::Ready(())
            } else {
                Poll::Pending(format!("{now:?}"))
            })
        },
    )
    .unwrap();
}

fn addresses(of: &[(&str, &str)]) -> Vec<String> {
    of.iter()
        .map(|(_, address)| (*address).to_owned())
        .collect()
}

#[test]
fn two_reflectors_serve_eight_clients_and_either_one_is_enough() {
    require_privileges!();
    let net = lan("cluster-rr", 11);
    let etcd = Etcd::start(net.host("n0")).unwrap();
    put_pool(&etcd, "CrossSubnet");
    put_mesh(&etcd, false);
    put_reflectors(&etcd);
    let clients = clients();
    for (name, address, block) in &clients {
        put_node(&etcd, name, address);
        put_block(&etcd, name, block);
    }
    let start = |name: &str| start_from_etcd(&net, &etcd, name);
    let mut reflectors: Vec<Bgpd> = REFLECTORS.iter().map(|(n, _)| start(n)).collect();
    let _clients: Vec<Bgpd> = clients.iter().map(|(n, _, _)| start(n)).collect();

    wait_for_every_client(&net);
    // The routes came through the reflectors: a client peers with them only;
    // a reflector with its twin and every client.
    for (name, _, _) in &clients {
        wait_for_connections(net.host(name), &addresses(&REFLECTORS));
    }
    for (name, _) in REFLECTORS {
        let mut peers: Vec<String> = clients.iter().map(|(_, a, _)| a.clone()).collect();
        peers.extend(addresses(&REFLECTORS).into_iter().filter(|a| {
            REFLECTORS
                .iter()
                .any(|(other, address)| *other != name && address == a)
        }));
        wait_for_connections(net.host(name), &peers);
    }

    // One reflector stops: the other still reflects everything, and not one
    // sample of any client's table loses a route meanwhile.
    let client_hosts: Vec<&Host> = clients.iter().map(|(n, _, _)| net.host(n)).collect();
    let only_n2 = addresses(&REFLECTORS[1..]);
    let ((), changes) = table_changes_while(&client_hosts, || {
        reflectors[0].process().stop();
        for host in &client_hosts {
            wait_for_connections(host, &only_n2);
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    });
    assert!(
        changes.is_empty(),
        "client tables changed when a reflector stopped: {changes:?}"
    );

    // It comes back; then the mixed mode: the mesh on again. Clients mesh
    // with each other and keep their reflector sessions (not reset by the
    // change); reflectors ignore the mesh.
    reflectors[0] = start("n1");
    for host in &client_hosts {
        wait_for_connections(host, &addresses(&REFLECTORS));
    }
    let before = established_since(client_hosts[0]);
    put_mesh(&etcd, true);
    for (name, address, _) in &clients {
        let mut peers: Vec<String> = clients
            .iter()
            .filter(|(_, other, _)| other != address)
            .map(|(_, other, _)| other.clone())
            .collect();
        peers.extend(addresses(&REFLECTORS));
        wait_for_connections(net.host(name), &peers);
    }
    let after = established_since(client_hosts[0]);
    for (_, reflector) in REFLECTORS {
        assert_eq!(
            before.get(reflector),
            after.get(reflector),
            "n3's session to {reflector} was reset by turning the mesh on"
        );
    }
    wait_for_every_client(&net);

    // With the mesh, the clients need no reflector at all.
    let ((), changes) = table_changes_while(&client_hosts, || {
        for reflector in &mut reflectors {
            reflector.process().stop();
        }
        for (name, address, _) in &clients {
            let others: Vec<String> = clients
                .iter()
                .filter(|(_, other, _)| other != address)
                .map(|(_, other, _)| other.clone())
                .collect();
            wait_for_connections(net.host(name), &others);
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    });
    assert!(
        changes.is_empty(),
        "client tables changed when both reflectors stopped in mixed mode: {changes:?}"
    );
}
