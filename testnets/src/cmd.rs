//! Running a command to completion and keeping what it said.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::error::{Error, Result};

fn describe(cmd: &Command) -> String {
    let mut text = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

/// Runs `cmd` and returns its standard output; a non-zero exit is an error
/// carrying its standard error.
pub fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(Error::io(describe(cmd)))?;
    finish(cmd, out)
}

/// Like [`output`], with `input` on standard input (for `ip -batch -`).
pub fn output_with_input(cmd: &mut Command, input: &str) -> Result<String> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(Error::io(describe(cmd)))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .map_err(Error::io(describe(cmd)))?;
    }
    let out = child.wait_with_output().map_err(Error::io(describe(cmd)))?;
    finish(cmd, out)
}

fn finish(cmd: &Command, out: std::process::Output) -> Result<String> {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        return Ok(stdout);
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    Err(Error::Command {
        command: describe(cmd),
        detail: format!("{}: {}{}", out.status, stderr.trim(), stdout.trim()),
    })
}
