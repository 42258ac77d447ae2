//! A nearly full file system, for real: a 48 MiB tmpfs mounted for the
//! test (needs root; skipped elsewhere, required under `CI=true`).

use eventstore_log::*;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const SEC: i64 = 1_000_000_000;
const T0: i64 = 1_723_161_240 * SEC;

/// A tmpfs of `mib` MiB, unmounted when dropped.
struct SmallFs {
    dir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl SmallFs {
    fn mount(mib: u64) -> Option<SmallFs> {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("fs");
        std::fs::create_dir(&dir).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("cannot mount a tmpfs (the test needs root)");
            }
            eprintln!("skipping: cannot mount a tmpfs (the test needs root)");
            return None;
        }
        Some(SmallFs { dir, _tmp: tmp })
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.dir).status();
    }
}

/// Bytes a file takes on disk.
fn allocated(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().blocks() * 512
}

fn writer(root: &Path, name: &str) -> StreamWriter {
    let opts = WriterOptions::default()
        .roll(RollInterval::HOURLY)
        .clock(Arc::new(ManualClock::new(T0)));
    StreamWriter::open(root, &StreamName::new(name).unwrap(), opts).unwrap()
}

#[test]
fn near_a_full_disk_preallocation_backs_off_and_gives_its_reserve_back() {
    let Some(fs) = SmallFs::mount(48) else { return };
    let root = fs.dir.join("root");
    // 17 MiB that the operator will free later.
    let filler = fs.dir.join("filler");
    std::fs::write(&filler, vec![1u8; 17 << 20]).unwrap();
    let mut a = writer(&root, "a");
    let record = vec![7u8; 64 << 10];
    let mut acked = 0u64;
    let err = loop {
        match a.append(&record) {
            Ok(seq) => {
                assert_eq!(seq, acked);
                acked += 1;
            }
            Err(e) => break e,
        }
        assert!(acked < 10_000, "the disk never filled");
    };
    assert!(err.to_string().contains("No space left"), "{err}");
    let open = files::list_files(&root.join("a")).unwrap()[0].path.clone();
    let data = acked * (64 << 10) + acked * 16;
    // The reserve beyond the written records was given back.
    assert!(
        allocated(&open) <= data + (1 << 20),
        "{} bytes allocated for {data} bytes of records",
        allocated(&open)
    );
    // The operator frees 17 MiB: both streams go on, and the first one's
    // growth does not take the space from the second.
    std::fs::remove_file(&filler).unwrap();
    let mut b = writer(&root, "b");
    for i in 0..20 {
        a.append(&record)
            .unwrap_or_else(|e| panic!("a, record {i}: {e}"));
        acked += 1;
    }
    for i in 0..64 {
        b.append(&record)
            .unwrap_or_else(|e| panic!("b, record {i} of 4 MiB: {e}"));
    }
    assert!(
        allocated(&open) <= acked * (64 << 10) + acked * 16 + (2 << 20),
        "a holds {} bytes for {} records",
        allocated(&open),
        acked
    );
    drop(a);
    drop(b);
    // Everything acknowledged is there.
    let mut r = StreamReader::open(
        &root,
        &StreamName::new("a").unwrap(),
        ReadOptions::default(),
    )
    .unwrap();
    let mut n = 0;
    while let Some(rec) = r.next().unwrap() {
        assert_eq!(rec.payload, &record[..]);
        n += 1;
    }
    assert_eq!(n, acked);
}
