//! The image as shipped, run for real: built by `scripts/image.sh` from the
//! binaries under test, and run with podman as
//! `deploy/kubernetes/calico-node-bgpd.yaml` runs its bgpd container (its
//! command, environment, volumes, capabilities and probes read from the
//! manifest, not retyped), in a node's network namespace as its host
//! network, against etcd over TLS as Calico's calico-etcd.yaml has it. A
//! second container stands in for calico-node: it shares the pod's process
//! namespace and /var/run/calico, and runs calicoctl's process rule and the
//! real `birdc` of BIRD 1.6 there. Debian's Prometheus scrapes it where the
//! manifest has it listen. The node is fresh (no Node in etcd): the
//! sidecar registers it, as calico-node with CALICO_NETWORKING_BACKEND=none
//! does not.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde::Deserialize;
use serde_json::{json, Value};
use testnets::speakers::bgpd::Bgpd;
use testnets::speakers::etcd::{Etcd, EtcdTls};
use testnets::{require_privileges, wait_for, Poll};

use crate::support::{binary, lan, put_block, put_node, CONVERGE, RESOURCES};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// podman with the project's settings (scripts/podman/containers.conf).
fn podman(args: &[&str]) -> Output {
    Command::new("podman")
        .env(
            "CONTAINERS_CONF",
            repo().join("scripts/podman/containers.conf"),
        )
        .args(args)
        .output()
        .expect("podman (scripts/setup.sh installs it)")
}

fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The pod spec of calico-node-bgpd.yaml and its bgpd container.
fn manifest() -> (Value, Value) {
    let path = repo().join("deploy/kubernetes/calico-node-bgpd.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let daemonset = serde_norway::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap())
        .find(|d| d["kind"] == "DaemonSet")
        .expect("a DaemonSet");
    let pod = daemonset["spec"]["template"]["spec"].clone();
    let bgpd = pod["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "bgpd")
        .cloned()
        .expect("a bgpd container");
    (pod, bgpd)
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// An image or a container, removed on drop.
struct Removed(&'static str, String);

impl Drop for Removed {
    fn drop(&mut self) {
        let _ = podman(&[self.0, "rm", "-f", &self.1]);
    }
}

/// The bgpd container's state as podman reports it.
fn inspect(container: &str, format: &str) -> String {
    ok(
        podman(&["inspect", "--format", format, container]),
        "inspect",
    )
    .trim()
    .to_owned()
}

/// Runs a probe of the manifest in the container: its exit status and what
/// it said.
fn probe(container: &str, command: &[String]) -> (bool, String) {
    let mut args = vec!["exec", container];
    args.extend(command.iter().map(String::as_str));
    let out = podman(&args);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said.trim().to_owned())
}

fn wait_probe(container: &str, command: &[String], passes: bool, saying: &str) -> String {
    wait_for(
        &format!("{command:?} to {}", if passes { "pass" } else { "fail" }),
        CONVERGE,
        || {
            let (passed, said) = probe(container, command);
            Ok(if passed == passes && said.contains(saying) {
                Poll::Ready(said)
            } else {
                Poll::Pending(said)
            })
        },
    )
    .unwrap()
}

/// The shared libraries birdc needs that a minimal Debian lacks, beside it.
fn birdc_tools(dir: &Path) -> PathBuf {
    let sbin = repo().join(".cache/bird16/root/usr/sbin");
    let birdc = sbin.join("birdc");
    let lib = dir.join("lib");
    std::fs::create_dir_all(&lib).unwrap();
    for client in ["birdc", "birdc6"] {
        std::fs::copy(sbin.join(client), dir.join(client)).unwrap();
    }
    let ldd = ok(
        Command::new("ldd").arg(&birdc).output().unwrap(),
        "ldd birdc",
    );
    for path in ldd.split_whitespace().filter(|w| w.starts_with('/')) {
        let path = Path::new(path);
        let name = path.file_name().unwrap();
        if name.to_string_lossy().starts_with("libreadline") {
            std::fs::copy(path, lib.join(name)).unwrap();
        }
    }
    dir.to_owned()
}

#[test]
fn the_sidecar_as_shipped_peers_answers_calicoctl_and_stops_gracefully() {
    require_privileges!();
    let (pod, sidecar) = manifest();
    let net = lan("image", 3);
    let n1 = net.host("n1");
    let id = std::process::id();

    // etcd over TLS, its client files where the manifest mounts them.
    let tls = EtcdTls::generate(&net.dir().join("tls"), "10.0.1.10".parse().unwrap()).unwrap();
    let etcd = Etcd::start_tls(net.host("n0"), tls.clone()).unwrap();
    let pool = json!({"kind": "IPPool", "apiVersion": "projectcalico.org/v3",
        "metadata": {"name": "pool"}, "spec": {"cidr": "10.244.0.0/16", "ipipMode": "Never"}});
    etcd.put_json(&format!("{RESOURCES}/ippools/pool"), &pool)
        .unwrap();
    // n1 is a fresh node: no Node yet; its sidecar registers it.
    put_node(&etcd, "n2", "10.0.1.12");
    put_block(&etcd, "n2", "10.244.2.0/26");
    put_block(&etcd, "n1", "10.244.1.0/26");

    // The image, from the binaries under test.
    let tag = format!("localhost/podroute/bgpd:test-{id}");
    let binaries = binary().parent().unwrap().to_owned();
    ok(
        Command::new("bash")
            .arg(repo().join("scripts/image.sh"))
            .args(["--binaries".as_ref(), binaries.as_os_str()])
            .args(["--tag", &tag])
            .output()
            .unwrap(),
        "scripts/image.sh",
    );
    let _image = Removed("image", tag.clone());

    // The bgpd container as the manifest has it: its volumes are folders of
    // the node, the values it takes from Kubernetes are this test's.
    let volumes = n1.dir().join("volumes");
    let mut args: Vec<String> = vec![
        "run".into(),
        "--detach".into(),
        "--name".into(),
        format!("podroute-test-{id}-bgpd"),
        "--network".into(),
        format!("ns:/var/run/netns/{}", n1.ns().name()),
        "--cap-drop".into(),
        "ALL".into(),
    ];
    let capabilities = &sidecar["securityContext"]["capabilities"];
    assert_eq!(strings(&capabilities["drop"]), ["ALL"]);
    for cap in strings(&capabilities["add"]) {
        args.extend(["--cap-add".into(), cap]);
    }
    for env in sidecar["env"].as_array().unwrap() {
        let name = env["name"].as_str().unwrap();
        let value = match (name, env["value"].as_str()) {
            (_, Some(value)) => value.to_owned(),
            ("ETCD_ENDPOINTS", None) => etcd.endpoint().to_owned(),
            ("NODENAME", None) => "n1".to_owned(),
            (other, None) => panic!("the manifest takes {other} from Kubernetes: give it here"),
        };
        args.extend(["--env".into(), format!("{name}={value}")]);
    }
    for mount in sidecar["volumeMounts"].as_array().unwrap() {
        let name = mount["name"].as_str().unwrap();
        let host = volumes.join(name);
        std::fs::create_dir_all(&host).unwrap();
        let read_only = if mount["readOnly"] == true { ":ro" } else { "" };
        let path = mount["mountPath"].as_str().unwrap();
        args.extend([
            "--volume".into(),
            format!("{}:{path}{read_only}", host.display()),
        ]);
    }
    for (file, name) in [
        (&tls.ca, "etcd-ca"),
        (&tls.client_cert, "etcd-cert"),
        (&tls.client_key, "etcd-key"),
    ] {
        std::fs::copy(file, volumes.join("etcd-certs").join(name)).unwrap();
    }
    let command = strings(&sidecar["command"]);
    args.extend([
        "--entrypoint".into(),
        serde_json::to_string(&command).unwrap(),
        tag.clone(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let container = ok(podman(&args), "podman run").trim().to_owned();
    let _container = Removed("container", container.clone());

    // Its probes: alive at once; not ready, with calico-node's reason,
    // while its peer is away; ready once Established.
    let liveness = strings(&sidecar["livenessProbe"]["exec"]["command"]);
    let readiness = strings(&sidecar["readinessProbe"]["exec"]["command"]);
    wait_probe(&container, &liveness, true, "live");
    wait_for("the sidecar to register n1", CONVERGE, || {
        let node = etcd.get(&format!("{RESOURCES}/nodes/n1")).unwrap();
        let address = node
            .and_then(|text| serde_json::from_str::<Value>(&text).ok())
            .map(|n| n["spec"]["bgp"]["ipv4Address"].clone());
        Ok(match address {
            Some(a) if a == "10.0.1.11/24" => Poll::Ready(()),
            other => Poll::Pending(format!("{other:?}")),
        })
    })
    .unwrap();
    wait_probe(
        &container,
        &readiness,
        false,
        "BGP not established with 10.0.1.12",
    );
    let tls_env = [
        ("ETCD_CA_CERT_FILE", tls.ca.clone()),
        ("ETCD_CERT_FILE", tls.client_cert.clone()),
        ("ETCD_KEY_FILE", tls.client_key.clone()),
    ];
    let tls_env: Vec<(&str, &OsStr)> = tls_env.iter().map(|(k, v)| (*k, v.as_os_str())).collect();
    let n2 = Bgpd::start_with_etcd_env(
        net.host("n2"),
        binary(),
        etcd.endpoint(),
        "n2",
        179,
        &tls_env,
    )
    .unwrap();
    wait_probe(&container, &readiness, true, "ready");
    n1.wait_for_routes("n2's block in n1's kernel", CONVERGE, |routes| {
        routes
            .iter()
            .any(|r| r.destination.to_string() == "10.244.2.0/26")
    })
    .unwrap();

    // Prometheus, as Debian ships it, scrapes bgpd where the manifest has
    // it listen; promtool finds nothing to say about what it serves.
    let listen = sidecar["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "BGPD_HTTP_LISTEN")
        .and_then(|e| e["value"].as_str())
        .expect("the manifest sets BGPD_HTTP_LISTEN");
    let port = listen.rsplit_once(':').unwrap().1;
    let target = format!("10.0.1.11:{port}");
    let _prometheus = start_prometheus(net.host("n0"), &target);
    for (query, labels) in [
        ("up{job=\"bgpd\"}", "job=bgpd"),
        (
            "podroute_peer_up{peer=\"Mesh_10_0_1_12\"}",
            "Mesh_10_0_1_12",
        ),
        ("podroute_configured", "configured"),
        ("podroute_build_info", "build_info"),
    ] {
        wait_for(
            &format!("Prometheus to read {labels} = 1"),
            CONVERGE,
            || {
                let answer = query_prometheus(net.host("n0"), query);
                let value = answer["data"]["result"][0]["value"][1].clone();
                Ok(if value == "1" {
                    Poll::Ready(())
                } else {
                    Poll::Pending(answer.to_string())
                })
            },
        )
        .unwrap();
    }
    // The histograms: n2's UPDATE taken, its block sent to the kernel.
    for histogram in [
        "podroute_update_processing_seconds_count",
        "podroute_kernel_batch_seconds_count",
    ] {
        wait_for(
            &format!("Prometheus to count {histogram}"),
            CONVERGE,
            || {
                let answer = query_prometheus(net.host("n0"), histogram);
                let value = answer["data"]["result"][0]["value"][1]
                    .as_str()
                    .and_then(|v| v.parse::<f64>().ok());
                Ok(match value {
                    Some(n) if n >= 1.0 => Poll::Ready(()),
                    _ => Poll::Pending(answer.to_string()),
                })
            },
        )
        .unwrap();
    }
    let metrics = http_get(net.host("n0"), &target, "/metrics");
    assert!(
        metrics.contains("\nprocess_resident_memory_bytes "),
        "Prometheus' standard process metrics: {metrics}"
    );
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut promtool.stdin.take().unwrap(), metrics.as_bytes()).unwrap();
    ok(
        promtool.wait_with_output().unwrap(),
        "promtool check metrics",
    );

    // calicoctl's process rule: argv[0] exactly `bird`, seen from the host
    // and from the calico-node stand-in, which shares the pod's processes
    // (shareProcessNamespace) and /var/run/calico; there, the real birdc of
    // BIRD 1.6 reads bird.ctl.
    assert_eq!(pod["shareProcessNamespace"], true, "the manifest shares it");
    let pid = inspect(&container, "{{.State.Pid}}");
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert_eq!(
        cmdline.split(|b| *b == 0).next(),
        Some(&b"bird"[..]),
        "argv[0] of the container's bgpd, from the host"
    );
    let tools = birdc_tools(&net.dir().join("birdc"));
    let stand_in = ok(
        podman(&[
            "run",
            "--rm",
            "--pid",
            &format!("container:{container}"),
            "--volume",
            &format!(
                "{}:/var/run/calico",
                volumes.join("var-run-calico").display()
            ),
            "--volume",
            &format!("{}:/opt/bird16:ro", tools.display()),
            "--env",
            "LD_LIBRARY_PATH=/opt/bird16/lib",
            "--entrypoint",
            "sh",
            &tag,
            "-c",
            "for f in /proc/[0-9]*/cmdline; do tr '\\0' '\\n' < $f | head -n 1; echo; done; \
             echo ==; /opt/bird16/birdc -s /var/run/calico/bird.ctl show protocols; \
             echo ==; /opt/bird16/birdc6 -s /var/run/calico/bird6.ctl show protocols; \
             echo ==; /opt/bird16/birdc -s /var/run/calico/bird.ctl show route",
        ]),
        "the calico-node stand-in",
    );
    let parts: Vec<&str> = stand_in.split("==").collect();
    let [processes, protocols, protocols6, table] = parts[..] else {
        panic!("the stand-in's output: {stand_in}");
    };
    // Both of calicoctl's rules: `bird` for the IPv4 table, `bird6` (bgpd's
    // name holder, as it serves bird6.ctl) for the IPv6 one.
    for name in ["bird", "bird6"] {
        assert!(
            processes.lines().any(|argv0| argv0 == name),
            "calicoctl's rule for {name} inside the pod: {processes}"
        );
    }
    assert!(
        protocols6.contains("name") && !protocols6.contains("Mesh_"),
        "birdc6 of BIRD 1.6 reads bird6.ctl: the IPv4 peers are not there: {protocols6}"
    );
    assert!(
        protocols
            .lines()
            .any(|l| l.starts_with("Mesh_10_0_1_12") && l.contains("Established")),
        "birdc 1.6: {protocols}"
    );
    // `show route`, which calico-node's status reporter reads for a
    // CalicoNodeStatus: the node's block, and n2's through the mesh.
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("10.244.1.0/26") && l.contains("blackhole [static1 "))
            && table.lines().any(|l| l.starts_with("10.244.2.0/26")
                && l.contains("via 10.0.1.12 on eth0 [Mesh_10_0_1_12 ")),
        "birdc 1.6 show route: {table}"
    );

    // SIGTERM within the grace period: the container exits 0 and n2 keeps
    // n1's routes (graceful restart).
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
    ok(
        podman(&["stop", "--time", &grace.to_string(), &container]),
        "podman stop",
    );
    assert_eq!(inspect(&container, "{{.State.ExitCode}}"), "0");
    let routes = net.host("n2").routes().unwrap();
    assert!(
        routes
            .iter()
            .any(|r| r.destination.to_string() == "10.244.1.0/26"),
        "n2 keeps n1's block through its graceful restart: {routes:?}"
    );
    drop(n2);
}

/// Debian's Prometheus in `host`, scraping `target` every second.
fn start_prometheus(host: &testnets::Host, target: &str) -> testnets::Process {
    let dir = host.dir().join("prometheus");
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: bgpd\n    static_configs:\n      - targets: [\"{target}\"]\n"
        ),
    )
    .unwrap();
    let mut command = host.command("prometheus");
    command
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg("--web.listen-address=127.0.0.1:9090");
    testnets::Process::spawn("prometheus", command, dir.join("prometheus.log")).unwrap()
}

/// An instant query of the Prometheus in `host`, its JSON answer.
fn query_prometheus(host: &testnets::Host, query: &str) -> Value {
    let encoded: String = query
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let body = http_get(
        host,
        "127.0.0.1:9090",
        &format!("/api/v1/query?query={encoded}"),
    );
    serde_json::from_str(&body).unwrap_or(Value::Null)
}

/// The body of `GET path` from `address`, asked from inside `host`'s
/// namespace; empty when it does not answer.
fn http_get(host: &testnets::Host, address: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let (address, request) = (
        address.to_owned(),
        format!("GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n"),
    );
    host.ns()
        .enter(move || {
            let Ok(mut stream) = std::net::TcpStream::connect(&address) else {
                return Ok(String::new());
            };
            let mut response = String::new();
            if stream.write_all(request.as_bytes()).is_err()
                || stream.read_to_string(&mut response).is_err()
            {
                return Ok(String::new());
            }
            Ok(response
                .split_once("\r\n\r\n")
                .map(|(_, body)| body.to_owned())
                .unwrap_or_default())
        })
        .unwrap()
}
