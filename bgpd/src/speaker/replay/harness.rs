//! Runs a scenario's commands against a speaker on in-memory pipes, and
//! says what the speaker did after each, one line per thing seen.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use bytes::BytesMut;
use proto::config::SpeakerConfig;
use routesync::{FibEntry, FibUpdate};
use tokio::io::{AsyncWriteExt, DuplexStream};
use tokio::task::JoinHandle;

use super::pipes::{self, ConnId, Entry, JournalFib, PipeNetwork, Shared, Side};
use super::wire;
use crate::bfd::packet::Diagnostic;
use crate::bfd::session::Change;
use crate::events::{Event, Stop};
use crate::packet::{DecodeCtx, EncodeCtx, Message, Negotiated, OpenMessage, HEADER_LEN};
use crate::speaker::{channels, Speaker, SpeakerHandle};

/// One connection as its peer sees it.
#[derive(Debug, Default)]
struct PeerEnd {
    /// Where the peer writes; `None` once the peer closed it.
    pipe: Option<DuplexStream>,
    /// The OPEN the peer sent, and the speaker's.
    sent_open: Option<OpenMessage>,
    got_open: Option<OpenMessage>,
    /// What the speaker wrote that is not a whole message yet.
    unread: BytesMut,
    /// The speaker closed its side.
    closed: bool,
}

impl PeerEnd {
    fn negotiated(&self) -> Option<Negotiated> {
        Some(Negotiated::new(
            self.sent_open.as_ref()?,
            self.got_open.as_ref()?,
        ))
    }

    fn decode_ctx(&self) -> DecodeCtx {
        self.negotiated()
            .map(|n| n.decode_ctx())
            .unwrap_or_default()
    }

    fn encode_ctx(&self) -> EncodeCtx {
        self.negotiated()
            .map(|n| n.encode_ctx())
            .unwrap_or_default()
    }

    fn is_open(&self) -> bool {
        self.pipe.is_some() && !self.closed
    }
}

/// A speaker under test and the peers around it.
#[derive(Debug, Default)]
pub struct Replay {
    world: Shared,
    handle: Option<SpeakerHandle>,
    running: Option<JoinHandle<()>>,
    ends: BTreeMap<ConnId, PeerEnd>,
}

fn name(id: ConnId) -> String {
    let side = match id.1 {
        Side::In => "in",
        Side::Out => "out",
    };
    format!("{}/{side}", id.0)
}

impl Replay {
    /// Carries out one command; its output is what the speaker did.
    pub async fn step(&mut self, words: &[&str], body: &str) -> Result<Vec<String>, String> {
        let mut out = match words {
            ["start", flags @ ..] => self.start(body, flags.contains(&"preserved"))?,
            ["reconfigure"] => {
                self.handle()?.reconfigure(config(body)?);
                Vec::new()
            }
            ["deconfigure"] => {
                self.handle()?.deconfigure();
                Vec::new()
            }
            ["shutdown", how @ ..] => self.shutdown(how.contains(&"graceful")).await?,
            ["accept", peer] => {
                self.lock().accepting.insert(address(peer)?);
                Vec::new()
            }
            ["refuse", peer] => {
                self.lock().accepting.remove(&address(peer)?);
                Vec::new()
            }
            ["dial", peer] => {
                let id = (address(peer)?, Side::In);
                let pipe = pipes::dial(&self.world, id.0).ok_or("the speaker is not listening")?;
                self.ends.insert(
                    id,
                    PeerEnd {
                        pipe: Some(pipe),
                        ..PeerEnd::default()
                    },
                );
                Vec::new()
            }
            ["send", conn, message @ ..] => self.send(conn, message).await?,
            ["close", conn] => {
                let id = self.find(conn)?;
                if let Some(mut pipe) = self.ends.get_mut(&id).and_then(|e| e.pipe.take()) {
                    let _ = pipe.shutdown().await;
                }
                Vec::new()
            }
            ["wait", secs] => {
                let secs: u64 = secs.parse().map_err(|_| format!("not seconds: {secs}"))?;
                tokio::time::sleep(Duration::from_secs(secs)).await;
                Vec::new()
            }
            ["bfd", peer, how] => {
                let change = match *how {
                    "up" => Change::Up,
                    "down" => Change::Down(Diagnostic::TimeExpired),
                    other => return Err(format!("bfd {other}: up or down")),
                };
                let peer = address(peer)?;
                let _ = self.handle()?.events.send(Event::Bfd { peer, change });
                Vec::new()
            }
            ["status"] => self.status().await?,
            ["routes"] => self.routes().await?,
            ["reset", peer] => {
                let answer = self.handle()?.reset_peer((*peer).into()).await;
                vec![format!("reset: {}", answered(answer))]
            }
            ["refresh", peer] => {
                let answer = self.handle()?.refresh_peer((*peer).into()).await;
                vec![format!("refresh: {}", answered(answer))]
            }
            other => return Err(format!("no command {other:?}")),
        };
        // Everything the command set off runs before the output is read:
        // the clock is paused, and moves only when every task waits.
        tokio::time::sleep(Duration::from_millis(1)).await;
        let mut seen = self.journal()?;
        seen.append(&mut out);
        Ok(collapse(seen))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, pipes::World> {
        self.world
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn handle(&self) -> Result<&SpeakerHandle, String> {
        self.handle
            .as_ref()
            .ok_or_else(|| "no speaker: start one first".into())
    }

    fn start(&mut self, body: &str, preserved: bool) -> Result<Vec<String>, String> {
        let config = config(body)?;
        self.lock().node = config.addresses.iter().map(|a| a.addr()).collect();
        let fib = JournalFib {
            world: self.world.clone(),
            preserved,
        };
        let network = PipeNetwork(self.world.clone());
        let (handle, inbox) = channels();
        let (speaker, receiver) =
            Speaker::start_on(config, Box::new(fib), Box::new(network), inbox)
                .map_err(|e| format!("the speaker did not start: {e}"))?;
        self.running = Some(tokio::spawn(speaker.run(receiver)));
        self.handle = Some(handle);
        Ok(Vec::new())
    }

    async fn shutdown(&mut self, graceful: bool) -> Result<Vec<String>, String> {
        let stop = if graceful {
            Stop::GracefulRestart
        } else {
            Stop::Cease
        };
        self.handle()?.shutdown(stop);
        if let Some(running) = self.running.take() {
            running
                .await
                .map_err(|e| format!("the speaker failed: {e}"))?;
        }
        self.handle = None;
        Ok(vec!["the speaker stopped".into()])
    }

    /// The connection `conn` names: `10.0.0.2/in`, `10.0.0.2/out`, or
    /// `10.0.0.2` for the one open connection with that peer.
    fn find(&self, conn: &str) -> Result<ConnId, String> {
        if let Some((peer, side)) = conn.split_once('/') {
            let side = match side {
                "in" => Side::In,
                "out" => Side::Out,
                other => return Err(format!("no side {other:?}: in or out")),
            };
            return Ok((address(peer)?, side));
        }
        let peer = address(conn)?;
        let mut open = self
            .ends
            .iter()
            .filter(|(id, end)| id.0 == peer && end.is_open());
        match (open.next(), open.next()) {
            (Some((id, _)), None) => Ok(*id),
            (None, _) => Err(format!("no open connection with {peer}")),
            (Some(_), Some(_)) => Err(format!("two connections with {peer}: say /in or /out")),
        }
    }

    async fn send(&mut self, conn: &str, words: &[&str]) -> Result<Vec<String>, String> {
        let id = self.find(conn)?;
        let sent = wire::build(words)?;
        let end = self
            .ends
            .get_mut(&id)
            .ok_or(format!("no connection {}", name(id)))?;
        let bytes = match sent {
            wire::Sent::Raw(octets) => octets,
            wire::Sent::Message(message) => {
                let bytes = message
                    .to_bytes(&end.encode_ctx())
                    .map_err(|e| format!("cannot encode: {e:?}"))?;
                if let Message::Open(open) = *message {
                    end.sent_open = Some(open);
                }
                bytes.to_vec()
            }
        };
        let pipe = end.pipe.as_mut().ok_or(format!("{} is closed", name(id)))?;
        pipe.write_all(&bytes)
            .await
            .map_err(|e| format!("cannot write to {}: {e}", name(id)))?;
        Ok(Vec::new())
    }

    /// What the speaker did since last asked, a line each.
    fn journal(&mut self) -> Result<Vec<String>, String> {
        for (id, pipe) in pipes::take_opened(&self.world) {
            self.ends.insert(
                id,
                PeerEnd {
                    pipe: Some(pipe),
                    ..PeerEnd::default()
                },
            );
        }
        let mut lines = Vec::new();
        for entry in pipes::take_journal(&self.world) {
            match entry {
                Entry::Wrote(id, octets) => self.read(id, &octets, &mut lines)?,
                Entry::Closed(id) => {
                    if let Some(end) = self.ends.get_mut(&id) {
                        end.closed = true;
                    }
                    lines.push(format!("{} closed by the speaker", name(id)));
                }
                Entry::Connected(id) => lines.push(format!("connect to {}: {}", id.0, name(id))),
                Entry::Refused(peer) => lines.push(format!("connect to {peer}: refused")),
                Entry::Key(peer, on) => {
                    let what = if on { "set" } else { "cleared" };
                    lines.push(format!("md5 key for {peer}: {what}"));
                }
                // A batch is applied whole; its order (the speaker's hash
                // order) says nothing.
                Entry::Fib(updates) => {
                    let mut batch: Vec<String> = updates.iter().map(render_fib).collect();
                    batch.sort();
                    lines.extend(batch);
                }
                Entry::Converged => lines.push("fib: every peer sent its table".into()),
                Entry::BfdWatch(watch) => {
                    let kind = if watch.multihop {
                        "multihop"
                    } else {
                        "single hop"
                    };
                    let timers = watch.timers;
                    lines.push(format!(
                        "bfd watches {} ({kind}, from {}, {} ms / {} ms x{})",
                        watch.peer,
                        watch.local.map_or("any address".into(), |a| a.to_string()),
                        timers.desired_min_tx.as_millis(),
                        timers.required_min_rx.as_millis(),
                        timers.multiplier
                    ));
                }
                Entry::BfdForget(peer) => lines.push(format!("bfd forgets {peer}")),
            }
        }
        Ok(lines)
    }

    /// Decodes what the speaker wrote on `id`, as its peer would.
    fn read(&mut self, id: ConnId, octets: &[u8], lines: &mut Vec<String>) -> Result<(), String> {
        let end = self.ends.entry(id).or_default();
        end.unread.extend_from_slice(octets);
        while end.unread.len() >= HEADER_LEN {
            let length = usize::from(u16::from_be_bytes([end.unread[16], end.unread[17]]));
            if end.unread.len() < length {
                break;
            }
            let octets = end.unread.split_to(length);
            let message = Message::decode(&octets, &end.decode_ctx())
                .map_err(|e| format!("the speaker sent {} a bad message: {e}", name(id)))?;
            if let Message::Open(open) = &message {
                end.got_open = Some(open.clone());
            }
            lines.push(format!("{} <- {}", name(id), wire::render(&message)));
        }
        Ok(())
    }

    async fn status(&self) -> Result<Vec<String>, String> {
        let peers = self.handle()?.peers().await.ok_or("the speaker stopped")?;
        Ok(peers
            .iter()
            .map(|p| {
                let mut line = format!("peer {} {:?} prefixes={}", p.name, p.state, p.prefixes);
                if let Some(up) = p.bfd {
                    line += if up { " bfd=up" } else { " bfd=down" };
                }
                if let Some(restart) = &p.restart {
                    line += &format!(" restarting(stale={})", restart.stale);
                }
                if let Some(error) = &p.last_error {
                    line += &format!(" error={error:?}");
                }
                line
            })
            .collect())
    }

    async fn routes(&self) -> Result<Vec<String>, String> {
        let routes = self
            .handle()?
            .routes(None)
            .await
            .ok_or("the speaker stopped")?;
        let mut lines = Vec::new();
        for route in routes {
            for path in route.paths {
                let mark = if path.best { "*" } else { " " };
                let mut line = format!(
                    "route {} {mark} from {} nh={} path={:?}",
                    route.prefix, path.from, path.next_hop, path.as_path
                );
                if let Some(lp) = path.local_pref {
                    line += &format!(" lp={lp}");
                }
                lines.push(line);
            }
        }
        Ok(lines)
    }
}

/// An operator's answer: done, or why not.
fn answered(answer: Result<(), crate::status::Refused>) -> String {
    match answer {
        Ok(()) => "done".into(),
        Err(refused) => format!("refused: {refused}"),
    }
}

fn config(body: &str) -> Result<SpeakerConfig, String> {
    SpeakerConfig::from_toml(body).map_err(|e| format!("bad configuration: {e}"))
}

fn address(text: &str) -> Result<IpAddr, String> {
    text.parse()
        .map_err(|_| format!("not an address: {text:?}"))
}

fn render_fib(update: &FibUpdate) -> String {
    match &update.entry {
        FibEntry::Remove => format!("fib {} removed", update.prefix),
        FibEntry::Blackhole => format!("fib {} blackhole", update.prefix),
        FibEntry::NextHops { hops, metric } => {
            let hops: Vec<String> = hops.iter().map(IpAddr::to_string).collect();
            format!(
                "fib {} via {} metric {metric}",
                update.prefix,
                hops.join(",")
            )
        }
    }
}

/// Runs of the same line as one, counted (keepalives, retries).
fn collapse(lines: Vec<String>) -> Vec<String> {
    let mut out: Vec<(String, usize)> = Vec::new();
    for line in lines {
        match out.last_mut() {
            Some((last, count)) if *last == line => *count += 1,
            _ => out.push((line, 1)),
        }
    }
    out.into_iter()
        .map(|(line, count)| match count {
            1 => line,
            n => format!("{line} (x{n})"),
        })
        .collect()
}
