//! docs/CONFIGURATION.md is generated from the code, so that it never
//! drifts: `bgpd --help` and `bgpctl --help` (every flag, its environment
//! variable and default, from the clap definitions), and a table per section
//! of the TOML configuration from the config types' JSON Schema (their doc
//! comments and serde defaults). This test fails when the file is stale;
//! `UPDATE_DOCS=1 cargo test -p bgpd --test docs` rewrites it.

#![allow(
    clippy::unwrap_used,
    reason = "a help text that cannot be read fails the test"
)]

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

const BGPCTL_COMMANDS: &[&[&str]] = &[
    &["node", "status"],
    &["show", "status"],
    &["show", "peers"],
    &["show", "routes"],
    &["show", "config"],
    &["peer", "reset"],
    &["peer", "refresh"],
    &["health"],
    &["watch", "peers"],
    &["completions"],
];

/// `binary ARGS --help`, with no environment to show in `[env: ...]`.
fn help(binary: &str, args: &[&str]) -> String {
    let out = Command::new(binary)
        .env_clear()
        .args(args)
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success(), "{binary} {args:?} --help");
    String::from_utf8(out.stdout).unwrap()
}

fn code_block(out: &mut String, title: &str, text: &str) {
    writeln!(out, "### `{title}`\n\n```text\n{}\n```\n", text.trim_end()).unwrap();
}

/// The type of a schema property, for people.
fn type_of(property: &Value) -> String {
    if let Some(reference) = property["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap();
        return format!("[{name}](#{})", name.to_lowercase());
    }
    if let Some(any) = property["anyOf"].as_array() {
        let kinds: Vec<String> = any
            .iter()
            .filter(|v| v["type"] != "null")
            .map(type_of)
            .collect();
        return format!("{} (optional)", kinds.join(" or "));
    }
    let kinds: Vec<&str> = match &property["type"] {
        Value::String(kind) => vec![kind.as_str()],
        Value::Array(kinds) => kinds.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let optional = kinds.contains(&"null");
    let base = match kinds.iter().find(|k| **k != "null").copied() {
        Some("array") if property["items"].is_object() => {
            format!("list of {}", type_of(&property["items"]))
        }
        Some("string") if property["format"] == "ip" => "IP address".to_owned(),
        Some("string") if property["format"] == "ipv4" => "IPv4 address".to_owned(),
        Some("integer") => match property["format"].as_str() {
            Some(format) => format!("integer ({format})"),
            None => "integer".to_owned(),
        },
        Some("array") if property["prefixItems"].is_array() => {
            let items: Vec<String> = property["prefixItems"]
                .as_array()
                .unwrap()
                .iter()
                .map(type_of)
                .collect();
            format!("[{}]", items.join(", "))
        }
        Some(kind) => kind.to_owned(),
        None => "any".to_owned(),
    };
    if optional {
        format!("{base} (optional)")
    } else {
        base
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

fn default_of(property: &Value) -> String {
    match property.get("default") {
        // A section's defaults are in its own table.
        Some(Value::Object(_)) => "see its table".to_owned(),
        None => "required".to_owned(),
        Some(Value::Null) => "unset".to_owned(),
        Some(value) => format!("`{value}`"),
    }
}

fn object_table(out: &mut String, definition: &Value) {
    if let Some(description) = definition["description"].as_str() {
        writeln!(out, "{}\n", one_line(description)).unwrap();
    }
    writeln!(
        out,
        "| field | type | default | meaning |\n|---|---|---|---|"
    )
    .unwrap();
    let properties = definition["properties"].as_object().unwrap();
    for (name, property) in properties {
        writeln!(
            out,
            "| `{name}` | {} | {} | {} |",
            type_of(property),
            default_of(property),
            one_line(property["description"].as_str().unwrap_or(""))
        )
        .unwrap();
    }
    writeln!(out).unwrap();
}

fn enum_list(out: &mut String, definition: &Value) {
    if let Some(description) = definition["description"].as_str() {
        writeln!(out, "{}\n", one_line(description)).unwrap();
    }
    if let Some(values) = definition["enum"].as_array() {
        let values: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
        writeln!(out, "One of {}.\n", values.join(", ")).unwrap();
    }
    for choice in definition["oneOf"].as_array().into_iter().flatten() {
        // A unit variant is a constant; one with data a table of one key.
        let name = match choice["required"].as_array().map(Vec::as_slice) {
            Some([key]) => format!("{{ {} = … }}", key.as_str().unwrap_or("")),
            _ => choice["const"].to_string(),
        };
        writeln!(
            out,
            "- `{name}`: {}",
            one_line(choice["description"].as_str().unwrap_or(""))
        )
        .unwrap();
    }
    writeln!(out).unwrap();
}

fn configuration_reference(out: &mut String) {
    let schema = proto::config::schema();
    let schema = schema.as_value();
    out.push_str(
        "## The configuration file\n\n`bgpd --config FILE` (TOML) for a static configuration; with etcd, \
         bgpd renders the same structure from Calico's resources (`bgpctl show config` prints it). \
         Unknown fields are refused, and a file that does not validate is refused as a whole: at start, \
         bgpd exits; on SIGHUP, it keeps running what it had.\n\n### SpeakerConfig (the file)\n\n",
    );
    object_table(out, schema);
    for (name, definition) in schema["$defs"].as_object().unwrap() {
        writeln!(out, "### {name}\n").unwrap();
        if definition["properties"].is_object() {
            object_table(out, definition);
        } else {
            enum_list(out, definition);
        }
    }
}

fn generate() -> String {
    let bgpd = env!("CARGO_BIN_EXE_bgpd");
    let bgpctl = env!("CARGO_BIN_EXE_bgpctl");
    let mut out = String::from(
        "# Configuration reference\n\n\
         Generated from the code by `bgpd/tests/docs.rs`: do not edit by hand; \
         `UPDATE_DOCS=1 cargo test -p bgpd --test docs` rewrites it, and the test suite fails \
         when it is stale. Every flag can be given as the environment variable shown beside it.\n\n\
         ## bgpd\n\n",
    );
    code_block(&mut out, "bgpd --help", &help(bgpd, &[]));
    out.push_str("## bgpctl\n\n");
    code_block(&mut out, "bgpctl --help", &help(bgpctl, &[]));
    for command in BGPCTL_COMMANDS {
        code_block(
            &mut out,
            &format!("bgpctl {} --help", command.join(" ")),
            &help(bgpctl, command),
        );
    }
    configuration_reference(&mut out);
    out.trim_end().to_owned() + "\n"
}

#[test]
fn the_configuration_reference_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/CONFIGURATION.md");
    let generated = generate();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == generated,
        "docs/CONFIGURATION.md is stale: run UPDATE_DOCS=1 cargo test -p bgpd --test docs"
    );
}

#[test]
fn every_flag_and_field_is_explained() {
    // bgpd's and bgpctl's flags: a help line that is only a flag (and its
    // env or default) says nothing.
    for (binary, args) in [
        (env!("CARGO_BIN_EXE_bgpd"), &[][..]),
        (env!("CARGO_BIN_EXE_bgpctl"), &[][..]),
    ] {
        let text = help(binary, args);
        let mut lines = text.lines().peekable();
        while let Some(line) = lines.next() {
            let trimmed = line.trim_start();
            // A flag (`--name`, `-h, --help`), not a possible value (`- etcd: ...`).
            let flag = trimmed.starts_with("--")
                || trimmed
                    .chars()
                    .nth(1)
                    .is_some_and(|c| c.is_ascii_alphabetic());
            if trimmed.starts_with('-') && flag {
                let explained = lines
                    .peek()
                    .map(|next| next.trim())
                    .is_some_and(|next| !next.is_empty() && !next.starts_with(['-', '[']));
                assert!(explained, "{binary}: `{trimmed}` has no help");
            }
        }
    }
    // Every field of the configuration file has a doc comment.
    let schema = proto::config::schema();
    let schema = schema.as_value();
    let objects = std::iter::once(("SpeakerConfig", schema)).chain(
        schema["$defs"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(n, d)| (n.as_str(), d)),
    );
    let mut missing = Vec::new();
    for (name, definition) in objects {
        for (field, property) in definition["properties"].as_object().into_iter().flatten() {
            if property["description"].as_str().unwrap_or("").is_empty() {
                missing.push(format!("{name}.{field}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "fields without a doc comment: {missing:?}"
    );
}
