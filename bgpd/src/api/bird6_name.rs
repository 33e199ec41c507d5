//! calicoctl prints the IPv6 table only while a process whose argv[0] is
//! exactly `bird6` runs (its psContains on every process's command line),
//! as Calico's second BIRD daemon is. One bgpd serves both BIRD sockets, so
//! while it serves `bird6.ctl` it runs a second process of itself under that
//! name, which only holds the name: it waits, and goes when bgpd goes
//! (PR_SET_PDEATHSIG), or when bgpd stops it.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

use nix::sys::prctl::set_pdeathsig;
use nix::sys::signal::Signal;
use nix::unistd::{getppid, pause, Pid};

/// The first argument that makes bgpd the name holder (not a flag of its
/// command line: it is never parsed as one).
pub const HOLD: &str = "--hold-bird6-name";

/// Starts the holder, a child of this process.
pub fn spawn() -> std::io::Result<Child> {
    Command::new("/proc/self/exe")
        .arg0("bird6")
        .arg(HOLD)
        .arg(std::process::id().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
}

/// The holder's life, when bgpd was started as `bird6 --hold-bird6-name
/// PID`: killed with its parent, it waits until then.
pub fn hold(parent: &str) -> ! {
    let parent = parent.parse::<i32>().map(Pid::from_raw);
    // The parent may have gone before the signal was asked for: then the
    // holder is an orphan, and leaves at once.
    if set_pdeathsig(Signal::SIGKILL).is_err() || parent != Ok(getppid()) {
        std::process::exit(0);
    }
    loop {
        pause();
    }
}
