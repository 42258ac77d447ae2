//! Compact files: a sealed file converted holds the same records, bit for
//! bit; every reader serves both forms; damage is an error naming the file
//! and offset; kill -9 at any point of a conversion leaves one good file.

use crate::common::*;
use eventstore_log::compact::{compact_stream, CompactOptions};
use eventstore_log::*;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A stream of `files` minutely files, `per_file` records each, with
/// timestamps that step back now and then (the log keeps them as given).
fn write_stream(dir: &Path, files: u64, per_file: u64) -> Vec<OwnedRecord> {
    let clock = ManualClock::new(T0);
    let opts = WriterOptions::default()
        .roll(RollInterval::MINUTELY)
        .clock(Arc::new(clock.clone()));
    let mut w = StreamWriter::open_dir(dir, opts).unwrap();
    let mut rng = Rng(7);
    let mut out = Vec::new();
    for f in 0..files {
        for k in 0..per_file {
            let seq = w.next_seq();
            let p = payload(seq);
            let jitter = rng.below(5_000) as i64 - 1_000;
            let ts = T0 + f as i64 * 60 * SEC + k as i64 * 1_000 + jitter;
            w.append_at(ts, &p).unwrap();
            out.push(OwnedRecord {
                seq,
                timestamp: ts,
                payload: p,
            });
        }
        clock.advance(60 * SEC);
        w.seal_now().unwrap();
    }
    w.close().unwrap();
    out
}

fn read_all(dir: &Path, opts: ReadOptions) -> Vec<OwnedRecord> {
    let mut r = StreamReader::open_dir(dir, opts).unwrap();
    let mut v = Vec::new();
    while let Some(rec) = r.next().unwrap() {
        v.push(rec.to_owned());
    }
    v
}

fn forms(dir: &Path) -> Vec<Form> {
    files::list_files(dir)
        .unwrap()
        .iter()
        .map(|f| read_header(&f.path).unwrap().form)
        .collect()
}

#[test]
fn a_compact_stream_reads_seeks_and_verifies_as_the_framed_one() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let written = write_stream(&a, 4, 3_000);
    write_stream(&b, 4, 3_000);
    let opts = CompactOptions {
        block_records: 500,
        ..CompactOptions::default()
    };
    let done = compact_stream(&b, &opts).unwrap();
    assert_eq!(done.len(), 4);
    assert!(done
        .iter()
        .all(|c| c.records == 3_000 && c.blocks >= 6 && c.replaced));
    assert_eq!(forms(&b), vec![Form::Compact; 4]);
    // Nothing left to do the second time.
    assert!(compact_stream(&b, &opts).unwrap().is_empty());

    assert_eq!(read_all(&b, ReadOptions::default()), written);
    let (ia, ib) = (stream_info(&a).unwrap(), stream_info(&b).unwrap());
    assert_eq!(ia.records(), ib.records());
    assert_eq!(ia.span(), ib.span());
    assert_eq!(ia.seqs(), ib.seqs());
    assert!(ib.bytes() < ia.bytes());
    for rep in verify_stream(&b, |_| {}).unwrap() {
        assert_eq!(rep.status, FileStatus::Ok, "{}", rep.path.display());
        assert_eq!(rep.records, 3_000);
    }

    // Seeks by sequence and time, and bounds, give the same records.
    let mut rng = Rng(99);
    let (mut ra, mut rb) = (
        StreamReader::open_dir(&a, ReadOptions::default()).unwrap(),
        StreamReader::open_dir(&b, ReadOptions::default()).unwrap(),
    );
    for _ in 0..300 {
        let start = if rng.below(2) == 0 {
            StartAt::Seq(rng.below(12_100))
        } else {
            StartAt::Time(T0 - SEC + rng.below(250) as i64 * SEC)
        };
        ra.seek(start).unwrap();
        rb.seek(start).unwrap();
        for _ in 0..rng.below(5) + 1 {
            let x = ra.next().unwrap().map(|r| r.to_owned());
            let y = rb.next().unwrap().map(|r| r.to_owned());
            assert_eq!(x, y, "{start:?}");
        }
    }
    let stop = ReadOptions::from(StartAt::Seq(2_990)).stop(StopAt::Time(T0 + 61 * SEC));
    assert_eq!(read_all(&a, stop), read_all(&b, stop));
    let end = ReadOptions::from(StartAt::End);
    assert_eq!(read_all(&a, end), read_all(&b, end));

    // The writer continues the stream after its compact files.
    let mut w = StreamWriter::open_dir(&b, WriterOptions::default()).unwrap();
    assert_eq!(w.next_seq(), 12_000);
    w.append(b"after").unwrap();
    w.close().unwrap();
    assert_eq!(
        read_all(&b, ReadOptions::from(StartAt::Seq(12_000)))[0].payload,
        b"after"
    );

    // Retention deletes compact files and remembers where they ended.
    let gone = retain(
        &b,
        RetentionPolicy {
            max_age: None,
            max_bytes: Some(1),
        },
        i64::MAX,
    )
    .unwrap();
    assert_eq!(gone.len(), 4);
}

#[test]
fn a_reader_with_the_old_file_open_keeps_reading_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let written = write_stream(&dir, 2, 2_000);
    let mut r = StreamReader::open_dir(&dir, ReadOptions::default()).unwrap();
    let mut got = Vec::new();
    for _ in 0..700 {
        got.push(r.next().unwrap().unwrap().to_owned());
    }
    compact_stream(&dir, &CompactOptions::default()).unwrap();
    while let Some(rec) = r.next().unwrap() {
        got.push(rec.to_owned());
    }
    assert_eq!(got, written);
}

#[test]
fn damage_in_a_compact_file_is_an_error_naming_file_and_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    write_stream(&dir, 1, 2_000);
    let opts = CompactOptions {
        block_records: 256,
        ..CompactOptions::default()
    };
    compact_stream(&dir, &opts).unwrap();
    let path = files::list_files(&dir).unwrap()[0].path.clone();
    let good = std::fs::read(&path).unwrap();
    let mut rng = Rng(3);
    for trial in 0..200 {
        let mut bad = good.clone();
        let at = 64 + rng.below(good.len() as u64 - 64) as usize;
        bad[at] ^= 1 << rng.below(8);
        std::fs::write(&path, &bad).unwrap();
        let rep = verify_file(&path, true);
        let FileStatus::Corrupted { offset, reason } = &rep.status else {
            panic!("trial {trial}: a flip at {at} passed verification");
        };
        assert!(*offset <= good.len() as u64, "{reason}");
        // A reader stops with the error (or fails to open): never a
        // wrong record, never a panic.
        if let Ok(mut r) = StreamReader::open_dir(&dir, ReadOptions::default()) {
            let mut n = 0;
            loop {
                match r.next() {
                    Ok(Some(rec)) => {
                        assert_eq!(rec.payload, payload(rec.seq), "trial {trial}");
                        n += 1;
                    }
                    // A flip in the zero padding after a block (which
                    // verify reports) leaves every record readable.
                    Ok(None) => {
                        assert_eq!(n, 2_000, "trial {trial}: a flip at {at} lost records");
                        assert!(reason.contains("padding"), "trial {trial}: {reason}");
                        break;
                    }
                    Err(e) => {
                        assert!(e.to_string().contains(&path.display().to_string()), "{e}");
                        break;
                    }
                }
            }
        }
    }
    // Cut short: the trailer is gone.
    std::fs::write(&path, &good[..good.len() - 5]).unwrap();
    let e = StreamReader::open_dir(&dir, ReadOptions::default())
        .err()
        .expect("a truncated compact file does not open");
    assert!(e.to_string().contains("truncated"), "{e}");
}

#[test]
fn a_block_of_an_unknown_codec_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    write_stream(&dir, 1, 100);
    compact_stream(&dir, &CompactOptions::default()).unwrap();
    let path = files::list_files(&dir).unwrap()[0].path.clone();
    let mut b = std::fs::read(&path).unwrap();
    // The first block's codec id (bytes 4..6 of its header), checksum redone.
    b[64 + 4] = 77;
    let crc = crc32c::crc32c_append(crc32c::crc32c(&b[64..64 + 52]), &{
        let len = u32::from_le_bytes(b[64 + 12..64 + 16].try_into().unwrap()) as usize;
        b[64 + 56..64 + 56 + len].to_vec()
    });
    b[64 + 52..64 + 56].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&path, &b).unwrap();
    let mut r = StreamReader::open_dir(&dir, ReadOptions::default()).unwrap();
    let e = r.next().expect_err("an unknown codec is an error");
    assert!(e.to_string().contains("block codec 77 is not known"), "{e}");
    assert!(e.to_string().contains("offset 64"), "{e}");
}

/// The converting process: compact every sealed file of the stream, then
/// say so; killed at a random moment by the test below.
#[test]
fn child_compactor() {
    let Ok(dir) = std::env::var("ES_COMPACT_DIR") else {
        return;
    };
    let opts = CompactOptions {
        block_records: 200,
        ..CompactOptions::default()
    };
    println!("START");
    compact_stream(dir.as_ref(), &opts).unwrap();
    println!("DONE");
    std::thread::sleep(Duration::from_secs(600));
}

#[test]
fn kill_9_during_a_conversion_leaves_one_good_file() {
    let tmp = tempfile::tempdir().unwrap();
    let template = tmp.path().join("template");
    let written = write_stream(&template, 6, 1_500);
    let mut rng = Rng(0xc0);
    let mut mixed = 0;
    // How long a whole conversion takes here (the first trial runs to its
    // end): the kills land uniformly within it, however slow the machine.
    let mut span_us = None;
    for trial in 0..30 {
        let dir = tmp.path().join(format!("t{trial}"));
        std::fs::create_dir_all(&dir).unwrap();
        for f in files::list_files(&template).unwrap() {
            std::fs::copy(&f.path, dir.join(f.path.file_name().unwrap())).unwrap();
        }
        let mut child = KillOnDrop(spawn_child(
            "compact::child_compactor",
            &[("ES_COMPACT_DIR", dir.display().to_string())],
        ));
        let mut out = std::io::BufReader::new(child.0.stdout.take().unwrap());
        let mut line = String::new();
        while !line.contains("START") {
            line.clear();
            assert!(std::io::BufRead::read_line(&mut out, &mut line).unwrap() > 0);
        }
        match span_us {
            None => {
                let t = std::time::Instant::now();
                while !line.contains("DONE") {
                    line.clear();
                    assert!(std::io::BufRead::read_line(&mut out, &mut line).unwrap() > 0);
                }
                span_us = Some(t.elapsed().as_micros() as u64);
            }
            Some(span) => std::thread::sleep(Duration::from_micros(rng.below(span))),
        }
        // SAFETY: sending SIGKILL to our own child.
        unsafe { libc::kill(child.0.id() as i32, libc::SIGKILL) };
        let mut child = child;
        child.0.wait().unwrap();
        // Whatever the moment: every file verifies, the records are whole.
        for rep in verify_stream(&dir, |_| {}).unwrap() {
            assert_eq!(
                rep.status,
                FileStatus::Ok,
                "trial {trial}: {}",
                rep.path.display()
            );
        }
        assert_eq!(
            read_all(&dir, ReadOptions::default()),
            written,
            "trial {trial}"
        );
        let f = forms(&dir);
        if f.contains(&Form::Compact) && f.contains(&Form::Framed) {
            mixed += 1;
        }
        // The next conversion finishes the work and clears what the
        // killed one left.
        compact_stream(&dir, &CompactOptions::default()).unwrap();
        assert_eq!(forms(&dir), vec![Form::Compact; 6]);
        assert_eq!(
            read_all(&dir, ReadOptions::default()),
            written,
            "trial {trial}"
        );
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect();
        assert!(
            names.iter().all(|n| n.ends_with(".log")),
            "trial {trial}: {names:?}"
        );
    }
    // Some kills landed in the middle of the stream's conversion.
    assert!(mixed > 0, "no kill landed between files");
}

#[test]
fn a_writer_makes_its_sealed_files_compact_behind_the_appends() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let clock = ManualClock::new(T0);
    let opts = WriterOptions::default()
        .roll(RollInterval::MINUTELY)
        .clock(Arc::new(clock.clone()))
        .compact(Some(CompactOptions::default()));
    let mut w = StreamWriter::open_dir(&dir, opts.clone()).unwrap();
    let sealed = w.sealed_events();
    let mut written = Vec::new();
    for f in 0..5i64 {
        for k in 0..1_000 {
            let seq = w.next_seq();
            let ts = T0 + f * 60 * SEC + k;
            w.append_at(ts, &payload(seq)).unwrap();
            written.push(OwnedRecord {
                seq,
                timestamp: ts,
                payload: payload(seq),
            });
        }
        clock.advance(60 * SEC);
        w.seal_now().unwrap();
    }
    // A seal is announced once the file is in its final form.
    for _ in 0..5 {
        let ev = sealed.recv_timeout(Duration::from_secs(60)).unwrap();
        assert_eq!(read_header(&ev.path).unwrap().form, Form::Compact);
        assert!(!eventstore_log::compact::is_converting(&ev.path));
    }
    let rep = w.finish_compaction().unwrap();
    assert_eq!((rep.files, rep.records, rep.errors.len()), (5, 5_000, 0));
    assert!(rep.bytes_after < rep.bytes_before);
    w.append(b"open").unwrap();
    drop(w);
    assert_eq!(
        &read_all(&dir, ReadOptions::default())[..5_000],
        &written[..]
    );

    // A file sealed by a writer killed before converting it is converted
    // by the next writer.
    let plain = tmp.path().join("p");
    write_stream(&plain, 2, 500);
    let mut w = StreamWriter::open_dir(&plain, opts).unwrap();
    let rep = w.finish_compaction().unwrap();
    assert_eq!(rep.files, 2);
    assert_eq!(forms(&plain), vec![Form::Compact; 2]);
}
