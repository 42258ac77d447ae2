//! Order books built from stored records: L2 by price level, L3 by order,
//! the replay of a feed (gaps and snapshots included), and the codec of the
//! `.book` snapshots kept beside each file.

pub mod checksum;
pub mod l2;
pub mod l3;
pub mod replay;
pub mod snapshot;
