//! Simulated power loss. A syncer watches every fsync of a real writer:
//! after each sync it keeps the bytes the file system has made durable
//! (a file's contents as its last fsync began; a folder's names as its
//! last fsync began), and just before each sync it takes a crash point
//! (the live files as they are). Syncs are recorded one at a time, as the
//! writer's thread and its interval syncer sync concurrently. A crash image is then built from a crash point:
//! the durable state plus an arbitrary subset of the 4 KiB pages written
//! since, each file at its durable or its live length, and every create or
//! rename not yet made durable by a folder fsync either applied or not.
//! Recovery and a reader run on each image: every record the durable
//! state holds (under `Batch`, every acknowledged append) is served intact,
//! no torn or foreign record is ever served, nothing panics.

use eventstore_log::*;
use eventstore_testkit::Rng;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

const SEC: i64 = 1_000_000_000;
const T0: i64 = 1_723_161_240 * SEC;
const PAGE: usize = 4096;
/// Crash points checked per workload (chosen at random among its syncs).
const POINTS_PER_WORKLOAD: usize = 25;

/// Record `seq`'s payload: its length and bytes derive from `seq`, so a
/// torn or foreign record can never pass for it.
fn payload(seq: u64) -> Vec<u8> {
    let len = (seq.wrapping_mul(2_654_435_761) % 9_000) as usize;
    let mut v = seq.to_le_bytes().to_vec();
    v.extend((0..len).map(|i| (seq as usize * 31 + i * 7) as u8));
    v
}

/// What the file system has made durable.
#[derive(Clone, Default)]
struct Durable {
    /// The folder's log files by name (inode), as of its last fsync.
    names: BTreeMap<String, u64>,
    /// Each file's bytes (by inode) as of its last fsync.
    data: HashMap<u64, Vec<u8>>,
}

/// The state just before a sync.
struct CrashPoint {
    durable: Durable,
    /// The folder's log files now: name, inode, bytes.
    live: Vec<(String, u64, Vec<u8>)>,
    /// Appends that had returned (acknowledged).
    acked: u64,
}

struct Recorder {
    /// Held through each sync: the writer's thread and its interval
    /// syncer sync concurrently, and the durable state a sync records must
    /// not be overwritten by an older one recorded by a sync that began
    /// earlier and ended later.
    one_sync: Mutex<()>,
    dir: PathBuf,
    durable: Mutex<Durable>,
    points: Mutex<Vec<CrashPoint>>,
    acked: AtomicU64,
}

fn is_log(name: &str) -> bool {
    name.ends_with(".log") || name.ends_with(".log.open") || name.ends_with(".log.tmp")
}

/// The folder's log files now: name, inode, bytes. The writer may roll
/// (rename, create) while the folder is read, and a listing taken across
/// a rename can miss the file; so the folder is listed again after the
/// reads, and the snapshot is kept only when both listings agree and
/// every file could be read.
fn live_files(dir: &Path) -> Vec<(String, u64, Vec<u8>)> {
    let names = |dir: &Path| -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let md = e.metadata().ok()?;
                is_log(&name).then_some((name, md.ino()))
            })
            .collect();
        v.sort();
        v
    };
    loop {
        let before = names(dir);
        let read: Option<Vec<_>> = before
            .iter()
            .map(|(name, ino)| {
                let bytes = std::fs::read(dir.join(name)).ok()?;
                Some((name.clone(), *ino, bytes))
            })
            .collect();
        if let Some(v) = read {
            if names(dir) == before {
                return v;
            }
        }
    }
}

fn whole(file: &std::fs::File) -> std::io::Result<Vec<u8>> {
    let len = file.metadata()?.len() as usize;
    let mut b = vec![0u8; len];
    let mut got = 0;
    while got < len {
        let n = file.read_at(&mut b[got..], got as u64)?;
        if n == 0 {
            b.truncate(got);
            break;
        }
        got += n;
    }
    Ok(b)
}

impl SyncFile for Recorder {
    fn sync(&self, file: &std::fs::File, data_only: bool) -> std::io::Result<()> {
        let _one = self.one_sync.lock().unwrap();
        let point = CrashPoint {
            durable: self.durable.lock().unwrap().clone(),
            live: live_files(&self.dir),
            acked: self.acked.load(Ordering::SeqCst),
        };
        // What the folder or file held before the sync began is durable
        // once it returns; what changes meanwhile may or may not be.
        let md = file.metadata()?;
        if md.is_dir() {
            let names = point
                .live
                .iter()
                .map(|(n, ino, _)| (n.clone(), *ino))
                .collect();
            self.points.lock().unwrap().push(point);
            file.sync_all()?;
            self.durable.lock().unwrap().names = names;
        } else {
            self.points.lock().unwrap().push(point);
            let bytes = whole(file)?;
            if data_only {
                file.sync_data()?;
            } else {
                file.sync_all()?;
            }
            self.durable.lock().unwrap().data.insert(md.ino(), bytes);
        }
        Ok(())
    }
}

/// Write one crash image of `p` into `img`.
fn build_image(p: &CrashPoint, rng: &mut Rng, img: &Path) {
    std::fs::create_dir_all(img).unwrap();
    for (name, ino, live) in &p.live {
        let durable_name = p
            .durable
            .names
            .iter()
            .find(|(_, i)| *i == ino)
            .map(|(n, _)| n.clone());
        let name = match durable_name {
            Some(d) if d != *name => {
                if rng.coin() {
                    d
                } else {
                    name.clone()
                }
            }
            Some(d) => d,
            // Created or renamed into the folder since its last fsync.
            None => {
                if rng.coin() {
                    continue;
                }
                name.clone()
            }
        };
        let empty = Vec::new();
        let dur = p.durable.data.get(ino).unwrap_or(&empty);
        let len = if rng.coin() { dur.len() } else { live.len() };
        let mut out = vec![0u8; len];
        let (mut d, mut l) = ([0u8; PAGE], [0u8; PAGE]);
        for start in (0..len).step_by(PAGE) {
            let end = (start + PAGE).min(len);
            let fill = |b: &[u8], page: &mut [u8; PAGE]| {
                let (s, e) = (start.min(b.len()), end.min(b.len()));
                page[..e - s].copy_from_slice(&b[s..e]);
                page[e - s..].fill(0);
            };
            fill(dur, &mut d);
            fill(live, &mut l);
            let pick = if d == l || rng.coin() { &d } else { &l };
            out[start..end].copy_from_slice(&pick[..end - start]);
        }
        std::fs::write(img.join(name), out).unwrap();
    }
}

/// Sequence numbers whose records the durable state holds whole: every
/// record of each durably named file up to its first bad frame.
fn durable_seqs(p: &CrashPoint, scratch: &Path) -> BTreeSet<u64> {
    let mut set = BTreeSet::new();
    for (name, ino) in &p.durable.names {
        let Some(bytes) = p.durable.data.get(ino) else {
            continue;
        };
        let r = verify_bytes(&scratch.join(name), bytes, name.ends_with(".log"));
        if let Some(first) = r.first_seq {
            set.extend(first..first + r.records);
        }
    }
    set
}

/// Read everything a reader serves from `dir`: each record must be the
/// one its sequence number names. Stops at the first error, which it
/// returns with what was served.
fn served(dir: &Path) -> (BTreeSet<u64>, Option<String>) {
    let mut out = BTreeSet::new();
    let mut r = match StreamReader::open_dir(dir, ReadOptions::default()) {
        Ok(r) => r,
        Err(e) => return (out, Some(format!("open: {e}"))),
    };
    loop {
        match r.next() {
            Ok(Some(rec)) => {
                assert_eq!(
                    rec.payload,
                    &payload(rec.seq)[..],
                    "{}: a torn or foreign record served as {}",
                    dir.display(),
                    rec.seq
                );
                out.insert(rec.seq);
            }
            Ok(None) => return (out, None),
            Err(e) => return (out, Some(e.to_string())),
        }
    }
}

/// What a crash point and its image hold, for a failure's message.
fn describe(p: &CrashPoint, img: &Path, error: &Option<String>) -> String {
    let mut s = String::from("durable names:");
    for (name, ino) in &p.durable.names {
        let len = p.durable.data.get(ino).map(|d| d.len());
        s.push_str(&format!(" {name} (ino {ino}, synced {len:?})"));
    }
    s.push_str("; live:");
    for (name, ino, b) in &p.live {
        s.push_str(&format!(" {name} (ino {ino}, {} B)", b.len()));
    }
    s.push_str("; image:");
    for e in std::fs::read_dir(img).unwrap().flatten() {
        let len = e.metadata().map(|m| m.len()).unwrap_or(0);
        s.push_str(&format!(" {} ({len} B)", e.file_name().to_string_lossy()));
    }
    s.push_str(&format!("; reader error: {error:?}"));
    s
}

/// Outcomes over a run of images.
#[derive(Default, Debug)]
struct Tally {
    images: u64,
    recovered: u64,
    refused: u64,
    durable_records: u64,
}

/// Run a random workload with rolls under `durability`, then check
/// `per_point` crash images at each of its crash points.
fn workload(seed: u64, durability: Durability, per_point: usize, tally: &mut Tally) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    std::fs::create_dir_all(&dir).unwrap();
    let rec = Arc::new(Recorder {
        one_sync: Mutex::new(()),
        dir: dir.clone(),
        durable: Mutex::new(Durable::default()),
        points: Mutex::new(Vec::new()),
        acked: AtomicU64::new(0),
    });
    let clock = ManualClock::new(T0);
    let opts = WriterOptions::default()
        .roll(RollInterval::MINUTELY)
        .durability(durability)
        .pretouch(false)
        .syncer(rec.clone())
        .clock(Arc::new(clock.clone()));
    let mut w = StreamWriter::open_dir(&dir, opts).unwrap();
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let n = 60 + rng.below(60);
    let mut t = T0;
    for seq in 0..n {
        // Now and then the minute ends: the next append rolls.
        t += if rng.below(12) == 0 {
            60 * SEC
        } else {
            SEC / 10
        };
        clock.set(t);
        assert_eq!(w.append(&payload(seq)).unwrap(), seq);
        rec.acked.store(seq + 1, Ordering::SeqCst);
        if matches!(durability, Durability::Interval(_)) && rng.below(8) == 0 {
            std::thread::sleep(std::time::Duration::from_millis(3));
        }
    }
    drop(w);
    let mut points = std::mem::take(&mut *rec.points.lock().unwrap());
    assert!(points.len() > 5, "{} crash points", points.len());
    // A sample of the crash points, the seals' among them.
    while points.len() > POINTS_PER_WORKLOAD {
        let i = rng.below(points.len() as u64) as usize;
        points.swap_remove(i);
    }
    for (k, p) in points.iter().enumerate() {
        let durable = durable_seqs(p, &dir);
        if durability == Durability::Batch {
            // The writer's promise: an acknowledged append is durable.
            for s in 0..p.acked {
                assert!(
                    durable.contains(&s),
                    "seed {seed}: acknowledged {s} not durable"
                );
            }
        }
        for i in 0..per_point {
            let img = tmp.path().join(format!("img-{k}-{i}"));
            build_image(p, &mut rng, &img);
            tally.images += 1;
            tally.durable_records += durable.len() as u64;
            // A reader on the image as the crash left it.
            let (got, error) = served(&img);
            for s in &durable {
                assert!(
                    got.contains(s),
                    "seed {seed} point {k} image {i}: durable record {s} not served before recovery; {}",
                    describe(p, &img, &error)
                );
            }
            // Recovery, then a reader; then the stream continues.
            match StreamWriter::open_dir(&img, WriterOptions::default().pretouch(false)) {
                Ok(w) => {
                    tally.recovered += 1;
                    let next = w.next_seq();
                    drop(w);
                    let (got, _) = served(&img);
                    for s in &durable {
                        assert!(
                            got.contains(s),
                            "seed {seed} point {k} image {i}: durable record {s} lost by recovery"
                        );
                    }
                    assert_eq!(next, got.last().map_or(0, |l| l + 1), "seed {seed}");
                    assert!(got.iter().copied().eq(0..next), "seed {seed}: a gap");
                    let mut w =
                        StreamWriter::open_dir(&img, WriterOptions::default().pretouch(false))
                            .unwrap();
                    assert_eq!(w.append(&payload(next)).unwrap(), next);
                }
                Err(e) => {
                    // Refusing is allowed only for damage it can name; the
                    // durable records stay readable (checked above).
                    tally.refused += 1;
                    assert!(
                        matches!(e, Error::Corrupted { .. }),
                        "seed {seed} point {k} image {i}: {e}"
                    );
                }
            }
            std::fs::remove_dir_all(&img).unwrap();
        }
    }
}

#[test]
fn a_thousand_crash_images_under_batch_durability_lose_nothing_acknowledged() {
    let mut tally = Tally::default();
    let mut seed = 1;
    while tally.images < 1_000 {
        workload(seed, Durability::Batch, 4, &mut tally);
        seed += 1;
    }
    eprintln!("batch: {tally:?}");
    assert!(tally.recovered > tally.images / 2, "{tally:?}");
}

#[test]
fn a_thousand_crash_images_under_an_interval_lose_nothing_that_was_synced() {
    let mut tally = Tally::default();
    let mut seed = 1_000;
    while tally.images < 1_000 {
        workload(
            seed,
            Durability::Interval(std::time::Duration::from_millis(1)),
            4,
            &mut tally,
        );
        seed += 1;
    }
    eprintln!("interval: {tally:?}");
    assert!(tally.recovered > tally.images / 2, "{tally:?}");
}
