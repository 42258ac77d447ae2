//! The file a writer appends to: a memory map over a preallocated file.
//!
//! Frames are written into the map and published by storing their
//! `frame_len` last (release), so readers in any process see whole records
//! only. Space is reserved ahead with `fallocate`, so a full disk is an error
//! at growth time rather than a fault on a store.

use crate::error::{IoContext, Result};
use crate::format::{self, FileHeader, Footer, IndexEntry, END_MARKER, HEADER_LEN, INDEX_STRIDE};
use crate::mmap::WriteMap;
use crate::pretouch::Pretoucher;
use crate::sync::{self, sync_dir_with, SyncFile};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

const INITIAL_CAPACITY: usize = 1 << 20;
const MAX_GROWTH: usize = 256 << 20;
const POPULATE_CHUNK: usize = 1 << 20;
/// The smallest first reserve and reach ahead, for the quietest streams.
const MIN_RESERVE: usize = 64 << 10;

/// The open file of a stream, mapped for writing.
pub(crate) struct ActiveFile {
    pub path: PathBuf,
    pub file: File,
    map: WriteMap,
    pub header: FileHeader,
    /// Offset of the next frame.
    pub pos: usize,
    /// Offset up to which bytes are known to be synced.
    pub synced: usize,
    /// The folder has been fsynced since the file got its name.
    dir_synced: bool,
    /// Roll when the writer's clock reaches this.
    pub roll_at: i64,
    pub count: u64,
    pub min_ts: i64,
    pub max_ts: i64,
    /// The stream's largest timestamp so far (starts at `header.prev_max_ts`).
    pub running_max: i64,
    pub index: Vec<IndexEntry>,
    /// Bytes of the map already faulted in for writing.
    populated: usize,
    /// Makes pages ready ahead of the writer, when enabled.
    pub pretouch: Option<Arc<Pretoucher>>,
    /// How far ahead of the writer pages are reserved and made ready:
    /// adapted to the stream's rate (the bytes of its previous file), so
    /// that a quiet stream's file costs kilobytes, not megabytes.
    ahead: usize,
    /// The file-system seam (syncs, and the calls before which it is asked).
    fs: Arc<dyn SyncFile>,
}

/// A stream's next file, created, reserved and mapped (its first pages
/// faulted in when made ahead) before its interval starts, so that the
/// append that rolls only writes the header and renames it into place.
/// Its name ([`spare_name`]) is never listed as a log file; recovery
/// removes one left by a crash, like any `.log.tmp`.
pub(crate) struct Spare {
    path: PathBuf,
    file: File,
    map: WriteMap,
    populated: usize,
    ahead: usize,
    fs: Arc<dyn SyncFile>,
}

/// The name of a stream's spare file number `n`, made ahead by its
/// writer's worker: `.next.<n>.log.tmp`. Each has its own number, so that
/// the worker making the next one never touches the one the writer is
/// renaming into place.
pub(crate) fn spare_name(n: u64) -> String {
    format!(".next.{n}{}", crate::files::TMP_EXT)
}

impl Spare {
    /// Create the file at `path`, reserved and mapped for a stream whose
    /// previous file took `hint` bytes (see [`ActiveFile::create`]). With
    /// `ahead` (made on the worker, before it is needed) its first pages
    /// are faulted in too, and the seam is asked `"allocate-ahead"` rather
    /// than `"allocate"`: a failure only means the next file is created
    /// when it is needed.
    pub fn create(
        path: PathBuf,
        fs: Arc<dyn SyncFile>,
        hint: Option<usize>,
        ahead_of_time: bool,
    ) -> Result<Spare> {
        let (initial, ahead) = match hint {
            Some(h) => (
                (h + h / 4)
                    .clamp(MIN_RESERVE, INITIAL_CAPACITY)
                    .next_multiple_of(4096),
                h.next_power_of_two()
                    .clamp(MIN_RESERVE, crate::pretouch::AHEAD),
            ),
            None => (INITIAL_CAPACITY, crate::pretouch::AHEAD),
        };
        let _ = std::fs::remove_file(&path);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .at("create", &path)?;
        let op = if ahead_of_time {
            "allocate-ahead"
        } else {
            "allocate"
        };
        // Made ahead, the file is reserved past its first pages by the
        // reach the writer keeps ahead, as its first populate would, so
        // that the append that rolls does not grow and remap it (not near
        // a full disk: see `ActiveFile::populate`).
        let len = if ahead_of_time && free_bytes(&file).is_none_or(|f| ahead as u64 <= f / 4) {
            (initial + ahead).next_multiple_of(4096)
        } else {
            initial
        };
        let made = reserve_as(&file, &path, len, &*fs, op).and_then(|()| map(&file, &path));
        let map = match made {
            Ok(m) => m,
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                return Err(e);
            }
        };
        let mut populated = 0;
        if ahead_of_time {
            // The whole reach ahead: the writer makes no page ready itself,
            // nor wakes its pretoucher, before it gets this far.
            let to = (HEADER_LEN + ahead).next_multiple_of(4096).min(map.len());
            #[cfg(target_os = "linux")]
            {
                if map
                    .advise_range(memmap2::Advice::PopulateWrite, 0, to)
                    .is_ok()
                {
                    populated = to;
                }
            }
        }
        Ok(Spare {
            path,
            file,
            map,
            populated,
            ahead,
            fs,
        })
    }

    /// Remove the file (a writer that closes leaves no spare behind).
    pub fn discard(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Reserve `[0, len)` of `file` on disk (falls back to a sparse extension
/// where the filesystem can not allocate ahead).
fn reserve(file: &File, path: &Path, len: usize, fs: &dyn SyncFile) -> Result<()> {
    reserve_as(file, path, len, fs, "allocate")
}

/// [`reserve`], the seam asked `op`.
fn reserve_as(
    file: &File,
    path: &Path,
    len: usize,
    fs: &dyn SyncFile,
    op: &'static str,
) -> Result<()> {
    fs.before(op, path).at("allocate", path)?;
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: plain syscall on an open descriptor.
        let r = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, len as libc::off_t) };
        if r == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if !matches!(
            e.raw_os_error(),
            Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS)
        ) {
            return Err(e).at("allocate", path);
        }
    }
    if file.metadata().at("stat", path)?.len() < len as u64 {
        file.set_len(len as u64).at("extend", path)?;
    }
    Ok(())
}

/// Free bytes (for an unprivileged writer) of the file system holding `file`.
fn free_bytes(file: &File) -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: fstatvfs fills the struct it is given; a zeroed statvfs is valid.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: plain syscall on an open descriptor.
        if unsafe { libc::fstatvfs(file.as_raw_fd(), &mut st) } == 0 {
            return Some((st.f_bavail as u64).saturating_mul(st.f_frsize as u64));
        }
    }
    let _ = file;
    None
}

/// Whether an error is the file system being full.
fn is_enospc(e: &crate::Error) -> bool {
    match e {
        crate::Error::IoAt { source, .. } | crate::Error::Io(source) => {
            source.raw_os_error() == Some(libc::ENOSPC)
        }
        _ => false,
    }
}

fn map(file: &File, path: &Path) -> Result<WriteMap> {
    // The writer holds the stream's lock: no other process writes or
    // truncates this file while it is mapped.
    WriteMap::new(file, path, None)
}

impl ActiveFile {
    /// Create the file for `header` in `dir`: written under a temporary name,
    /// preallocated, then renamed into place so readers never see a partial
    /// header. With `sync_dir_now` the folder is fsynced at once (for a
    /// background syncer, which syncs only the file); otherwise the first
    /// [`ActiveFile::sync`] does it, so that creating a file costs a writer
    /// without durability no folder fsync (a journal commit: milliseconds).
    ///
    /// `hint` is the size of the stream's previous file, when known: the
    /// first reserve and the reach of the pages made ready ahead follow it
    /// (64 KiB to 1 MiB, and 64 KiB to 8 MiB).
    pub fn create(
        dir: &Path,
        header: FileHeader,
        roll_at: i64,
        sync_dir_now: bool,
        fs: Arc<dyn SyncFile>,
        hint: Option<usize>,
    ) -> Result<ActiveFile> {
        let tmp = crate::files::tmp_path(dir, header.interval_start_ns);
        let spare = Spare::create(tmp, fs.clone(), hint, false)?;
        Self::start(dir, spare, header, roll_at, sync_dir_now)
    }

    /// Make `spare` the file for `header` in `dir`: the header written into
    /// its map, then the rename into place (see [`ActiveFile::create`]).
    pub fn start(
        dir: &Path,
        mut spare: Spare,
        header: FileHeader,
        roll_at: i64,
        sync_dir_now: bool,
    ) -> Result<ActiveFile> {
        let path = crate::files::open_path(dir, header.interval_start_ns);
        spare
            .map
            .bytes_mut(0, HEADER_LEN)
            .copy_from_slice(&header.encode());
        sync::rename(&*spare.fs, &spare.path, &path)?;
        if sync_dir_now {
            sync_dir_with(dir, &*spare.fs)?;
        }
        Ok(ActiveFile {
            dir_synced: sync_dir_now,
            path,
            file: spare.file,
            map: spare.map,
            header,
            pos: HEADER_LEN,
            synced: 0,
            roll_at,
            count: 0,
            min_ts: i64::MAX,
            max_ts: i64::MIN,
            running_max: header.prev_max_ts,
            index: Vec::new(),
            populated: spare.populated,
            pretouch: None,
            ahead: spare.ahead,
            fs: spare.fs,
        })
    }

    /// Continue an existing open file whose good records end at `summary.end`
    /// (bytes after it are zero).
    pub fn resume(
        path: PathBuf,
        header: FileHeader,
        summary: crate::segment::ScanSummary,
        roll_at: i64,
        fs: Arc<dyn SyncFile>,
    ) -> Result<ActiveFile> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .at("open", &path)?;
        let len = file.metadata().at("stat", &path)?.len() as usize;
        if len < summary.end + 8 {
            reserve(&file, &path, (summary.end + 8).max(INITIAL_CAPACITY), &*fs)?;
        }
        let map = map(&file, &path)?;
        Ok(ActiveFile {
            // Created before a crash, perhaps without a folder fsync.
            dir_synced: false,
            path,
            file,
            map,
            header,
            pos: summary.end,
            synced: summary.end,
            roll_at,
            count: summary.records,
            min_ts: summary.min_ts.unwrap_or(i64::MAX),
            max_ts: summary.max_ts.unwrap_or(i64::MIN),
            running_max: summary.running_max,
            index: summary.index,
            populated: 0,
            pretouch: None,
            ahead: crate::pretouch::AHEAD,
            fs: fs.clone(),
        })
    }

    /// Make room for bytes up to `end` (plus the next frame's length word).
    #[inline]
    fn ensure(&mut self, end: usize) -> Result<()> {
        if end + 8 > self.map.len() {
            if let Err(e) = self.grow(end + 8) {
                if is_enospc(&e) {
                    self.give_back();
                }
                return Err(e);
            }
        }
        if end + 8 > self.populated {
            self.populate(end + 8);
        }
        Ok(())
    }

    /// Fault in the pages ahead of the writer in one call rather than one
    /// page fault per page.
    #[cold]
    fn populate(&mut self, need: usize) {
        // With a pretoucher, keep the file reserved well past the writer:
        // past the end of the file its populate fails, and the writer would
        // then fault in (allocate and zero) the pages after each growth
        // itself, stalling appends for milliseconds. An error here is left
        // for `ensure` to report when the space is needed.
        // Not near a full disk: the reserve ahead would take space other
        // streams need.
        if self.pretouch.is_some()
            && need + self.ahead > self.map.len()
            && free_bytes(&self.file).is_none_or(|f| self.ahead as u64 <= f / 4)
        {
            let _ = self.grow(need + self.ahead);
        }
        let from = (self.populated.max(self.pos) / 4096) * 4096;
        // In this thread only a step of what lies ahead (an eighth, 16 KiB
        // to 1 MiB): the pretoucher makes the rest ready behind it.
        let step = if self.pretouch.is_some() {
            (self.ahead / 8).clamp(16 << 10, POPULATE_CHUNK)
        } else {
            POPULATE_CHUNK.min(self.ahead)
        };
        let to = (need + step).min(self.map.len());
        #[cfg(target_os = "linux")]
        {
            let _ = self
                .map
                .advise_range(memmap2::Advice::PopulateWrite, from, to - from);
        }
        self.populated = to;
        if let Some(p) = &self.pretouch {
            p.request(to + self.ahead);
        }
    }

    /// Hand the file to a pretoucher.
    pub fn attach(&mut self, p: Option<Arc<Pretoucher>>) {
        if let Some(p) = &p {
            p.set_file(self.file.try_clone().ok().map(Arc::new));
            // Not for a file made ahead with its pages ready: waking the
            // pretoucher in the append that rolls costs that append the
            // processor (populate asks for it when the writer gets there).
            if self.populated < self.pos + self.ahead {
                p.request(self.pos + self.ahead);
            }
        }
        self.pretouch = p;
    }

    /// Reserve more of the file: doubling while space is plentiful, only
    /// what is needed (in 1 MiB steps) once the reserve would take more than
    /// a quarter of the file system's free space, so that a nearly full
    /// disk is shared between streams rather than taken by the first to
    /// grow. (On ENOSPC, `ensure` gives back the reserve past the written
    /// bytes before it returns the error.)
    #[cold]
    fn grow(&mut self, need: usize) -> Result<()> {
        let cur = self.map.len();
        // A quiet stream grows by what it reaches ahead, a busy one by at
        // least 1 MiB, doubling up to 256 MiB.
        let step = cur.clamp(self.ahead.min(INITIAL_CAPACITY), MAX_GROWTH);
        let mut cap = cur + step;
        while cap < need {
            cap += step;
        }
        let minimal = need.next_multiple_of(INITIAL_CAPACITY);
        if free_bytes(&self.file).is_some_and(|free| (cap - cur) as u64 > free / 4) {
            cap = minimal;
        }
        let cap = cap.next_multiple_of(4096);
        let r = reserve(&self.file, &self.path, cap, &*self.fs).or_else(|e| {
            if cap > minimal && is_enospc(&e) {
                reserve(&self.file, &self.path, minimal, &*self.fs)
            } else {
                Err(e)
            }
        });
        r?;
        self.map = map(&self.file, &self.path)?;
        self.populated = 0;
        Ok(())
    }

    /// Cut the file to the page after the written bytes (the frames and
    /// the zero length word after them), freeing its reserve. Best effort.
    #[cold]
    fn give_back(&mut self) {
        let keep = (self.pos + 8).next_multiple_of(4096);
        if keep >= self.map.len() {
            return;
        }
        if self.fs.before("truncate", &self.path).is_ok() && self.file.set_len(keep as u64).is_ok()
        {
            if let Ok(m) = map(&self.file, &self.path) {
                self.map = m;
                self.populated = 0;
            }
        }
    }

    #[inline]
    fn publish(&self, pos: usize, frame_len: u32) {
        // `pos` is 8-aligned and `ensure` keeps at least 8 bytes after it
        // mapped.
        self.map.word(pos).store(frame_len, Ordering::Release);
    }

    /// Append one record; the caller has checked the payload size.
    #[inline]
    pub fn append(&mut self, ts: i64, payload: &[u8]) -> Result<()> {
        let size = format::frame_size(payload.len());
        let pos = self.pos;
        self.ensure(pos + size)?;
        if self.count.is_multiple_of(INDEX_STRIDE as u64) {
            self.index.push(IndexEntry {
                offset: pos as u64,
                max_ts_before: self.running_max,
            });
        }
        let frame_len = format::encode_frame_body(self.map.bytes_mut(pos, pos + size), ts, payload);
        self.publish(pos, frame_len);
        self.pos = pos + size;
        self.count += 1;
        self.min_ts = self.min_ts.min(ts);
        self.max_ts = self.max_ts.max(ts);
        self.running_max = self.running_max.max(ts);
        Ok(())
    }

    /// fsync what has been written (data and the file size), and the
    /// folder once, so that the file's name survives a power loss too.
    pub fn sync(&mut self, syncer: &dyn SyncFile) -> std::io::Result<()> {
        if self.synced < self.pos {
            syncer.sync(&self.file, true)?;
            self.synced = self.pos;
        }
        if !self.dir_synced {
            if let Some(dir) = self.path.parent() {
                syncer.sync(&File::open(dir)?, false)?;
            }
            self.dir_synced = true;
        }
        Ok(())
    }

    /// Seal: write the footer, publish the end marker, fsync, cut the
    /// preallocated tail, fsync, rename to `.log`, fsync the folder.
    /// Returns the sealed path.
    pub fn seal(mut self, dir: &Path, syncer: &dyn SyncFile) -> Result<PathBuf> {
        if let Some(p) = self.pretouch.take() {
            p.set_file(None);
        }
        self.seal_detached(dir, syncer)
    }

    /// Let go of the pretoucher without telling it (the next file takes
    /// it over), so that the file can be sealed on another thread.
    pub fn detach(&mut self) {
        self.pretouch = None;
    }

    /// [`ActiveFile::seal`] of a file whose pretoucher is detached.
    pub fn seal_detached(mut self, dir: &Path, syncer: &dyn SyncFile) -> Result<PathBuf> {
        let footer = Footer {
            record_count: self.count,
            min_ts: self.min_ts,
            max_ts: self.max_ts,
            index_stride: INDEX_STRIDE,
            index: std::mem::take(&mut self.index),
        };
        let at = self.pos;
        let bytes = footer.encode(at as u64);
        self.ensure(at + bytes.len())?;
        self.map
            .bytes_mut(at + 4, at + bytes.len())
            .copy_from_slice(&bytes[4..]);
        self.publish(at, END_MARKER);
        let end = at + bytes.len();
        // fdatasync writes back the pages dirtied through the map.
        syncer.sync(&self.file, true).at("sync", &self.path)?;
        drop(self.map);
        sync::truncate(syncer, &self.file, &self.path, end as u64)?;
        syncer.sync(&self.file, false).at("sync", &self.path)?;
        let sealed = crate::files::sealed_path(dir, self.header.interval_start_ns);
        sync::rename(syncer, &self.path, &sealed)?;
        sync_dir_with(dir, syncer)?;
        Ok(sealed)
    }
}

/// Zero `[from, to)` of `file` with positioned writes (used by recovery to
/// clear a torn tail before appending over it).
pub(crate) fn zero_range(file: &File, path: &Path, from: usize, to: usize) -> Result<()> {
    let zeros = vec![0u8; 1 << 16];
    let mut p = from;
    while p < to {
        let n = (to - p).min(zeros.len());
        file.write_all_at(&zeros[..n], p as u64).at("write", path)?;
        p += n;
    }
    file.sync_data().at("sync", path)
}
