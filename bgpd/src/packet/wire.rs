//! Leaf readers over a byte slice, on top of nom's `complete` parsers.
//!
//! Messages are framed before they are parsed, so running out of input is always
//! an error, never "need more". The only error is [`Short`]; every caller maps it
//! to the NOTIFICATION its place in the message calls for, so nom's types never
//! leave this module.

use std::net::{Ipv4Addr, Ipv6Addr};

use nom::bytes::complete::take as nom_take;
use nom::number::complete::{be_u16, be_u32, be_u8};
use nom::IResult;

/// The input ended before the value did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Short;

pub(crate) type Read<'a, T> = Result<(&'a [u8], T), Short>;

fn leaf<'a, T>(result: IResult<&'a [u8], T, ()>) -> Read<'a, T> {
    result.map_err(|_| Short)
}

pub(crate) fn u8(input: &[u8]) -> Read<'_, u8> {
    leaf(be_u8(input))
}

pub(crate) fn u16(input: &[u8]) -> Read<'_, u16> {
    leaf(be_u16(input))
}

pub(crate) fn u32(input: &[u8]) -> Read<'_, u32> {
    leaf(be_u32(input))
}

pub(crate) fn take(input: &[u8], count: usize) -> Read<'_, &[u8]> {
    leaf(nom_take(count)(input))
}

pub(crate) fn ipv4(input: &[u8]) -> Read<'_, Ipv4Addr> {
    let (rest, raw) = u32(input)?;
    Ok((rest, Ipv4Addr::from(raw)))
}

pub(crate) fn ipv6(input: &[u8]) -> Read<'_, Ipv6Addr> {
    let (rest, raw) = take(input, 16)?;
    let mut octets = [0u8; 16];
    octets.copy_from_slice(raw);
    Ok((rest, Ipv6Addr::from(octets)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_consume_exactly_and_report_short_input() {
        let bytes = [0x01, 0x02, 0x03, 0x04, 0x05];
        assert_eq!(u8(&bytes), Ok((&bytes[1..], 1)));
        assert_eq!(u16(&bytes), Ok((&bytes[2..], 0x0102)));
        assert_eq!(u32(&bytes), Ok((&bytes[4..], 0x0102_0304)));
        assert_eq!(take(&bytes, 5), Ok((&[][..], &bytes[..])));
        assert_eq!(take(&bytes, 6), Err(Short));
        assert_eq!(u32(&bytes[2..]), Err(Short));
        assert_eq!(ipv6(&bytes), Err(Short));
    }
}
