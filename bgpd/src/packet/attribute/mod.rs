//! Path attributes (RFC 4271 §4.3): the typed set, the decode loop that applies
//! RFC 7606, and the encoder.
//!
//! ```text
//! +-----------------+-----------------+--------------------+-----------------+
//! | Attr. Flags (1) | Attr. Type (1)  | Length (1, or 2    | Value           |
//! | O T P E 0 0 0 0 |                 |  when E is set)    |                 |
//! +-----------------+-----------------+--------------------+-----------------+
//! ```

mod aggregator;
mod as_path;
mod cluster_list;
mod communities;
mod mp_reach;
mod mp_unreach;
mod next_hop;
mod origin;
mod scalar;

use std::net::Ipv4Addr;

use bytes::{BufMut, Bytes};

pub use self::aggregator::Aggregator;
use self::as_path::AsPathEncoding;
pub use self::as_path::{AsPath, AsSegment, SegmentKind, MAX_SEGMENT_LEN};
pub use self::communities::{Community, ExtCommunity, LargeCommunity};
use self::mp_reach::MpFault;
pub use self::mp_reach::{MpReach, NextHop};
pub use self::mp_unreach::MpUnreach;
pub use self::origin::Origin;
use super::context::{DecodeCtx, EncodeCtx, Family};
use super::error::{update_subcode, AttrAction, AttrError, Notification};
use super::iana::{attr, AS_TRANS};

/// Attribute flag bits (RFC 4271 §4.3).
pub mod flags {
    pub const OPTIONAL: u8 = 0x80;
    pub const TRANSITIVE: u8 = 0x40;
    pub const PARTIAL: u8 = 0x20;
    pub const EXTENDED_LENGTH: u8 = 0x10;
}

/// What an attribute decoder found wrong with a value. The decode loop turns it
/// into an [`AttrError`] with the action RFC 7606 gives that attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Fault {
    /// The length is wrong for the attribute: RFC 4271 §6.3 Attribute Length Error.
    Length,
    /// The value is wrong: the UPDATE Message Error subcode RFC 4271 §6.3 names.
    Invalid(u8),
}

/// An optional transitive attribute podroute does not know, passed on as it came
/// with the Partial bit set (RFC 4271 §5).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RawAttribute {
    /// The flags as they will be sent; Extended Length is chosen when encoding.
    pub flags: u8,
    pub type_code: u8,
    pub value: Bytes,
}

/// The path attributes of one UPDATE, typed. AS numbers are always 4 octets
/// here: on 2-octet sessions AS4_PATH and AS4_AGGREGATOR are merged in on decode
/// and written out on encode (RFC 6793 §4.2). Empty lists stand for absent
/// attributes, since an empty one is malformed on the wire.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PathAttributes {
    pub origin: Option<Origin>,
    pub as_path: Option<AsPath>,
    pub next_hop: Option<Ipv4Addr>,
    pub med: Option<u32>,
    pub local_pref: Option<u32>,
    pub atomic_aggregate: bool,
    pub aggregator: Option<Aggregator>,
    pub communities: Vec<Community>,
    pub originator_id: Option<Ipv4Addr>,
    pub cluster_list: Vec<Ipv4Addr>,
    pub mp_reach: Option<MpReach>,
    pub mp_unreach: Option<MpUnreach>,
    pub ext_communities: Vec<ExtCommunity>,
    pub large_communities: Vec<LargeCommunity>,
    pub unknown: Vec<RawAttribute>,
}

/// The flag bits (Optional, Transitive) each known attribute must carry.
fn expected_flags(type_code: u8) -> Option<u8> {
    const WELL_KNOWN: u8 = flags::TRANSITIVE;
    const OPT_NON_TRANSITIVE: u8 = flags::OPTIONAL;
    const OPT_TRANSITIVE: u8 = flags::OPTIONAL | flags::TRANSITIVE;
    Some(match type_code {
        attr::ORIGIN | attr::AS_PATH | attr::NEXT_HOP | attr::LOCAL_PREF => WELL_KNOWN,
        attr::ATOMIC_AGGREGATE => WELL_KNOWN,
        attr::MULTI_EXIT_DISC | attr::ORIGINATOR_ID | attr::CLUSTER_LIST => OPT_NON_TRANSITIVE,
        attr::MP_REACH_NLRI | attr::MP_UNREACH_NLRI => OPT_NON_TRANSITIVE,
        attr::AGGREGATOR | attr::COMMUNITIES | attr::EXTENDED_COMMUNITIES => OPT_TRANSITIVE,
        attr::AS4_PATH | attr::AS4_AGGREGATOR | attr::LARGE_COMMUNITIES => OPT_TRANSITIVE,
        _ => return None,
    })
}

fn is_mp(type_code: u8) -> bool {
    matches!(type_code, attr::MP_REACH_NLRI | attr::MP_UNREACH_NLRI)
}

// ===== decode =====

/// One attribute as it stands in the message.
struct RawView<'a> {
    flags: u8,
    type_code: u8,
    value: &'a [u8],
    /// Flags, type, length and value: the Data of most NOTIFICATIONs (RFC 4271 §6.3).
    whole: &'a [u8],
}

impl<'a> RawView<'a> {
    /// Splits the first attribute off `input`, or `None` when its header or
    /// value runs past the end of the attribute list.
    fn split(input: &'a [u8]) -> Option<(Self, &'a [u8])> {
        let (&flags, rest) = input.split_first()?;
        let (&type_code, rest) = rest.split_first()?;
        let (len, header_len) = if flags & flags::EXTENDED_LENGTH != 0 {
            let (len, _) = rest.split_first_chunk::<2>()?;
            (usize::from(u16::from_be_bytes(*len)), 4)
        } else {
            (usize::from(*rest.first()?), 3)
        };
        let whole = input.get(..header_len + len)?;
        let view = Self {
            flags,
            type_code,
            value: &whole[header_len..],
            whole,
        };
        Some((view, &input[header_len + len..]))
    }

    fn error(&self, action: AttrAction, fault: Fault) -> AttrError {
        let notification = match fault {
            Fault::Length => Notification::update(
                update_subcode::ATTRIBUTE_LENGTH_ERROR,
                Bytes::copy_from_slice(self.whole),
            ),
            // RFC 4271 §6.3 gives Malformed AS_PATH no data.
            Fault::Invalid(update_subcode::MALFORMED_AS_PATH) => {
                Notification::update(update_subcode::MALFORMED_AS_PATH, Bytes::new())
            }
            Fault::Invalid(subcode) => {
                Notification::update(subcode, Bytes::copy_from_slice(self.whole))
            }
        };
        AttrError {
            type_code: self.type_code,
            action,
            notification,
        }
    }
}

/// The attributes of an UPDATE and the RFC 7606 errors found in them (every
/// error whose action is weaker than a session reset).
#[derive(Debug, Default)]
pub(super) struct Decoded {
    pub attrs: PathAttributes,
    pub errors: Vec<AttrError>,
}

impl Decoded {
    /// Keeps the value, or records the error with the attribute's action.
    fn take<T>(
        &mut self,
        view: &RawView<'_>,
        action: AttrAction,
        r: Result<T, Fault>,
    ) -> Option<T> {
        r.map_err(|fault| self.errors.push(view.error(action, fault)))
            .ok()
    }
}

/// Decodes the Path Attributes field of an UPDATE. `Err` is a session reset
/// with its NOTIFICATION; every lesser outcome is in [`Decoded::errors`].
pub(super) fn decode(mut input: &[u8], ctx: &DecodeCtx) -> Result<Decoded, Notification> {
    use AttrAction::{Discard, TreatAsWithdraw};
    let mut out = Decoded::default();
    let mut seen = [false; 256];
    let mut as4_path = None;
    let mut as4_aggregator = None;
    let as_size = if ctx.four_octet_as { 4 } else { 2 };
    let add_path = |family: Family| ctx.add_path.contains(family);

    while !input.is_empty() {
        let Some((view, rest)) = RawView::split(input) else {
            // RFC 7606 §4: an attribute that overruns the list makes it malformed,
            // and treat-as-withdraw applies, but only if every NLRI was located;
            // an MP attribute might hide behind the broken one.
            let mp_located =
                seen[attr::MP_REACH_NLRI as usize] && seen[attr::MP_UNREACH_NLRI as usize];
            let only_ipv4 = ctx.families == super::context::FamilySet::of(&[Family::Ipv4Unicast]);
            if !(mp_located || only_ipv4) {
                return Err(Notification::malformed_attribute_list());
            }
            out.errors.push(AttrError {
                type_code: input.get(1).copied().unwrap_or(0),
                action: TreatAsWithdraw,
                notification: Notification::malformed_attribute_list(),
            });
            break;
        };
        input = rest;
        let code = view.type_code;

        // RFC 7606 §3.g: a repeated MP attribute resets the session; any other
        // repeated attribute is discarded, keeping the first.
        if std::mem::replace(&mut seen[usize::from(code)], true) {
            if is_mp(code) {
                return Err(Notification::malformed_attribute_list());
            }
            out.errors.push(AttrError {
                type_code: code,
                action: Discard,
                notification: Notification::malformed_attribute_list(),
            });
            continue;
        }

        // RFC 7606 §3.c: Optional or Transitive bits in conflict with the
        // attribute's definition make it malformed: treat-as-withdraw. An MP
        // attribute cannot be withdrawn without being trusted: reset (§5.1).
        if let Some(expected) = expected_flags(code) {
            if view.flags & (flags::OPTIONAL | flags::TRANSITIVE) != expected {
                let data = Bytes::copy_from_slice(view.whole);
                let notification =
                    Notification::update(update_subcode::ATTRIBUTE_FLAGS_ERROR, data);
                if is_mp(code) {
                    return Err(notification);
                }
                out.errors.push(AttrError {
                    type_code: code,
                    action: TreatAsWithdraw,
                    notification,
                });
                continue;
            }
        }

        let value = view.value;
        match code {
            // RFC 7606 §7.1 to §7.5: treat-as-withdraw.
            attr::ORIGIN => {
                out.attrs.origin = out.take(&view, TreatAsWithdraw, origin::decode(value));
            }
            attr::AS_PATH => {
                out.attrs.as_path =
                    out.take(&view, TreatAsWithdraw, as_path::decode(value, as_size));
            }
            attr::NEXT_HOP => {
                out.attrs.next_hop = out.take(&view, TreatAsWithdraw, next_hop::decode(value));
            }
            attr::MULTI_EXIT_DISC => {
                out.attrs.med = out.take(&view, TreatAsWithdraw, scalar::decode(value));
            }
            // RFC 7606 §7.5's discard of LOCAL_PREF from an external peer
            // is import's (policy::import_attrs), which knows the peer.
            attr::LOCAL_PREF => {
                out.attrs.local_pref = out.take(&view, TreatAsWithdraw, scalar::decode(value));
            }
            // RFC 7606 §7.6 and §7.7: attribute discard.
            attr::ATOMIC_AGGREGATE => {
                let atomic = out.take(&view, Discard, aggregator::decode_atomic(value));
                out.attrs.atomic_aggregate = atomic.is_some();
            }
            attr::AGGREGATOR => {
                let decoded = aggregator::decode(value, ctx.four_octet_as);
                out.attrs.aggregator = out.take(&view, Discard, decoded);
            }
            // RFC 7606 §7.8 to §7.10, §7.14, RFC 8092 §6: treat-as-withdraw.
            attr::COMMUNITIES => {
                let decoded = communities::decode_standard(value);
                out.attrs.communities = out
                    .take(&view, TreatAsWithdraw, decoded)
                    .unwrap_or_default();
            }
            attr::ORIGINATOR_ID => {
                let decoded = cluster_list::decode_originator_id(value);
                out.attrs.originator_id = out.take(&view, TreatAsWithdraw, decoded);
            }
            attr::CLUSTER_LIST => {
                let decoded = cluster_list::decode_cluster_list(value);
                out.attrs.cluster_list = out
                    .take(&view, TreatAsWithdraw, decoded)
                    .unwrap_or_default();
            }
            attr::EXTENDED_COMMUNITIES => {
                let decoded = communities::decode_extended(value);
                out.attrs.ext_communities = out
                    .take(&view, TreatAsWithdraw, decoded)
                    .unwrap_or_default();
            }
            attr::LARGE_COMMUNITIES => {
                let decoded = communities::decode_large(value);
                out.attrs.large_communities = out
                    .take(&view, TreatAsWithdraw, decoded)
                    .unwrap_or_default();
            }
            // RFC 6793 §6: a malformed AS4_PATH or AS4_AGGREGATOR is discarded.
            attr::AS4_PATH => {
                as4_path = out.take(&view, Discard, as_path::decode_as4_path(value));
            }
            attr::AS4_AGGREGATOR => {
                as4_aggregator = out.take(&view, Discard, aggregator::decode(value, true));
            }
            // RFC 7606 §7.11, §5.3: a malformed MP attribute disables its family,
            // or resets the session when not even the family can be read.
            attr::MP_REACH_NLRI => match mp_reach::decode(value, add_path) {
                Ok(reach) => out.attrs.mp_reach = Some(reach),
                Err(fault) => mp_fault(&view, fault, &mut out.errors)?,
            },
            attr::MP_UNREACH_NLRI => match mp_unreach::decode(value, add_path) {
                Ok(unreach) => out.attrs.mp_unreach = Some(unreach),
                Err(fault) => mp_fault(&view, fault, &mut out.errors)?,
            },
            _ => decode_unknown(&view, &mut out),
        }
    }

    if ctx.four_octet_as {
        // RFC 6793 §3: between two NEW speakers AS4_PATH and AS4_AGGREGATOR carry
        // nothing and are dropped.
    } else {
        reconcile_as4(&mut out.attrs, as4_path, as4_aggregator);
    }
    Ok(out)
}

fn mp_fault(
    view: &RawView<'_>,
    fault: MpFault,
    errors: &mut Vec<AttrError>,
) -> Result<(), Notification> {
    let action = match fault {
        MpFault::Unreadable => {
            return Err(view
                .error(AttrAction::SessionReset, fault.into())
                .notification)
        }
        // A family never negotiated: nothing of it is used, so the attribute is
        // dropped (RFC 4760 §7 leaves the choice; BIRD does the same).
        MpFault::UnknownFamily { .. } => AttrAction::Discard,
        MpFault::Malformed { afi, safi } => AttrAction::AfiSafiDisable { afi, safi },
    };
    errors.push(view.error(action, fault.into()));
    Ok(())
}

/// RFC 4271 §5 and §6.3 for attributes this codec does not know.
fn decode_unknown(view: &RawView<'_>, out: &mut Decoded) {
    if view.flags & flags::OPTIONAL == 0 {
        // An unrecognised well-known attribute. RFC 4271 §6.3 resets the session;
        // following RFC 7606 §3's aim of withdrawing rather than resetting where the
        // message can still be parsed, podroute treats it as withdraw.
        let data = Bytes::copy_from_slice(view.whole);
        out.errors.push(AttrError {
            type_code: view.type_code,
            action: AttrAction::TreatAsWithdraw,
            notification: Notification::update(
                update_subcode::UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE,
                data,
            ),
        });
    } else if view.flags & flags::TRANSITIVE != 0 {
        out.attrs.unknown.push(RawAttribute {
            flags: (view.flags | flags::PARTIAL) & !flags::EXTENDED_LENGTH,
            type_code: view.type_code,
            value: Bytes::copy_from_slice(view.value),
        });
    }
    // An unknown optional non-transitive attribute is quietly ignored (RFC 4271 §5).
}

/// RFC 6793 §4.2.3: on a session with an OLD speaker, the true AS path and
/// aggregator are rebuilt from AS4_PATH and AS4_AGGREGATOR.
fn reconcile_as4(
    attrs: &mut PathAttributes,
    as4_path: Option<AsPath>,
    as4_agg: Option<Aggregator>,
) {
    if let Some(aggregator) = attrs.aggregator.as_mut() {
        // "If the AGGREGATOR attribute carries an AS other than AS_TRANS, then the
        // AS4_AGGREGATOR and AS4_PATH attributes are ignored": an OLD speaker
        // aggregated, and what it dropped cannot be trusted.
        if aggregator.asn != AS_TRANS {
            return;
        }
        if let Some(as4_agg) = as4_agg {
            *aggregator = as4_agg;
        }
    }
    if let (Some(path), Some(as4_path)) = (attrs.as_path.as_mut(), as4_path) {
        *path = as_path::reconcile(path, &as4_path);
    }
}

// ===== encode =====

fn put_header(buf: &mut impl BufMut, attr_flags: u8, type_code: u8, len: usize) {
    if len > 255 {
        buf.put_u8(attr_flags | flags::EXTENDED_LENGTH);
        buf.put_u8(type_code);
        buf.put_u16(len as u16);
    } else {
        buf.put_u8(attr_flags & !flags::EXTENDED_LENGTH);
        buf.put_u8(type_code);
        buf.put_u8(len as u8);
    }
}

/// MP_REACH_NLRI and MP_UNREACH_NLRI are always written with a two-octet length,
/// so that an encoder can fill them before it knows how long they get.
pub(super) const MP_HEADER_LEN: usize = 4;

pub(super) fn put_mp_header(buf: &mut impl BufMut, type_code: u8, value_len: usize) {
    buf.put_u8(flags::OPTIONAL | flags::EXTENDED_LENGTH);
    buf.put_u8(type_code);
    buf.put_u16(value_len as u16);
}

pub(super) fn encode_mp_reach_head(reach: &MpReach, prefixes_len: usize, buf: &mut impl BufMut) {
    put_mp_header(
        buf,
        attr::MP_REACH_NLRI,
        mp_reach::head_len(&reach.next_hop) + prefixes_len,
    );
    mp_reach::encode_head(reach.family, &reach.next_hop, buf);
}

pub(super) fn mp_reach_head_len(next_hop: &NextHop) -> usize {
    MP_HEADER_LEN + mp_reach::head_len(next_hop)
}

pub(super) fn encode_mp_unreach_head(family: Family, prefixes_len: usize, buf: &mut impl BufMut) {
    put_mp_header(
        buf,
        attr::MP_UNREACH_NLRI,
        mp_unreach::HEAD_LEN + prefixes_len,
    );
    mp_unreach::encode_head(family, buf);
}

pub(super) const MP_UNREACH_HEAD_LEN: usize = MP_HEADER_LEN + mp_unreach::HEAD_LEN;

impl PathAttributes {
    /// Writes every attribute: MP_REACH_NLRI and MP_UNREACH_NLRI first, as
    /// RFC 7606 §5.1 asks, then the rest by type code (RFC 4271 §5).
    pub fn encode(&self, ctx: &EncodeCtx, buf: &mut impl BufMut) {
        if let Some(reach) = &self.mp_reach {
            let add_path = ctx.add_path.contains(reach.family);
            let len = reach.nlri.iter().map(|n| n.encoded_len(add_path)).sum();
            encode_mp_reach_head(reach, len, buf);
            reach.nlri.iter().for_each(|n| n.encode(add_path, buf));
        }
        if let Some(unreach) = &self.mp_unreach {
            let add_path = ctx.add_path.contains(unreach.family);
            let len = unreach
                .withdrawn
                .iter()
                .map(|n| n.encoded_len(add_path))
                .sum();
            encode_mp_unreach_head(unreach.family, len, buf);
            unreach
                .withdrawn
                .iter()
                .for_each(|n| n.encode(add_path, buf));
        }
        self.encode_non_mp(ctx, buf);
    }

    /// Writes every attribute but the two MP ones; the UPDATE packer writes
    /// this once and the MP attribute per message.
    pub fn encode_non_mp(&self, ctx: &EncodeCtx, buf: &mut impl BufMut) {
        use flags::{OPTIONAL as OPT, TRANSITIVE as TRANS};
        let mut w = AttrWriter {
            buf,
            unknown: self.unknown.iter().peekable(),
        };

        if let Some(origin) = self.origin {
            origin::encode(origin, w.start(TRANS, attr::ORIGIN, origin::LEN));
        }
        let path = self
            .as_path
            .as_ref()
            .map(|p| AsPathEncoding::new(p, ctx.four_octet_as));
        if let Some(path) = &path {
            path.encode_as_path(w.start(TRANS, attr::AS_PATH, path.as_path_len()));
        }
        if let Some(next_hop) = self.next_hop {
            next_hop::encode(next_hop, w.start(TRANS, attr::NEXT_HOP, next_hop::LEN));
        }
        if let Some(med) = self.med {
            scalar::encode(med, w.start(OPT, attr::MULTI_EXIT_DISC, scalar::LEN));
        }
        if let Some(local_pref) = self.local_pref {
            scalar::encode(local_pref, w.start(TRANS, attr::LOCAL_PREF, scalar::LEN));
        }
        if self.atomic_aggregate {
            w.start(TRANS, attr::ATOMIC_AGGREGATE, 0);
        }
        // RFC 6793 §4.2.2: an aggregator AS that does not fit two octets is sent
        // as AS_TRANS, with the real one in AS4_AGGREGATOR. So is any aggregator
        // sent with AS4_PATH: an AGGREGATOR other than AS_TRANS tells the
        // receiver to ignore AS4_PATH (§4.2.3).
        let sends_as4_path = path.as_ref().is_some_and(|p| p.as4_path_len().is_some());
        let as4_aggregator = self
            .aggregator
            .filter(|a| !ctx.four_octet_as && (a.asn > 0xffff || sends_as4_path));
        if let Some(agg) = self.aggregator {
            let asn = if as4_aggregator.is_some() {
                AS_TRANS
            } else {
                agg.asn
            };
            let len = aggregator::len(ctx.four_octet_as);
            let buf = w.start(OPT | TRANS, attr::AGGREGATOR, len);
            aggregator::encode(asn, agg.address, ctx.four_octet_as, buf);
        }
        if !self.communities.is_empty() {
            let len = 4 * self.communities.len();
            communities::encode_standard(
                &self.communities,
                w.start(OPT | TRANS, attr::COMMUNITIES, len),
            );
        }
        if let Some(id) = self.originator_id {
            w.start(OPT, attr::ORIGINATOR_ID, 4).put_slice(&id.octets());
        }
        if !self.cluster_list.is_empty() {
            let len = 4 * self.cluster_list.len();
            cluster_list::encode_cluster_list(
                &self.cluster_list,
                w.start(OPT, attr::CLUSTER_LIST, len),
            );
        }
        if !self.ext_communities.is_empty() {
            let len = 8 * self.ext_communities.len();
            let buf = w.start(OPT | TRANS, attr::EXTENDED_COMMUNITIES, len);
            communities::encode_extended(&self.ext_communities, buf);
        }
        if let Some((path, len)) = path.as_ref().and_then(|p| Some((p, p.as4_path_len()?))) {
            path.encode_as4_path(w.start(OPT | TRANS, attr::AS4_PATH, len));
        }
        if let Some(agg) = as4_aggregator {
            let buf = w.start(OPT | TRANS, attr::AS4_AGGREGATOR, aggregator::len(true));
            aggregator::encode(agg.asn, agg.address, true, buf);
        }
        if !self.large_communities.is_empty() {
            let len = 12 * self.large_communities.len();
            let buf = w.start(OPT | TRANS, attr::LARGE_COMMUNITIES, len);
            communities::encode_large(&self.large_communities, buf);
        }
        w.finish();
    }
}

/// Writes known attributes in type-code order with the unknown ones (kept in
/// the order they came, which peers send sorted) slotted in between.
struct AttrWriter<'a, 'b, B: BufMut> {
    buf: &'a mut B,
    unknown: std::iter::Peekable<std::slice::Iter<'b, RawAttribute>>,
}

impl<B: BufMut> AttrWriter<'_, '_, B> {
    /// Writes the header of attribute `type_code`, after every unknown attribute
    /// with a lower type code, and returns the buffer for its value.
    fn start(&mut self, attr_flags: u8, type_code: u8, len: usize) -> &mut B {
        while let Some(raw) = self.unknown.next_if(|raw| raw.type_code < type_code) {
            put_header(self.buf, raw.flags, raw.type_code, raw.value.len());
            self.buf.put_slice(&raw.value);
        }
        put_header(self.buf, attr_flags, type_code, len);
        self.buf
    }

    fn finish(self) {
        for raw in self.unknown {
            put_header(self.buf, raw.flags, raw.type_code, raw.value.len());
            self.buf.put_slice(&raw.value);
        }
    }
}
