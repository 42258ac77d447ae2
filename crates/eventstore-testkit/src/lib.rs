//! What the tests and benchmarks of every crate share: where the real
//! market recordings are, a small seeded random number generator, child
//! processes (the test binary again, killed when dropped), free loopback
//! ports, and a process's threads and memory as the kernel counts them.
//! Dev-only: nothing the product ships depends on it.

#![deny(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The environment variable that points at the real recordings.
pub const MARKET_DATA_VAR: &str = "EVENTSTORE_MARKET_DATA";

/// The shared folder of real market recordings (`../shared/data/market`
/// beside the repository, or `$EVENTSTORE_MARKET_DATA`). Absent on a
/// user's machine, the caller skips (this says so on stderr); under
/// `CI=true` its absence panics, so that CI never passes by skipping.
pub fn market_data() -> Option<PathBuf> {
    let p = std::env::var_os(MARKET_DATA_VAR)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/market")
        });
    if p.is_dir() {
        return Some(p);
    }
    assert!(
        std::env::var("CI").map_or(true, |v| v != "true"),
        "market data not found at {} (set {MARKET_DATA_VAR})",
        p.display()
    );
    eprintln!("skipping: market data not found at {}", p.display());
    None
}

/// The repository's `target/` folder (for files a test keeps, such as a
/// crashing input).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

/// A small deterministic random number generator (xorshift64): the same
/// seed gives the same sequence, so a failing case can be replayed.
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

impl Rng {
    /// A generator from `seed` (zero is replaced: xorshift would stay 0).
    pub fn new(seed: u64) -> Rng {
        Rng(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }
    /// The next 64 random bits.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Uniform in `[0, n)` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// A fair coin.
    pub fn coin(&mut self) -> bool {
        self.next() & 1 == 1
    }
    /// Uniform index in `[0, n)`.
    pub fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }
}

/// Start the running test binary again, running only the test `name`,
/// with the environment `env`; its stdout is piped. (A crash test's
/// writer runs in such a child, so that `kill -9` kills only it.)
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

/// A free loopback port (bound, then released for a server to take).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A field of `/proc/<pid>/status` (the number before any unit).
fn proc_status(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// The threads of a process.
pub fn threads(pid: u32) -> u64 {
    proc_status(pid, "Threads:")
}

/// The anonymous resident memory of a process in KiB (heap and stacks;
/// not mapped files, which the kernel may drop and read again).
pub fn rss_anon_kib(pid: u32) -> u64 {
    proc_status(pid, "RssAnon:")
}

/// A runtime of two workers with timers and I/O, as the tests' clients use.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}
