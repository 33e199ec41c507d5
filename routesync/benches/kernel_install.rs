//! Kernel route installation, side by side in one run: routesync, `ip -batch`
//! (one request and one ACK per route) and BIRD 2's kernel protocol (also one
//! request and one ACK per route, from a static protocol). For each size N:
//! install N /26 routes via a gateway on the node's subnet, change every next
//! hop, withdraw them all; routes per second for each.
//!
//! Run (root; it builds its own namespace with testnets):
//!
//! ```text
//! cargo bench -p routesync --bench kernel_install             # 10k, 100k, 1M
//! cargo bench -p routesync --bench kernel_install -- --quick  # 10k only (or BENCH_QUICK=1)
//! BENCH_SIZES=10000,100000 cargo bench -p routesync --bench kernel_install
//! BENCH_METHODS=routesync BENCH_SIZES=1000000 cargo bench ...  # one method, e.g. under perf
//! ```
//!
//! Timing: routesync from `apply` to the return of `flush` (everything in the
//! kernel); `ip -batch` the whole process run; BIRD from the `birdc` command
//! to the moment a netlink dump of the namespace shows the expected table,
//! polled every 20 ms (so BIRD's times are late by up to 20 ms plus one
//! dump, which the report gives). Below 1M each method runs three times and
//! the median of each phase is reported (BENCH_REPEAT sets the count).
//! Results go to stdout and to `routesync/benches/RESULTS.md`.

#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "a benchmark: set-up that fails is a bug in it, and it reports on stdout"
)]

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use ipnet::{IpNet, Ipv4Net};
use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_route::route::{RouteHeader, RouteMessage, RouteProtocol};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use proto::config::KernelConfig;
use routesync::{FibEntry, FibUpdate, NodeNetwork};
use testnets::speakers::bird::{Bird, BirdVersion};
use testnets::{Host, Topology};

const NODE: &str = "10.0.1.11/24";
const GW1: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 12);
const GW2: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 13);
/// How often BIRD's progress is read from the kernel.
const POLL: Duration = Duration::from_millis(20);

/// The i-th /26 of 64.0.0.0/6 (room for 2^20 of them).
fn prefix(i: usize) -> Ipv4Net {
    let base = u32::from(Ipv4Addr::new(64, 0, 0, 0)) + ((i as u32) << 6);
    Ipv4Net::new(Ipv4Addr::from(base), 26).unwrap()
}

#[derive(Clone, Copy, Debug)]
enum Method {
    Routesync,
    IpBatch,
    Bird,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Self::Routesync => "routesync",
            Self::IpBatch => "ip -batch",
            Self::Bird => "BIRD 2 kernel",
        }
    }
}

/// Seconds for install, next-hop change and withdrawal of `routes` routes.
#[derive(Clone, Debug)]
struct Row {
    method: Method,
    routes: usize,
    install: f64,
    change: f64,
    withdraw: f64,
    /// The benchmark process's resident memory with the routes installed
    /// (routesync only: its thread lives in this process).
    rss_mib: Option<u64>,
    /// BIRD only: the longest poll (a dump of the table), which with the
    /// interval bounds how late completion is seen.
    slowest_poll: Option<Duration>,
}

fn main() {
    if !testnets::privileged() {
        println!("kernel_install: skipped, it builds a network namespace and needs root");
        return;
    }
    let quick = std::env::args().any(|a| a == "--quick")
        || std::env::var("BENCH_QUICK").is_ok_and(|v| v == "1");
    let sizes: Vec<usize> = match std::env::var("BENCH_SIZES") {
        Ok(list) => list.split(',').map(|s| s.trim().parse().unwrap()).collect(),
        Err(_) if quick => vec![10_000],
        Err(_) => vec![10_000, 100_000, 1_000_000],
    };
    // BENCH_METHODS=routesync,ip,bird (all by default), e.g. to profile one.
    let methods = std::env::var("BENCH_METHODS").unwrap_or_else(|_| "routesync,ip,bird".into());
    let runs = |m: &str| methods.split(',').any(|x| x.trim() == m);

    let mut topology = Topology::new("kbench");
    topology.segment("lan");
    topology.node("n1").iface("lan", &[NODE]);
    let network = topology.build().unwrap();
    let host = network.host("n1");
    let counter = host.ns().enter(|| Ok(Counter::open())).unwrap();

    // A warm-up, not reported: the first run of a fresh process is slower.
    let _ = routesync_run(host, &counter, 10_000);
    let _ = ip_batch_run(host, &counter, 10_000);

    let mut rows = Vec::new();
    for &n in &sizes {
        // The median of three runs below 1M (set with BENCH_REPEAT), one at 1M.
        let repeat = match std::env::var("BENCH_REPEAT") {
            Ok(r) => r.parse().unwrap(),
            Err(_) if n >= 1_000_000 => 1,
            Err(_) => 3,
        };
        println!("== {n} routes, {repeat} run(s) each");
        let mut measure = |method: Method, run: &dyn Fn() -> Row| {
            let runs: Vec<Row> = (0..repeat)
                .map(|_| {
                    let row = run();
                    print_row(&row);
                    row
                })
                .collect();
            let row = median(method, n, &runs);
            if repeat > 1 {
                print!("  median: ");
                print_row(&row);
            }
            rows.push(row);
        };
        if runs("routesync") {
            measure(Method::Routesync, &|| routesync_run(host, &counter, n));
        }
        if runs("ip") {
            measure(Method::IpBatch, &|| ip_batch_run(host, &counter, n));
        }
        if runs("bird") {
            measure(Method::Bird, &|| bird_run(host, &counter, n));
        }
    }
    let table = render(&rows);
    println!("\n{table}");
    let mut command = String::new();
    for var in ["BENCH_QUICK", "BENCH_SIZES", "BENCH_METHODS"] {
        if let Ok(value) = std::env::var(var) {
            let _ = write!(command, "{var}={value} ");
        }
    }
    command.push_str("cargo bench -p routesync --bench kernel_install");
    if std::env::args().any(|a| a == "--quick") {
        command.push_str(" -- --quick");
    }
    let results = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/RESULTS.md");
    // Hand-written notes at the end (from a "## Notes" heading on) are kept.
    let notes = std::fs::read_to_string(&results)
        .ok()
        .and_then(|old| old.find("\n## Notes").map(|at| old[at..].to_owned()))
        .unwrap_or_default();
    std::fs::write(&results, report(&command, &table) + &notes).unwrap();
    println!("written to {}", results.display());
}

/// Each phase's median over the runs.
fn median(method: Method, routes: usize, runs: &[Row]) -> Row {
    let pick = |field: fn(&Row) -> f64| {
        let mut values: Vec<f64> = runs.iter().map(field).collect();
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let mut rss: Vec<u64> = runs.iter().filter_map(|r| r.rss_mib).collect();
    rss.sort_unstable();
    Row {
        method,
        routes,
        install: pick(|r| r.install),
        change: pick(|r| r.change),
        withdraw: pick(|r| r.withdraw),
        rss_mib: rss.get(rss.len() / 2).copied(),
        slowest_poll: runs.iter().filter_map(|r| r.slowest_poll).max(),
    }
}

fn print_row(row: &Row) {
    println!(
        "{:<14} {:>8}: install {:.3} s ({:.0}/s), change {:.3} s ({:.0}/s), withdraw {:.3} s ({:.0}/s)",
        row.method.name(),
        row.routes,
        row.install,
        rate(row.routes, row.install),
        row.change,
        rate(row.routes, row.change),
        row.withdraw,
        rate(row.routes, row.withdraw),
    );
    let _ = std::io::stdout().flush();
}

fn rate(routes: usize, seconds: f64) -> f64 {
    routes as f64 / seconds
}

fn updates(n: usize, gateway: Option<Ipv4Addr>) -> Vec<FibUpdate> {
    (0..n)
        .map(|i| FibUpdate {
            prefix: IpNet::V4(prefix(i)),
            entry: match gateway {
                Some(gateway) => FibEntry::NextHops {
                    hops: std::iter::once(IpAddr::V4(gateway)).collect(),
                    metric: 0,
                },
                None => FibEntry::Remove,
            },
        })
        .collect()
}

fn routesync_run(host: &Host, counter: &Counter, n: usize) -> Row {
    assert_eq!(counter.count(None).0, 0, "the namespace has routes left");
    let node = NodeNetwork {
        uplink: "eth0".into(),
        address: NODE.parse().unwrap(),
        address_v6: None,
    };
    let handle = host
        .ns()
        .enter(|| Ok(routesync::spawn(KernelConfig::default(), node)))
        .unwrap();
    assert!(handle.flush());
    let timed = |batch: Vec<FibUpdate>, gateway: Option<Ipv4Addr>| {
        let start = Instant::now();
        handle.apply(batch);
        assert!(handle.flush());
        let seconds = start.elapsed().as_secs_f64();
        let expected = if gateway.is_some() { n } else { 0 };
        assert_eq!(counter.count(gateway), (expected, expected));
        seconds
    };
    // The updates are built before the clock (and the memory reading) starts.
    let batch = updates(n, Some(GW1));
    let before = rss_mib();
    let install = timed(batch, Some(GW1));
    assert_eq!(handle.status_reader().counts(), (n, 0, 0));
    let rss = rss_mib().map(|after| after.saturating_sub(before.unwrap_or(0)));
    let change = timed(updates(n, Some(GW2)), Some(GW2));
    let withdraw = timed(updates(n, None), None);
    handle.shutdown();
    Row {
        method: Method::Routesync,
        routes: n,
        install,
        change,
        withdraw,
        rss_mib: rss,
        slowest_poll: None,
    }
}

fn ip_batch_run(host: &Host, counter: &Counter, n: usize) -> Row {
    assert_eq!(counter.count(None).0, 0, "the namespace has routes left");
    let run = |name: &str, line: &dyn Fn(Ipv4Net) -> String| {
        let mut text = String::with_capacity(n * 56);
        for i in 0..n {
            text.push_str(&line(prefix(i)));
            text.push('\n');
        }
        let file = host.dir().join(format!("{name}.batch"));
        std::fs::write(&file, text).unwrap();
        let start = Instant::now();
        let status = Command::new("ip")
            .args(["-n", host.ns().name(), "-batch"])
            .arg(&file)
            .status()
            .unwrap();
        let seconds = start.elapsed().as_secs_f64();
        assert!(status.success(), "ip -batch {name} failed");
        std::fs::remove_file(&file).unwrap();
        seconds
    };
    let install = run("add", &|p| {
        format!("route add {p} via {GW1} dev eth0 proto bird")
    });
    assert_eq!(counter.count(Some(GW1)), (n, n));
    let change = run("replace", &|p| {
        format!("route replace {p} via {GW2} dev eth0 proto bird")
    });
    assert_eq!(counter.count(Some(GW2)), (n, n));
    let withdraw = run("del", &|p| format!("route del {p} proto bird"));
    assert_eq!(counter.count(None).0, 0);
    Row {
        method: Method::IpBatch,
        routes: n,
        install,
        change,
        withdraw,
        rss_mib: None,
        slowest_poll: None,
    }
}

/// BIRD 2: a static protocol with the N routes, exported to the kernel. The
/// static protocol starts disabled, so that parsing the configuration is
/// not timed; `enable` installs, `configure` with the other gateway changes
/// (BIRD re-reads the N-line configuration then: that is timed, as it is
/// BIRD's way to change static routes), `disable` withdraws.
fn bird_run(host: &Host, counter: &Counter, n: usize) -> Row {
    assert_eq!(counter.count(None).0, 0, "the namespace has routes left");
    let config = |gateway: Ipv4Addr, disabled: bool| {
        let mut text = String::with_capacity(n * 40 + 512);
        let _ = writeln!(
            text,
            "router id 10.0.1.11;\n\
             protocol device {{ scan time 600; }}\n\
             protocol kernel k4 {{\n  ipv4 {{ import none; export all; }};\n  metric 0;\n  learn off;\n  scan time 600;\n}}\n\
             protocol static st {{\n  {}ipv4;",
            if disabled { "disabled;\n  " } else { "" }
        );
        for i in 0..n {
            let _ = writeln!(text, "  route {} via {gateway};", prefix(i));
        }
        text.push_str("}\n");
        text
    };
    let mut bird = Bird::start(host, BirdVersion::V2, &config(GW1, true)).unwrap();
    let timeout = Duration::from_secs(60 + (n / 10_000) as u64);
    let slowest = std::cell::Cell::new(Duration::ZERO);
    let timed = |command: &str, done: &dyn Fn() -> bool| {
        let start = Instant::now();
        let out = bird.cmd(command).unwrap();
        assert!(!out.contains("error"), "birdc {command}: {out}");
        loop {
            let poll = Instant::now();
            let finished = done();
            slowest.set(slowest.get().max(poll.elapsed()));
            if finished {
                return start.elapsed().as_secs_f64();
            }
            assert!(start.elapsed() < timeout, "BIRD did not finish {command}");
            std::thread::sleep(POLL);
        }
    };
    let install = timed("enable st", &|| counter.count(Some(GW1)) == (n, n));
    std::fs::write(host.dir().join("bird.conf"), config(GW2, false)).unwrap();
    let change = timed("configure", &|| counter.count(Some(GW2)) == (n, n));
    let withdraw = timed("disable st", &|| counter.count(None).0 == 0);
    bird.process().stop();
    Row {
        method: Method::Bird,
        routes: n,
        install,
        change,
        withdraw,
        rss_mib: None,
        slowest_poll: Some(slowest.get()),
    }
}

/// `VmRSS` of this process, in MiB.
fn rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

fn render(rows: &[Row]) -> String {
    let mut out = String::new();
    out.push_str(
        "| routes | method | install s | install routes/s | change s | change routes/s | withdraw s | withdraw routes/s |\n\
         |---:|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for row in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {:.3} | {:.0} | {:.3} | {:.0} | {:.3} | {:.0} |",
            row.routes,
            row.method.name(),
            row.install,
            rate(row.routes, row.install),
            row.change,
            rate(row.routes, row.change),
            row.withdraw,
            rate(row.routes, row.withdraw),
        );
    }
    let memory: Vec<String> = rows
        .iter()
        .filter_map(|r| r.rss_mib.map(|m| format!("{} routes: +{m} MiB", r.routes)))
        .collect();
    let polls: Vec<String> = rows
        .iter()
        .filter_map(|r| {
            r.slowest_poll
                .map(|p| format!("{} routes: {} ms", r.routes, p.as_millis()))
        })
        .collect();
    if !polls.is_empty() {
        let _ = writeln!(
            out,
            "\nBIRD's completion is seen by polling every {} ms; one poll (a dump of the table) took at most: {}. BIRD's times are late by up to the interval plus one poll.",
            POLL.as_millis(),
            polls.join(", ")
        );
    }
    if !memory.is_empty() {
        let _ = writeln!(
            out,
            "\nroutesync's memory with the routes installed (growth of this process's RSS during the install): {}.",
            memory.join(", ")
        );
    }
    out.push_str(
        "\n| routes | routesync / ip -batch (install, change, withdraw) | routesync / BIRD (install, change, withdraw) |\n|---:|---|---|\n",
    );
    let mut sizes: Vec<usize> = rows.iter().map(|r| r.routes).collect();
    sizes.dedup();
    for n in sizes {
        let find = |m: &str| rows.iter().find(|r| r.routes == n && r.method.name() == m);
        let Some(ours) = find(Method::Routesync.name()) else {
            continue;
        };
        let ratio = |other: Option<&Row>| {
            other.map_or_else(
                || "–".to_owned(),
                |o| {
                    format!(
                        "{:.1}×, {:.1}×, {:.1}×",
                        o.install / ours.install,
                        o.change / ours.change,
                        o.withdraw / ours.withdraw
                    )
                },
            )
        };
        let _ = writeln!(
            out,
            "| {n} | {} | {} |",
            ratio(find(Method::IpBatch.name())),
            ratio(find(Method::Bird.name()))
        );
    }
    out
}

fn report(command: &str, table: &str) -> String {
    let sh = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .output()
            .map(|o| {
                let mut text = String::from_utf8_lossy(&o.stdout).into_owned();
                text.push_str(&String::from_utf8_lossy(&o.stderr));
                text.trim().to_owned()
            })
            .unwrap_or_else(|e| format!("({program}: {e})"))
    };
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_default();
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "# routesync kernel install benchmark\n\n\
         Generated by `routesync/benches/kernel_install.rs`; re-running it rewrites this file up to\n\
         the \"Notes\" section, which is kept.\n\n\
         - Command: `{command}` (as root)\n\
         - Date: {date}\n\
         - Machine: {nproc} CPUs ({cpu}), kernel {kernel}, {memory}\n\
         - Versions: {ip}; {bird}; {rustc}; release profile\n\
         - Workload: N /26 routes in 64.0.0.0/6 `via 10.0.1.12 dev eth0 proto bird` in a fresh\n  \
           namespace, then every next hop changed to 10.0.1.13, then all withdrawn.\n\
         - routesync: `apply` of N `FibUpdate`s (pool mode Never, next hop on the node's subnet)\n  \
           until `flush` returns, i.e. every route is in the kernel and its status recorded.\n\
         - `ip -batch`: one process, one request and one ACK per line (`route add`, `route replace`,\n  \
           `route del`).\n\
         - BIRD 2: `protocol static` (started disabled, so the configuration parse is not timed) exported\n  \
           by `protocol kernel`; `birdc enable st`, then `birdc configure` with the other gateway (this\n  \
           includes BIRD re-reading the N-line configuration), then `birdc disable st`. Completion is seen\n  \
           by a netlink dump of the namespace every 20 ms (see below for how long one dump took).\n\
         - Medians of 3 runs per method and phase below 1M routes, one run at 1M; one unreported\n  \
           warm-up run first.\n\
         - Ratios are times of the other method divided by routesync's (> 1: routesync is faster).\n\n\
         {table}",
        date = sh("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        kernel = sh("uname", &["-r"]),
        memory = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| m.lines().next().map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" ")))
            .map_or_else(String::new, |m| format!("{m} RAM")),
        ip = sh("ip", &["-V"]),
        bird = sh("bird", &["--version"]),
        rustc = sh("rustc", &["-V"]),
    )
}

/// Counts routes with protocol bird in the main table of the namespace it
/// was opened in, and those of them through one gateway: a netlink dump the
/// kernel filters by protocol and table (strict checking), read without
/// decoding more than the header and the gateway.
struct Counter {
    socket: Socket,
}

impl Counter {
    fn open() -> Self {
        let mut socket = Socket::new(NETLINK_ROUTE).unwrap();
        socket.bind_auto().unwrap();
        socket.connect(&SocketAddr::new(0, 0)).unwrap();
        socket.set_netlink_get_strict_chk(true).unwrap();
        socket.set_rx_buf_sz(1 << 20).unwrap();
        Self { socket }
    }

    /// (routes with proto bird, those of them via `gateway`).
    fn count(&self, gateway: Option<Ipv4Addr>) -> (usize, usize) {
        let mut query = RouteMessage::default();
        query.header.address_family = AddressFamily::Inet;
        query.header.protocol = RouteProtocol::from(12);
        query.header.table = RouteHeader::RT_TABLE_MAIN;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_DUMP;
        let mut packet = NetlinkMessage::new(
            header,
            NetlinkPayload::from(RouteNetlinkMessage::GetRoute(query)),
        );
        packet.finalize();
        let mut buf = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut buf);
        self.socket.send(&buf, 0).unwrap();
        let (mut total, mut via) = (0, 0);
        let mut receive = vec![0u8; 1 << 20];
        loop {
            let size = self.socket.recv(&mut &mut receive[..], 0).unwrap();
            let mut offset = 0;
            while offset + 16 <= size {
                let m = &receive[offset..size];
                let length = u32::from_ne_bytes(m[0..4].try_into().unwrap()) as usize;
                let kind = u16::from_ne_bytes(m[4..6].try_into().unwrap());
                match kind {
                    // NLMSG_DONE
                    3 => return (total, via),
                    // NLMSG_ERROR
                    2 => panic!("route dump refused"),
                    // RTM_NEWROUTE: rtmsg is 12 bytes; protocol at 5, table at 4.
                    24 if m[16 + 5] == 12 && m[16 + 4] == 254 => {
                        total += 1;
                        if gateway.is_some_and(|g| gateway_of(&m[28..length]) == Some(g)) {
                            via += 1;
                        }
                    }
                    _ => {}
                }
                offset += (length + 3) & !3;
            }
        }
    }
}

/// `RTA_GATEWAY` (5) among the route's attributes.
fn gateway_of(mut attributes: &[u8]) -> Option<Ipv4Addr> {
    while attributes.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([attributes[0], attributes[1]]));
        let kind = u16::from_ne_bytes([attributes[2], attributes[3]]);
        if len < 4 || len > attributes.len() {
            return None;
        }
        if kind == 5 && len == 8 {
            return Some(Ipv4Addr::new(
                attributes[4],
                attributes[5],
                attributes[6],
                attributes[7],
            ));
        }
        attributes = &attributes[((len + 3) & !3).min(attributes.len())..];
    }
    None
}
