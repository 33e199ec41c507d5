//! S7: a production-size Calico datastore. etcd holds N Nodes (two of them
//! route reflectors, the mesh off, Calico's BGPPeer that peers every node
//! with them), 4 block affinities and 20 WorkloadEndpoints per Node, and a
//! BGPPeer (a top-of-rack switch) per 10 Nodes. bgpd runs as one client
//! node and as one of the reflectors; the others exist only in etcd.
//! Figures: start to configured with every peer known, resident memory, a
//! new affinity to the local blackhole and to the route in the reflector's
//! kernel, and CPU over WorkloadEndpoint writes; beside them, `etcdctl get
//! --prefix` of the keys the reflector reads (the floor).

use std::ffi::OsStr;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use etcd_client::{Client, Txn, TxnOp};
use serde_json::{json, Value};
use testnets::speakers::bgpd::Bgpd;
use testnets::speakers::etcd::Etcd;
use testnets::{Error, Host, Process, Result, Topology};

use super::duts::Daemon;
use super::fibwatch::FibWatch;
use super::stats::percentile;
use super::tally::{Prefixes, Tally};
use super::{changes, millis, usage, Metric, Options, Sample, Scenario};

pub struct DatastoreScale;

const METRICS: &[Metric] = &[
    Metric::lower("reflector_ready_ms", "reflector: start to configured (ms)"),
    Metric::lower("client_ready_ms", "client: start to configured (ms)"),
    Metric::lower("floor_ms", "etcdctl get of the reflector's keys (ms)"),
    Metric::lower("reflector_rss_mib", "reflector RSS (MiB)"),
    Metric::lower("client_rss_mib", "client RSS (MiB)"),
    Metric::lower("local_p50_ms", "new affinity to local blackhole, p50 (ms)"),
    Metric::lower("local_p99_ms", "p99 (ms)"),
    Metric::lower("remote_p50_ms", "to the reflector's kernel, p50 (ms)"),
    Metric::lower("remote_p99_ms", "p99 (ms)"),
    Metric::lower("idle_cpu_ms", "CPU of both, idle for as long (ms)"),
    Metric::lower(
        "wep_cpu_ms",
        "CPU of both over the WorkloadEndpoint writes (ms)",
    ),
    Metric::lower("node_cpu_ms", "reflector CPU per Node write (ms)"),
];

const RESOURCES: &str = "/calico/resources/v3/projectcalico.org";
const AS: u32 = 64512;
const BLOCKS_PER_NODE: usize = 4;
const WORKLOADS_PER_NODE: usize = 20;
const NODES_PER_TOR: usize = 10;
/// WorkloadEndpoint writes timed for CPU (fewer in a quick run).
const WEP_WRITES: usize = 1000;
/// Keys per transaction when the harness fills etcd (etcd allows 128).
const BATCH: usize = 100;

/// The client that runs bgpd is node 1; the reflector that does is `rr1`.
const CLIENT: &str = "n1";
const REFLECTOR: &str = "rr1";
const CLIENT_ADDRESS: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 10);
const ETCD_ADDRESS: &str = "10.1.251.1/16";

/// Reflector k's address (k = 1, 2), on the segment.
fn reflector_address(k: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 1, 250, k as u8)
}

/// Client node i's address: node 1 on the segment; the others on a subnet
/// no namespace reaches, so their sessions fail at once (no ARP for
/// thousands of absent hosts) and cost what a configured peer costs.
fn client_address(i: usize) -> Ipv4Addr {
    if i == 1 {
        return CLIENT_ADDRESS;
    }
    Ipv4Addr::new(10, 2, (i / 200) as u8, (i % 200 + 10) as u8)
}

/// Node i's blocks are /26 number 4(i - 1) to 4i - 1; the reflectors' come
/// after the clients'; new ones for the changes after those.
fn blocks(nodes: usize, changes: usize) -> Prefixes {
    Prefixes::new(
        Ipv4Addr::new(10, 128, 0, 0),
        26,
        BLOCKS_PER_NODE * nodes + changes,
    )
}

fn affinity_key(node: &str, block: &str) -> String {
    format!(
        "/calico/ipam/v2/host/{node}/ipv4/block/{}",
        block.replace('/', "-")
    )
}

impl Scenario for DatastoreScale {
    fn id(&self) -> &'static str {
        "S7"
    }

    fn title(&self) -> &'static str {
        "a production-size datastore"
    }

    fn method(&self) -> &'static str {
        "etcd holds N Nodes of the size calico-node writes (two of them route reflectors with a \
         cluster id and the label Calico's docs use), the default BGPConfiguration with the \
         mesh off, Calico's BGPPeer that peers every node with the reflectors (nodeSelector \
         all(), peerSelector route-reflector == 'true'), 4 block affinities and 20 \
         WorkloadEndpoints (about 1.3 KB each) per Node, and one BGPPeer per 10 Nodes (a \
         top-of-rack switch, chosen by a rack label). bgpd runs twice, for client node n1 and \
         for reflector rr1, each in its own namespace; the other nodes exist only in etcd, at \
         addresses no namespace reaches. Start to configured is from the process's start to \
         bgpd's log line 'configured' (its timestamp), which names every peer: 3 for the \
         client, N-1 for the reflector. RSS is read once both are configured and n1's blocks \
         are in rr1's kernel. Then 20 new affinities for n1, one at a time, each timed from the \
         write to the blackhole in n1's kernel and to the route in rr1's (netlink watchers). \
         CPU (schedstat) of both bgpds over 1,000 WorkloadEndpoint writes, and over an idle \
         stretch as long just after (what the reflector's thousands of unreachable peers \
         cost meanwhile). The floor: `etcdctl get --prefix` of each range the reflector reads, \
         one process each, summed."
    }

    fn daemons(&self) -> &'static [Daemon] {
        &[Daemon::Bgpd]
    }

    fn sizes(&self, quick: bool) -> Vec<usize> {
        if quick {
            vec![50]
        } else {
            vec![1000, 5000]
        }
    }

    fn metrics(&self) -> &'static [Metric] {
        METRICS
    }

    fn run_once(&self, _: Daemon, nodes: usize, options: &Options) -> Result<Sample> {
        if !(10..=20_000).contains(&nodes) {
            return Err(Error::Bench(format!(
                "{nodes} nodes: S7 takes 10 to 20,000"
            )));
        }
        let changes = changes(options);
        let wep_writes = if options.quick { 100 } else { WEP_WRITES };
        let clients = nodes - 2;
        let mut topology = Topology::new("bench-s7");
        topology.segment("lan");
        topology.host("etcd").iface("lan", &[ETCD_ADDRESS]);
        topology
            .node(CLIENT)
            .iface("lan", &[&format!("{CLIENT_ADDRESS}/16")]);
        topology
            .node(REFLECTOR)
            .iface("lan", &[&format!("{}/16", reflector_address(1))]);
        let net = topology.build()?;
        let etcd = Etcd::start(net.host("etcd"))?;
        let prefixes = blocks(nodes, changes);
        let endpoint = etcd.endpoint().to_owned();
        net.host("etcd")
            .ns()
            .enter(|| fill(&mut Session::open(&endpoint)?, clients, &prefixes))?;
        let floor = floor(net.host("etcd"), &endpoint)?;

        // n1's blocks in rr1's kernel (routes), n1's new ones as blackholes.
        let remote = Arc::new(Tally::new(prefixes).with_stamps());
        let local = Arc::new(Tally::new(prefixes).with_stamps());
        let remote_watch = FibWatch::start(net.host(REFLECTOR), remote.clone())?;
        let local_watch = FibWatch::blackholes(net.host(CLIENT), local.clone())?;

        let reflector = Started::spawn(net.host(REFLECTOR), REFLECTOR, &endpoint, options)?;
        let client = Started::spawn(net.host(CLIENT), CLIENT, &endpoint, options)?;
        let deadline = Duration::from_secs(60 + nodes as u64 / 50);
        let reflector_ready = reflector.configured(nodes - 1, deadline)?;
        let client_ready = client.configured(3, deadline)?;
        for index in 0..BLOCKS_PER_NODE {
            remote.wait(
                &format!("n1's block {index} in rr1's kernel"),
                deadline,
                |s| s.holds(index),
            )?;
        }
        let pids = [reflector.process.pid(), client.process.pid()];
        let reflector_rss = usage::sample(&pids[..1]).rss_kib as f64 / 1024.0;
        let client_rss = usage::sample(&pids[1..]).rss_kib as f64 / 1024.0;

        // Timed writes through one client that stays connected.
        let timed = net.host("etcd").ns().enter(|| {
            let mut etcd = Session::open(&endpoint)?;
            let mut local_ms = Vec::with_capacity(changes);
            let mut remote_ms = Vec::with_capacity(changes);
            for change in 0..changes {
                let index = BLOCKS_PER_NODE * nodes + change;
                let block = prefixes.nth(index).to_string();
                std::thread::sleep(PAUSE);
                let t0 = Instant::now();
                etcd.put(&affinity_key(CLIENT, &block), CONFIRMED)?;
                for (tally, times, what) in [
                    (&local, &mut local_ms, "n1's blackhole"),
                    (&remote, &mut remote_ms, "the route in rr1's kernel"),
                ] {
                    tally.wait(&format!("{what} for {block}"), CHANGE_DEADLINE, |s| {
                        s.holds(index)
                    })?;
                    let stamp = tally.stamp(index).unwrap_or_else(Instant::now);
                    times.push(millis(stamp.saturating_duration_since(t0)));
                }
            }

            // CPU: a stretch of WorkloadEndpoint writes, then an idle one as
            // long, once what the changes above set going is done.
            std::thread::sleep(SETTLE);
            let start = usage::sample(&pids);
            let t0 = Instant::now();
            for n in 0..wep_writes {
                let node = format!("n{}", 1 + (n * 7) % clients);
                let (key, value) = workload(&node, n % WORKLOADS_PER_NODE, n + 1);
                etcd.put(&key, &value)?;
            }
            let writing = t0.elapsed();
            let written = usage::sample(&pids);
            std::thread::sleep(writing);
            let idle = usage::sample(&pids);

            // The reflector's cost of a change to a Node it peers with (a
            // label no selector reads: its configuration stays the same).
            let before = usage::sample(&pids[..1]);
            for change in 0..changes {
                let i = 2 + (change * 7) % (clients - 1);
                let name = format!("n{i}");
                let mut value = node(&name, client_address(i), (i - 1) / NODES_PER_TOR, false);
                value["metadata"]["labels"]["topology.kubernetes.io/zone"] =
                    json!(format!("z{change}"));
                etcd.put(&format!("{RESOURCES}/nodes/{name}"), &value.to_string())?;
                std::thread::sleep(PAUSE);
            }
            // Its last render done (a generous wait: nothing else runs).
            std::thread::sleep(SETTLE);
            let node_cpu = usage::sample(&pids[..1]).cpu_since(&before) * 1e3 / changes as f64;
            Ok(Sample::from([
                ("local_p50_ms", percentile(&local_ms, 50.0)),
                ("local_p99_ms", percentile(&local_ms, 99.0)),
                ("remote_p50_ms", percentile(&remote_ms, 50.0)),
                ("remote_p99_ms", percentile(&remote_ms, 99.0)),
                ("idle_cpu_ms", idle.cpu_since(&written) * 1e3),
                ("wep_cpu_ms", written.cpu_since(&start) * 1e3),
                ("node_cpu_ms", node_cpu),
            ]))
        });
        remote_watch.stop()?;
        local_watch.stop()?;
        drop((client, reflector));
        let mut sample = timed?;
        sample.extend([
            ("reflector_ready_ms", millis(reflector_ready)),
            ("client_ready_ms", millis(client_ready)),
            ("floor_ms", millis(floor)),
            ("reflector_rss_mib", reflector_rss),
            ("client_rss_mib", client_rss),
        ]);
        Ok(sample)
    }
}

const CONFIRMED: &str = r#"{"state":"confirmed","deleted":false}"#;
/// Between timed changes: longer than bgpd's coalescing window, so each
/// change is timed alone.
const PAUSE: Duration = Duration::from_millis(20);
/// For the last of a series of changes to be handled.
const SETTLE: Duration = Duration::from_millis(500);
/// How long one change may take to reach a kernel.
const CHANGE_DEADLINE: Duration = Duration::from_secs(30);

/// A bgpd started as one node, and when.
struct Started {
    process: Process,
    at: SystemTime,
}

impl Started {
    fn spawn(host: &Host, node: &str, endpoint: &str, options: &Options) -> Result<Self> {
        let at = SystemTime::now();
        let env: [(&str, &OsStr); 0] = [];
        let process = Bgpd::spawn_with_etcd_args(
            host,
            &options.bgpd,
            endpoint,
            node,
            &env,
            &["--log-level", "info", "--http-listen", "off"],
        )?;
        Ok(Self { process, at })
    }

    /// Waits for bgpd's `configured` log line, which must name `peers`
    /// peers; returns the time from the start to that line's timestamp.
    fn configured(&self, peers: usize, deadline: Duration) -> Result<Duration> {
        let name = self.process.name().to_owned();
        let line = testnets::wait_for(&format!("{name} to be configured"), deadline, || {
            let log = self.process.log();
            Ok(
                match log
                    .lines()
                    .find(|l| l.contains("bgpd::applier: configured"))
                {
                    Some(line) => testnets::Poll::Ready(line.to_owned()),
                    None => testnets::Poll::Pending(log.lines().last().unwrap_or("").to_owned()),
                },
            )
        })?;
        let want = format!("peers={peers}");
        if !line.split_whitespace().any(|w| w == want) {
            return Err(Error::Bench(format!("{name}: {line:?}: expected {want}")));
        }
        let stamp = line
            .split_whitespace()
            .next()
            .and_then(parse_timestamp)
            .ok_or_else(|| Error::Bench(format!("{name}: no timestamp in {line:?}")))?;
        Ok(stamp.duration_since(self.at).unwrap_or_default())
    }
}

/// `2026-12-03T14:42:31.731954Z`, tracing's timestamp, as a time.
fn parse_timestamp(text: &str) -> Option<SystemTime> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let mut ymd = date.split('-').map(str::parse::<i64>);
    let (year, month, day) = (ymd.next()?.ok()?, ymd.next()?.ok()?, ymd.next()?.ok()?);
    let (hms, fraction) = time.split_once('.').unwrap_or((time, "0"));
    let mut parts = hms.split(':').map(str::parse::<u64>);
    let (h, m, s) = (
        parts.next()?.ok()?,
        parts.next()?.ok()?,
        parts.next()?.ok()?,
    );
    let nanos: u64 = format!("{fraction:0<9}").get(..9)?.parse().ok()?;
    // Days from 1970-01-01 of a proleptic Gregorian date (Hinnant's
    // days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = u64::try_from(era * 146_097 + doe - 719_468).ok()?;
    let seconds = days * 86_400 + h * 3600 + m * 60 + s;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(seconds) + Duration::from_nanos(nanos))
}

/// The harness's own etcd client; opened inside the namespace that
/// reaches etcd, and used from there.
struct Session {
    runtime: tokio::runtime::Runtime,
    client: Client,
}

impl Session {
    fn open(endpoint: &str) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::io("start a runtime"))?;
        let client = runtime
            .block_on(Client::connect([endpoint], None))
            .map_err(|e| Error::Bench(format!("connect to etcd: {e}")))?;
        Ok(Self { runtime, client })
    }

    fn put(&mut self, key: &str, value: &str) -> Result<()> {
        self.runtime
            .block_on(self.client.put(key, value, None))
            .map(drop)
            .map_err(|e| Error::Bench(format!("write {key}: {e}")))
    }

    /// Writes `pairs` in transactions of [`BATCH`].
    fn put_all(&mut self, pairs: &[(String, String)]) -> Result<()> {
        for chunk in pairs.chunks(BATCH) {
            let ops: Vec<TxnOp> = chunk
                .iter()
                .map(|(k, v)| TxnOp::put(k.as_str(), v.as_str(), None))
                .collect();
            self.runtime
                .block_on(self.client.txn(Txn::new().and_then(ops)))
                .map_err(|e| Error::Bench(format!("fill etcd: {e}")))?;
        }
        Ok(())
    }

    /// How many keys start with `prefix`.
    fn count(&mut self, prefix: &str) -> Result<i64> {
        let options = etcd_client::GetOptions::new()
            .with_prefix()
            .with_count_only();
        self.runtime
            .block_on(self.client.get(prefix, Some(options)))
            .map(|r| r.count())
            .map_err(|e| Error::Bench(format!("count {prefix}: {e}")))
    }
}

/// The whole datastore: `clients` client nodes and two reflectors, and what
/// goes with them; checked by counting what etcd holds.
fn fill(etcd: &mut Session, clients: usize, prefixes: &Prefixes) -> Result<()> {
    let mut pairs = vec![
        (
            format!("{RESOURCES}/ippools/default-ipv4-ippool"),
            json!({"kind": "IPPool", "apiVersion": "projectcalico.org/v3",
                   "metadata": {"name": "default-ipv4-ippool"},
                   "spec": {"cidr": "10.128.0.0/9", "ipipMode": "Never", "blockSize": 26}})
            .to_string(),
        ),
        (
            format!("{RESOURCES}/bgpconfigurations/default"),
            json!({"kind": "BGPConfiguration", "apiVersion": "projectcalico.org/v3",
                   "metadata": {"name": "default"},
                   "spec": {"nodeToNodeMeshEnabled": false, "asNumber": AS,
                            "logSeverityScreen": "Info"}})
            .to_string(),
        ),
        (
            format!("{RESOURCES}/bgppeers/peer-with-route-reflectors"),
            json!({"kind": "BGPPeer", "apiVersion": "projectcalico.org/v3",
                   "metadata": {"name": "peer-with-route-reflectors"},
                   "spec": {"nodeSelector": "all()",
                            "peerSelector": "route-reflector == 'true'"}})
            .to_string(),
        ),
    ];
    let names: Vec<String> = (1..=clients)
        .map(|i| format!("n{i}"))
        .chain(["rr1".to_owned(), "rr2".to_owned()])
        .collect();
    for (i, name) in names.iter().enumerate() {
        let reflector = i >= clients;
        let address = if reflector {
            reflector_address(i - clients + 1)
        } else {
            client_address(i + 1)
        };
        pairs.push((
            format!("{RESOURCES}/nodes/{name}"),
            node(name, address, i / NODES_PER_TOR, reflector).to_string(),
        ));
        for b in 0..BLOCKS_PER_NODE {
            let block = prefixes.nth(BLOCKS_PER_NODE * i + b).to_string();
            pairs.push((affinity_key(name, &block), CONFIRMED.to_owned()));
        }
        if !reflector {
            for w in 0..WORKLOADS_PER_NODE {
                pairs.push(workload(name, w, 0));
            }
        }
    }
    let racks = clients.div_ceil(NODES_PER_TOR);
    for rack in 0..racks {
        let name = format!("tor-{rack}");
        pairs.push((
            format!("{RESOURCES}/bgppeers/{name}"),
            json!({"kind": "BGPPeer", "apiVersion": "projectcalico.org/v3",
                   "metadata": {"name": name},
                   "spec": {"nodeSelector": format!("rack == 'r{rack}'"),
                            "peerIP": format!("10.3.{}.{}", rack / 250, rack % 250 + 1),
                            "asNumber": 65000 + rack % 500}})
            .to_string(),
        ));
    }
    etcd.put_all(&pairs)?;
    for (prefix, want) in [
        ("nodes/", clients + 2),
        ("workloadendpoints/", clients * WORKLOADS_PER_NODE),
        ("bgppeers/", racks + 1),
    ] {
        let held = etcd.count(&format!("{RESOURCES}/{prefix}"))?;
        if held != want as i64 {
            return Err(Error::Bench(format!(
                "etcd holds {held} {prefix}, not {want}"
            )));
        }
    }
    Ok(())
}

/// A Node as calico-node writes it, about 1.3 KB.
fn node(name: &str, address: Ipv4Addr, rack: usize, reflector: bool) -> Value {
    let mut labels = json!({
        "beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux", "node.kubernetes.io/instance-type": "m5.2xlarge",
        "topology.kubernetes.io/region": "eu-west-1", "topology.kubernetes.io/zone": "eu-west-1a",
        "rack": format!("r{rack}"),
    });
    let mut bgp = json!({"ipv4Address": format!("{address}/16"),
                         "ipv4IPIPTunnelAddr": "10.128.0.1"});
    if reflector {
        labels["route-reflector"] = json!("true");
        labels.as_object_mut().map(|l| l.remove("rack"));
        bgp["routeReflectorClusterID"] = json!("244.0.0.1");
    }
    // kube-controllers keeps the Kubernetes labels in an annotation too.
    let kube_labels = labels.to_string();
    json!({"kind": "Node", "apiVersion": "projectcalico.org/v3",
           "metadata": {"name": name, "uid": "6c0e7f7a-2f3b-4b8e-9c59-0a7f0f5c1d2e",
                        "creationTimestamp": "2026-11-01T10:00:00Z", "labels": labels,
                        "annotations": {"projectcalico.org/kube-labels": kube_labels}},
           "spec": {"bgp": bgp,
                    "addresses": [{"address": format!("{address}/16"), "type": "CalicoNodeIP"},
                                  {"address": address.to_string(), "type": "InternalIP"}],
                    "orchRefs": [{"nodeName": name, "orchestrator": "k8s"}]},
           "status": {"podCIDRs": ["10.244.0.0/24"]}})
}

/// WorkloadEndpoint `w` of `node`, at revision `generation` of its value.
fn workload(node: &str, w: usize, generation: usize) -> (String, String) {
    let pod = format!("app-{w}-7d9f8c6b5-x{generation:04}");
    let name = format!("{node}-k8s-{pod}-eth0");
    let value = json!({"kind": "WorkloadEndpoint", "apiVersion": "projectcalico.org/v3",
        "metadata": {"name": name, "namespace": "default",
                     "uid": "0d6e3a2c-5a4b-4c7e-8f1d-2b3c4d5e6f70",
                     "creationTimestamp": "2026-11-01T10:00:00Z",
                     "labels": {"app": format!("app-{w}"), "pod-template-hash": "7d9f8c6b5",
                                "app.kubernetes.io/name": format!("app-{w}"),
                                "app.kubernetes.io/instance": format!("app-{w}-production"),
                                "app.kubernetes.io/version": "1.24.3",
                                "app.kubernetes.io/component": "backend",
                                "app.kubernetes.io/part-of": "storefront",
                                "app.kubernetes.io/managed-by": "helm",
                                "team": "payments", "tier": "backend",
                                "projectcalico.org/namespace": "default",
                                "projectcalico.org/orchestrator": "k8s",
                                "projectcalico.org/serviceaccount": "default"}},
        "spec": {"orchestrator": "k8s", "node": node, "containerID": "0123456789abcdef".repeat(4),
                 "pod": pod, "endpoint": "eth0", "serviceAccountName": "default",
                 "ipNetworks": [format!("10.128.{}.{}/32", w, generation % 250)],
                 "profiles": ["kns.default", "ksa.default.default"],
                 "interfaceName": format!("cali{:011x}", w * 7919 + generation),
                 "mac": "ee:ee:ee:ee:ee:ee",
                 "ports": [{"name": "http", "protocol": "TCP", "port": 8080, "hostPort": 0}]}});
    (
        format!("{RESOURCES}/workloadendpoints/default/{name}"),
        value.to_string(),
    )
}

/// `etcdctl get --prefix` of every range the reflector reads, one process
/// each, from etcd's namespace; the total.
fn floor(host: &Host, endpoint: &str) -> Result<Duration> {
    let ranges = [
        format!("{RESOURCES}/nodes/"),
        format!("{RESOURCES}/bgpconfigurations/"),
        format!("{RESOURCES}/bgppeers/"),
        format!("{RESOURCES}/ippools/"),
        format!("/calico/ipam/v2/host/{REFLECTOR}/"),
    ];
    let mut total = Duration::ZERO;
    for range in ranges {
        let t0 = Instant::now();
        etcdctl(host, endpoint, &["get", "--prefix", &range])?;
        total += t0.elapsed();
    }
    Ok(total)
}

fn etcdctl(host: &Host, endpoint: &str, args: &[&str]) -> Result<()> {
    let mut command = host.ns().command("etcdctl");
    command
        .env("ETCDCTL_API", "3")
        .args(["--endpoints", endpoint])
        .args(args)
        .stdout(std::process::Stdio::null());
    let status = command
        .status()
        .map_err(Error::io(format!("run etcdctl {args:?}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::Bench(format!("etcdctl {args:?}: {status}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracing_timestamps_are_read() {
        let t = parse_timestamp("2026-12-03T14:42:31.731954Z").unwrap();
        let since = t.duration_since(SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(since.as_secs(), 1_796_308_951);
        assert_eq!(since.subsec_micros(), 731_954);
        assert_eq!(
            parse_timestamp("1970-01-01T00:00:01Z"),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1))
        );
        assert_eq!(parse_timestamp("yesterday"), None);
    }

    #[test]
    fn calico_sized_values() {
        let node = node("n1", CLIENT_ADDRESS, 0, false).to_string();
        let (_, workload) = workload("n1", 3, 0);
        assert!((900..2000).contains(&node.len()), "{}", node.len());
        assert!((1000..1800).contains(&workload.len()), "{}", workload.len());
    }
}
