//! The writer's background work: the seal of a file it rolled away from
//! and the conversion of sealed files into compact files, on a thread of
//! their own, behind the appends, in the order they were handed over.
//!
//! A seal done here is the same seal as in the appending thread (footer,
//! end marker, fsync, cut, rename, folder fsync); until it is done the file
//! is still `.log.open`, which a crash leaves to recovery to seal (it seals
//! every open file but the last). A failed seal poisons the writer, as it
//! would in the appending thread.

use super::convert::{compact_held, Hold};
use super::CompactOptions;
use crate::active::{spare_name, ActiveFile, Spare};
use crate::sync::SyncFile;
use crate::writer::SealedFile;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// What a writer's background conversion has done so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompactionReport {
    /// Files converted (files whose compact form would not be smaller are
    /// counted in `kept`).
    pub files: u64,
    pub kept: u64,
    pub records: u64,
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// Conversions that failed (the file stays as it was, readable):
    /// the file and the error.
    pub errors: Vec<String>,
}

pub(crate) enum Work {
    /// Seal a file the writer rolled away from (its pretoucher detached),
    /// make it compact when `hold` is given, then announce it.
    Seal {
        active: Box<ActiveFile>,
        hold: Option<Hold>,
        subscribers: Vec<Sender<SealedFile>>,
    },
    /// Make a sealed file compact, then announce `event` if any.
    Compact {
        path: PathBuf,
        hold: Hold,
        event: Option<SealedFile>,
        subscribers: Vec<Sender<SealedFile>>,
    },
    /// Answered once everything handed over before it is done.
    Flush(Sender<()>),
    /// Make the stream's next file ahead of its interval (a [`Spare`]),
    /// for a stream whose last file took `hint` bytes, unless one is ready.
    Prepare { hint: Option<usize> },
}

/// Pending seals and conversions a writer may hand over before its
/// appends wait for the worker (memory stays bounded).
const QUEUE: usize = 4;

#[derive(Default)]
struct Shared {
    report: Mutex<CompactionReport>,
    /// A seal failed: the writer is poisoned.
    failed: AtomicBool,
    /// What the failed seal said.
    error: Mutex<Option<String>>,
    /// The stream's next file, made ahead.
    spare: Mutex<Option<Spare>>,
}

pub(crate) struct Worker {
    tx: Option<SyncSender<Work>>,
    handle: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
}

impl Worker {
    /// Start the thread of the stream in `dir`; `None` if it can not be
    /// started (the writer then does the work itself).
    pub fn start(
        dir: PathBuf,
        syncer: Arc<dyn SyncFile>,
        compact: Option<CompactOptions>,
    ) -> Option<Worker> {
        let (tx, rx) = mpsc::sync_channel::<Work>(QUEUE);
        let shared = Arc::new(Shared::default());
        let sh = shared.clone();
        let handle = std::thread::Builder::new()
            .name("eventstore-seal".into())
            .spawn(move || {
                let notifier = crate::notify::Notifier::open(&dir).ok();
                let notify = || {
                    if let Some(n) = &notifier {
                        n.notify_always();
                    }
                };
                // Spares made so far: each gets its own name.
                let mut spares = 0u64;
                for work in rx {
                    match work {
                        Work::Flush(done) => {
                            let _ = done.send(());
                        }
                        Work::Prepare { hint } => {
                            // Made outside the lock: the writer that rolls
                            // meanwhile never waits for it. One that can
                            // not be made is no error: the writer creates
                            // the file when it rolls.
                            let ready =
                                sh.spare.lock().unwrap_or_else(|p| p.into_inner()).is_some();
                            if !ready {
                                spares += 1;
                                let made = Spare::create(
                                    dir.join(spare_name(spares)),
                                    syncer.clone(),
                                    hint,
                                    true,
                                )
                                .ok();
                                *sh.spare.lock().unwrap_or_else(|p| p.into_inner()) = made;
                            }
                        }
                        Work::Seal {
                            active,
                            hold,
                            subscribers,
                        } => {
                            let (start_ns, first_seq, records) = (
                                active.header.interval_start_ns,
                                active.header.first_seq,
                                active.count,
                            );
                            let path = match active.seal_detached(&dir, &*syncer) {
                                Ok(p) => p,
                                Err(e) => {
                                    *sh.error.lock().unwrap_or_else(|p| p.into_inner()) =
                                        Some(e.to_string());
                                    sh.failed.store(true, Ordering::Release);
                                    continue;
                                }
                            };
                            notify();
                            if let (Some(opts), Some(hold)) = (&compact, hold) {
                                convert(&sh, &path, opts, hold);
                                notify();
                            }
                            let ev = SealedFile {
                                path,
                                start_ns,
                                first_seq,
                                records,
                            };
                            for s in &subscribers {
                                let _ = s.send(ev.clone());
                            }
                        }
                        Work::Compact {
                            path,
                            hold,
                            event,
                            subscribers,
                        } => {
                            if let Some(opts) = &compact {
                                convert(&sh, &path, opts, hold);
                                notify();
                            }
                            if let Some(ev) = event {
                                for s in &subscribers {
                                    let _ = s.send(ev.clone());
                                }
                            }
                        }
                    }
                }
            })
            .ok()?;
        Some(Worker {
            tx: Some(tx),
            handle: Some(handle),
            shared,
        })
    }

    /// Hand work over (waiting while the queue is full); `Err(work)` when
    /// the thread is gone.
    pub fn submit(&self, work: Work) -> std::result::Result<(), Box<Work>> {
        match &self.tx {
            Some(tx) => tx.send(work).map_err(|e| Box::new(e.0)),
            None => Err(Box::new(work)),
        }
    }

    /// Ask for the stream's next file to be made ahead (skipped when the
    /// queue is full: the writer then creates it when it rolls).
    pub fn prepare(&self, hint: Option<usize>) {
        if let Some(tx) = &self.tx {
            let _ = tx.try_send(Work::Prepare { hint });
        }
    }

    /// The next file, if one was made ahead.
    pub fn take_spare(&self) -> Option<Spare> {
        match self.shared.spare.try_lock() {
            Ok(mut s) => s.take(),
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner().take(),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// Wait until everything handed over so far is done.
    pub fn flush(&self) {
        let (tx, rx) = mpsc::channel();
        if self.submit(Work::Flush(tx)).is_ok() {
            let _ = rx.recv();
        }
    }

    /// A seal on this thread failed.
    #[inline]
    pub fn failed(&self) -> bool {
        self.shared.failed.load(Ordering::Acquire)
    }

    /// What the failed seal said, if one failed.
    pub fn error(&self) -> Option<String> {
        self.shared
            .error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn report(&self) -> CompactionReport {
        self.shared
            .report
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Finish everything handed over, and stop the thread.
    pub fn finish(&mut self) {
        self.tx = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        if let Some(s) = self.take_spare() {
            s.discard();
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.finish();
    }
}

fn convert(sh: &Shared, path: &std::path::Path, opts: &CompactOptions, hold: Hold) {
    let r = compact_held(path, opts, hold);
    let mut rep = sh.report.lock().unwrap_or_else(|e| e.into_inner());
    match r {
        Ok(Some(c)) if c.replaced => {
            rep.files += 1;
            rep.records += c.records;
            rep.bytes_before += c.bytes_before;
            rep.bytes_after += c.bytes_after;
        }
        Ok(_) => rep.kept += 1,
        Err(e) => rep.errors.push(format!("{}: {e}", path.display())),
    }
}
