//! Cross-process wake-ups between a stream's writer and its followers.
//!
//! Each stream folder holds a small `.notify` file that every party maps. It
//! holds two 32-bit words: an event counter and a count of waiting
//! followers. A follower that finds nothing new registers as a waiter,
//! re-checks, and sleeps on the counter (a futex on Linux, shared between
//! processes through the file's pages). The writer, after publishing
//! records, bumps the counter and wakes sleepers only when some are
//! registered, so an append costs one load when nobody waits. Sleeps are
//! bounded, so a lost wake-up costs at most the timeout.

use crate::error::{IoContext, Result};
use crate::mmap::WriteMap;
use std::fs::OpenOptions;
use std::path::Path;
use std::sync::atomic::{fence, AtomicU32, Ordering};
use std::time::Duration;

/// The name of the notification file in a stream folder.
pub const NOTIFY_FILE: &str = ".notify";
const NOTIFY_LEN: u64 = 64;

/// A mapped `.notify` file.
pub(crate) struct Notifier {
    map: WriteMap,
}

impl Notifier {
    /// Map (creating if needed) the notification file of the stream folder `dir`.
    pub fn open(dir: &Path) -> Result<Notifier> {
        let path = dir.join(NOTIFY_FILE);
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .at("open", &path)?;
        if f.metadata().at("stat", &path)?.len() < NOTIFY_LEN {
            f.set_len(NOTIFY_LEN).at("extend", &path)?;
        }
        // The file is never shrunk below NOTIFY_LEN; its words are only
        // accessed atomically.
        let map = WriteMap::new(&f, &path, Some(NOTIFY_LEN as usize))?;
        Ok(Notifier { map })
    }

    fn word(&self, i: usize) -> &AtomicU32 {
        self.map.word(i * 4)
    }

    fn counter(&self) -> &AtomicU32 {
        self.word(0)
    }

    fn waiters(&self) -> &AtomicU32 {
        self.word(1)
    }

    /// Writer side: wake followers after publishing, if any wait.
    #[inline]
    pub fn notify(&self) {
        fence(Ordering::SeqCst);
        if self.waiters().load(Ordering::Relaxed) != 0 {
            self.notify_always();
        }
    }

    /// Bump the counter and wake every sleeper, waiting or not (used for
    /// rare events such as sealing a file).
    pub fn notify_always(&self) {
        self.counter().fetch_add(1, Ordering::SeqCst);
        futex_wake(self.counter());
    }

    /// Follower side: sleep until notified or `timeout`, unless `ready`
    /// (checked after registering as a waiter) already finds work.
    pub fn wait_unless(&self, timeout: Duration, ready: impl FnOnce() -> bool) {
        self.waiters().fetch_add(1, Ordering::SeqCst);
        let seen = self.counter().load(Ordering::SeqCst);
        if !ready() {
            futex_wait(self.counter(), seen, timeout);
        }
        self.waiters().fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(target_os = "linux")]
fn futex_wait(word: &AtomicU32, expected: u32, timeout: Duration) {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: FUTEX_WAIT on a valid, aligned u32 in shared memory with a
    // relative timeout; it only reads the word. Not FUTEX_PRIVATE: the word
    // is shared between processes.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            &ts as *const libc::timespec,
        );
    }
}

#[cfg(target_os = "linux")]
fn futex_wake(word: &AtomicU32) {
    // SAFETY: FUTEX_WAKE on a valid, aligned u32; wakes all sleepers.
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, i32::MAX);
    }
}

#[cfg(not(target_os = "linux"))]
fn futex_wait(word: &AtomicU32, expected: u32, timeout: Duration) {
    // Portable fallback: a short bounded sleep.
    if word.load(Ordering::SeqCst) == expected {
        std::thread::sleep(timeout.min(Duration::from_millis(1)));
    }
}

#[cfg(not(target_os = "linux"))]
fn futex_wake(_word: &AtomicU32) {}
