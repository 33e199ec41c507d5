//! One run of the harness (one process): its id, its folder, and a registry of
//! every namespace and process it created, so that all of it goes away on
//! drop, on panic (through drops while unwinding) and on Ctrl-C or SIGTERM
//! (through the handler installed here). `testnets clean` removes what a run
//! killed with SIGKILL left behind.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Every namespace name of the harness starts with this, then the owning pid.
pub const NAME_PREFIX: &str = "tn";

#[derive(Debug)]
pub struct Run {
    pid: u32,
    dir: PathBuf,
}

#[derive(Default)]
struct Live {
    namespaces: BTreeSet<String>,
    pids: BTreeSet<i32>,
}

static RUN: OnceLock<Run> = OnceLock::new();
static LIVE: Mutex<Live> = Mutex::new(Live {
    namespaces: BTreeSet::new(),
    pids: BTreeSet::new(),
});
static SEQUENCE: AtomicU32 = AtomicU32::new(0);

/// The folder under which runs keep configs, sockets and logs.
pub fn base_dir() -> PathBuf {
    std::env::var_os("TESTNETS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("testnets"))
}

/// The run of this process, set up on first use.
pub fn current() -> &'static Run {
    RUN.get_or_init(|| {
        let pid = std::process::id();
        // A handler may already be set by the program using the harness; then
        // drops alone clean up.
        let _ = ctrlc::set_handler(|| {
            cleanup_everything();
            std::process::exit(130);
        });
        Run {
            pid,
            dir: base_dir().join(format!("{NAME_PREFIX}{pid}")),
        }
    })
}

impl Run {
    /// The folder of this run; each network takes a subfolder of it.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A prefix unique on this machine for one network's names, such as
    /// `tn4711-3`: the pid tells `testnets clean` whether its owner lives.
    pub fn next_prefix(&self) -> String {
        let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed);
        format!("{NAME_PREFIX}{}-{seq}", self.pid)
    }
}

fn live() -> std::sync::MutexGuard<'static, Live> {
    // A panic while holding the lock leaves the sets usable.
    LIVE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(crate) fn register_namespace(name: &str) {
    live().namespaces.insert(name.to_owned());
}

pub(crate) fn forget_namespace(name: &str) {
    live().namespaces.remove(name);
}

pub(crate) fn register_pid(pid: i32) {
    live().pids.insert(pid);
}

pub(crate) fn forget_pid(pid: i32) {
    live().pids.remove(&pid);
}

/// Kills every process and deletes every namespace this run still has.
fn cleanup_everything() {
    let (pids, namespaces) = {
        let mut live = live();
        (
            std::mem::take(&mut live.pids),
            std::mem::take(&mut live.namespaces),
        )
    };
    for pid in pids {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
    for ns in namespaces {
        crate::netns::delete_quietly(&ns);
    }
}

/// The pid that owns a namespace or run folder named by this harness.
pub fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(NAME_PREFIX)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

pub(crate) fn pid_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_unique_and_name_their_owner() {
        let run = current();
        let (a, b) = (run.next_prefix(), run.next_prefix());
        assert_ne!(a, b);
        assert_eq!(owner_pid(&a), Some(std::process::id()));
        assert_eq!(owner_pid("tn42-0-n1"), Some(42));
        assert_eq!(owner_pid("other"), None);
    }
}
