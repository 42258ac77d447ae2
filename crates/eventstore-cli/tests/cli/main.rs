//! The `eventstore` binary as a user runs it, in one test binary.

mod commands;
mod record;
mod serve;
