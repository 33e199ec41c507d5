//! One way in for configuration. A source (the TOML file, or etcd through
//! `datastore`) offers what it wants run; the applier alone hands it to the
//! speaker and owns the state operators read: what runs, why nothing does,
//! and what the source holds that could not be used.

use confgen::problem::Problem;
use proto::config::SpeakerConfig;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::config_diff::ConfigDiff;
use crate::log_filter::LogFilter;
use crate::speaker::SpeakerHandle;

/// The configuration as operators see it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigState {
    /// What the speaker runs; `None` until the first configuration, and
    /// while the node can run no BGP.
    pub running: Option<SpeakerConfig>,
    /// Why nothing runs (`None` while something does).
    pub waiting: Option<String>,
    /// What the source holds that could not be used; all else applies.
    pub problems: Vec<Problem>,
}

impl ConfigState {
    /// Before anything is offered.
    pub fn starting(reason: impl Into<String>) -> Self {
        Self {
            waiting: Some(reason.into()),
            ..Self::default()
        }
    }
}

/// What a source offers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Offer {
    /// Run this, which skipped what `problems` name.
    Run {
        config: Box<SpeakerConfig>,
        problems: Vec<Problem>,
    },
    /// This node can run no BGP (its Node is gone, or has no address):
    /// every session ends, as when Calico's BIRD is configured with none.
    Off(String),
    /// Nothing new can be had now (etcd unreachable, a reload refused):
    /// what runs keeps running; until something does, this is why not.
    Keep(String),
}

#[derive(Debug)]
pub struct Applier {
    speaker: SpeakerHandle,
    state: watch::Sender<ConfigState>,
    /// The log filter each configuration's `log_level` sets, when installed.
    log: Option<LogFilter>,
}

impl Applier {
    /// An applier for `speaker`, which runs nothing yet, for `reason`.
    pub fn new(speaker: SpeakerHandle, reason: impl Into<String>) -> Self {
        let (state, _) = watch::channel(ConfigState::starting(reason));
        Self {
            speaker,
            state,
            log: None,
        }
    }

    /// Configurations set the log level through `log`.
    pub fn with_log_filter(mut self, log: LogFilter) -> Self {
        self.log = Some(log);
        self
    }

    /// The state, for the operator interfaces.
    pub fn subscribe(&self) -> watch::Receiver<ConfigState> {
        self.state.subscribe()
    }

    pub fn offer(&self, offer: Offer) {
        self.state.send_if_modified(|state| {
            let before = state.clone();
            match offer {
                Offer::Run { config, problems } => {
                    let config = *config;
                    report_problems(&state.problems, &problems);
                    state.problems = problems;
                    let level = |c: Option<&SpeakerConfig>| c.and_then(|c| c.log_level);
                    if level(state.running.as_ref()) != config.log_level || state.running.is_none() {
                        if let Some(log) = &self.log {
                            log.apply(config.log_level);
                        }
                    }
                    match &state.running {
                        Some(running) if *running == config => {}
                        running => {
                            match running {
                                Some(running) => {
                                    info!(diff = %ConfigDiff::between(running, &config), "configuration changed")
                                }
                                None => info!(peers = config.peers.len(), "configured"),
                            }
                            self.speaker.reconfigure(config.clone());
                            state.running = Some(config);
                        }
                    }
                    state.waiting = None;
                }
                Offer::Off(reason) => {
                    if state.running.take().is_some() {
                        warn!(%reason, "BGP is off on this node: every session ends");
                        self.speaker.deconfigure();
                    } else if state.waiting.as_ref() != Some(&reason) {
                        warn!(%reason, "not configured");
                    }
                    state.waiting = Some(reason);
                }
                // What runs stays (the source logs its own trouble).
                Offer::Keep(reason) => {
                    if state.running.is_none() {
                        if state.waiting.as_ref() != Some(&reason) {
                            warn!(%reason, "not configured yet");
                        }
                        state.waiting = Some(reason);
                    }
                }
            }
            *state != before
        });
    }
}

/// Logs the problems that appeared, and those that went.
fn report_problems(before: &[Problem], now: &[Problem]) {
    for problem in now.iter().filter(|p| !before.contains(p)) {
        warn!(%problem, "skipped");
    }
    for problem in before.iter().filter(|p| !now.contains(p)) {
        info!(%problem, "resolved");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Event;

    fn config(router_id: &str) -> SpeakerConfig {
        SpeakerConfig::from_toml(&format!(
            "node_name = \"n1\"\nrouter_id = \"{router_id}\"\nlocal_as = 64512\n"
        ))
        .expect("a valid configuration")
    }

    /// What the speaker was sent.
    fn sent(inbox: &mut crate::speaker::Inbox) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(event) = inbox.try_event() {
            out.push(match event {
                Event::Reconfigure(c) => format!("reconfigure {}", c.router_id),
                Event::Deconfigure => "deconfigure".into(),
                other => format!("{other:?}"),
            });
        }
        out
    }

    #[test]
    fn only_a_changed_configuration_reaches_the_speaker() {
        let (handle, mut inbox) = crate::speaker::channels();
        let applier = Applier::new(handle, "waiting for etcd");
        let state = applier.subscribe();
        assert_eq!(state.borrow().waiting.as_deref(), Some("waiting for etcd"));
        let run = |id: &str, problems: Vec<Problem>| Offer::Run {
            config: Box::new(config(id)),
            problems,
        };
        applier.offer(run("10.0.0.1", Vec::new()));
        applier.offer(run("10.0.0.1", Vec::new()));
        let problem = Problem::new("/k", "spec.x", "bad");
        applier.offer(run("10.0.0.1", vec![problem.clone()]));
        assert_eq!(sent(&mut inbox), ["reconfigure 10.0.0.1"]);
        assert_eq!(state.borrow().problems, [problem]);
        assert_eq!(state.borrow().waiting, None);
        applier.offer(run("10.0.0.2", Vec::new()));
        assert_eq!(sent(&mut inbox), ["reconfigure 10.0.0.2"]);
        assert!(state.borrow().problems.is_empty());
    }

    #[test]
    fn off_ends_the_sessions_and_keep_keeps_them() {
        let (handle, mut inbox) = crate::speaker::channels();
        let applier = Applier::new(handle, "starting");
        let state = applier.subscribe();
        applier.offer(Offer::Keep("etcd unreachable".into()));
        assert_eq!(state.borrow().waiting.as_deref(), Some("etcd unreachable"));
        applier.offer(Offer::Off("node n1 not found".into()));
        assert!(sent(&mut inbox).is_empty(), "nothing ran: nothing to end");
        applier.offer(Offer::Run {
            config: Box::new(config("10.0.0.1")),
            problems: Vec::new(),
        });
        applier.offer(Offer::Keep("etcd unreachable".into()));
        assert!(state.borrow().running.is_some(), "what runs keeps running");
        assert_eq!(state.borrow().waiting, None);
        applier.offer(Offer::Off("node n1 has no BGP address".into()));
        assert_eq!(state.borrow().running, None);
        assert_eq!(
            state.borrow().waiting.as_deref(),
            Some("node n1 has no BGP address")
        );
        // Back: the same configuration as before is applied again.
        applier.offer(Offer::Run {
            config: Box::new(config("10.0.0.1")),
            problems: Vec::new(),
        });
        assert_eq!(
            sent(&mut inbox),
            [
                "reconfigure 10.0.0.1",
                "deconfigure",
                "reconfigure 10.0.0.1"
            ]
        );
    }
}
