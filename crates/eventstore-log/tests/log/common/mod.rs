//! Helpers shared by the integration tests: deterministic payloads and
//! re-running this test binary as a child process.
#![allow(dead_code)]

pub const SEC: i64 = 1_000_000_000;
/// 2024-08-08T23:54:00Z
pub const T0: i64 = 1_723_161_240 * SEC;

/// The payload of record `seq`, so that any reader can check any record.
pub fn payload(seq: u64) -> Vec<u8> {
    let len = if seq.is_multiple_of(97) {
        300_000
    } else {
        (seq as usize * 7) % 200
    };
    (0..len)
        .map(|i| (seq as usize).wrapping_mul(131).wrapping_add(i) as u8)
        .collect()
}

#[allow(unused_imports)]
pub use eventstore_testkit::Rng;
#[allow(unused_imports)]
pub use eventstore_testkit::{spawn_child, KillOnDrop};
