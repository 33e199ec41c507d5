//! AS_PATH (type 2, well-known mandatory), RFC 4271 §4.3 and §5.1.2; AS4_PATH
//! (type 17, optional transitive) and the reconciliation of the two on sessions
//! without 4-octet AS numbers, RFC 6793 §4.2.
//!
//! ```text
//! +------------------+------------------+-------------------------------+
//! | segment type (1) | segment len (1)  | AS numbers (len x 2 or 4)     |  repeated
//! +------------------+------------------+-------------------------------+
//! ```
//! Segment types: 1 AS_SET, 2 AS_SEQUENCE (RFC 4271), 3 AS_CONFED_SEQUENCE,
//! 4 AS_CONFED_SET (RFC 5065 §3).

use bytes::BufMut;

use super::Fault;
use crate::packet::error::update_subcode;
use crate::packet::iana::AS_TRANS;
use crate::packet::wire;

/// The largest number of AS numbers one segment can carry (one-octet length).
pub const MAX_SEGMENT_LEN: usize = 255;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum SegmentKind {
    Set = 1,
    Sequence = 2,
    ConfedSequence = 3,
    ConfedSet = 4,
}

impl SegmentKind {
    fn from_u8(value: u8) -> Option<Self> {
        Some(match value {
            1 => Self::Set,
            2 => Self::Sequence,
            3 => Self::ConfedSequence,
            4 => Self::ConfedSet,
            _ => return None,
        })
    }

    pub fn is_confed(self) -> bool {
        matches!(self, Self::ConfedSequence | Self::ConfedSet)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AsSegment {
    pub kind: SegmentKind,
    pub asns: Vec<u32>,
}

impl AsSegment {
    /// The segment's weight in path length: an AS_SET counts as one and
    /// confederation segments not at all (RFC 4271 §9.1.2.2 a; RFC 5065 §5.3).
    fn path_len(&self) -> usize {
        match self.kind {
            SegmentKind::Sequence => self.asns.len(),
            SegmentKind::Set => 1,
            SegmentKind::ConfedSequence | SegmentKind::ConfedSet => 0,
        }
    }
}

/// An AS path, always held with 4-octet AS numbers whatever the session uses.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AsPath {
    pub segments: Vec<AsSegment>,
}

impl AsPath {
    /// A path of one AS_SEQUENCE (or the empty path for no numbers).
    pub fn sequence(asns: impl IntoIterator<Item = u32>) -> Self {
        let asns: Vec<u32> = asns.into_iter().collect();
        if asns.is_empty() {
            return Self::default();
        }
        Self {
            segments: vec![AsSegment {
                kind: SegmentKind::Sequence,
                asns,
            }],
        }
    }

    /// Path length as the decision process counts it (RFC 4271 §9.1.2.2 a).
    pub fn path_len(&self) -> usize {
        self.segments.iter().map(AsSegment::path_len).sum()
    }

    /// Every AS number on the path, in order, of any segment kind.
    pub fn asns(&self) -> impl Iterator<Item = u32> + '_ {
        self.segments.iter().flat_map(|s| s.asns.iter().copied())
    }

    fn needs_as4_path(&self) -> bool {
        self.segments
            .iter()
            .any(|s| !s.kind.is_confed() && s.asns.iter().any(|&a| a > 0xffff))
    }

    /// Octets of the encoded value with AS numbers of `as_size` octets. Segments
    /// longer than 255 numbers are written as several segments.
    fn encoded_len(&self, as_size: usize, skip_confed: bool) -> usize {
        self.segments
            .iter()
            .filter(|s| !(skip_confed && s.kind.is_confed()))
            .map(|s| {
                // An empty segment cannot be written (RFC 7606 §7.2) and is left out.
                let chunks = s.asns.len().div_ceil(MAX_SEGMENT_LEN);
                chunks * 2 + s.asns.len() * as_size
            })
            .sum()
    }

    fn encode_segments(&self, as_size: usize, skip_confed: bool, buf: &mut impl BufMut) {
        for segment in self
            .segments
            .iter()
            .filter(|s| !(skip_confed && s.kind.is_confed()))
        {
            for chunk in segment.asns.chunks(MAX_SEGMENT_LEN) {
                buf.put_u8(segment.kind as u8);
                buf.put_u8(chunk.len() as u8);
                for &asn in chunk {
                    if as_size == 4 {
                        buf.put_u32(asn);
                    } else {
                        buf.put_u16(u16::try_from(asn).unwrap_or(AS_TRANS as u16));
                    }
                }
            }
        }
    }
}

/// How to write one AS path for one session (RFC 6793 §4.2.2).
pub(super) struct AsPathEncoding<'a> {
    path: &'a AsPath,
    four_octet: bool,
}

impl<'a> AsPathEncoding<'a> {
    pub(super) fn new(path: &'a AsPath, four_octet: bool) -> Self {
        Self { path, four_octet }
    }

    pub(super) fn as_path_len(&self) -> usize {
        self.path
            .encoded_len(if self.four_octet { 4 } else { 2 }, false)
    }

    pub(super) fn encode_as_path(&self, buf: &mut impl BufMut) {
        self.path
            .encode_segments(if self.four_octet { 4 } else { 2 }, false, buf);
    }

    /// A 2-octet session gets AS4_PATH only when some number does not fit in
    /// two octets; confederation segments are never put in it (RFC 6793 §3).
    pub(super) fn as4_path_len(&self) -> Option<usize> {
        (!self.four_octet && self.path.needs_as4_path()).then(|| self.path.encoded_len(4, true))
    }

    pub(super) fn encode_as4_path(&self, buf: &mut impl BufMut) {
        self.path.encode_segments(4, true, buf);
    }
}

/// RFC 7606 §7.2: an unknown segment type, a zero segment length, or a segment
/// that overruns or underruns the attribute makes the AS_PATH malformed. So
/// does a confederation segment after an ordinary one: a confederation's
/// members put theirs in front, and they are removed at its edge (RFC 5065 §5).
pub(super) fn decode(mut value: &[u8], as_size: usize) -> Result<AsPath, Fault> {
    let malformed = Fault::Invalid(update_subcode::MALFORMED_AS_PATH);
    let mut segments = Vec::new();
    while !value.is_empty() {
        let (rest, kind) = wire::u8(value).map_err(|_| malformed)?;
        let kind = SegmentKind::from_u8(kind).ok_or(malformed)?;
        let (rest, count) = wire::u8(rest).map_err(|_| malformed)?;
        if count == 0 {
            return Err(malformed);
        }
        let (rest, raw) = wire::take(rest, usize::from(count) * as_size).map_err(|_| malformed)?;
        let asns = raw
            .chunks_exact(as_size)
            .map(|c| match *c {
                [a, b] => u32::from(u16::from_be_bytes([a, b])),
                [a, b, c, d] => u32::from_be_bytes([a, b, c, d]),
                _ => 0,
            })
            .collect();
        let after_ordinary = segments
            .last()
            .is_some_and(|s: &AsSegment| !s.kind.is_confed());
        if kind.is_confed() && after_ordinary {
            return Err(malformed);
        }
        segments.push(AsSegment { kind, asns });
        value = rest;
    }
    Ok(AsPath { segments })
}

/// RFC 6793 §6: AS4_PATH is malformed like an AS_PATH, and also when it holds
/// confederation segments, which it never may (§3).
pub(super) fn decode_as4_path(value: &[u8]) -> Result<AsPath, Fault> {
    let path = decode(value, 4)?;
    if path.segments.iter().any(|s| s.kind.is_confed()) {
        return Err(Fault::Invalid(update_subcode::OPTIONAL_ATTRIBUTE_ERROR));
    }
    Ok(path)
}

/// Rebuilds the true path from AS_PATH and AS4_PATH as RFC 6793 §4.2.3 says: when
/// AS_PATH holds fewer numbers than AS4_PATH, AS4_PATH is ignored; otherwise the
/// leading numbers of AS_PATH that AS4_PATH lacks come first, then AS4_PATH.
/// Confederation segments are not counted and stay where they were.
pub(super) fn reconcile(as_path: &AsPath, as4_path: &AsPath) -> AsPath {
    let (have, want) = (as_path.path_len(), as4_path.path_len());
    if have < want {
        return as_path.clone();
    }
    let mut keep = have - want;
    let mut segments: Vec<AsSegment> = Vec::new();
    // The index of a sequence cut short: an OLD speaker prepended to the NEW
    // speaker's sequence, which AS4_PATH continues.
    let mut cut = None;
    for segment in &as_path.segments {
        if segment.kind.is_confed() {
            // Confederation segments lead the path (decode refuses others).
            segments.push(segment.clone());
            continue;
        }
        if keep == 0 {
            break;
        }
        let take = if segment.kind == SegmentKind::Set {
            segment.asns.len()
        } else {
            keep.min(segment.asns.len())
        };
        if take < segment.asns.len() {
            cut = Some(segments.len());
        }
        segments.push(AsSegment {
            kind: segment.kind,
            asns: segment.asns[..take].to_vec(),
        });
        keep -= if segment.kind == SegmentKind::Set {
            1
        } else {
            take
        };
    }
    let mut as4 = as4_path.segments.iter();
    if let Some(at) = cut.filter(|at| at + 1 == segments.len()) {
        if let Some(first) = as4
            .clone()
            .next()
            .filter(|f| f.kind == SegmentKind::Sequence)
        {
            if segments[at].asns.len() + first.asns.len() <= MAX_SEGMENT_LEN {
                segments[at].asns.extend_from_slice(&first.asns);
                as4.next();
            }
        }
    }
    segments.extend(as4.cloned());
    AsPath { segments }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(asns: &[u32]) -> AsSegment {
        AsSegment {
            kind: SegmentKind::Sequence,
            asns: asns.to_vec(),
        }
    }

    #[test]
    fn path_len_counts_sets_once_and_confeds_never() {
        let path = AsPath {
            segments: vec![
                AsSegment {
                    kind: SegmentKind::ConfedSequence,
                    asns: vec![65001, 65002],
                },
                seq(&[1, 2, 3]),
                AsSegment {
                    kind: SegmentKind::Set,
                    asns: vec![7, 8],
                },
            ],
        };
        assert_eq!(path.path_len(), 4);
    }

    #[test]
    fn malformed_paths_are_rejected() {
        let malformed = Err(Fault::Invalid(update_subcode::MALFORMED_AS_PATH));
        assert_eq!(decode(&[2, 0], 4), malformed, "zero segment length");
        assert_eq!(decode(&[5, 1, 0, 1], 2), malformed, "unknown segment type");
        assert_eq!(decode(&[2, 2, 0, 1], 2), malformed, "overrun");
        assert_eq!(decode(&[2, 1, 0, 1, 2], 2), malformed, "underrun");
        assert_eq!(
            decode(&[2, 1, 0, 1, 3, 1, 0, 2], 2),
            malformed,
            "confederation after a sequence"
        );
        assert!(
            decode(&[3, 1, 0, 2, 2, 1, 0, 1], 2).is_ok(),
            "confederation in front"
        );
    }

    #[test]
    fn reconcile_keeps_leading_two_octet_numbers() {
        // A NEW speaker 4200000001 sent [4200000001 64512]; an OLD speaker 65001
        // prepended itself: AS_PATH [65001 23456 64512], AS4_PATH [4200000001 64512].
        let as_path = AsPath::sequence([65001, 23456, 64512]);
        let as4_path = AsPath::sequence([4_200_000_001, 64512]);
        assert_eq!(
            reconcile(&as_path, &as4_path),
            AsPath::sequence([65001, 4_200_000_001, 64512])
        );
    }

    #[test]
    fn reconcile_ignores_a_longer_as4_path() {
        let as_path = AsPath::sequence([23456]);
        let as4_path = AsPath::sequence([1, 2]);
        assert_eq!(reconcile(&as_path, &as4_path), as_path);
    }

    #[test]
    fn two_octet_encoding_uses_as_trans_and_as4_path() {
        let path = AsPath::sequence([65001, 4_200_000_001]);
        let enc = AsPathEncoding::new(&path, false);
        let mut as_path = Vec::new();
        enc.encode_as_path(&mut as_path);
        assert_eq!(as_path, [2, 2, 0xfd, 0xe9, 0x5b, 0xa0]);
        assert_eq!(enc.as_path_len(), as_path.len());
        let mut as4 = Vec::new();
        enc.encode_as4_path(&mut as4);
        assert_eq!(enc.as4_path_len(), Some(as4.len()));
        let decoded = reconcile(
            &decode(&as_path, 2).unwrap(),
            &decode_as4_path(&as4).unwrap(),
        );
        assert_eq!(decoded, path);
        assert_eq!(
            AsPathEncoding::new(&AsPath::sequence([65001]), false).as4_path_len(),
            None
        );
    }

    #[test]
    fn long_segments_are_split_at_255() {
        let path = AsPath::sequence(1..=300);
        let enc = AsPathEncoding::new(&path, true);
        let mut buf = Vec::new();
        enc.encode_as_path(&mut buf);
        assert_eq!(buf.len(), enc.as_path_len());
        let back = decode(&buf, 4).unwrap();
        assert_eq!(back.segments.len(), 2);
        assert_eq!(
            back.asns().collect::<Vec<_>>(),
            (1..=300).collect::<Vec<_>>()
        );
    }
}
