//! A network device's name held inline. Linux names are at most 15 bytes
//! (IFNAMSIZ is 16 with the NUL), so every route can name its device (eth0,
//! tunl0) without a heap block of its own: at a million routes that was a
//! block per route in each table that keeps one.

use std::fmt;

const MAX: usize = 15;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeviceName {
    bytes: [u8; MAX],
    len: u8,
}

impl DeviceName {
    /// `name`, cut to the 15 bytes the kernel allows (on a character
    /// boundary); a longer name names no device, and installs then fail
    /// with "device ... does not exist".
    pub fn new(name: &str) -> Self {
        let mut end = name.len().min(MAX);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        let mut bytes = [0; MAX];
        bytes[..end].copy_from_slice(&name.as_bytes()[..end]);
        Self {
            bytes,
            len: end as u8,
        }
    }

    pub fn as_str(&self) -> &str {
        // Only whole characters of a str were copied in.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl From<&str> for DeviceName {
    fn from(name: &str) -> Self {
        Self::new(name)
    }
}

impl From<&String> for DeviceName {
    fn from(name: &String) -> Self {
        Self::new(name)
    }
}

impl fmt::Display for DeviceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for DeviceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_long_ones_are_cut_on_a_character() {
        assert_eq!(DeviceName::new("tunl0").as_str(), "tunl0");
        assert_eq!(DeviceName::new("").as_str(), "");
        assert_eq!(
            DeviceName::new("abcdefghijklmnopq").as_str(),
            "abcdefghijklmno"
        );
        // 'é' is two bytes: the cut falls before it rather than inside.
        assert_eq!(
            DeviceName::new("abcdefghijklmné").as_str(),
            "abcdefghijklmn"
        );
        assert_eq!(format!("{:?}", DeviceName::new("eth0")), "\"eth0\"");
        assert_eq!(std::mem::size_of::<DeviceName>(), 16);
    }
}
