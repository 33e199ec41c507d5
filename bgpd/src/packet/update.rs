//! The UPDATE message (RFC 4271 §4.3), End-of-RIB (RFC 4724 §2), and the
//! message-level rules of RFC 7606.
//!
//! ```text
//! +-----------------------------------------------------+
//! |   Withdrawn Routes Length (2 octets)                |
//! +-----------------------------------------------------+
//! |   Withdrawn Routes (variable)                       |
//! +-----------------------------------------------------+
//! |   Total Path Attribute Length (2 octets)            |
//! +-----------------------------------------------------+
//! |   Path Attributes (variable)                        |
//! +-----------------------------------------------------+
//! |   Network Layer Reachability Information (variable) |
//! +-----------------------------------------------------+
//! ```

use bytes::{BufMut, Bytes, BytesMut};

use super::attribute::{self, MpUnreach, PathAttributes};
use super::context::{DecodeCtx, EncodeCtx, Family};
use super::error::{update_subcode, AttrAction, AttrError, Notification};
use super::iana::attr;
use super::nlri::{self, Nlri};
use super::wire;

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct UpdateMessage {
    /// IPv4 prefixes withdrawn in the Withdrawn Routes field.
    pub withdrawn: Vec<Nlri>,
    pub attrs: PathAttributes,
    /// IPv4 prefixes announced in the NLRI field.
    pub nlri: Vec<Nlri>,
    /// What RFC 7606 found wrong in the attributes, each with its action; empty
    /// for a well-formed message. The strongest is [`UpdateMessage::action`].
    pub errors: Vec<AttrError>,
}

impl UpdateMessage {
    /// The End-of-RIB marker of a family (RFC 4724 §2): an empty UPDATE for
    /// IPv4 unicast, an empty MP_UNREACH_NLRI for any other.
    pub fn end_of_rib(family: Family) -> Self {
        let mut update = Self::default();
        if family != Family::Ipv4Unicast {
            update.attrs.mp_unreach = Some(MpUnreach {
                family,
                withdrawn: Vec::new(),
            });
        }
        update
    }

    /// The family this message marks the End-of-RIB of, if it is one.
    pub fn end_of_rib_family(&self) -> Option<Family> {
        if !self.withdrawn.is_empty() || !self.nlri.is_empty() || !self.errors.is_empty() {
            return None;
        }
        let mut attrs = self.attrs.clone();
        match attrs.mp_unreach.take() {
            None if attrs == PathAttributes::default() => Some(Family::Ipv4Unicast),
            Some(u) if u.withdrawn.is_empty() && attrs == PathAttributes::default() => {
                Some(u.family)
            }
            _ => None,
        }
    }

    /// The strongest RFC 7606 action the message calls for, if any.
    pub fn action(&self) -> Option<AttrAction> {
        self.errors.iter().map(|e| e.action).max()
    }

    /// Every prefix the message announces, in the NLRI field and in MP_REACH_NLRI.
    pub fn announced(&self) -> impl Iterator<Item = &Nlri> {
        let mp = self.attrs.mp_reach.iter().flat_map(|r| r.nlri.iter());
        self.nlri.iter().chain(mp)
    }

    /// Every prefix the message withdraws, in Withdrawn Routes and MP_UNREACH_NLRI.
    pub fn withdrawals(&self) -> impl Iterator<Item = &Nlri> {
        let mp = self
            .attrs
            .mp_unreach
            .iter()
            .flat_map(|u| u.withdrawn.iter());
        self.withdrawn.iter().chain(mp)
    }

    /// Decodes the body of an UPDATE (after the header). `Err` is a session
    /// reset; treat-as-withdraw, AFI/SAFI disable and attribute discard are in
    /// [`UpdateMessage::errors`].
    pub(super) fn decode(body: &[u8], ctx: &DecodeCtx) -> Result<Self, Notification> {
        // RFC 7606 §4: lengths that do not add up leave the NLRI unlocatable,
        // which only a session reset can answer.
        let malformed = |_| Notification::malformed_attribute_list();
        let (rest, withdrawn_len) = wire::u16(body).map_err(malformed)?;
        let (rest, withdrawn_raw) = wire::take(rest, withdrawn_len.into()).map_err(malformed)?;
        let (rest, attrs_len) = wire::u16(rest).map_err(malformed)?;
        let (nlri_raw, attrs_raw) = wire::take(rest, attrs_len.into()).map_err(malformed)?;

        // RFC 7606 §5.3: a Withdrawn Routes or NLRI field that cannot be parsed
        // resets the session (Invalid Network Field, RFC 4271 §6.3).
        let v4_add_path = ctx.add_path.contains(Family::Ipv4Unicast);
        let mut withdrawn = Vec::new();
        nlri::decode_all(
            withdrawn_raw,
            Family::Ipv4Unicast,
            v4_add_path,
            &mut withdrawn,
        )
        .map_err(|_| Notification::invalid_network_field())?;
        let decoded = attribute::decode(attrs_raw, ctx)?;
        let mut nlri = Vec::new();
        nlri::decode_all(nlri_raw, Family::Ipv4Unicast, v4_add_path, &mut nlri)
            .map_err(|_| Notification::invalid_network_field())?;

        let mut update = Self {
            withdrawn,
            attrs: decoded.attrs,
            nlri,
            errors: decoded.errors,
        };
        update.check_mandatory();
        Ok(update)
    }

    /// RFC 7606 §3.d: a well-known mandatory attribute missing from an UPDATE
    /// that announces something is treat-as-withdraw. NEXT_HOP is mandatory only
    /// for the NLRI field (RFC 4760 §3). Attributes already found malformed
    /// are not reported again.
    fn check_mandatory(&mut self) {
        let announces_v4 = !self.nlri.is_empty();
        if !announces_v4 && self.attrs.mp_reach.is_none() {
            return;
        }
        let missing = [
            (attr::ORIGIN, self.attrs.origin.is_none()),
            (attr::AS_PATH, self.attrs.as_path.is_none()),
            (
                attr::NEXT_HOP,
                announces_v4 && self.attrs.next_hop.is_none(),
            ),
        ];
        for (type_code, absent) in missing {
            if absent && !self.errors.iter().any(|e| e.type_code == type_code) {
                self.errors.push(AttrError {
                    type_code,
                    action: AttrAction::TreatAsWithdraw,
                    notification: Notification::update(
                        update_subcode::MISSING_WELL_KNOWN_ATTRIBUTE,
                        Bytes::copy_from_slice(&[type_code]),
                    ),
                });
            }
        }
    }

    pub(super) fn encode_body(&self, ctx: &EncodeCtx, buf: &mut BytesMut) {
        let v4_add_path = ctx.add_path.contains(Family::Ipv4Unicast);
        let withdrawn_at = buf.len();
        buf.put_u16(0);
        self.withdrawn
            .iter()
            .for_each(|n| n.encode(v4_add_path, buf));
        let withdrawn_len = buf.len() - withdrawn_at - 2;
        patch_u16(buf, withdrawn_at, withdrawn_len);

        let attrs_at = buf.len();
        buf.put_u16(0);
        self.attrs.encode(ctx, buf);
        let attrs_len = buf.len() - attrs_at - 2;
        patch_u16(buf, attrs_at, attrs_len);

        self.nlri.iter().for_each(|n| n.encode(v4_add_path, buf));
    }
}

/// Fills in a two-octet length written as a placeholder. A value too large for
/// two octets makes a message too long, which the message encoder refuses.
pub(super) fn patch_u16(buf: &mut BytesMut, at: usize, value: usize) {
    let value = u16::try_from(value).unwrap_or(u16::MAX);
    buf[at..at + 2].copy_from_slice(&value.to_be_bytes());
}
