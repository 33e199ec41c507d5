//! The routing information bases: interned attribute sets, paths and where
//! they came from, best-path selection, and the Loc-RIB. Owned by the speaker
//! actor alone, so nothing here locks.

mod attrs;
mod best;
mod path;
mod table;

pub use attrs::{AttrInterner, RouteAttrs};
pub use best::{compare, multipath_equal, Reason};
pub use path::{Path, PeerId, Source, SourceInfo};
pub use table::LocRib;
