//! Calico's path from etcd to BIRD, for S6's baseline: what confd does in
//! calico-node. Per node, a watch on etcd (confgen's, the one bgpd follows)
//! keeps Calico's resources in memory; on every change the node's BIRD 1.6
//! configuration is rendered again (confgen, BIRD 1.6 as Debian ships it),
//! and when the text changed it is written and `birdc configure` is run,
//! as confd's reload command does. One thread runs every node's loop.

use std::path::PathBuf;
use std::process::Command;
use std::thread::JoinHandle;

use confgen::bird::{render_bird, Flavor};
use confgen::render::render;
use confgen::secrets::NoSecrets;
use confgen::watch::{follow, EtcdConfig, Synced};
use testnets::speakers::bird::BirdVersion;
use testnets::{cmd, Error, Host, Result};
use tokio::sync::watch;

use super::joined;

/// A node whose BIRD the loop configures.
#[derive(Clone, Debug)]
pub struct ConfdNode {
    pub name: String,
    /// Where its `bird.conf` and `bird.ctl` are.
    pub dir: PathBuf,
}

pub struct Confd {
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<Result<()>>>,
}

impl Confd {
    /// Starts following `endpoint` for every node, from inside `host` (one
    /// that reaches etcd).
    pub fn start(host: &Host, endpoint: &str, nodes: Vec<ConfdNode>) -> Self {
        let (stop, mut stopped) = watch::channel(false);
        let config = EtcdConfig::from_endpoints(endpoint);
        let thread = host.ns().spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(Error::io("start confd's runtime"))?;
            runtime.block_on(async move {
                let mut loops = tokio::task::JoinSet::new();
                for node in nodes {
                    loops.spawn(node_loop(config.clone(), node));
                }
                tokio::select! {
                    _ = stopped.changed() => Ok(()),
                    Some(ended) = loops.join_next() => match ended {
                        Ok(result) => result,
                        Err(e) => Err(Error::Bench(format!("a confd loop: {e}"))),
                    },
                }
            })
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops every loop; returns what one ran into, if any did.
    pub fn stop(mut self) -> Result<()> {
        let _ = self.stop.send(true);
        joined(self.thread.take(), "confd's thread")
    }
}

impl Drop for Confd {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// The BIRD 1.6 configuration of `node` in `synced`, as confgen renders it.
pub fn bird_config(synced: &confgen::snapshot::Snapshot, node: &str) -> Result<String> {
    let rendered = render(synced, node, &NoSecrets)
        .map_err(|e| Error::Bench(format!("render {node}: {e}")))?;
    Ok(render_bird(&rendered.config, Flavor::Stock))
}

async fn node_loop(config: EtcdConfig, node: ConfdNode) -> Result<()> {
    let (publish, mut changes) = watch::channel(Synced::default());
    tokio::spawn(follow(config, node.name.clone(), publish));
    let conf = node.dir.join("bird.conf");
    let mut last = std::fs::read_to_string(&conf).unwrap_or_default();
    while changes.changed().await.is_ok() {
        let snapshot = changes.borrow_and_update().snapshot.clone();
        let text = bird_config(&snapshot, &node.name)?;
        if text == last {
            continue;
        }
        std::fs::write(&conf, &text).map_err(Error::io(format!("write {}", conf.display())))?;
        let socket = node.dir.join("bird.ctl");
        tokio::task::spawn_blocking(move || {
            let mut birdc = Command::new(BirdVersion::V1_6.sbin().join("birdc"));
            birdc.arg("-s").arg(&socket).arg("configure");
            cmd::output(&mut birdc)
        })
        .await
        .map_err(|e| Error::Bench(format!("birdc configure: {e}")))??;
        last = text;
    }
    Ok(())
}
