//! The market crate's integration tests, in one binary (one link instead of three).

mod book_at_equals_replay;
mod common;
mod compact_files;
mod order_books;
mod replay;
mod trades_import;
mod venues;
