//! The writer's background conversion: each file it seals becomes compact
//! on a thread of its own, behind the appends.

use super::convert::{compact_held, Hold};
use super::CompactOptions;
use crate::writer::SealedFile;
use std::path::PathBuf;
use std::sync::mpsc::{self, Sender};
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

pub(crate) struct Job {
    pub path: PathBuf,
    pub hold: Hold,
    /// Sent once the file is in its final form.
    pub event: Option<SealedFile>,
    pub subscribers: Vec<Sender<SealedFile>>,
}

enum Msg {
    Job(Box<Job>),
    /// Answered once every job queued before it is done.
    Flush(Sender<()>),
}

pub(crate) struct Compactor {
    tx: Option<Sender<Msg>>,
    handle: Option<JoinHandle<()>>,
    report: Arc<Mutex<CompactionReport>>,
}

impl Compactor {
    pub fn start(dir: PathBuf, opts: CompactOptions) -> Compactor {
        let (tx, rx) = mpsc::channel::<Msg>();
        let report = Arc::new(Mutex::new(CompactionReport::default()));
        let rep = report.clone();
        let handle = std::thread::Builder::new()
            .name("eventstore-compact".into())
            .spawn(move || {
                let notifier = crate::notify::Notifier::open(&dir).ok();
                for msg in rx {
                    let job = match msg {
                        Msg::Job(j) => j,
                        Msg::Flush(done) => {
                            let _ = done.send(());
                            continue;
                        }
                    };
                    let job = *job;
                    let r = compact_held(&job.path, &opts, job.hold);
                    {
                        let mut rep = rep.lock().unwrap_or_else(|e| e.into_inner());
                        match r {
                            Ok(Some(c)) if c.replaced => {
                                rep.files += 1;
                                rep.records += c.records;
                                rep.bytes_before += c.bytes_before;
                                rep.bytes_after += c.bytes_after;
                            }
                            Ok(_) => rep.kept += 1,
                            Err(e) => rep.errors.push(format!("{}: {e}", job.path.display())),
                        }
                    }
                    if let Some(n) = &notifier {
                        n.notify_always();
                    }
                    if let Some(ev) = job.event {
                        for s in &job.subscribers {
                            let _ = s.send(ev.clone());
                        }
                    }
                }
            })
            .ok();
        Compactor {
            tx: handle.as_ref().map(|_| tx),
            handle,
            report,
        }
    }

    /// Queue a conversion; false when the thread could not start (the
    /// file then stays as written).
    pub fn submit(&self, job: Job) -> bool {
        self.tx
            .as_ref()
            .is_some_and(|tx| tx.send(Msg::Job(Box::new(job))).is_ok())
    }

    /// Wait until every job queued so far is done.
    pub fn flush(&self) {
        let (tx, rx) = mpsc::channel();
        if let Some(t) = &self.tx {
            if t.send(Msg::Flush(tx)).is_ok() {
                let _ = rx.recv();
            }
        }
    }

    pub fn report(&self) -> CompactionReport {
        self.report
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Finish the queued conversions.
    pub fn finish(&mut self) {
        self.tx = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Compactor {
    fn drop(&mut self) {
        self.finish();
    }
}
