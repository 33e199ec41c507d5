//! BFD in BIRD 1.6's words: `bfd on;` in the protocol of each peer that
//! has it, and one `protocol bfd` with the timers. BIRD sets BFD timers
//! per interface for single-hop sessions and once for all multihop ones,
//! not per peer (BIRD 1.6 user's guide, "BFD"), so each kind takes the
//! timers of its first peer; a peer that wants others is named in a
//! comment rather than silently given what it did not ask for.
//!
//! BIRD runs a peer's BFD multihop when its BGP session is: confd writes
//! `multihop` for every peer but the mesh's, so in BIRD only the mesh runs
//! single-hop BFD, where bgpd runs it single hop for any peer on the
//! node's subnet (docs/DESIGN.md, BFD). The rendering says what BIRD does.

use std::fmt::Write;

use proto::config::{BfdConfig, PeerConfig, PeerKind, SpeakerConfig};

use super::Family;

/// The `protocol bfd` section for the peers of `family` that have BFD;
/// nothing when none has.
pub(super) fn render_protocol(w: &mut String, config: &SpeakerConfig, family: Family) {
    let with_bfd = config
        .peers
        .iter()
        .filter(|p| family.holds(p.address))
        .filter_map(|p| p.bfd.map(|bfd| (p, bfd)));
    let (single_hop, multihop): (Vec<_>, Vec<_>) =
        with_bfd.partition(|(p, _)| p.kind == PeerKind::Mesh);
    if single_hop.is_empty() && multihop.is_empty() {
        return;
    }
    let _ = writeln!(w, "\nprotocol bfd {{");
    block(w, "interface \"*\"", &single_hop);
    block(w, "multihop", &multihop);
    let _ = writeln!(w, "}}");
}

/// One kind's timers, from its first peer's.
fn block(w: &mut String, head: &str, peers: &[(&PeerConfig, BfdConfig)]) {
    let Some((_, timers)) = peers.first() else {
        return;
    };
    let others: Vec<String> = peers
        .iter()
        .filter(|(_, bfd)| bfd != timers)
        .map(|(p, _)| p.protocol_name())
        .collect();
    if !others.is_empty() {
        let _ = writeln!(
            w,
            "  # other timers asked by {}: BIRD 1.6 sets one set for all these sessions",
            others.join(", ")
        );
    }
    let _ = writeln!(
        w,
        "  {head} {{\n    min rx interval {} ms;\n    min tx interval {} ms;\n    multiplier {};\n  }};",
        timers.min_rx_ms, timers.min_tx_ms, timers.multiplier
    );
}
