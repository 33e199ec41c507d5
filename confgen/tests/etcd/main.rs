//! confgen's watcher against a real etcd: consistent paginated listings,
//! writes landing between pages, compactions while listing and watching,
//! values over 4 MiB, and a datastore full of kinds BGP never reads.

#![allow(
    clippy::unwrap_used,
    reason = "a test whose etcd does not answer fails loudly"
)]

use std::sync::Arc;
use std::time::Duration;

use confgen::snapshot::{ranges, Snapshot, AFFINITIES, RESOURCES};
use confgen::watch::{apply, follow, list, watch, ListError, Pager, Synced, PAGE_SIZE};
use etcd_client::{KvClient, Txn, TxnOp};
use serde_json::json;

mod server;
use server::Server;

/// Generous: how long a published change may take on a busy machine.
const DEADLINE: Duration = Duration::from_secs(60);

fn node_key(name: &str) -> String {
    format!("{RESOURCES}nodes/{name}")
}

fn node(name: &str, address: &str) -> String {
    json!({"kind": "Node", "apiVersion": "projectcalico.org/v3",
           "metadata": {"name": name},
           "spec": {"bgp": {"ipv4Address": address}}})
    .to_string()
}

async fn put(kv: &mut KvClient, key: &str, value: &str) -> i64 {
    let response = kv.put(key, value, None).await.unwrap();
    response.header().unwrap().revision()
}

/// Nodes `name(0)` to `name(count - 1)`, node i at 10.0.x.y/24 (i + 1 in
/// the last two octets).
async fn put_nodes(kv: &mut KvClient, count: usize, name: impl Fn(usize) -> String) {
    for i in 0..count {
        let name = name(i);
        let address = format!("10.0.{}.{}/24", i / 250, i % 250 + 1);
        put(kv, &node_key(&name), &node(&name, &address)).await;
    }
}

/// `count` WorkloadEndpoints of about 1.3 KB each, as Calico writes them,
/// in transactions of 100.
async fn put_workload_endpoints(kv: &mut KvClient, count: usize) {
    let filler = "x".repeat(1100);
    for chunk in (0..count).collect::<Vec<_>>().chunks(100) {
        let ops: Vec<TxnOp> = chunk
            .iter()
            .map(|i| {
                let key = format!("{RESOURCES}workloadendpoints/default/n1-k8s-pod{i}-eth0");
                let value = json!({"kind": "WorkloadEndpoint", "metadata": {"name": key},
                                   "spec": {"node": "n1", "annotations": {"filler": filler}}});
                TxnOp::put(key, value.to_string(), None)
            })
            .collect();
        kv.txn(Txn::new().and_then(ops)).await.unwrap();
    }
}

/// Reads the snapshot every range holds now.
async fn fresh(server: &Server, node: &str) -> Snapshot {
    list(&server.clients().await, &ranges(node), PAGE_SIZE)
        .await
        .unwrap()
        .snapshot
}

#[tokio::test]
async fn lists_only_what_bgp_reads_however_much_else_there_is() {
    let server = Server::start("unread").await;
    let mut kv = server.clients().await.kv;
    // About 5.5 MB of WorkloadEndpoints: more than one gRPC response
    // holds by default, under the same prefix as the resources BGP reads.
    put_workload_endpoints(&mut kv, 4200).await;
    put_nodes(&mut kv, 300, |i| format!("n{i}")).await;
    put(
        &mut kv,
        &format!("{AFFINITIES}n1/ipv4/block/10.244.1.0-26"),
        r#"{"state":"confirmed"}"#,
    )
    .await;
    put(
        &mut kv,
        &format!("{AFFINITIES}n10/ipv4/block/10.244.10.0-26"),
        r#"{"state":"confirmed"}"#,
    )
    .await;

    let listing = list(&server.clients().await, &ranges("n1"), PAGE_SIZE)
        .await
        .unwrap();
    assert_eq!(listing.snapshot.nodes.len(), 300);
    assert!(listing.bad.is_empty(), "{:?}", listing.bad);
    // Only n1's own affinities: n10's are under another prefix.
    assert_eq!(
        listing.snapshot.affinities.keys().collect::<Vec<_>>(),
        ["n1"]
    );
}

#[tokio::test]
async fn every_page_is_read_at_the_first_pages_revision() {
    let server = Server::start("pages").await;
    let clients = server.clients().await;
    let mut kv = clients.kv.clone();
    put_nodes(&mut kv, 10, |i| format!("node-{i:02}")).await;
    let mut pager = Pager::new(&clients, ranges("node-00"), 3);
    let first = pager.next_page().await.unwrap().unwrap();
    assert_eq!(first.len(), 3, "pages of three");
    let listed_at = pager.revision();

    // Written between pages: a node already read changes, one not yet read
    // is deleted, a new one and a pool appear.
    put(
        &mut kv,
        &node_key("node-00"),
        &node("node-00", "10.0.9.1/24"),
    )
    .await;
    kv.delete(node_key("node-07"), None).await.unwrap();
    put(
        &mut kv,
        &node_key("node-99"),
        &node("node-99", "10.0.0.99/24"),
    )
    .await;
    let pool = json!({"metadata": {"name": "p"}, "spec": {"cidr": "10.244.0.0/16"}}).to_string();
    put(&mut kv, &format!("{RESOURCES}ippools/p"), &pool).await;

    let mut snapshot = Snapshot::default();
    let mut pages = 1;
    for kv in &first {
        snapshot
            .put(std::str::from_utf8(kv.key()).unwrap(), kv.value())
            .unwrap();
    }
    while let Some(page) = pager.next_page().await.unwrap() {
        pages += 1;
        for kv in &page {
            snapshot
                .put(std::str::from_utf8(kv.key()).unwrap(), kv.value())
                .unwrap();
        }
    }
    assert_eq!(pager.revision(), listed_at, "one revision throughout");
    assert_eq!(pages, 4, "ten nodes in pages of three");
    // The datastore as it was when the first page was read.
    assert_eq!(snapshot.nodes.len(), 10);
    assert!(snapshot.nodes.contains_key("node-07"));
    assert!(!snapshot.nodes.contains_key("node-99"));
    assert!(snapshot.pools.is_empty());
    let address = |s: &Snapshot, n: &str| s.nodes[n].spec.bgp.as_ref().unwrap().ipv4_address;
    assert_eq!(
        address(&snapshot, "node-00"),
        Some("10.0.0.1/24".parse().unwrap())
    );

    // The watch from that revision + 1 brings every write made meanwhile.
    let now = fresh(&server, "node-00").await;
    let mut stream = watch(&clients, &ranges("node-00"), listed_at + 1)
        .await
        .unwrap();
    tokio::time::timeout(DEADLINE, async {
        while snapshot != now {
            let response = stream.message().await.unwrap().unwrap();
            assert!(!apply(&mut snapshot, &response).compacted);
        }
    })
    .await
    .expect("the watch brings the writes made between pages");
    assert!(!snapshot.nodes.contains_key("node-07"));
    assert_eq!(
        address(&snapshot, "node-00"),
        Some("10.0.9.1/24".parse().unwrap())
    );
}

#[tokio::test]
async fn a_compaction_while_listing_or_before_the_watch_lists_again() {
    let server = Server::start("compaction").await;
    let clients = server.clients().await;
    let mut kv = clients.kv.clone();
    put_nodes(&mut kv, 6, |i| format!("n{i}")).await;
    let mut pager = Pager::new(&clients, ranges("n0"), 2);
    pager.next_page().await.unwrap().unwrap();
    let listed_at = pager.revision();
    let latest = put(&mut kv, &node_key("n5"), &node("n5", "10.0.5.5/24")).await;
    server.compact(latest);
    assert_eq!(
        pager.next_page().await.unwrap_err(),
        ListError::Compacted,
        "the listed revision is gone"
    );
    // A listing from scratch reads the compacted datastore as it is now.
    let listing = list(&clients, &ranges("n0"), 2).await.unwrap();
    assert!(listing.revision >= latest);
    let bgp = listing.snapshot.nodes["n5"].spec.bgp.clone().unwrap();
    assert_eq!(bgp.ipv4_address, Some("10.0.5.5/24".parse().unwrap()));

    // A watch from before the compaction is told so, to list again. (etcd
    // keeps the revision compacted at: the watch starts before it.)
    let newest = put(&mut kv, &node_key("n4"), &node("n4", "10.0.4.4/24")).await;
    server.compact(newest);
    let mut stream = watch(&clients, &ranges("n0"), listed_at + 1).await.unwrap();
    let compacted = tokio::time::timeout(DEADLINE, async {
        loop {
            let response = stream.message().await.unwrap().unwrap();
            let applied = apply(&mut Snapshot::default(), &response);
            if applied.compacted {
                return applied;
            }
        }
    })
    .await
    .expect("a compacted watch says so");
    assert!(!compacted.changed);
}

/// Waits for the follower to publish a snapshot that `done` accepts.
async fn published(
    synced: &mut tokio::sync::watch::Receiver<Synced>,
    done: impl Fn(&Snapshot) -> bool,
) -> Arc<Snapshot> {
    tokio::time::timeout(DEADLINE, async {
        loop {
            {
                let now = synced.borrow_and_update();
                if now.connected && done(&now.snapshot) {
                    return now.snapshot.clone();
                }
            }
            synced.changed().await.unwrap();
        }
    })
    .await
    .expect("published in time")
}

#[tokio::test]
async fn the_follower_survives_compaction_and_carries_values_over_4_mib() {
    let server = Server::start("follow").await;
    let mut kv = server.clients().await.kv;
    put(&mut kv, &node_key("n1"), &node("n1", "10.0.0.1/24")).await;
    let (publish, mut synced) = tokio::sync::watch::channel(Synced::default());
    let follower = tokio::spawn(follow(server.config(), "n1".into(), publish));
    published(&mut synced, |s| s.nodes.contains_key("n1")).await;

    let latest = put(&mut kv, &node_key("n2"), &node("n2", "10.0.0.2/24")).await;
    server.compact(latest);
    // A Node of 6 MiB (its labels), read by the watch and by a listing.
    let labels: serde_json::Map<_, _> = (0..6)
        .map(|i| (format!("big-{i}"), json!("y".repeat(1 << 20))))
        .collect();
    let big = json!({"kind": "Node", "metadata": {"name": "n3", "labels": labels},
                     "spec": {"bgp": {"ipv4Address": "10.0.0.3/24"}}});
    put(&mut kv, &node_key("n3"), &big.to_string()).await;
    let snapshot = published(&mut synced, |s| s.nodes.contains_key("n3")).await;
    assert!(
        snapshot.nodes.contains_key("n2"),
        "written before the compaction"
    );
    assert_eq!(snapshot.nodes["n3"].metadata.labels.len(), 6);
    assert_eq!(
        fresh(&server, "n1").await.nodes["n3"].metadata.labels.len(),
        6
    );
    follower.abort();
}
