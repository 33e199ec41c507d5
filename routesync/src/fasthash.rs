//! The hash maps for tables keyed by prefix, in routesync and in bgpd (the
//! Loc-RIB, the attribute interner, the Adj-RIB-Out, the dirty set, the
//! kernel's routes): foldhash rather than SipHash, which costs more per
//! lookup than the rest of a route's handling. The prefixes come from BGP
//! peers, who could choose them to aim at one bucket: the seed is random
//! per process, so they cannot.

use std::collections::{HashMap, HashSet};

pub type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
pub type FastSet<K> = HashSet<K, foldhash::fast::RandomState>;

#[cfg(test)]
mod tests {
    use super::*;
    use ipnet::IpNet;

    #[test]
    fn prefixes_are_keys_apart() {
        let mut map: FastMap<IpNet, u8> = FastMap::default();
        for (i, text) in ["10.0.0.0/26", "10.0.0.64/26", "10.0.0.0/27", "::a00:0/26"]
            .iter()
            .enumerate()
        {
            map.insert(text.parse().unwrap(), i as u8);
        }
        assert_eq!(map.len(), 4);
        assert_eq!(map[&"10.0.0.0/27".parse::<IpNet>().unwrap()], 2);
    }
}
