//! How fast a daemon answers its operators while it works: the question
//! `calicoctl node status` asks. bgpd and BIRD are asked the same thing the
//! same way, `show protocols` on their BIRD control socket, timed from the
//! harness from the command sent to the last line read; FRR through `vtysh
//! -c "show bgp summary"` and GoBGP through `gobgp neighbor`, each timed
//! with its CLI's own start (neither has a socket a harness can speak
//! plainly), so their figures carry that overhead.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use testnets::{Error, Result};

/// Asks `command` on a BIRD control socket; the time to the whole answer.
/// The protocol (BIRD's `sysdep/unix/main.c`): a greeting `0001 ...`, then
/// per command lines of a 4-digit code and `-` (more follow) or ` ` (the
/// last); a line starting with a space continues the previous one.
pub fn ask_bird_socket(socket: &Path, command: &str) -> Result<Duration> {
    let stream = UnixStream::connect(socket).map_err(Error::io(socket.display().to_string()))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(Error::io(socket.display().to_string()))?;
    let mut reader = BufReader::new(
        stream
            .try_clone()
            .map_err(Error::io(socket.display().to_string()))?,
    );
    let mut line = String::new();
    reader
        .read_line(&mut line)
        .map_err(Error::io(socket.display().to_string()))?;
    if !line.starts_with("0001") {
        return Err(Error::Bench(format!("not a BIRD greeting: {line:?}")));
    }
    let started = Instant::now();
    (&stream)
        .write_all(format!("{command}\n").as_bytes())
        .map_err(Error::io(socket.display().to_string()))?;
    loop {
        line.clear();
        let read = reader
            .read_line(&mut line)
            .map_err(Error::io(socket.display().to_string()))?;
        if read == 0 {
            return Err(Error::Bench(format!("{command}: the socket closed")));
        }
        if is_last_line(&line) {
            return Ok(started.elapsed());
        }
    }
}

/// A reply line that ends the answer: four digits, then a space.
fn is_last_line(line: &str) -> bool {
    let bytes = line.as_bytes();
    bytes.len() >= 5 && bytes[..4].iter().all(u8::is_ascii_digit) && bytes[4] == b' '
}

/// Asks the status question again and again (every `every`) in a thread
/// until stopped; the times of the answers.
pub struct Prober {
    stop: std::sync::Arc<AtomicBool>,
    thread: JoinHandle<Result<Vec<f64>>>,
}

impl Prober {
    /// Starts asking at once: the first question goes out now.
    pub fn start(every: Duration, ask: impl Fn() -> Result<Duration> + Send + 'static) -> Self {
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut times = Vec::new();
            // At least one answer, however soon the work is done.
            loop {
                times.push(super::millis(ask()?));
                if stopped.load(Ordering::Relaxed) {
                    return Ok(times);
                }
                std::thread::sleep(every);
            }
        });
        Self { stop, thread }
    }

    /// Stops asking; every answer's time in milliseconds.
    pub fn finish(self) -> Result<Vec<f64>> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .map_err(|_| Error::Bench("the status prober panicked".into()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_line_has_a_code_and_a_space() {
        assert!(is_last_line("0000 \n"));
        assert!(is_last_line("8003 No protocols match\n"));
        assert!(!is_last_line(
            "2002-name     proto    table    state  since       info\n"
        ));
        assert!(!is_last_line(" continued\n"));
        assert!(!is_last_line("1002-Mesh_10_0_0_2 BGP master up\n"));
    }
}
