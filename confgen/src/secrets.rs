//! Where BGP passwords come from. Calico reads Kubernetes Secrets through the
//! Kubernetes API; podroute reads etcd only, so a Secret's value is taken
//! from a local source: a folder laid out like a mounted Secret volume
//! (`<dir>/<secret name>/<key>`), as a DaemonSet would mount it.

use std::path::PathBuf;

/// Looks up the value of a Secret's key.
pub trait SecretSource {
    fn get(&self, name: &str, key: &str) -> Option<String>;
}

/// No secrets: peers that need a password are rendered without one, with a warning.
#[derive(Debug, Default)]
pub struct NoSecrets;

impl SecretSource for NoSecrets {
    fn get(&self, _name: &str, _key: &str) -> Option<String> {
        None
    }
}

/// `<dir>/<name>/<key>`, trailing newline trimmed.
#[derive(Debug)]
pub struct SecretDir(pub PathBuf);

impl SecretSource for SecretDir {
    fn get(&self, name: &str, key: &str) -> Option<String> {
        // A name or key that could leave the folder is not looked up.
        let safe = |s: &str| !s.is_empty() && !s.contains('/') && s != "." && s != "..";
        if !safe(name) || !safe(key) {
            return None;
        }
        let text = std::fs::read_to_string(self.0.join(name).join(key)).ok()?;
        Some(text.trim_end_matches(['\n', '\r']).to_owned())
    }
}

/// A fixed map, for tests.
impl SecretSource for std::collections::BTreeMap<(String, String), String> {
    fn get(&self, name: &str, key: &str) -> Option<String> {
        self.get(&(name.to_owned(), key.to_owned())).cloned()
    }
}
