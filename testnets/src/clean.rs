//! Removing what killed runs left: namespaces whose owning process is gone
//! (and whatever still runs in them), and their folders.

use crate::error::Result;
use crate::netns;
use crate::run::{self, owner_pid, pid_alive, NAME_PREFIX};

/// What `clean` removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Cleaned {
    pub namespaces: Vec<String>,
    pub folders: Vec<String>,
}

/// Removes leftovers of dead runs; live runs are left alone.
pub fn clean() -> Result<Cleaned> {
    let mut cleaned = Cleaned::default();
    let dead = |name: &str| owner_pid(name).is_some_and(|pid| !pid_alive(pid));
    for name in netns::list()? {
        if name.starts_with(NAME_PREFIX) && dead(&name) {
            netns::delete_quietly(&name);
            cleaned.namespaces.push(name);
        }
    }
    if let Ok(entries) = std::fs::read_dir(run::base_dir()) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if dead(&name) && std::fs::remove_dir_all(entry.path()).is_ok() {
                cleaned.folders.push(name);
            }
        }
    }
    Ok(cleaned)
}
