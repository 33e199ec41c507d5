//! A speaker from the first second: before it has a configuration (etcd
//! not reached yet, this node not in it, or without a BGP address), its
//! handle already answers operators (no peers, no routes), and the first
//! configuration starts it on the same channels. So the API sockets, the
//! BIRD sockets and HTTP are served at once, and say why nothing runs.

use std::net::Ipv4Addr;
use std::time::SystemTime;

use proto::config::SpeakerConfig;
use tokio::task::JoinHandle;

use super::{channels, FibSink, Inbox, Speaker, SpeakerHandle};
use crate::events::Event;
use crate::session::TcpNetwork;
use crate::status::{Query, Refused, SpeakerStatus};

/// Makes the kernel side once the first configuration says how.
/// Makes the FIB side for the first configuration; the sink it is given
/// takes routes learned from the kernel to the speaker.
pub type FibFactory =
    Box<dyn FnOnce(&SpeakerConfig, routesync::learn::LearnedSink) -> Box<dyn FibSink> + Send>;

/// Spawns a speaker that waits for its first [`SpeakerHandle::reconfigure`].
/// The task ends when the speaker stops; with an error when it cannot start
/// (the BGP port cannot be bound).
pub fn spawn_when_configured(
    node_name: String,
    make_fib: FibFactory,
) -> (SpeakerHandle, JoinHandle<Result<(), String>>) {
    let (handle, inbox) = channels();
    (
        handle,
        tokio::spawn(wait_then_run(node_name, inbox, make_fib)),
    )
}

async fn wait_then_run(
    node_name: String,
    mut inbox: Inbox,
    make_fib: FibFactory,
) -> Result<(), String> {
    let waiting_since = SystemTime::now();
    let config = loop {
        tokio::select! {
            biased;
            Some(query) = inbox.queries.recv() => answer_unconfigured(query, &node_name, waiting_since),
            event = inbox.receiver.recv() => match event {
                None | Some(Event::Shutdown(_)) => return Ok(()),
                Some(Event::Reconfigure(config)) => break config,
                // Nothing listens or connects yet, so nothing else comes.
                Some(_) => {}
            },
        }
    };
    let events = inbox.events.clone();
    let learned: routesync::learn::LearnedSink = Box::new(move |changes| {
        let _ = events.send(Event::Learned(changes));
    });
    let fib = make_fib(&config, learned);
    let (speaker, receiver) =
        Speaker::start_on(config, fib, Box::new(TcpNetwork::default()), inbox)
            .map_err(|e| format!("cannot listen for BGP: {e}"))?;
    speaker.run(receiver).await;
    Ok(())
}

/// What a speaker without a configuration says: nothing runs.
fn answer_unconfigured(query: Query, node_name: &str, waiting_since: SystemTime) {
    match query {
        Query::Speaker(answer) => {
            let _ = answer.send(SpeakerStatus {
                node_name: node_name.to_owned(),
                router_id: Ipv4Addr::UNSPECIFIED,
                local_as: 0,
                cluster_id: None,
                started: waiting_since,
                last_reconfigured: waiting_since,
                reconfigurations: 0,
                converged: false,
                recovering: false,
                prefixes: 0,
                attr_sets: 0,
                update_processing: routesync::Histogram::default(),
            });
        }
        Query::Peers(answer) => {
            let _ = answer.send(Vec::new());
        }
        Query::Routes(_, answer) => {
            let _ = answer.send(Vec::new());
        }
        Query::Reset(_, answer) | Query::Refresh(_, answer) => {
            let _ = answer.send(Err(Refused::NotConfigured));
        }
    }
}
