//! The rolling append-only log at the core of EventStore.
//!
//! A *stream* is a folder of files that roll over at a fixed UTC interval
//! (minutely, hourly, daily, or any interval dividing a day). Each record is
//! a payload of 0 to 64 MiB with a nanosecond timestamp and a CRC-32C;
//! sequence numbers are global to the stream and continue across files.
//! Sealed files end with a footer holding a sparse index by sequence and
//! time, and are never modified again.
//!
//! Modules:
//! - [`format`](mod@format): the on-disk codec (pure, no I/O), described in `docs/format.md`.
//! - `writer`: [`StreamWriter`], durability modes, rolling, sealing;
//!   `recovery`: what opening a stream after a crash does ([`RecoveryReport`]);
//!   `sync`: [`SyncFile`], the file-system seam tests fail.
//! - `reader`: [`StreamReader`], reading by sequence or time, bounded or following.
//! - `info`: [`stream_info`]; `verify`: [`verify_stream`]; `retain`: [`retain`];
//!   `watch`: [`SealWatcher`].
//! - `mmap`: every memory map and the atomic view of a mapped word (see `UNSAFE.md`).
//! - [`time`]: roll intervals and UTC timestamps; [`clock`]: the injectable clock.
//!
//! ```no_run
//! use eventstore_log::*;
//! let root = std::path::Path::new("/data");
//! let name = StreamName::new("binance/btcusdt/trades")?;
//! let mut w = StreamWriter::open(root, &name, WriterOptions::default().roll(RollInterval::MINUTELY))?;
//! w.append(b"first")?;
//! w.append_at(1_723_161_240_000_000_000, b"with an event time")?;
//! drop(w);
//! let mut r = StreamReader::open(root, &name, ReadOptions::from(StartAt::Seq(1)))?;
//! while let Some(rec) = r.next()? {
//!     println!("{} {} {:?}", rec.seq, rec.timestamp, rec.payload);
//! }
//! # Ok::<(), eventstore_log::Error>(())
//! ```
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod active;
pub mod clock;
pub mod compact;
mod error;
pub mod files;
pub mod floor;
pub mod format;
mod info;
mod lock;
mod mmap;
mod name;
mod notify;
mod options;
mod pretouch;
mod reader;
mod recovery;
mod retain;
mod segment;
mod sync;
pub mod time;
mod verify;
mod watch;
mod writer;

pub use clock::{Clock, ManualClock, SystemClock};
pub use compact::{compact_file, compact_stream, CompactOptions, Compacted, CompactionReport};
pub use error::{Error, Result};
pub use files::{list_streams, FileEntry};
pub use format::Form;
pub use info::{file_info, stream_info, FileInfo, StreamInfo};
pub use lock::{lock_file, LOCK_FILE};
pub use name::StreamName;
pub use reader::{OwnedRecord, ReadOptions, Record, StartAt, StopAt, StreamReader};
pub use recovery::RecoveryReport;
pub use retain::{retain, RetentionPolicy};
pub use segment::read_header;
pub use sync::{OsSync, SyncFile};
pub use time::RollInterval;
pub use verify::{verify_bytes, verify_file, verify_stream, FileReport, FileStatus};
pub use watch::SealWatcher;
pub use writer::{Durability, RollBy, SealedFile, StreamWriter, WriterOptions};
