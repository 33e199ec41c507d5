//! Waiting for a condition with a deadline, never for a fixed time: the probe
//! asks the real thing (a CLI answers, a route is in the table) and the wait
//! ends as soon as it says yes. On timeout the error shows the state as it
//! last stood.

use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// What a probe saw.
#[derive(Debug)]
pub enum Poll<T> {
    Ready(T),
    /// Not yet; the text describes the state, for the timeout message.
    Pending(String),
}

/// Polls `probe` (every 10 ms at first, backing off to 200 ms) until it is
/// ready, fails, or `timeout` passes.
pub fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut probe: impl FnMut() -> Result<Poll<T>>,
) -> Result<T> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(10);
    loop {
        let state = match probe()? {
            Poll::Ready(value) => return Ok(value),
            Poll::Pending(state) => state,
        };
        if start.elapsed() >= timeout {
            return Err(Error::Timeout {
                what: what.to_owned(),
                waited: start.elapsed(),
                state,
            });
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_as_soon_as_the_probe_says_so() {
        let mut calls = 0;
        let got = wait_for("three calls", Duration::from_secs(5), || {
            calls += 1;
            Ok(if calls == 3 {
                Poll::Ready(calls)
            } else {
                Poll::Pending(format!("call {calls}"))
            })
        });
        assert_eq!(got.unwrap(), 3);
    }

    #[test]
    fn timeout_shows_the_last_state() {
        let err = wait_for::<()>("never", Duration::from_millis(30), || {
            Ok(Poll::Pending("still no".into()))
        })
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("waiting for never") && text.contains("still no"),
            "{text}"
        );
    }
}
