//! Damaged files: flipped bytes, truncations, zeroed tails, wrong magic or
//! version. Every case gives a clear error naming the file (and offset where
//! it applies), never a panic, and the records before the damage stay
//! readable.

use crate::common;
use common::*;
use eventstore_log::*;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A stream of 3 sealed minutely files of 40 records each, plus an open file
/// of 10 records; returns its folder and the sealed files.
fn build(root: &Path) -> (PathBuf, Vec<PathBuf>) {
    let dir = root.join("s");
    let clock = ManualClock::new(T0);
    let opts = WriterOptions::default()
        .roll(RollInterval::MINUTELY)
        .clock(Arc::new(clock.clone()));
    let mut w = StreamWriter::open_dir(&dir, opts).unwrap();
    let mut seq = 0;
    for _file in 0..4 {
        clock.set(T0 + _file * 60 * SEC);
        let n = if _file == 3 { 10 } else { 40 };
        for _ in 0..n {
            w.append_at(clock.now_ns(), &payload(seq)).unwrap();
            seq += 1;
            clock.advance(SEC);
        }
    }
    drop(w);
    let sealed: Vec<PathBuf> = files::list_files(&dir)
        .unwrap()
        .into_iter()
        .filter(|f| f.sealed)
        .map(|f| f.path)
        .collect();
    assert_eq!(sealed.len(), 3);
    (dir, sealed)
}

/// Read everything; return the good records and the error that stopped it.
fn read(dir: &Path) -> (Vec<u64>, Option<Error>) {
    let mut r = match StreamReader::open_dir(dir, ReadOptions::default()) {
        Ok(r) => r,
        Err(e) => return (Vec::new(), Some(e)),
    };
    let mut seqs = Vec::new();
    loop {
        match r.next() {
            Ok(Some(rec)) => {
                assert_eq!(
                    rec.payload,
                    &payload(rec.seq)[..],
                    "a damaged record was served"
                );
                seqs.push(rec.seq)
            }
            Ok(None) => return (seqs, None),
            Err(e) => return (seqs, Some(e)),
        }
    }
}

fn record_offset(file: &Path, k: usize) -> usize {
    // Walk frames: 64-byte header, then 8-aligned frames.
    let b = std::fs::read(file).unwrap();
    let mut pos = format::HEADER_LEN;
    for _ in 0..k {
        let fl = u32::from_le_bytes(b[pos..pos + 4].try_into().unwrap()) as usize;
        pos = format::align8(pos + fl);
    }
    pos
}

#[test]
fn flipped_payload_byte_reports_file_and_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, sealed) = build(tmp.path());
    let off = record_offset(&sealed[1], 7);
    let mut b = std::fs::read(&sealed[1]).unwrap();
    b[off + 20] ^= 0x40; // inside the payload of record 47 (or its padding-free header)
    std::fs::write(&sealed[1], &b).unwrap();
    let (seqs, err) = read(&dir);
    assert_eq!(
        seqs,
        (0..47).collect::<Vec<_>>(),
        "records before the damage stay readable"
    );
    match err {
        Some(Error::Corrupted {
            file,
            offset,
            reason,
        }) => {
            assert_eq!(file, sealed[1]);
            assert_eq!(offset, off as u64);
            assert!(reason.contains("checksum"), "{reason}");
        }
        other => panic!("expected Corrupted, got {other:?}"),
    }
    let reps = verify_stream(&dir, |_| {}).unwrap();
    assert!(reps[0].is_ok() && reps[2].is_ok() && reps[3].is_ok());
    assert_eq!(
        reps[1].status,
        FileStatus::Corrupted {
            offset: off as u64,
            reason: "checksum mismatch".into()
        }
    );
    assert_eq!(reps[1].records, 7);
    // Reading from after the damage still works through the index.
    let mut r = StreamReader::open_dir(&dir, ReadOptions::from(StartAt::Seq(80))).unwrap();
    assert_eq!(r.next().unwrap().unwrap().seq, 80);
}

#[test]
fn every_single_byte_flip_is_caught_or_harmless() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, sealed) = build(tmp.path());
    let orig = std::fs::read(&sealed[0]).unwrap();
    let mut rng = Rng(7);
    for _ in 0..300 {
        let at = rng.below(orig.len() as u64) as usize;
        let mut b = orig.clone();
        b[at] ^= 1 << rng.below(8);
        std::fs::write(&sealed[0], &b).unwrap();
        // Never a panic, never a wrong record; verify names the file unless
        // the flip hit padding or a reserved byte.
        let (_seqs, _err) = read(&dir);
        let rep = verify_file(&sealed[0], true);
        let _ = stream_info(&dir);
        if let FileStatus::Corrupted { offset, .. } = rep.status {
            assert!(offset as usize <= orig.len());
        }
    }
    std::fs::write(&sealed[0], &orig).unwrap();
    assert!(verify_stream(&dir, |_| {})
        .unwrap()
        .iter()
        .all(|r| r.is_ok()));
}

#[test]
fn truncated_sealed_file_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, sealed) = build(tmp.path());
    let off = record_offset(&sealed[2], 10);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&sealed[2])
        .unwrap();
    f.set_len(off as u64 + 5).unwrap();
    let (seqs, err) = read(&dir);
    assert_eq!(
        seqs.len(),
        90,
        "the 80 records of intact files and 10 before the cut"
    );
    let Some(Error::Corrupted { file, offset, .. }) = err else {
        panic!("{err:?}")
    };
    assert_eq!(file, sealed[2]);
    assert_eq!(offset, off as u64);
    let rep = verify_file(&sealed[2], true);
    assert!(
        matches!(rep.status, FileStatus::Corrupted { offset: o, .. } if o == off as u64),
        "{rep:?}"
    );
    // Cut to fewer bytes than a header.
    f.set_len(10).unwrap();
    let err = StreamReader::open_dir(&dir, ReadOptions::from(StartAt::Seq(85)))
        .err()
        .unwrap();
    assert!(
        err.to_string().contains(&sealed[2].display().to_string()),
        "{err}"
    );
}

#[test]
fn wrong_magic_and_version_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, sealed) = build(tmp.path());
    let orig = std::fs::read(&sealed[0]).unwrap();
    let mut b = orig.clone();
    b[0..8].copy_from_slice(b"NOTALOG!");
    std::fs::write(&sealed[0], &b).unwrap();
    let (_, err) = read(&dir);
    assert!(
        matches!(&err, Some(Error::BadMagic { file }) if file == &sealed[0]),
        "{err:?}"
    );
    assert!(err
        .unwrap()
        .to_string()
        .contains("not an EventStore log file"));

    let mut b = orig.clone();
    b[8..10].copy_from_slice(&7u16.to_le_bytes());
    std::fs::write(&sealed[0], &b).unwrap();
    let (_, err) = read(&dir);
    assert!(
        matches!(&err, Some(Error::UnsupportedVersion { version: 7, .. })),
        "{err:?}"
    );
    let rep = verify_file(&sealed[0], true);
    assert!(matches!(
        rep.status,
        FileStatus::Corrupted { offset: 0, .. }
    ));
}

#[test]
fn damaged_footer_falls_back_to_the_records() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, sealed) = build(tmp.path());
    let mut b = std::fs::read(&sealed[1]).unwrap();
    let n = b.len();
    b[n - 10] ^= 0xff; // the footer checksum
    std::fs::write(&sealed[1], &b).unwrap();
    let (seqs, err) = read(&dir);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(seqs, (0..130).collect::<Vec<_>>());
    let rep = verify_file(&sealed[1], true);
    assert!(
        matches!(&rep.status, FileStatus::Corrupted { reason, .. } if reason.contains("footer")),
        "{rep:?}"
    );
}

#[test]
fn zeroed_tail_of_open_file_is_cut_on_recovery() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, _) = build(tmp.path());
    let open = files::list_files(&dir)
        .unwrap()
        .into_iter()
        .find(|f| !f.sealed)
        .unwrap()
        .path;
    // Tear the last 3 records as a power loss would: garbage, then zeros.
    let off = record_offset(&open, 7);
    let mut b = std::fs::read(&open).unwrap();
    b[off + 4..off + 12].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4]);
    let end = record_offset(&open, 10);
    for x in &mut b[off + 30..end] {
        *x = 0;
    }
    std::fs::write(&open, &b).unwrap();
    // Before recovery a reader stops at the torn record with a clear error.
    let (seqs, err) = read(&dir);
    assert_eq!(seqs.len(), 127);
    assert!(matches!(err, Some(Error::Corrupted { .. })), "{err:?}");
    // The writer cuts the torn tail and carries on from sequence 127.
    let clock = ManualClock::new(T0 + 3 * 60 * SEC + 20 * SEC);
    let mut w = StreamWriter::open_dir(
        &dir,
        WriterOptions::default()
            .roll(RollInterval::MINUTELY)
            .clock(Arc::new(clock)),
    )
    .unwrap();
    assert!(w.recovery_report().torn_bytes > 0);
    assert_eq!(w.next_seq(), 127);
    w.append_at(T0, &payload(127)).unwrap();
    drop(w);
    let (seqs, err) = read(&dir);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(seqs, (0..128).collect::<Vec<_>>());
}

#[test]
fn corruption_in_the_middle_of_the_open_file_is_not_truncated() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, _) = build(tmp.path());
    let open = files::list_files(&dir)
        .unwrap()
        .into_iter()
        .find(|f| !f.sealed)
        .unwrap()
        .path;
    let off = record_offset(&open, 3);
    let mut b = std::fs::read(&open).unwrap();
    b[off + 17] ^= 1;
    std::fs::write(&open, &b).unwrap();
    let before = std::fs::read(&open).unwrap();
    let err = StreamWriter::open_dir(&dir, WriterOptions::default())
        .err()
        .expect("refuses to truncate");
    assert!(
        matches!(&err, Error::Corrupted { file, offset, .. } if file == &open && *offset == off as u64),
        "{err}"
    );
    assert!(err.to_string().contains("valid records follow"));
    assert_eq!(
        std::fs::read(&open).unwrap(),
        before,
        "nothing was modified"
    );
}

#[test]
fn garbage_files_never_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("g");
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = Rng(99);
    for i in 0..50 {
        let len = rng.below(400) as usize;
        let mut b: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if i % 2 == 0 && len >= 8 {
            b[0..8].copy_from_slice(&format::MAGIC);
        }
        let p = dir.join("20240808T235400Z.log");
        std::fs::write(&p, &b).unwrap();
        let _ = read(&dir);
        let rep = verify_file(&p, true);
        assert!(!rep.is_ok());
        let _ = stream_info(&dir);
    }
}

/// Like `build`, with `extra` more records in the first file: the same
/// file names, other sequence numbers.
fn build_shifted(root: &Path, extra: u64) -> Vec<PathBuf> {
    let dir = root.join("other");
    let clock = ManualClock::new(T0);
    let opts = WriterOptions::default()
        .roll(RollInterval::MINUTELY)
        .clock(Arc::new(clock.clone()));
    let mut w = StreamWriter::open_dir(&dir, opts).unwrap();
    for file in 0..3 {
        clock.set(T0 + file * 60 * SEC);
        let n = if file == 0 { 40 + extra } else { 40 };
        for _ in 0..n {
            w.append_at(clock.now_ns(), b"other").unwrap();
        }
    }
    drop(w);
    files::list_files(&dir)
        .unwrap()
        .into_iter()
        .filter(|f| f.sealed)
        .map(|f| f.path)
        .collect()
}

#[test]
fn a_header_copied_from_another_streams_file_is_refused_before_a_seek_trusts_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, sealed) = build(tmp.path());
    let other = build_shifted(tmp.path(), 25);
    // The second file gets the valid header of the other stream's second
    // file: same interval, first sequence 65 instead of 40.
    let foreign = std::fs::read(&other[1]).unwrap();
    let mut b = std::fs::read(&sealed[1]).unwrap();
    b[..format::HEADER_LEN].copy_from_slice(&foreign[..format::HEADER_LEN]);
    std::fs::write(&sealed[1], &b).unwrap();
    assert_eq!(read_header(&sealed[1]).unwrap().first_seq, 65);
    let named = |e: &Error| {
        let msg = e.to_string();
        assert!(matches!(e, Error::Corrupted { .. }), "{msg}");
        assert!(
            msg.contains(&*sealed[1].to_string_lossy())
                || msg.contains(&*sealed[0].to_string_lossy()),
            "{msg}"
        );
    };
    for start in [
        StartAt::Seq(45),
        StartAt::Seq(70),
        StartAt::Seq(100),
        StartAt::Time(T0 + 60 * SEC + 5 * SEC),
        StartAt::Time(T0 + 120 * SEC),
    ] {
        match StreamReader::open_dir(&dir, ReadOptions::from(start)) {
            Err(e) => named(&e),
            Ok(mut r) => {
                // Never a record under a wrong sequence number.
                let e = loop {
                    match r.next() {
                        Ok(Some(rec)) => {
                            assert_eq!(rec.payload, &payload(rec.seq)[..], "{start:?}")
                        }
                        Ok(None) => panic!("{start:?}: read to the end without an error"),
                        Err(e) => break e,
                    }
                };
                named(&e);
            }
        }
    }
    // Reading from the start stops before the file (at the latest).
    let (seqs, e) = read(&dir);
    assert!(seqs.iter().copied().eq(0..seqs.len() as u64) && seqs.len() <= 40);
    named(&e.unwrap());
    let e = stream_info(&dir).unwrap_err();
    named(&e);
    let reports = verify_stream(&dir, |_| {}).unwrap();
    assert!(!reports[1].is_ok(), "{:?}", reports[1]);
}

#[test]
fn nonzero_padding_between_frames_is_corruption() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, sealed) = build(tmp.path());
    // Record 3 of the second file (seq 43, 301 bytes of payload) ends 3
    // bytes before its 8-byte boundary.
    let off = record_offset(&sealed[1], 3);
    let b = std::fs::read(&sealed[1]).unwrap();
    let len = u32::from_le_bytes(b[off..off + 4].try_into().unwrap()) as usize;
    assert_ne!(len % 8, 0, "the record must be followed by padding");
    let mut b = b;
    b[off + len] = 0x5a;
    std::fs::write(&sealed[1], &b).unwrap();
    let reports = verify_stream(&dir, |_| {}).unwrap();
    match &reports[1].status {
        FileStatus::Corrupted { offset, reason } => {
            assert_eq!(*offset, (off + len) as u64);
            assert!(reason.contains("padding"), "{reason}");
        }
        s => panic!("padding damage not reported: {s:?}"),
    }
    assert!(reports[0].is_ok() && reports[2].is_ok());
}

#[test]
fn sequence_numbers_never_go_back_after_retention_deletes_every_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let clock = ManualClock::new(T0);
    let opts = || {
        WriterOptions::default()
            .roll(RollInterval::MINUTELY)
            .clock(Arc::new(clock.clone()))
    };
    let mut w = StreamWriter::open_dir(&dir, opts()).unwrap();
    for i in 0..70 {
        clock.set(T0 + (i / 10) * 60 * SEC);
        w.append(&payload(i as u64)).unwrap();
    }
    clock.set(T0 + 3600 * SEC);
    w.close().unwrap();
    assert!(files::list_files(&dir).unwrap().iter().all(|f| f.sealed));
    let policy = RetentionPolicy {
        max_age: Some(std::time::Duration::from_secs(1)),
        max_bytes: None,
    };
    let deleted = retain(&dir, policy, T0 + 7200 * SEC).unwrap();
    assert_eq!(deleted.len(), 7);
    assert!(files::list_files(&dir).unwrap().is_empty());
    // A new writer continues the stream: sequence 70, a later file name,
    // and the running maximum timestamp carried on.
    clock.set(T0 + 2 * 3600 * SEC);
    let mut w = StreamWriter::open_dir(&dir, opts()).unwrap();
    assert_eq!(w.next_seq(), 70);
    assert_eq!(w.append(b"after retention").unwrap(), 70);
    drop(w);
    let mut r = StreamReader::open_dir(&dir, ReadOptions::default()).unwrap();
    let rec = r.next().unwrap().unwrap();
    assert_eq!((rec.seq, rec.payload), (70, &b"after retention"[..]));
    assert_eq!(
        read_header(&files::list_files(&dir).unwrap()[0].path)
            .unwrap()
            .first_seq,
        70
    );
}
