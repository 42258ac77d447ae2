//! The stable-Rust driver: mutations of real seed inputs (bit flips,
//! random bytes, interesting integers, cuts, deletions, duplications,
//! splices), after the kept regressions.

use eventstore_testkit::Rng;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A mutation of `seed`: one to six edits, or (one time in twenty) random
/// bytes.
pub fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut b = seed.to_vec();
    if rng.below(20) == 0 {
        let n = rng.index(512);
        return (0..n).map(|_| rng.next() as u8).collect();
    }
    for _ in 0..1 + rng.below(6) {
        if b.is_empty() {
            b.push(rng.next() as u8);
            continue;
        }
        let at = rng.index(b.len());
        match rng.below(8) {
            0 => b[at] ^= 1 << rng.below(8),
            1 => b[at] = rng.next() as u8,
            2 => {
                const INTERESTING: [u64; 8] =
                    [0, 1, 0x7f, 0xff, 0xffff, 0xffff_ffff, 1 << 31, u64::MAX];
                let v = INTERESTING[rng.index(8)].to_le_bytes();
                let n = [1, 2, 4, 8][rng.index(4)].min(b.len() - at);
                b[at..at + n].copy_from_slice(&v[..n]);
            }
            3 => b.truncate(at),
            4 => {
                let end = (at + rng.index(64)).min(b.len());
                b.drain(at..end);
            }
            5 => {
                let end = (at + rng.index(64)).min(b.len());
                let dup: Vec<u8> = b[at..end].to_vec();
                let to = rng.index(b.len());
                b.splice(to..to, dup);
            }
            6 => {
                let n = rng.index(16);
                let ins: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                b.splice(at..at, ins);
            }
            _ => {
                // The bytes of another offset of the seed.
                let other = seed.get(rng.index(seed.len())..).unwrap_or(&[]);
                let n = other.len().min(b.len() - at).min(32);
                b[at..at + n].copy_from_slice(&other[..n]);
            }
        }
    }
    b
}

/// The folder of the kept crashing inputs of `target`.
pub(crate) fn regressions_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("regressions")
        .join(target)
}

/// The kept inputs that once made `target` fail.
pub fn regressions(target: &str) -> Vec<Vec<u8>> {
    let Ok(rd) = std::fs::read_dir(regressions_dir(target)) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    paths.sort();
    paths.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

/// Run `target` on its kept regressions, then on mutations of its seeds:
/// `default_inputs` of them, or for `EVENTSTORE_FUZZ_SECS` seconds when
/// that is set. Returns how many inputs were tried (0 when the target has
/// no seeds: its real data is absent). A panicking input is saved under
/// `target/fuzz-crashes/` and the panic names the file and shows the
/// input in hex.
pub fn run(target: &str, default_inputs: u64) -> u64 {
    let seeds = crate::seeds(target);
    if seeds.is_empty() {
        eprintln!("{target}: no seed inputs (the real data is absent): skipped");
        return 0;
    }
    let check = |input: &[u8]| {
        if catch_unwind(AssertUnwindSafe(|| crate::run_one(target, input))).is_err() {
            let dir = eventstore_testkit::target_dir().join("fuzz-crashes");
            let _ = std::fs::create_dir_all(&dir);
            let path = dir.join(format!("{target}-{:08x}.bin", crc32c::crc32c(input)));
            let _ = std::fs::write(&path, input);
            let hex: String = input.iter().take(256).map(|b| format!("{b:02x}")).collect();
            panic!(
                "{target}: failed on {} bytes (saved as {}; keep it in {}): {hex}",
                input.len(),
                path.display(),
                regressions_dir(target).display()
            );
        }
    };
    let kept = regressions(target);
    for r in &kept {
        check(r);
    }
    let kept = kept.len();
    let secs = std::env::var("EVENTSTORE_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map(Duration::from_secs);
    let n = if secs.is_some() {
        u64::MAX
    } else {
        default_inputs
    };
    let started = Instant::now();
    let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15 ^ crc32c::crc32c(target.as_bytes()) as u64);
    let mut tried = 0u64;
    while tried < n && secs.is_none_or(|s| started.elapsed() < s) {
        let seed = &seeds[rng.index(seeds.len())];
        let mut input = mutate(&mut rng, seed);
        for _ in 0..rng.below(3) {
            input = mutate(&mut rng, &input);
        }
        check(&input);
        tried += 1;
    }
    eprintln!(
        "{target}: {kept} kept regressions and {tried} generated inputs in {:.1} s, no failure",
        started.elapsed().as_secs_f64()
    );
    tried
}
