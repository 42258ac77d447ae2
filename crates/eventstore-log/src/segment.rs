//! Reading one log file through a memory map: header, footer index, frame
//! iteration, seeks by sequence and by time.
//!
//! A sealed file is mapped once and never changes. The open file of a stream
//! is mapped at its current (preallocated) size and remapped when the writer
//! grows it; a record becomes visible when its `frame_len` is published,
//! which the writer does last.

use crate::compact::file::CompactFile;
use crate::error::{Error, IoContext, Result};
use crate::format::{self, FileHeader, Footer, Form, Frame, HeaderError, END_MARKER, HEADER_LEN};
use crate::mmap::ReadMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

/// What lies at a position of a file.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Step {
    /// A record: its timestamp, where its payload lies in the file, and the
    /// offset of the frame after it.
    Record {
        ts: i64,
        payload: (usize, usize),
        next: usize,
    },
    /// Nothing written here yet (the file is still open).
    Wait,
    /// The end marker: the file is sealed and has no more records.
    End,
}

/// One log file opened for reading.
pub(crate) struct Segment {
    pub path: PathBuf,
    file: File,
    map: ReadMap,
    pub header: FileHeader,
    /// The footer and the offset of the end marker, when the file is sealed
    /// and its footer is intact.
    pub footer: Option<(Footer, usize)>,
    /// The file is named as sealed (`.log`), so it can not grow.
    pub sealed_name: bool,
    /// Bytes of the map whose pages are known to be mapped in.
    populated: usize,
    /// The end marker's offset when known from the footer, else usize::MAX.
    end: usize,
    /// `is_sealed()`, kept for the hot path.
    sealed: bool,
    /// The block index and decoded block of a compact file.
    compact: Option<Box<CompactFile>>,
}

/// Map pages in ahead of a sequential reader this many bytes at a time.
const POPULATE_CHUNK: usize = 2 << 20;

pub(crate) fn header_error(path: &Path, e: HeaderError) -> Error {
    match e {
        HeaderError::BadMagic => Error::BadMagic { file: path.into() },
        HeaderError::UnsupportedVersion(version) => Error::UnsupportedVersion {
            file: path.into(),
            version,
        },
        HeaderError::TooShort => corrupted(path, 0, "file is shorter than its 64-byte header"),
        HeaderError::BadChecksum => corrupted(path, 0, "header checksum mismatch"),
        HeaderError::BadField(f) => corrupted(path, 0, &format!("header field {f} is invalid")),
    }
}

pub(crate) fn corrupted(path: &Path, offset: u64, reason: &str) -> Error {
    Error::Corrupted {
        file: path.into(),
        offset,
        reason: reason.to_string(),
    }
}

/// Read and check only the header of a file (a 64-byte read, no map).
/// How far ahead of the frame being read its bytes are prefetched.
const PREFETCH_AHEAD: usize = 2048;

/// Read and check the header of the log file at `path` (64 bytes, no map).
pub fn read_header(path: &Path) -> Result<FileHeader> {
    use std::os::unix::fs::FileExt;
    let f = File::open(path).at("open", path)?;
    let mut b = [0u8; HEADER_LEN];
    let mut got = 0;
    while got < HEADER_LEN {
        let n = f.read_at(&mut b[got..], got as u64).at("read", path)?;
        if n == 0 {
            break;
        }
        got += n;
    }
    FileHeader::decode(&b[..got]).map_err(|e| header_error(path, e))
}

impl Segment {
    /// Open and map `path`, checking its header, and its footer if sealed.
    pub fn open(path: &Path) -> Result<Segment> {
        let file = File::open(path).at("open", path)?;
        let len = file.metadata().at("stat", path)?.len();
        if len < HEADER_LEN as u64 {
            let head = read_header(path);
            return Err(head
                .err()
                .unwrap_or_else(|| corrupted(path, 0, "file is shorter than its 64-byte header")));
        }
        let map = ReadMap::new(&file, path)?;
        let header = FileHeader::decode(map.bytes()).map_err(|e| header_error(path, e))?;
        let sealed_name = path.extension().is_some_and(|e| e == "log");
        if header.form == Form::Compact {
            let c = CompactFile::open(path, map.bytes(), &header)?;
            let footer = Footer {
                record_count: c.footer.record_count,
                min_ts: c.footer.min_ts,
                max_ts: c.footer.max_ts,
                index_stride: format::INDEX_STRIDE,
                index: Vec::new(),
            };
            return Ok(Segment {
                path: path.to_path_buf(),
                file,
                header,
                footer: Some((footer, c.data_end)),
                sealed_name,
                populated: 0,
                end: c.data_end,
                sealed: true,
                compact: Some(Box::new(c)),
                map,
            });
        }
        // Only a file named sealed has its footer at its end. An open file
        // may be cut to its exact length by a seal at any moment (behind
        // the writer's appends), so nothing past its end marker is read:
        // its end is found by walking its frames.
        let footer = if sealed_name {
            Footer::decode_from_file_end(map.bytes()).ok()
        } else {
            None
        };
        #[cfg(target_os = "linux")]
        {
            map.advise(memmap2::Advice::Sequential);
        }
        Ok(Segment {
            path: path.to_path_buf(),
            file,
            map,
            header,
            footer,
            sealed_name,
            populated: 0,
            end: usize::MAX,
            sealed: false,
            compact: None,
        }
        .with_cached_state())
    }

    /// The mapped bytes.
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        self.map.bytes()
    }

    /// The payload bytes a [`Step::Record`] points at, without copying.
    #[inline]
    pub fn payload(&self, (at, len): (usize, usize)) -> &[u8] {
        match &self.compact {
            None => &self.map.bytes()[at..at + len],
            Some(c) => c.payload((at, len)),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The block index of a compact file; `None` for a framed one.
    pub fn compact_index(&self) -> Option<&[crate::compact::format::BlockEntry]> {
        self.compact.as_ref().map(|c| &c.footer.blocks[..])
    }

    /// How the file holds its records.
    pub fn form(&self) -> Form {
        self.header.form
    }

    fn with_cached_state(mut self) -> Segment {
        self.end = self.data_end().unwrap_or(usize::MAX);
        self.sealed = self.is_sealed();
        self
    }

    /// True once the file can not change any more.
    pub fn is_sealed(&self) -> bool {
        self.sealed_name || self.footer.is_some()
    }

    /// Records in the file, when known from its footer (sealed files).
    pub fn record_count(&self) -> Option<u64> {
        self.footer.as_ref().map(|(f, _)| f.record_count)
    }

    /// Offset of the end marker, when known from the footer.
    pub fn data_end(&self) -> Option<usize> {
        self.footer.as_ref().map(|(_, e)| *e)
    }

    /// Remap if the file has grown since it was mapped.
    fn remap(&mut self) -> Result<bool> {
        let len = self.file.metadata().at("stat", &self.path)?.len() as usize;
        if len > self.map.len() {
            self.map = ReadMap::new(&self.file, &self.path)?;
            self.populated = 0;
            return Ok(true);
        }
        Ok(false)
    }

    #[inline]
    fn frame_len_at(&self, pos: usize) -> u32 {
        // The writer stores this word with release ordering after the
        // frame's other bytes.
        self.map.word(pos).load(Ordering::Acquire)
    }

    fn corrupt(&self, pos: usize, reason: &str) -> Error {
        corrupted(&self.path, pos as u64, reason)
    }

    /// Map in the pages after `pos` with one call instead of a fault per
    /// page (only within what is written: never past the data).
    #[cold]
    fn populate(&mut self, pos: usize) {
        let limit = self.data_end().unwrap_or(self.map.len());
        let from = pos / 4096 * 4096;
        let to = (pos + POPULATE_CHUNK).min(limit);
        #[cfg(target_os = "linux")]
        if to > from {
            self.map
                .advise_range(memmap2::Advice::PopulateRead, from, to - from);
        }
        self.populated = to.max(pos + 1);
    }

    /// What lies at `pos` (an 8-aligned frame offset).
    ///
    /// Hot path of every read: inline checks of one frame.
    #[inline]
    pub fn at(&mut self, pos: usize) -> Result<Step> {
        if let Some(c) = &mut self.compact {
            return c.at(self.map.bytes(), &self.path, pos);
        }
        // Hot path: a whole, valid record inside what is mapped.
        if pos < self.end
            && pos + format::FRAME_HEADER_LEN <= self.map.len()
            && (pos < self.populated || !self.sealed)
        {
            // Ask for the bytes a few frames ahead now: a sequential walk
            // otherwise stalls on each new page (the hardware prefetcher
            // stops at page boundaries).
            #[cfg(target_arch = "x86_64")]
            {
                let ahead = (pos + PREFETCH_AHEAD).min(self.map.len() - 1);
                // SAFETY: `ahead` is inside the map; a prefetch reads nothing.
                unsafe {
                    std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                        self.map.bytes().as_ptr().add(ahead) as *const i8,
                    )
                };
            }
            let fl = self.frame_len_at(pos);
            let len = fl as usize;
            if fl != END_MARKER
                && len >= format::FRAME_HEADER_LEN
                && len - format::FRAME_HEADER_LEN <= format::MAX_PAYLOAD
            {
                let end = pos + len;
                if end <= self.map.len() && format::align8(end) <= self.end {
                    let b = &self.map.bytes()[pos..end];
                    if format::frame_crc(fl, &b[8..]) == format::u32_at(b, 4) {
                        return Ok(Step::Record {
                            ts: format::i64_at(b, 8),
                            payload: (
                                pos + format::FRAME_HEADER_LEN,
                                len - format::FRAME_HEADER_LEN,
                            ),
                            next: format::align8(end),
                        });
                    }
                }
            }
        }
        self.at_slow(pos)
    }

    /// Everything the hot path leaves: page population, remapping a grown
    /// file, the end marker, waiting, and the errors.
    #[cold]
    fn at_slow(&mut self, pos: usize) -> Result<Step> {
        if pos >= self.populated && self.is_sealed() {
            self.populate(pos);
        }
        if let Some(end) = self.data_end() {
            if pos >= end {
                return Ok(Step::End);
            }
        }
        if pos + 4 > self.map.len() && !self.remap()? {
            if self.sealed_name {
                return Err(self.corrupt(pos, "file ends before its end marker (truncated)"));
            }
            return Ok(Step::Wait);
        }
        let mut fl = self.frame_len_at(pos);
        if fl != 0 && fl != END_MARKER && pos + fl as usize > self.map.len() && self.remap()? {
            fl = self.frame_len_at(pos);
        }
        let data_end = self.data_end();
        let sealed = self.is_sealed();
        let path = &self.path;
        match format::decode_frame(self.map.bytes(), pos, fl) {
            Frame::Record { ts, payload, next } => {
                if data_end.is_some_and(|e| next > e) {
                    return Err(corrupted(path, pos as u64, "record runs into the footer"));
                }
                Ok(Step::Record {
                    ts,
                    payload: (pos + format::FRAME_HEADER_LEN, payload.len()),
                    next,
                })
            }
            Frame::Empty if sealed => Err(corrupted(
                path,
                pos as u64,
                "zeroed bytes where a record or the end marker should be",
            )),
            Frame::Empty => Ok(Step::Wait),
            Frame::End => Ok(Step::End),
            Frame::Incomplete => Err(corrupted(
                path,
                pos as u64,
                "record extends past the end of the file (truncated)",
            )),
            Frame::Invalid(reason) => Err(corrupted(path, pos as u64, reason)),
        }
    }

    /// Position of record `seq` of this file, hopping from the nearest index
    /// entry. Returns the offset and sequence reached: `seq` itself, or less
    /// when the file holds fewer records so far.
    pub fn seek_seq(&mut self, seq: u64) -> Result<(usize, u64)> {
        let first = self.header.first_seq;
        if let Some(c) = &self.compact {
            return Ok(c.seek_seq(first, seq));
        }
        let (mut pos, mut cur) = (HEADER_LEN, first);
        if seq <= first {
            return Ok((pos, first));
        }
        if let Some((f, _)) = &self.footer {
            if !f.index.is_empty() {
                let k = (((seq - first) / f.index_stride as u64) as usize).min(f.index.len() - 1);
                pos = f.index[k].offset as usize;
                cur = first + k as u64 * f.index_stride as u64;
            }
        }
        while cur < seq {
            match self.at(pos)? {
                Step::Record { next, .. } => {
                    pos = next;
                    cur += 1;
                }
                Step::Wait | Step::End => break,
            }
        }
        Ok((pos, cur))
    }

    /// Position of the first record whose timestamp is at least `t` (by the
    /// stream's running maximum, so exact even for unordered timestamps):
    /// binary search on the footer index, then at most one stride of hops.
    pub fn seek_time(&mut self, t: i64) -> Result<(usize, u64)> {
        let first = self.header.first_seq;
        if let Some(c) = &mut self.compact {
            return c.seek_time(self.map.bytes(), &self.path, first, t);
        }
        let (mut pos, mut cur) = (HEADER_LEN, first);
        if let Some((f, _)) = &self.footer {
            let pp = f.index.partition_point(|e| e.max_ts_before < t);
            if pp > 0 {
                pos = f.index[pp - 1].offset as usize;
                cur = first + (pp as u64 - 1) * f.index_stride as u64;
            }
        }
        while let Step::Record { ts, next, .. } = self.at(pos)? {
            if ts >= t {
                break;
            }
            pos = next;
            cur += 1;
        }
        Ok((pos, cur))
    }
}

/// A summary of a file, computed by scanning its frames.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanSummary {
    /// The index a footer of these records holds.
    pub index: Vec<format::IndexEntry>,
    /// The stream's largest timestamp up to the last good record.
    pub running_max: i64,
    /// Records found.
    pub records: u64,
    /// Smallest and largest record timestamp (None without records).
    pub min_ts: Option<i64>,
    pub max_ts: Option<i64>,
    /// Offset just past the last good record (where the next frame goes).
    pub end: usize,
    /// How the scan stopped.
    pub stop: ScanStop,
}

/// Why a scan of a file stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScanStop {
    /// At the end marker of a sealed file.
    EndMarker,
    /// At zeros: the end of what was written.
    Empty,
    /// At a frame that is not valid.
    Bad { offset: u64, reason: String },
}

/// Scan every frame of `bytes` (a whole file) from the first record;
/// `prev_max` is the stream's largest timestamp before the file.
pub(crate) fn scan(bytes: &[u8], prev_max: i64) -> ScanSummary {
    let mut s = ScanSummary {
        index: Vec::new(),
        running_max: prev_max,
        records: 0,
        min_ts: None,
        max_ts: None,
        end: HEADER_LEN,
        stop: ScanStop::Empty,
    };
    let mut pos = HEADER_LEN;
    loop {
        if pos + 4 > bytes.len() {
            if pos != bytes.len() {
                s.stop = ScanStop::Bad {
                    offset: pos as u64,
                    reason: "file ends inside a frame header (truncated)".into(),
                };
            }
            return s;
        }
        let fl = format::u32_at(bytes, pos);
        match format::decode_frame(bytes, pos, fl) {
            Frame::Record { ts, next, payload } => {
                // The padding to the next 8-byte boundary is zero: bytes no
                // checksum covers are checked here.
                let end = pos + format::FRAME_HEADER_LEN + payload.len();
                if let Some(at) = bytes[end..next.min(bytes.len())]
                    .iter()
                    .position(|&b| b != 0)
                {
                    s.stop = ScanStop::Bad {
                        offset: (end + at) as u64,
                        reason: "nonzero padding after a record".into(),
                    };
                    return s;
                }
                if s.records.is_multiple_of(format::INDEX_STRIDE as u64) {
                    s.index.push(format::IndexEntry {
                        offset: pos as u64,
                        max_ts_before: s.running_max,
                    });
                }
                s.running_max = s.running_max.max(ts);
                s.records += 1;
                s.min_ts = Some(s.min_ts.map_or(ts, |m| m.min(ts)));
                s.max_ts = Some(s.max_ts.map_or(ts, |m| m.max(ts)));
                pos = next;
                s.end = pos;
            }
            Frame::Empty => return s,
            Frame::End => {
                s.stop = ScanStop::EndMarker;
                return s;
            }
            Frame::Incomplete => {
                s.stop = ScanStop::Bad {
                    offset: pos as u64,
                    reason: "record extends past the end of the file (truncated)".into(),
                };
                return s;
            }
            Frame::Invalid(r) => {
                s.stop = ScanStop::Bad {
                    offset: pos as u64,
                    reason: r.into(),
                };
                return s;
            }
        }
    }
}
