//! The hash maps for tables a route passes through: routesync's, whose
//! module says why (one home for the choice and its reason).

pub use routesync::fasthash::{FastMap, FastSet};
