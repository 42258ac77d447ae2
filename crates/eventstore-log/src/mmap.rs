//! Every memory map of the crate, and the one way to see a mapped word as
//! an atomic.
//!
//! Maps are `MmapRaw`: the pointer comes from `mmap` itself, not from a
//! `&[u8]`, so the atomic views of the words another thread or process
//! stores into (a frame's length, the notification counter) have the
//! provenance of the whole mapping, with write permission where the map
//! is writable. Byte slices are formed only for reading what the writer
//! has published (frames are written once, before their length word) or,
//! by the writer, for writing what no reader can reach yet. The rules that
//! make the maps themselves sound (who may write or shrink a file while it
//! is mapped) are in `UNSAFE.md`.

use crate::error::{IoContext, Result};
use memmap2::{Advice, MmapOptions, MmapRaw};
use std::fs::File;
use std::path::Path;
use std::sync::atomic::AtomicU32;

/// The 4-byte word at `pos` of the mapping at `base` (`len` bytes), as an
/// atomic. Panics if the word is not 4-aligned inside the mapping (a bug
/// of the caller, never a property of the data).
fn word<'a>(base: *mut u8, len: usize, pos: usize) -> &'a AtomicU32 {
    assert!(
        pos.is_multiple_of(4) && pos.checked_add(4).is_some_and(|e| e <= len),
        "word {pos} outside a mapping of {len} bytes"
    );
    // SAFETY: in bounds and 4-aligned (the mapping is page-aligned) by the
    // check above; the pointer has the mapping's provenance (it is
    // `MmapRaw`'s, from `mmap`); the word is only ever accessed through
    // atomics by every party that maps the file; and the returned
    // reference lives no longer than the map that owns the mapping (`'a`
    // is tied to `&self` by the callers).
    unsafe { AtomicU32::from_ptr(base.add(pos).cast::<u32>()) }
}

/// A read-only map of a log file.
pub(crate) struct ReadMap {
    raw: MmapRaw,
}

impl ReadMap {
    /// Map all of `file` (at `path`, for errors).
    pub fn new(file: &File, path: &Path) -> Result<ReadMap> {
        let raw = MmapOptions::new()
            .map_raw_read_only(file)
            .at("mmap", path)?;
        Ok(ReadMap { raw })
    }

    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// The mapped bytes.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: the mapping is `len` readable bytes for as long as `self`
        // lives. Log files are appended in place by their single writer and
        // shrunk only past the last byte any reader reaches; bytes before a
        // published frame length never change again (UNSAFE.md, "maps").
        unsafe { std::slice::from_raw_parts(self.raw.as_ptr(), self.raw.len()) }
    }

    /// The word at `pos`, as an atomic (a frame length the writer publishes).
    pub fn word(&self, pos: usize) -> &AtomicU32 {
        word(self.raw.as_ptr().cast_mut(), self.raw.len(), pos)
    }

    pub fn advise(&self, advice: Advice) {
        let _ = self.raw.advise(advice);
    }

    pub fn advise_range(&self, advice: Advice, from: usize, len: usize) {
        let _ = self.raw.advise_range(advice, from, len);
    }
}

/// A shared, writable map of a file: the writer's open file, the
/// notification file, the pages the pre-faulter touches.
pub(crate) struct WriteMap {
    raw: MmapRaw,
}

impl WriteMap {
    /// Map `file` (at `path`, for errors): its first `len` bytes, or all of
    /// it.
    pub fn new(file: &File, path: &Path, len: Option<usize>) -> Result<WriteMap> {
        let mut o = MmapOptions::new();
        if let Some(len) = len {
            o.len(len);
        }
        let raw = o.map_raw(file).at("mmap", path)?;
        Ok(WriteMap { raw })
    }

    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// The bytes `[from, to)`, to write. Panics outside the mapping (a bug
    /// of the caller).
    pub fn bytes_mut(&mut self, from: usize, to: usize) -> &mut [u8] {
        assert!(
            from <= to && to <= self.raw.len(),
            "bytes {from}..{to} outside a mapping of {} bytes",
            self.raw.len()
        );
        // SAFETY: in bounds by the check above; `&mut self` makes this the
        // only slice of the map in this process; readers in other processes
        // do not read these bytes before the frame length after them is
        // published (UNSAFE.md, "maps").
        unsafe { std::slice::from_raw_parts_mut(self.raw.as_mut_ptr().add(from), to - from) }
    }

    /// The word at `pos`, as an atomic.
    pub fn word(&self, pos: usize) -> &AtomicU32 {
        word(self.raw.as_mut_ptr(), self.raw.len(), pos)
    }

    pub fn advise_range(&self, advice: Advice, from: usize, len: usize) -> std::io::Result<()> {
        self.raw.advise_range(advice, from, len)
    }
}
