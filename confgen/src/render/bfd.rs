//! BFD from the datastore. Calico open source has no field for it, so
//! podroute reads an annotation, which Calico's validation leaves alone:
//! `podroute.io/bfd` on a BGPPeer (for its peerings) and on the default
//! BGPConfiguration (for the mesh). Its value is `on` (300 ms x 3), `off`,
//! or `INTERVAL[,MULTIPLIER]`, such as `100ms,5` or `1s`: the interval both
//! ways. Calico Enterprise's `failureDetectionMode: BFDIfDirectlyConnected`
//! on a BGPPeer turns BFD on, with the defaults, for the peers on the
//! node's subnet.

use std::collections::BTreeMap;
use std::net::IpAddr;

use proto::config::BfdConfig;

use crate::render::Context;

/// The annotation's name.
pub const ANNOTATION: &str = "podroute.io/bfd";

/// The annotation's field, as problems name it.
const FIELD: &str = "metadata.annotations[podroute.io/bfd]";

/// What a resource's annotation asks for: `None` when it has none or says
/// `off`. A value that does not read is a problem of `key`, and BFD stays
/// off for what it covers.
pub(super) fn annotated(
    cx: &mut Context<'_>,
    key: &str,
    annotations: &BTreeMap<String, String>,
) -> Option<BfdConfig> {
    let text = annotations.get(ANNOTATION)?;
    match parse(text) {
        Ok(bfd) => bfd,
        Err(why) => {
            cx.problem(key, FIELD, format!("{text:?}: {why}; BFD stays off"));
            None
        }
    }
}

/// Calico Enterprise's `failureDetectionMode`: BFD with the defaults for a
/// peer on the node's subnet.
pub(super) fn failure_detection(
    cx: &mut Context<'_>,
    key: &str,
    mode: Option<&str>,
    peer: IpAddr,
) -> Option<BfdConfig> {
    match mode? {
        "None" => None,
        "BFDIfDirectlyConnected" => cx
            .node_subnet(peer.is_ipv4())
            .is_some_and(|subnet| subnet.contains(&peer))
            .then(BfdConfig::default),
        other => {
            let why = format!("{other:?} is not None or BFDIfDirectlyConnected; BFD stays off");
            cx.problem(key, "spec.failureDetectionMode", why);
            None
        }
    }
}

/// Reads an annotation's value.
fn parse(text: &str) -> Result<Option<BfdConfig>, String> {
    let text = text.trim();
    match text {
        "on" | "true" => return Ok(Some(BfdConfig::default())),
        "off" | "false" => return Ok(None),
        _ => {}
    }
    let (interval, multiplier) = match text.split_once(',') {
        Some((interval, multiplier)) => (interval.trim(), Some(multiplier.trim())),
        None => (text, None),
    };
    let ms = millis(interval)?;
    if !(10..=60_000).contains(&ms) {
        return Err(format!("{ms} ms: the interval must be 10 ms to 60 s"));
    }
    let multiplier = match multiplier {
        None => BfdConfig::default().multiplier,
        Some(m) => m
            .parse::<u8>()
            .ok()
            .filter(|m| *m > 0)
            .ok_or_else(|| format!("{m:?} is no multiplier (1 to 255)"))?,
    };
    Ok(Some(BfdConfig {
        min_tx_ms: ms,
        min_rx_ms: ms,
        multiplier,
    }))
}

/// `300ms` or `1s` in milliseconds.
fn millis(text: &str) -> Result<u32, String> {
    let (number, scale) = if let Some(ms) = text.strip_suffix("ms") {
        (ms, 1)
    } else if let Some(s) = text.strip_suffix('s') {
        (s, 1000)
    } else {
        return Err(format!("{text:?} is no interval (say 300ms or 1s)"));
    };
    number
        .trim()
        .parse::<u32>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| format!("{text:?} is no interval (say 300ms or 1s)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bfd(ms: u32, multiplier: u8) -> Option<BfdConfig> {
        Some(BfdConfig {
            min_tx_ms: ms,
            min_rx_ms: ms,
            multiplier,
        })
    }

    #[test]
    fn annotations_read_as_operators_write_them() {
        assert_eq!(parse("on"), Ok(Some(BfdConfig::default())));
        assert_eq!(parse("off"), Ok(None));
        assert_eq!(parse("100ms,5"), Ok(bfd(100, 5)));
        assert_eq!(parse(" 1s "), Ok(bfd(1000, 3)));
        assert_eq!(parse("300ms, 3"), Ok(bfd(300, 3)));
    }

    #[test]
    fn what_does_not_read_says_why() {
        assert_eq!(
            parse("fast"),
            Err("\"fast\" is no interval (say 300ms or 1s)".into())
        );
        assert_eq!(
            parse("5ms"),
            Err("5 ms: the interval must be 10 ms to 60 s".into())
        );
        assert_eq!(
            parse("100ms,0"),
            Err("\"0\" is no multiplier (1 to 255)".into())
        );
        assert_eq!(
            parse("100ms,x"),
            Err("\"x\" is no multiplier (1 to 255)".into())
        );
    }
}
