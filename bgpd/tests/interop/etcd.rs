//! bgpd configured by Calico's resources in a real etcd: blocks reach every
//! kernel, changes apply live, a node joins without flapping anyone, and an
//! etcd outage loses nothing.

use std::time::Instant;

use ipnet::IpNet;
use serde_json::json;
use testnets::speakers::bgpd::Bgpd;
use testnets::speakers::etcd::Etcd;
use testnets::{require_privileges, Host, Network, Poll};

use crate::support::{bgp_connections, binary, lan, put_block, put_node, CONVERGE, RESOURCES};

/// Waits until `host`'s kernel routes `block` via `next_hop` on eth0; returns when.
fn wait_route(host: &Host, block: &str, next_hop: &str) -> Instant {
    let block: IpNet = block.parse().unwrap();
    let next_hop = next_hop.parse().unwrap();
    host.wait_for_routes(&format!("{block} via {next_hop}"), CONVERGE, |routes| {
        routes.iter().any(|r| {
            r.destination == block && r.gateway() == Some(next_hop) && r.device() == Some("eth0")
        })
    })
    .unwrap();
    Instant::now()
}

fn start(net: &Network, etcd: &Etcd, node: &str) -> Bgpd {
    Bgpd::start_with_etcd(net.host(node), binary(), etcd.endpoint(), node, 179).unwrap()
}

#[test]
fn bgpd_follows_calico_resources_in_etcd() {
    require_privileges!();
    let net = lan("bgpd-etcd", 5);
    let etcd = Etcd::start(net.host("n0")).unwrap();
    let pool = json!({"kind": "IPPool", "apiVersion": "projectcalico.org/v3", "metadata": {"name": "pool"},
                      "spec": {"cidr": "10.244.0.0/16", "ipipMode": "CrossSubnet"}});
    etcd.put_json(&format!("{RESOURCES}/ippools/pool"), &pool)
        .unwrap();
    for (node, address, block) in [
        ("n1", "10.0.1.11", "10.244.1.0/26"),
        ("n2", "10.0.1.12", "10.244.2.0/26"),
        ("n3", "10.0.1.13", ""),
    ] {
        put_node(&etcd, node, address);
        if !block.is_empty() {
            put_block(&etcd, node, block);
        }
    }
    // A bad value is skipped with its key; the rest of the state is used.
    etcd.put(&format!("{RESOURCES}/bgppeers/broken"), "{not json")
        .unwrap();
    let n1 = start(&net, &etcd, "n1");
    let _n2 = start(&net, &etcd, "n2");
    let _n3 = start(&net, &etcd, "n3");

    wait_route(net.host("n1"), "10.244.2.0/26", "10.0.1.12");
    wait_route(net.host("n2"), "10.244.1.0/26", "10.0.1.11");
    wait_route(net.host("n3"), "10.244.1.0/26", "10.0.1.11");
    wait_route(net.host("n3"), "10.244.2.0/26", "10.0.1.12");
    assert!(
        n1.log().contains("bgppeers/broken"),
        "the bad value is reported with its key"
    );

    // A new affinity: its block reaches every other kernel.
    let written = Instant::now();
    put_block(&etcd, "n3", "10.244.3.0/26");
    let seen = wait_route(net.host("n1"), "10.244.3.0/26", "10.0.1.13").max(wait_route(
        net.host("n2"),
        "10.244.3.0/26",
        "10.0.1.13",
    ));
    eprintln!(
        "etcd write to route in the remote kernels: {:?}",
        seen - written
    );

    // A new node: every node peers with it; no existing session goes down.
    put_node(&etcd, "n4", "10.0.1.14");
    put_block(&etcd, "n4", "10.244.4.0/26");
    let _n4 = start(&net, &etcd, "n4");
    wait_route(net.host("n1"), "10.244.4.0/26", "10.0.1.14");
    wait_route(net.host("n4"), "10.244.1.0/26", "10.0.1.11");
    assert!(
        !n1.log().contains("session down"),
        "no session flapped:\n{}",
        n1.log()
    );

    // etcd goes away: nothing is lost; when it is back, changes apply again.
    let mut etcd = etcd;
    etcd.process().stop();
    testnets::wait_for("bgpd to notice the outage", CONVERGE, || {
        Ok(if n1.log().contains("etcd unreachable") {
            Poll::Ready(())
        } else {
            Poll::Pending(String::new())
        })
    })
    .unwrap();
    wait_route(net.host("n1"), "10.244.2.0/26", "10.0.1.12");
    let etcd = Etcd::start(net.host("n0")).unwrap();
    put_block(&etcd, "n2", "10.244.22.0/26");
    wait_route(net.host("n1"), "10.244.22.0/26", "10.0.1.12");
    assert!(
        !n1.log().contains("session down"),
        "no session flapped across the outage"
    );
}

#[test]
fn turning_the_mesh_off_for_a_route_reflector_changes_the_topology_over() {
    require_privileges!();
    let net = lan("bgpd-etcd-rr", 5);
    let etcd = Etcd::start(net.host("n0")).unwrap();
    for (node, address, block) in [
        ("n1", "10.0.1.11", "10.244.1.0/26"),
        ("n2", "10.0.1.12", "10.244.2.0/26"),
        ("n3", "10.0.1.13", "10.244.3.0/26"),
        ("n4", "10.0.1.14", "10.244.4.0/26"),
    ] {
        put_node(&etcd, node, address);
        put_block(&etcd, node, block);
    }
    let _bgpds: Vec<Bgpd> = ["n1", "n2", "n3", "n4"]
        .iter()
        .map(|n| start(&net, &etcd, n))
        .collect();
    wait_route(net.host("n2"), "10.244.3.0/26", "10.0.1.13");
    testnets::wait_for("the full mesh at n2", CONVERGE, || {
        let c = bgp_connections(net.host("n2"));
        Ok(if c.len() == 3 {
            Poll::Ready(())
        } else {
            Poll::Pending(format!("{c:?}"))
        })
    })
    .unwrap();

    // n1 becomes a route reflector, every node peers with it, the mesh goes.
    let reflector = json!({"kind": "Node", "apiVersion": "projectcalico.org/v3",
        "metadata": {"name": "n1", "labels": {"route-reflector": "true"}},
        "spec": {"bgp": {"ipv4Address": "10.0.1.11/24", "routeReflectorClusterID": "224.0.0.1"}}});
    etcd.put_json(&format!("{RESOURCES}/nodes/n1"), &reflector)
        .unwrap();
    let peer = json!({"kind": "BGPPeer", "apiVersion": "projectcalico.org/v3", "metadata": {"name": "to-rr"},
        "spec": {"nodeSelector": "all()", "peerSelector": "route-reflector == 'true'"}});
    etcd.put_json(&format!("{RESOURCES}/bgppeers/to-rr"), &peer)
        .unwrap();
    let config = json!({"kind": "BGPConfiguration", "apiVersion": "projectcalico.org/v3", "metadata": {"name": "default"},
        "spec": {"nodeToNodeMeshEnabled": false}});
    etcd.put_json(&format!("{RESOURCES}/bgpconfigurations/default"), &config)
        .unwrap();

    for client in ["n2", "n3", "n4"] {
        testnets::wait_for(
            &format!("{client} to peer with the reflector only"),
            CONVERGE,
            || {
                let c = bgp_connections(net.host(client));
                Ok(if c == ["10.0.1.11"] {
                    Poll::Ready(())
                } else {
                    Poll::Pending(format!("{c:?}"))
                })
            },
        )
        .unwrap();
    }
    testnets::wait_for("the reflector to serve every client", CONVERGE, || {
        let c = bgp_connections(net.host("n1"));
        Ok(if c.len() == 3 {
            Poll::Ready(())
        } else {
            Poll::Pending(format!("{c:?}"))
        })
    })
    .unwrap();
    // Routes between clients now come through the reflector, with the
    // originator's next hop.
    wait_route(net.host("n2"), "10.244.3.0/26", "10.0.1.13");
    wait_route(net.host("n4"), "10.244.2.0/26", "10.0.1.12");
    wait_route(net.host("n3"), "10.244.1.0/26", "10.0.1.11");
}

#[test]
fn etcd_over_tls_with_client_certificates() {
    require_privileges!();
    let net = lan("bgpd-etcd-tls", 4);
    let tls = testnets::speakers::etcd::EtcdTls::generate(
        &net.dir().join("tls"),
        "10.0.1.10".parse().unwrap(),
    )
    .unwrap();
    let other_ca = testnets::speakers::etcd::EtcdTls::generate(
        &net.dir().join("other"),
        "10.0.1.10".parse().unwrap(),
    )
    .unwrap();
    let etcd = Etcd::start_tls(net.host("n0"), tls.clone()).unwrap();
    for (node, address, block) in [
        ("n1", "10.0.1.11", "10.244.1.0/26"),
        ("n2", "10.0.1.12", "10.244.2.0/26"),
    ] {
        put_node(&etcd, node, address);
        put_block(&etcd, node, block);
    }
    let env = |ca: &std::path::Path| {
        [
            ("ETCD_CA_CERT_FILE", ca.to_owned()),
            ("ETCD_CERT_FILE", tls.client_cert.clone()),
            ("ETCD_KEY_FILE", tls.client_key.clone()),
        ]
    };
    let good = env(&tls.ca);
    let good: Vec<(&str, &std::ffi::OsStr)> =
        good.iter().map(|(k, v)| (*k, v.as_os_str())).collect();
    let _n1 =
        Bgpd::start_with_etcd_env(net.host("n1"), binary(), etcd.endpoint(), "n1", 179, &good)
            .unwrap();
    let _n2 =
        Bgpd::start_with_etcd_env(net.host("n2"), binary(), etcd.endpoint(), "n2", 179, &good)
            .unwrap();
    wait_route(net.host("n1"), "10.244.2.0/26", "10.0.1.12");

    // A bgpd that trusts another CA refuses etcd's certificate.
    let bad = env(&other_ca.ca);
    let bad: Vec<(&str, &std::ffi::OsStr)> = bad.iter().map(|(k, v)| (*k, v.as_os_str())).collect();
    let refused =
        Bgpd::spawn_with_etcd(net.host("n3"), binary(), etcd.endpoint(), "n3", &bad).unwrap();
    testnets::wait_for("bgpd to refuse an untrusted etcd", CONVERGE, || {
        Ok(if refused.log().contains("etcd unreachable") {
            Poll::Ready(())
        } else {
            Poll::Pending(refused.log())
        })
    })
    .unwrap();
}
