//! Reading market streams: trades by time range, books at any time and
//! the updates after them, per-file trade summaries, bars.

use crate::{OrderStreamReader, Result, StreamMeta};

pub mod bars;
pub(crate) mod files;
pub mod orders;
pub mod summary;
pub mod trades;

/// Build the per-file sidecars of the market stream in `dir` where they are
/// missing: a trade stream's summaries, an order stream's book snapshots.
/// Anything else (not a market stream) is left as it is.
pub fn build_sidecars(dir: &std::path::Path) -> Result<()> {
    let Some(meta) = StreamMeta::load(dir)? else {
        return Ok(());
    };
    if meta.kind == crate::records::meta::StreamKind::Trades {
        summary::summaries(dir)?;
    } else if crate::book::replay::BookKind::of_stream(meta.kind).is_some() {
        OrderStreamReader::open_dir(dir)?.build_snapshots()?;
    }
    Ok(())
}
