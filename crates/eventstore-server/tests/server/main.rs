//! The server's integration tests over real sockets, in one binary.

mod common;
mod order_book_subscription;
mod service;
