//! Scenario 7: bgpd restarts on one node; the routes in its kernel stay
//! through the restart and it comes back to the same table.

use std::time::Duration;

use testnets::speakers::etcd::Etcd;
use testnets::{require_privileges, wait_for, Poll, PROTO_BIRD};

use crate::cluster::{bgpd_routes, put_lan_nodes, put_pool, start_from_etcd, table_changes_while};
use crate::support::{lan, CONVERGE};

#[test]
fn a_restarted_bgpd_keeps_its_kernel_routes_and_comes_back_to_the_same_table() {
    require_privileges!();
    let net = lan("cluster-restart", 4);
    let etcd = Etcd::start(net.host("n0")).unwrap();
    put_pool(&etcd, "CrossSubnet");
    put_lan_nodes(&etcd);
    let start = |name: &str| start_from_etcd(&net, &etcd, name);
    let mut n1 = start("n1");
    let _n2 = start("n2");
    let _n3 = start("n3");
    let host = net.host("n1");
    host.wait_for_routes("both other blocks and its own", CONVERGE, |table| {
        table.iter().filter(|r| r.protocol == PROTO_BIRD).count() == 3
    })
    .unwrap();
    let before = bgpd_routes(host);
    assert_eq!(
        before,
        [
            "10.244.2.0/26 via 10.0.1.12 dev eth0 proto bird metric 1024",
            "10.244.3.0/26 via 10.0.1.13 dev eth0 proto bird metric 1024",
            "blackhole 10.244.1.0/26 proto bird",
        ]
    );

    // Stopped (SIGTERM, as a pod's container is): the routes stay, like
    // BIRD's `persist`, so pods keep their traffic while bgpd is away.
    n1.process().stop();
    assert_eq!(bgpd_routes(host), before, "routes after bgpd stopped");

    // Watched from now until after the new bgpd has converged and swept: not
    // one sample may differ.
    let (_again, differed) = table_changes_while(&[host], || {
        let again = start("n1");
        wait_for("the restarted bgpd to converge", CONVERGE, || {
            Ok(if again.log().contains("every peer sent its table") {
                Poll::Ready(())
            } else {
                Poll::Pending(again.log())
            })
        })
        .unwrap();
        // The sweep of routes not learned again follows convergence at once;
        // a little longer shows that it took nothing that was wanted.
        std::thread::sleep(Duration::from_millis(500));
        again
    });
    assert!(
        differed.is_empty(),
        "the table changed during the restart: {differed:?}"
    );
    assert_eq!(bgpd_routes(host), before);
}
