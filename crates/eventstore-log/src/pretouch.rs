//! A helper thread that faults in the pages ahead of the writer.
//!
//! Writing through a memory map costs a page fault (a trap, a page
//! allocation, zeroing) on the first touch of every page. The pretoucher
//! takes that cost off the writer's thread: through a mapping of its own it
//! asks the kernel to populate the page cache a few MiB ahead of the write
//! position, so the writer's own populate calls find the pages ready.
//! Chronicle Queue does the same. Populating never changes file contents and
//! fails harmlessly past the end of the file.

use crate::mmap::WriteMap;
use memmap2::Advice;
use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// How far ahead of the writer pages are made ready.
pub const AHEAD: usize = 8 << 20;
const STEP: usize = 128 << 10;

struct Shared {
    /// The file being written, and a generation counter bumped per file.
    file: Mutex<(Option<Arc<File>>, u64)>,
    /// Populate up to this offset.
    want: AtomicUsize,
    stop: AtomicBool,
}

pub(crate) struct Pretoucher {
    shared: Arc<Shared>,
    handle: Option<JoinHandle<()>>,
    generation: AtomicU64,
}

impl Pretoucher {
    /// Start the thread; None if it can not be started (writing works without it).
    pub fn start() -> Option<Pretoucher> {
        let shared = Arc::new(Shared {
            file: Mutex::new((None, 0)),
            want: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        let handle = std::thread::Builder::new()
            .name("eventstore-pretouch".into())
            .spawn(move || run(&s))
            .ok()?;
        Some(Pretoucher {
            shared,
            handle: Some(handle),
            generation: AtomicU64::new(0),
        })
    }

    /// Switch to a new file.
    pub fn set_file(&self, file: Option<Arc<File>>) {
        let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        let mut g = self.shared.file.lock().unwrap_or_else(|e| e.into_inner());
        *g = (file, generation);
        self.shared.want.store(0, Ordering::Release);
    }

    /// Ask for pages up to `to` to be made ready.
    pub fn request(&self, to: usize) {
        self.shared.want.store(to, Ordering::Release);
        if let Some(h) = &self.handle {
            h.thread().unpark();
        }
    }
}

impl Drop for Pretoucher {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(h) = self.handle.take() {
            h.thread().unpark();
            let _ = h.join();
        }
    }
}

fn run(s: &Shared) {
    let mut map: Option<WriteMap> = None;
    let mut generation = 0;
    let mut done = 0usize;
    while !s.stop.load(Ordering::Acquire) {
        std::thread::park();
        let want = s.want.load(Ordering::Acquire);
        let file = {
            let g = s.file.lock().unwrap_or_else(|e| e.into_inner());
            if g.1 != generation {
                generation = g.1;
                map = None;
                done = 0;
            }
            g.0.clone()
        };
        let Some(file) = file else { continue };
        while done < want && !s.stop.load(Ordering::Acquire) {
            let len = file.metadata().map(|m| m.len() as usize).unwrap_or(0);
            if map.as_ref().is_none_or(|m| m.len() < len.min(want)) {
                // A shared mapping used only to populate pages: it never
                // reads or writes their contents.
                map = WriteMap::new(&file, Path::new("the open file"), Some(len)).ok();
            }
            let Some(m) = &map else { break };
            let end = (done + STEP).min(want).min(m.len());
            if end <= done {
                break;
            }
            let from = done / 4096 * 4096;
            if m.advise_range(Advice::PopulateWrite, from, end - from)
                .is_err()
            {
                break;
            }
            done = end;
        }
    }
}
