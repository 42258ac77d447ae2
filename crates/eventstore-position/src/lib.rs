//! Where a read of a stream starts and where it stops.
//!
//! The log reads with these, the wire protocol carries them and the client
//! takes them; they live here so that the client need not compile the log
//! and the log need not know the protocol, with one definition for all.

#![deny(unsafe_code)]
#![deny(missing_docs)]

/// Where reading starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartAt {
    /// The first record still stored.
    Beginning,
    /// The record with this sequence number, or the first after it.
    Seq(u64),
    /// The first record whose timestamp (ns since the epoch) is at least this.
    Time(i64),
    /// After the last record written so far: only new records.
    End,
}

/// Where reading stops; the bound itself is not read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopAt {
    /// Before the record with this sequence number.
    Seq(u64),
    /// Before the first record whose timestamp (ns since the epoch) is at
    /// least this.
    Time(i64),
}
