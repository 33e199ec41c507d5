//! A real etcd (Debian's etcd-server) on loopback ports of its own, in a
//! fresh data folder, stopped and removed on drop.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use confgen::watch::{Clients, EtcdConfig};

/// Generous: a busy machine may take a while to start etcd.
const START_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Server {
    pub endpoint: String,
    dir: PathBuf,
    child: Child,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Server {
    /// Starts etcd; values of up to 16 MiB are allowed, so that a value
    /// larger than a gRPC client's default 4 MiB can be stored.
    pub async fn start(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("confgen-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (client, peer) = (free_port(), free_port());
        let endpoint = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let child = Command::new("etcd")
            .args(["--name", "test", "--data-dir"])
            .arg(&dir)
            .args(["--listen-client-urls", &endpoint])
            .args(["--advertise-client-urls", &endpoint])
            .args(["--listen-peer-urls", &peer_url])
            .args(["--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("test={peer_url}")])
            .args(["--max-request-bytes", "16777216"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("etcd (Debian's etcd-server, installed by scripts/setup.sh)");
        let server = Self {
            endpoint,
            dir,
            child,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(clients) = server.config().connect(&server.config().endpoints).await {
                if clients.kv.clone().get("/", None).await.is_ok() {
                    return server;
                }
            }
            assert!(Instant::now() < deadline, "etcd did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn config(&self) -> EtcdConfig {
        EtcdConfig::from_endpoints(&self.endpoint)
    }

    pub async fn clients(&self) -> Clients {
        self.config()
            .connect(&self.config().endpoints)
            .await
            .unwrap()
    }

    /// Compacts the history up to `revision` with the real etcdctl.
    pub fn compact(&self, revision: i64) {
        let status = Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args(["--endpoints", &self.endpoint, "compaction"])
            .arg(revision.to_string())
            .stdout(Stdio::null())
            .status()
            .expect("etcdctl (Debian's etcd-client)");
        assert!(status.success(), "etcdctl compaction {revision}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
