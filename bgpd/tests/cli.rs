//! Bad invocations of `bgpd`: each exits 2 (a usage error, as clap's own)
//! with a message that names what is wrong, and never panics. Run without
//! privileges: none of these gets as far as opening a socket.

#![allow(
    clippy::unwrap_used,
    reason = "a binary that cannot be run fails the test"
)]

use std::path::Path;
use std::process::Command;

/// Runs bgpd with `args` in a clean environment (no BGPD_* or ETCD_* from the
/// caller); its exit code and standard error.
fn bgpd(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bgpd"))
        .env_clear()
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn refused(args: &[&str], says: &[&str]) {
    let (code, stderr) = bgpd(args);
    assert_eq!(code, Some(2), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    for word in says {
        assert!(
            stderr.contains(word),
            "{args:?} should say {word:?}: {stderr}"
        );
    }
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn bad_flags_are_refused_with_what_is_wrong() {
    refused(
        &["--log-level", "info,[oops"],
        &["--log-level", "not a log filter"],
    );
    refused(
        &["--stop-mode", "sometimes"],
        &["--stop-mode", "graceful-restart", "cease"],
    );
    refused(&["--no-such-flag"], &["--no-such-flag"]);
    refused(
        &["--cluster-routes-default", "Sometimes"],
        &[
            "--cluster-routes-default",
            "EnabledIPIPOnly",
            "EnabledNoEncapOnly",
        ],
    );
    refused(&["--datastore", "etcd"], &["ETCD_ENDPOINTS", "NODENAME"]);
    refused(&[], &["--config"]);
    for flag in ["--register-node", "--node-status-reporter"] {
        refused(
            &["--config", "/nonexistent.toml", flag],
            &[flag, "etcd datastore"],
        );
    }
}

#[test]
fn a_bad_config_file_is_refused_with_its_path_and_the_field() {
    let dir = std::env::temp_dir().join(format!("bgpd-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    refused(
        &["--config", "/nonexistent/bgpd.toml"],
        &["/nonexistent/bgpd.toml"],
    );
    let wrong_type = write(
        &dir,
        "wrong-type.toml",
        "node_name = \"n0\"\nrouter_id = \"10.0.1.10\"\nlocal_as = \"sixty\"\n",
    );
    refused(&["--config", &wrong_type], &[&wrong_type, "local_as"]);
    let not_toml = write(&dir, "not-toml.toml", "node_name = [\n");
    refused(&["--config", &not_toml], &[&not_toml]);
    std::fs::remove_dir_all(&dir).unwrap();
}
