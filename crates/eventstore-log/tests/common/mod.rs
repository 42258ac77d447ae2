//! Helpers shared by the integration tests: deterministic payloads and
//! re-running this test binary as a child process.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};

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

/// Start this test binary again, running only the test `name`, with the
/// environment `env`; its stdout is piped.
pub fn spawn_child(name: &str, env: &[(&str, String)]) -> Child {
    let exe = std::env::current_exe().expect("test binary path");
    let mut c = Command::new(exe);
    c.args(["--exact", name, "--nocapture", "--test-threads", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in env {
        c.env(k, v);
    }
    c.spawn().expect("spawn child")
}

/// Kills the child when dropped, so a failing test leaves no process behind.
pub struct KillOnDrop(pub Child);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[allow(unused_imports)]
pub use eventstore_testkit::Rng;
