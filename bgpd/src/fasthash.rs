//! Hash maps for the tables a route passes through (Loc-RIB, attribute
//! interner, Adj-RIB-Out, the dirty set): foldhash rather than SipHash,
//! which costs more per lookup than the rest of a route's handling. Its
//! seed is random per process, so prefixes a peer chooses cannot be aimed at
//! one bucket from outside.

use std::collections::{HashMap, HashSet};

pub type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
pub type FastSet<K> = HashSet<K, foldhash::fast::RandomState>;
