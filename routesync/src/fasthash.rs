//! A fast hasher for the tables keyed by prefix. The keys are our own routes'
//! prefixes, not chosen by an attacker who could aim collisions at us, so
//! SipHash's protection is not needed and its cost per route is. This is the
//! FxHash mix (rustc's): a rotate, a xor and a multiply per word.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;
pub(crate) type FastSet<K> = HashSet<K, BuildHasherDefault<FxHasher>>;

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FxHasher {
    hash: u64,
}

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_u16(&mut self, n: u16) {
        self.add(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipnet::IpNet;

    #[test]
    fn prefixes_that_differ_hash_apart() {
        let hash = |text: &str| {
            let prefix: IpNet = text.parse().unwrap();
            let mut hasher = FxHasher::default();
            std::hash::Hash::hash(&prefix, &mut hasher);
            hasher.finish()
        };
        assert_ne!(hash("10.0.0.0/26"), hash("10.0.0.64/26"));
        assert_ne!(hash("10.0.0.0/26"), hash("10.0.0.0/27"));
        assert_ne!(hash("10.0.0.0/26"), hash("::a00:0/26"));
        assert_eq!(hash("10.0.0.0/26"), hash("10.0.0.0/26"));
    }
}
