//! Checks a `SpeakerConfig` once, at the boundary; every error names the
//! field at fault (`peer[2].hold_time`), so that a refused reload says what to
//! fix.

use std::collections::BTreeSet;

use super::{PeerConfig, SpeakerConfig};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}{sep}{message}", sep = if field.is_empty() { "" } else { ": " })]
pub struct ConfigError {
    /// The path of the field, e.g. `peer[1].address`; empty for the whole file.
    pub field: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// A TOML syntax or type error; toml's message names the key and line.
    pub(super) fn parse(error: toml::de::Error) -> Self {
        Self::new("", error.to_string().trim_end().to_owned())
    }
}

impl SpeakerConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.node_name.is_empty() {
            return Err(ConfigError::new("node_name", "must not be empty"));
        }
        if self.router_id.is_unspecified() {
            return Err(ConfigError::new(
                "router_id",
                "must not be 0.0.0.0 (RFC 6286)",
            ));
        }
        if self.local_as.0 == 0 {
            return Err(ConfigError::new("local_as", "AS 0 is reserved (RFC 7607)"));
        }
        for (i, filter) in self.filters.iter().enumerate() {
            if self.filters[..i].iter().any(|f| f.name == filter.name) {
                return Err(ConfigError::new(
                    format!("filter[{i}].name"),
                    format!("{:?} is defined twice", filter.name),
                ));
            }
            let named = !filter.name.is_empty()
                && filter
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
            if !named {
                return Err(ConfigError::new(
                    format!("filter[{i}].name"),
                    format!("{:?} is not a resource name", filter.name),
                ));
            }
            validate_filter(filter).map_err(|(field, message)| {
                ConfigError::new(format!("filter[{i}].{field}"), message)
            })?;
        }
        let mut seen = BTreeSet::new();
        for (i, peer) in self.peers.iter().enumerate() {
            for (j, name) in peer.filters.iter().enumerate() {
                if !self.filters.iter().any(|f| &f.name == name) {
                    return Err(ConfigError::new(
                        format!("peer[{i}].filters[{j}]"),
                        format!("no [[filter]] is named {name:?}"),
                    ));
                }
            }
            validate_peer(peer).map_err(|(field, message)| {
                ConfigError::new(format!("peer[{i}].{field}"), message)
            })?;
            if !seen.insert((peer.address, peer.port)) {
                return Err(ConfigError::new(
                    format!("peer[{i}].address"),
                    format!("{} port {} is configured twice", peer.address, peer.port),
                ));
            }
            if self.addresses.iter().any(|a| a.addr() == peer.address) {
                return Err(ConfigError::new(
                    format!("peer[{i}].address"),
                    "is this node's own address",
                ));
            }
            if peer.route_reflector_client && self.cluster_id.is_none() {
                return Err(ConfigError::new(
                    format!("peer[{i}].route_reflector_client"),
                    "needs cluster_id: only a route reflector has clients",
                ));
            }
        }
        for (i, origin) in self.originate.iter().enumerate() {
            if origin.prefix != origin.prefix.trunc() {
                return Err(ConfigError::new(
                    format!("originate[{i}].prefix"),
                    format!(
                        "{} has host bits set; did you mean {}?",
                        origin.prefix,
                        origin.prefix.trunc()
                    ),
                ));
            }
        }
        let listen = &self.listen.addresses;
        if listen.iter().filter(|a| a.is_ipv4()).count() > 1
            || listen.iter().filter(|a| a.is_ipv6()).count() > 1
        {
            return Err(ConfigError::new(
                "listen.addresses",
                "at most one address per family",
            ));
        }
        if self.export.communities.len() > super::MAX_PREFIX_COMMUNITIES {
            return Err(ConfigError::new(
                "export.communities",
                format!(
                    "{} ranges; at most {} are supported",
                    self.export.communities.len(),
                    super::MAX_PREFIX_COMMUNITIES
                ),
            ));
        }
        for (field, value) in [
            (
                "kernel.route_priority.ipv4",
                self.kernel.route_priority.ipv4,
            ),
            (
                "kernel.route_priority.ipv6",
                self.kernel.route_priority.ipv6,
            ),
        ] {
            if !super::ROUTE_PRIORITY_RANGE.contains(&value) {
                return Err(ConfigError::new(
                    field,
                    format!(
                        "{value} is outside {}..={}",
                        super::ROUTE_PRIORITY_RANGE.start(),
                        super::ROUTE_PRIORITY_RANGE.end()
                    ),
                ));
            }
        }
        if self.kernel.tunnel_device.is_empty() || self.kernel.tunnel_device.len() > 15 {
            return Err(ConfigError::new(
                "kernel.tunnel_device",
                "must be an interface name of 1 to 15 characters",
            ));
        }
        Ok(())
    }
}

/// A filter's rules, each as [`super::FilterRule::check`] says.
fn validate_filter(filter: &super::FilterConfig) -> Result<(), (String, String)> {
    for (list, ipv4, import) in [
        ("export_v4", true, false),
        ("import_v4", true, true),
        ("export_v6", false, false),
        ("import_v6", false, true),
    ] {
        for (j, rule) in filter.rules(ipv4, import).iter().enumerate() {
            rule.check(ipv4)
                .map_err(|(name, message)| (format!("{list}[{j}].{name}"), message))?;
        }
    }
    Ok(())
}

impl super::FilterRule {
    /// A rule of the `ipv4` (or IPv6) lists: a cidr of that family with a
    /// match operator (and one only with the other), prefix lengths within
    /// the family's, with a cidr. The error names the field.
    pub fn check(&self, ipv4: bool) -> Result<(), (&'static str, String)> {
        match (self.cidr, self.match_operator) {
            (Some(cidr), Some(_)) if cidr.addr().is_ipv4() != ipv4 => {
                return Err(("cidr", format!("{cidr} is not of the list's family")));
            }
            (Some(_), None) => return Err(("match_operator", "a cidr needs one".into())),
            (None, Some(_)) => return Err(("cidr", "a match operator needs one".into())),
            _ => {}
        }
        if self
            .interface
            .as_deref()
            .is_some_and(|i| i.is_empty() || i.contains(['"', '\\']))
        {
            return Err(("interface", "must be an interface name pattern".into()));
        }
        if self
            .priority
            .is_some_and(|p| !super::ROUTE_PRIORITY_RANGE.contains(&p))
        {
            return Err(("priority", priority_range()));
        }
        if !self.operations.is_empty() && self.action != super::FilterAction::Accept {
            return Err(("operations", "only an accepting rule has operations".into()));
        }
        for operation in &self.operations {
            match operation {
                super::FilterOperation::SetPriority(p)
                    if !super::ROUTE_PRIORITY_RANGE.contains(p) =>
                {
                    return Err(("operations", format!("set_priority: {}", priority_range())));
                }
                super::FilterOperation::PrependAsPath(asns) if asns.is_empty() => {
                    return Err(("operations", "prepend_as_path needs an AS number".into()));
                }
                _ => {}
            }
        }
        if let Some(lengths) = self.prefix_length {
            let longest = if ipv4 { 32 } else { 128 };
            let (min, max) = (lengths.min.unwrap_or(0), lengths.max.unwrap_or(longest));
            if self.cidr.is_none() || min > max || max > longest {
                return Err((
                    "prefix_length",
                    format!(
                        "needs a cidr, and lengths within 0..={longest} with min no more than max"
                    ),
                ));
            }
        }
        Ok(())
    }
}

fn priority_range() -> String {
    format!(
        "a priority is within {}..={}",
        super::ROUTE_PRIORITY_RANGE.start(),
        super::ROUTE_PRIORITY_RANGE.end()
    )
}

impl PeerConfig {
    /// Checks one peer alone; the error's field is the peer's own
    /// (`hold_time`), for a caller that skips a bad peer and keeps the rest.
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate_peer(self).map_err(|(field, message)| ConfigError::new(field, message))
    }
}

fn validate_peer(peer: &PeerConfig) -> Result<(), (&'static str, String)> {
    // A multicast address is not refused: BIRD takes it as a neighbor, and
    // Calico configures one as any other (its sessions never come up).
    if peer.address.is_unspecified() {
        return Err(("address", format!("{} cannot be a peer", peer.address)));
    }
    if peer.port == 0 {
        return Err(("port", "must not be 0".into()));
    }
    if peer.remote_as.0 == 0 {
        return Err(("remote_as", "AS 0 is reserved (RFC 7607)".into()));
    }
    // RFC 4271 §4.2: zero, or at least three seconds.
    if peer.hold_time != 0 && peer.hold_time < 3 {
        return Err((
            "hold_time",
            format!("{} s: must be 0 or at least 3", peer.hold_time),
        ));
    }
    if let Some(keepalive) = peer.keepalive_time {
        if peer.hold_time != 0 && keepalive >= peer.hold_time {
            return Err((
                "keepalive_time",
                format!(
                    "{keepalive} s: must be less than hold_time ({} s)",
                    peer.hold_time
                ),
            ));
        }
    }
    if let Some(gateway) = peer.reachable_by {
        if gateway.is_ipv4() != peer.address.is_ipv4() || gateway.is_unspecified() {
            return Err((
                "reachable_by",
                format!("{gateway} cannot be a gateway to {}", peer.address),
            ));
        }
    }
    if peer.connect_retry_time == 0 {
        return Err(("connect_retry_time", "must be at least 1 s".into()));
    }
    let (first, most) = peer.error_wait_time;
    if first == 0 || most < first {
        return Err((
            "error_wait_time",
            format!("[{first}, {most}]: must be [first, most] with 1 <= first <= most"),
        ));
    }
    if let Some(limit) = &peer.max_prefixes {
        if limit.limit == 0 {
            return Err(("max_prefixes.limit", "must be at least 1".into()));
        }
        if limit.restart_time == 0 {
            return Err(("max_prefixes.restart_time", "must be at least 1 s".into()));
        }
    }
    if let Some(bfd) = &peer.bfd {
        // RFC 5880 §4.1: a multiplier of zero is discarded; intervals are
        // 32-bit microseconds, and BIRD takes nothing under 10 ms.
        if bfd.multiplier == 0 {
            return Err(("bfd.multiplier", "must be at least 1".into()));
        }
        for (field, ms) in [
            ("bfd.min_tx_ms", bfd.min_tx_ms),
            ("bfd.min_rx_ms", bfd.min_rx_ms),
        ] {
            if !(10..=60_000).contains(&ms) {
                return Err((field, format!("{ms} ms: must be 10 to 60000 ms")));
            }
        }
    }
    if peer.restart_time > 4095 {
        return Err((
            "restart_time",
            format!(
                "{} s: the capability holds at most 4095 (RFC 4724 §3)",
                peer.restart_time
            ),
        ));
    }
    if peer.ttl_security == Some(0) {
        return Err(("ttl_security", "hops must be 1 to 254".into()));
    }
    if peer.multihop == Some(0) {
        return Err(("multihop", "TTL must be 1 to 255".into()));
    }
    if let Some(source) = peer.source_address {
        if source.is_ipv4() != peer.address.is_ipv4() {
            return Err((
                "source_address",
                format!("{source} is not of the peer's address family"),
            ));
        }
    }
    Ok(())
}
