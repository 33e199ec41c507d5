//! Programs started inside a host: output kept in the run's folder, readiness
//! from the program's own signal, stopped on drop, output shown when a test
//! fails.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use crate::error::{Error, Result};
use crate::run;
use crate::wait::{wait_for, Poll};

/// How long a process gets to exit after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// How much of a log a failing test shows.
const LOG_TAIL: usize = 4000;

#[derive(Debug)]
pub struct Process {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Process {
    /// Starts `command` with standard output and error appended to `log`, in
    /// a process group of its own so that stopping it stops its children too.
    pub fn spawn(name: impl Into<String>, mut command: Command, log: PathBuf) -> Result<Self> {
        let name = name.into();
        let file = File::create(&log).map_err(Error::io(format!("create {}", log.display())))?;
        let stderr = file.try_clone().map_err(Error::io("clone log handle"))?;
        let child = command
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(stderr)
            .process_group(0)
            .spawn()
            .map_err(Error::io(format!("start {name}")))?;
        run::register_pid(child.id() as i32);
        Ok(Self { name, child, log })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Everything the process has written so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The exit status, if the process has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits until `probe` is ready; fails early, with the output, if the
    /// process exits first.
    pub fn wait_ready<T>(
        &mut self,
        what: &str,
        timeout: Duration,
        mut probe: impl FnMut() -> Result<Poll<T>>,
    ) -> Result<T> {
        let what = format!("{} to be {what}", self.name);
        wait_for(&what, timeout, || {
            if let Some(status) = self.exited() {
                return Err(Error::Exited {
                    name: self.name.clone(),
                    status: status.to_string(),
                    log: tail(&self.log()),
                });
            }
            probe()
        })
    }

    /// SIGTERM, then SIGKILL if it has not exited within the grace period.
    pub fn stop(&mut self) {
        self.signal(Signal::SIGTERM);
        let deadline = Instant::now() + STOP_GRACE;
        while self.exited().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.kill();
    }

    /// SIGKILL, as `kill -9` would, and reap.
    pub fn kill(&mut self) {
        if self.exited().is_none() {
            self.signal(Signal::SIGKILL);
            let _ = self.child.wait();
        }
        run::forget_pid(self.child.id() as i32);
    }

    /// SIGHUP: daemons re-read their configuration.
    pub fn signal_hangup(&self) {
        self.signal(Signal::SIGHUP);
    }

    fn signal(&self, signal: Signal) {
        let _ = killpg(Pid::from_raw(self.child.id() as i32), signal);
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- output of {} ({}) ----\n{}\n---- end of {} ----",
                self.name,
                self.log.display(),
                tail(&self.log()),
                self.name
            );
        }
        self.stop();
    }
}

fn tail(text: &str) -> String {
    let mut start = text.len().saturating_sub(LOG_TAIL);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].to_owned()
}
