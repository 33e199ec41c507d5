//! Replay tests of the speaker actor, without root, sockets or real time.
//!
//! Each scenario in `bgpd/tests/replay/` is a list of commands (a peer
//! dials in or accepts, sends a message or closes, the configuration
//! changes, time passes, an operator asks) and, under each, everything the
//! speaker did in answer: the messages it wrote on each connection, the
//! connections it opened and closed, the routes it gave the kernel. The
//! speaker runs whole, on the in-memory network of [`pipes`] and tokio's
//! paused clock, so hold, restart and retry timers fire exactly when due.
//!
//! `UPDATE_GOLDEN=1 cargo test -p bgpd --lib replay` writes what the speaker
//! did back into the scenario files; review the diff.

mod harness;
mod pipes;
mod script;
mod wire;

use std::path::PathBuf;

fn scenario_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/replay")
}

/// Runs scenario `name` and compares what the speaker did with its file.
async fn replay(name: &str) {
    let path = scenario_dir().join(format!("{name}.txt"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let steps = script::parse(&text).unwrap_or_else(|e| panic!("{name}.txt: {e}"));
    let mut replay = harness::Replay::default();
    let mut outputs = Vec::with_capacity(steps.len());
    for step in &steps {
        let words: Vec<&str> = step.words.iter().map(String::as_str).collect();
        let output = replay
            .step(&words, &step.body)
            .await
            .unwrap_or_else(|e| panic!("{name}.txt line {}: {e}", step.line));
        outputs.push(output);
    }
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, script::write(&steps, &outputs))
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        return;
    }
    for (step, output) in steps.iter().zip(&outputs) {
        assert_eq!(
            &step.expected,
            output,
            "{name}.txt line {}: `{}` did not do what the file says \
             (UPDATE_GOLDEN=1 rewrites it)",
            step.line,
            step.words.join(" ")
        );
    }
}

/// A test per scenario file; [`every_scenario_is_run`] keeps the list whole.
macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        const SCENARIOS: &[&str] = &[$(stringify!($name)),*];
        $(
            #[tokio::test(start_paused = true)]
            async fn $name() {
                replay(stringify!($name)).await;
            }
        )*
    };
}

scenarios![
    collision_peer_wins,
    collision_speaker_wins,
    bfd,
    connect_retry,
    external_peer,
    family_disabled,
    graceful_restart_peer_gone,
    graceful_restart_peer_returns,
    graceful_restart_recovery,
    graceful_restart_stop,
    hold_timer,
    keys_and_deconfigure,
    malformed,
    operators,
    prefix_limit,
    reconfiguration,
    route_reflection,
    session_up,
];

#[test]
fn every_scenario_is_run() {
    let mut files: Vec<String> = std::fs::read_dir(scenario_dir())
        .expect("the scenario directory")
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            Some(name.strip_suffix(".txt")?.to_owned())
        })
        .collect();
    files.sort();
    let mut listed: Vec<String> = SCENARIOS.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(
        files, listed,
        "scenario files and the scenarios! list differ"
    );
}
