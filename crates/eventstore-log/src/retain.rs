//! Retention: deleting a stream's oldest sealed files by age or size,
//! with their sidecars, and recording where the sequence numbers go on
//! (`.floor`).

use crate::error::{IoContext, Result};
use crate::files;
use crate::format::FileHeader;
use crate::segment::{self, Segment};
use crate::time::RollInterval;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Which sealed files to delete.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Delete sealed files whose interval ended longer ago than this.
    pub max_age: Option<Duration>,
    /// Delete the oldest sealed files while the stream holds more bytes than this.
    pub max_bytes: Option<u64>,
}

/// Apply `policy` to the stream in `dir` at time `now_ns`; the open file is
/// never deleted, and a deleted file's sidecars (`<file name>.*`) go with
/// it. Returns the deleted files, oldest first.
pub fn retain(dir: &Path, policy: RetentionPolicy, now_ns: i64) -> Result<Vec<PathBuf>> {
    let list = files::list_files(dir)?;
    let mut sizes = Vec::with_capacity(list.len());
    for f in &list {
        sizes.push(std::fs::metadata(&f.path).at("stat", &f.path)?.len());
    }
    let mut total: u64 = sizes.iter().sum();
    let mut deleted = Vec::new();
    for (f, size) in list.iter().zip(sizes) {
        if !f.sealed {
            break;
        }
        let too_old = match policy.max_age {
            Some(age) => {
                let h: FileHeader = segment::read_header(&f.path)?;
                let end = RollInterval::from_secs(h.interval_secs)
                    .map(|iv| iv.floor(h.interval_start_ns) + iv.ns())
                    .unwrap_or(h.interval_start_ns);
                end.saturating_add(age.as_nanos() as i64) <= now_ns
            }
            None => false,
        };
        let too_big = policy.max_bytes.is_some_and(|m| total > m);
        if !(too_old || too_big) {
            break;
        }
        // Sequence numbers continue after this file even if it was the
        // last: its end is stored before it goes.
        let seg = Segment::open(&f.path)?;
        let Some((footer, _)) = &seg.footer else {
            return Err(segment::corrupted(
                &f.path,
                0,
                "a sealed file without a valid footer is not deleted by retention (inspect with `eventstore verify`)",
            ));
        };
        crate::floor::Floor {
            next_seq: seg.header.first_seq.saturating_add(footer.record_count),
            max_ts: seg.header.prev_max_ts.max(footer.max_ts),
            last_start_ns: f.start_ns,
        }
        .raise(dir)?;
        drop(seg);
        std::fs::remove_file(&f.path).at("remove", &f.path)?;
        remove_sidecars(&f.path);
        total -= size;
        deleted.push(f.path.clone());
    }
    Ok(deleted)
}

/// Remove the files that describe `file` (`<file name>.<anything>`, such as
/// a trade file's `.summary.json`): they go with it. Best effort.
fn remove_sidecars(file: &Path) {
    let (Some(dir), Some(name)) = (file.parent(), file.file_name()) else {
        return;
    };
    let mut prefix = name.to_os_string();
    prefix.push(".");
    let prefix = prefix.to_string_lossy().into_owned();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}
