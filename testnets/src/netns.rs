//! Network namespaces: created with iproute2, entered by a short-lived thread
//! for netlink reads, deleted (with every process left in them) on drop.

use std::ffi::OsStr;
use std::fs::File;
use std::process::Command;

use nix::sched::{setns, CloneFlags};

use crate::cmd;
use crate::error::{Error, Result};
use crate::run;

/// Where iproute2 keeps named namespaces.
const NETNS_DIR: &str = "/var/run/netns";

#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates the namespace and brings its loopback up.
    pub fn create(name: impl Into<String>) -> Result<Self> {
        let name = name.into();
        // Registered first: an interrupt that lands while `ip` creates it,
        // or just after, must find it in the cleanup list.
        run::register_namespace(&name);
        if let Err(e) = cmd::output(Command::new("ip").args(["netns", "add", &name])) {
            run::forget_namespace(&name);
            return Err(e);
        }
        let ns = Self { name };
        ns.ip(["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// A command that runs `program` inside the namespace.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name]).arg(program);
        command
    }

    /// Runs `ip -n <ns> ARGS`.
    pub fn ip<I, S>(&self, args: I) -> Result<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        cmd::output(Command::new("ip").args(["-n", &self.name]).args(args))
    }

    /// Runs many `ip` commands in one process (`ip -batch`), the fast way to
    /// build a host: one fork for all of its links, addresses and routes.
    pub fn ip_batch(&self, lines: &[String]) -> Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        let input = lines.join("\n") + "\n";
        cmd::output_with_input(
            Command::new("ip").args(["-n", &self.name, "-batch", "-"]),
            &input,
        )
        .map(drop)
    }

    /// Sets sysctls inside the namespace (`/proc/sys/net` is per namespace,
    /// so they must be written from inside it).
    pub fn sysctls(&self, settings: &[String]) -> Result<()> {
        if settings.is_empty() {
            return Ok(());
        }
        cmd::output(self.command("sysctl").arg("-q").arg("-w").args(settings)).map(drop)
    }

    /// Runs `f` on a thread that has entered the namespace, so that sockets it
    /// opens (netlink) belong to it. The calling thread is untouched.
    pub fn enter<T: Send>(&self, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
        let path = self.path();
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    join(&path)?;
                    f()
                })
                .join()
                .unwrap_or_else(|_| Err(Error::Netlink(format!("thread in {path} panicked"))))
        })
    }

    /// Starts a long-lived thread inside the namespace (a runtime whose every
    /// socket must belong to it) and returns at once.
    pub fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> std::thread::JoinHandle<Result<T>> {
        let path = self.path();
        std::thread::spawn(move || {
            join(&path)?;
            f()
        })
    }

    fn path(&self) -> String {
        format!("{NETNS_DIR}/{}", self.name)
    }
}

/// Moves the calling thread into the namespace at `path`.
fn join(path: &str) -> Result<()> {
    let file = File::open(path).map_err(Error::io(format!("open {path}")))?;
    setns(&file, CloneFlags::CLONE_NEWNET).map_err(|e| Error::Netlink(format!("setns {path}: {e}")))
}

impl Drop for Netns {
    fn drop(&mut self) {
        delete_quietly(&self.name);
        run::forget_namespace(&self.name);
    }
}

/// Kills whatever runs in the namespace, then deletes it; errors are ignored
/// (it may be gone already).
pub(crate) fn delete_quietly(name: &str) {
    if let Ok(pids) = cmd::output(Command::new("ip").args(["netns", "pids", name])) {
        for pid in pids
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
    let _ = cmd::output(Command::new("ip").args(["netns", "del", name]));
}

/// Every namespace on the machine, by name.
pub fn list() -> Result<Vec<String>> {
    let out = cmd::output(Command::new("ip").args(["netns", "list"]))?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect())
}
