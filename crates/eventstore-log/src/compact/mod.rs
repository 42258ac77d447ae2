//! Compact files: a sealed file's records in blocks, each encoded by a
//! codec for what it holds, with a block index in the footer.
//!
//! A file is written as frames (`crate::format`); once sealed it may be
//! converted ([`compact_file`], [`compact_stream`], or the writer's own
//! background work with [`crate::WriterOptions::compact`]). The compact
//! file holds the same records, bit for bit, under the same name: the
//! conversion writes `<file>.compact.tmp`, checks that every block decodes
//! to the records it was made from, syncs it and renames it over the
//! sealed file. A reader that has the old file open keeps reading it; a
//! crash at any point leaves either the old file or the new one. Readers
//! serve both forms (`StreamReader`, `verify`, `info`, retention).
//!
//! Modules: [`format`](mod@format) (the bytes), [`codec`] (block codecs
//! and the codecs a process knows), [`varint`] (the integer columns
//! codecs share).

pub(crate) mod background;
pub mod codec;
pub(crate) mod convert;
pub(crate) mod file;
pub mod format;
pub mod varint;

pub use background::CompactionReport;
pub use codec::{register, BlockCodec, Decoded};
pub use convert::{compact_file, compact_stream, is_converting, CompactOptions, Compacted};
pub use file::RawBlocks;
