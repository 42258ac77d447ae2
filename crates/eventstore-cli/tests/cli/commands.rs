//! The `eventstore` binary driven as a user would: real processes, real
//! files, standard input and output.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_eventstore"))
}

fn run(args: &[&str], root: &Path, stdin: &[u8]) -> Output {
    let mut c = bin();
    c.args(args)
        .env("EVENTSTORE_ROOT", root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut si = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = si.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    out
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn err(o: &Output) -> String {
    assert!(
        !o.status.success(),
        "expected failure, got success: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8_lossy(&o.stderr).into_owned()
}

use eventstore_testkit::market_data;

#[test]
fn demo_runs_the_whole_path() {
    let tmp = tempfile::tempdir().unwrap();
    let out = ok(&run(
        &[
            "demo",
            "--minutes",
            "2",
            "--dir",
            tmp.path().join("d").to_str().unwrap(),
        ],
        tmp.path(),
        b"",
    ));
    assert!(out.contains("demo ok"), "{out}");
    assert!(out.contains("every record equal"), "{out}");
    assert!(out.contains("demo/btcusdt/trades"));
    // The sealed files became compact behind the appends, each record in a
    // few bytes against the framed 64 and 80 B.
    assert!(
        out.contains("compact  4 sealed files made compact"),
        "{out}"
    );
    for stream in ["trades", "depth"] {
        let line = out
            .lines()
            .find(|l| l.starts_with("size") && l.contains(stream))
            .unwrap_or_else(|| panic!("no size line for {stream}: {out}"));
        let per: f64 = line.split_whitespace().nth(2).unwrap().parse().unwrap();
        assert!(per < 10.0, "{line}");
    }
    // A reliable book late in the run from a file's snapshot, one-minute
    // bars, and the same answers from the mirror.
    assert!(
        out.contains("book     demo/btcusdt/depth at 2024-08-08T00:01:39.876543211Z: from the snapshot of 20240808T000100Z.log"),
        "{out}"
    );
    assert!(out.contains(": reliable since"), "{out}");
    assert!(out.contains("equal to a replay of all"), "{out}");
    assert!(out.contains("bars     2 one-minute bars"), "{out}");
    assert!(
        out.contains("2024-08-08T00:01:00.000000000Z open "),
        "{out}"
    );
    assert!(out.contains("all equal"), "{out}");
    assert!(out.contains("mirror   the same book at"), "{out}");
    let dir = tmp.path().join("d").join("demo/btcusdt/depth");
    for f in eventstore_log::files::list_files(&dir).unwrap() {
        assert_eq!(
            eventstore_log::read_header(&f.path).unwrap().form,
            eventstore_log::Form::Compact
        );
    }
}

#[test]
fn write_then_read_in_every_output_format() {
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path();
    let input = "alpha\nbeta \"quoted\"\n\ngamma\r\n";
    let o = run(
        &["write", "venue/sym/trades", "--roll", "5m"],
        r,
        input.as_bytes(),
    );
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("wrote 4 records"));
    assert_eq!(
        ok(&run(&["read", "venue/sym/trades", "-o", "raw"], r, b"")),
        "alpha\nbeta \"quoted\"\n\ngamma\n"
    );
    let text = ok(&run(&["read", "venue/sym/trades"], r, b""));
    let first: Vec<&str> = text.lines().next().unwrap().splitn(3, ' ').collect();
    assert_eq!(first[0], "0");
    assert!(first[1].ends_with('Z'));
    assert_eq!(first[2], "alpha");
    let json = ok(&run(
        &[
            "read",
            "venue/sym/trades",
            "-o",
            "json",
            "--from-seq",
            "1",
            "--to-seq",
            "2",
        ],
        r,
        b"",
    ));
    assert_eq!(json.lines().count(), 1);
    assert!(
        json.contains("\"seq\":1,") && json.contains("\"payload\":\"beta \\\"quoted\\\"\""),
        "{json}"
    );
    let hex = ok(&run(
        &["read", "venue/sym/trades", "-o", "hex", "--from-seq", "3"],
        r,
        b"",
    ));
    assert!(hex.trim_end().ends_with(" 67616d6d61"), "{hex}");
    // Appending again continues the sequence.
    ok(&run(
        &["write", "venue/sym/trades", "--roll", "5m"],
        r,
        b"delta\n",
    ));
    let raw = ok(&run(
        &["read", "venue/sym/trades", "-o", "raw", "--from-seq", "4"],
        r,
        b"",
    ));
    assert_eq!(raw, "delta\n");
}

#[test]
fn frames_and_their_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path();
    let mut input = Vec::new();
    for p in [&b"\x00\x01binary"[..], b"", b"x"] {
        input.extend_from_slice(&(p.len() as u32).to_le_bytes());
        input.extend_from_slice(p);
    }
    ok(&run(&["write", "f", "--format", "frames"], r, &input));
    let hex = ok(&run(&["read", "f", "-o", "hex"], r, b""));
    assert!(hex.lines().next().unwrap().ends_with(" 000162696e617279"));
    let json = ok(&run(&["read", "f", "-o", "json", "-n", "1"], r, b""));
    assert!(
        json.contains("\"payload\":\"\\u0000\\u0001binary\""),
        "{json}"
    );
    // A frame cut short: the records before it are kept, the error says where.
    let mut bad = input.clone();
    bad.extend_from_slice(&100u32.to_le_bytes());
    bad.extend_from_slice(b"short");
    let e = err(&run(&["write", "g", "--format", "frames"], r, &bad));
    assert!(
        e.contains("stdin byte 21") && e.contains("ends inside a frame of 100 bytes"),
        "{e}"
    );
    assert_eq!(
        ok(&run(&["read", "g", "-o", "raw"], r, b""))
            .lines()
            .count(),
        3
    );
}

#[test]
fn bad_input_gets_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path();
    let e = err(&run(&["write", "../escape"], r, b"x\n"));
    assert!(e.contains("invalid stream name \"../escape\""), "{e}");
    let e = err(&run(&["write", "s", "--roll", "7m"], r, b"x\n"));
    assert!(e.contains("invalid roll interval \"7m\""), "{e}");
    let e = err(&run(
        &["write", "s", "--durability", "sometimes"],
        r,
        b"x\n",
    ));
    assert!(e.contains("invalid durability"), "{e}");
    let e = err(&run(
        &["write", "t", "--time-prefix"],
        r,
        b"1723161253937085768 {\"a\":1}\nnot-a-time {\"a\":2}\n",
    ));
    assert!(
        e.contains("stdin line 2") && e.contains("invalid time \"not-a-time\""),
        "{e}"
    );
    assert!(e.contains("the 1 records before it are stored"), "{e}");
    assert_eq!(ok(&run(&["read", "t", "-o", "raw"], r, b"")), "{\"a\":1}\n");
    let e = err(&run(&["read", "nope"], r, b""));
    assert!(e.contains("no stream \"nope\""), "{e}");
    let e = err(&run(&["read", "t", "--from-time", "yesterday"], r, b""));
    assert!(e.contains("invalid time \"yesterday\""), "{e}");
    let e = err(&run(&["retain", "t"], r, b""));
    assert!(e.contains("--max-age"), "{e}");
}

#[test]
fn info_verify_and_retain() {
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path();
    let lines: String = (0..300)
        .map(|i| {
            format!(
                "{} rec{i}\n",
                1_723_161_240_000_000_000i64 + i * 1_000_000_000
            )
        })
        .collect();
    ok(&run(
        &["write", "a/b", "--time-prefix", "--roll", "1m"],
        r,
        lines.as_bytes(),
    ));
    let info = ok(&run(&["info", "a/b"], r, b""));
    assert!(
        info.contains("files    5") && info.contains("records  300"),
        "{info}"
    );
    assert!(info.contains("20240808T235400Z.log       sealed"), "{info}");
    let all = ok(&run(&["info"], r, b""));
    assert!(all.contains("a/b") && all.contains("300"), "{all}");
    let v = ok(&run(&["verify"], r, b""));
    assert!(v.contains("5 files in 1 streams: 5 good, 0 damaged"), "{v}");
    // By time: 23:56:00 is record 120.
    let t = ok(&run(
        &[
            "read",
            "a/b",
            "--from-time",
            "2024-08-08T23:56:00Z",
            "-n",
            "1",
            "-o",
            "raw",
        ],
        r,
        b"",
    ));
    assert_eq!(t, "rec120\n");
    let t = ok(&run(
        &[
            "read",
            "a/b",
            "--from-time",
            "2024-08-08T23:56:00Z",
            "--to-time",
            "2024-08-08T23:56:03Z",
            "-o",
            "raw",
        ],
        r,
        b"",
    ));
    assert_eq!(t, "rec120\nrec121\nrec122\n");
    // Damage one byte: verify names the file and the offset, exits 1.
    let f = r.join("a/b/20240808T235500Z.log");
    let mut b = std::fs::read(&f).unwrap();
    b[64 + 18] ^= 0xff;
    std::fs::write(&f, &b).unwrap();
    let o = run(&["verify", "a/b"], r, b"");
    assert_eq!(o.status.code(), Some(1));
    let v = String::from_utf8_lossy(&o.stdout);
    assert!(
        v.contains("CORRUPT  a/b/20240808T235500Z.log")
            && v.contains("first bad offset 64: checksum mismatch"),
        "{v}"
    );
    let e = err(&run(&["read", "a/b", "-o", "raw"], r, b""));
    assert!(e.contains("20240808T235500Z.log at offset 64"), "{e}");
    // Retention by size keeps the newest files.
    let o = ok(&run(&["retain", "a/b", "--max-bytes", "3KiB"], r, b""));
    assert!(o.contains("deleted a/b/20240808T235400Z.log"), "{o}");
    let info = ok(&run(&["info", "a/b"], r, b""));
    assert!(!info.contains("20240808T235400Z.log"), "{info}");
}

#[test]
fn follow_prints_records_written_by_another_process() {
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path();
    ok(&run(&["write", "live"], r, b"first\n"));
    let follower = bin()
        .args([
            "read",
            "live",
            "--follow",
            "--from-end",
            "-n",
            "3",
            "-o",
            "raw",
        ])
        .env("EVENTSTORE_ROOT", r)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    ok(&run(&["write", "live"], r, b"a\nb\n"));
    ok(&run(&["write", "live"], r, b"c\n"));
    let out = follower.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "a\nb\nc\n");
}

#[test]
fn every_command_has_help() {
    for cmd in [
        "demo", "write", "read", "info", "verify", "retain", "book", "orders",
    ] {
        let o = bin().args([cmd, "--help"]).output().unwrap();
        assert!(o.status.success(), "{cmd}");
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("Usage: eventstore"),
            "{cmd}"
        );
    }
}

/// The real Binance recording (`<receive ns> <json>` per line) imported with
/// its own timestamps: rolled by minute, read back line for line, seekable by time.
#[test]
fn real_binance_recording_round_trips() {
    let Some(data) = market_data() else { return };
    let gz = data.join("binance/spot_btcusdt_20240808.hftbacktest.gz");
    let raw = Command::new("gzip").arg("-dc").arg(&gz).output().unwrap();
    assert!(raw.status.success(), "gzip -dc {}", gz.display());
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path();
    ok(&run(
        &[
            "write",
            "binance/btcusdt/raw",
            "--time-prefix",
            "--roll",
            "1m",
        ],
        r,
        &raw.stdout,
    ));
    let text = String::from_utf8(raw.stdout).unwrap();
    let want: Vec<&str> = text.lines().map(|l| l.split_once(' ').unwrap().1).collect();
    assert_eq!(want.len(), 41_249);
    let got = ok(&run(&["read", "binance/btcusdt/raw", "-o", "raw"], r, b""));
    let got: Vec<&str> = got.lines().collect();
    assert_eq!(got.len(), want.len());
    assert!(got == want, "a record differs from its input line");
    let info = ok(&run(&["info", "binance/btcusdt/raw"], r, b""));
    assert!(info.contains("files    6"), "{info}");
    ok(&run(&["verify", "binance/btcusdt/raw"], r, b""));
    // The first record at or after 23:58:00 UTC, by receive time.
    let t0 = 1_723_161_480_000_000_000i64;
    let first = text
        .lines()
        .position(|l| l.split_once(' ').unwrap().0.parse::<i64>().unwrap() >= t0)
        .unwrap();
    let got = ok(&run(
        &[
            "read",
            "binance/btcusdt/raw",
            "--from-time",
            "2024-08-08T23:58:00Z",
            "-n",
            "1",
        ],
        r,
        b"",
    ));
    assert!(
        got.starts_with(&format!("{first} 2024-08-08T23:58:00.")),
        "{got}"
    );
}

/// `eventstore upload` killed with SIGKILL in the middle of its uploads,
/// again and again, then run to the end: every file is on the remote
/// exactly once and intact, and no file that was complete is uploaded again.
#[test]
fn upload_killed_mid_way_resumes_without_duplicates() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let r = src.as_path();
    // 4 streams x 8 minutely files of about 0.5 MiB.
    let mut lines = String::new();
    for i in 0..8 * 600i64 {
        lines.push_str(&format!(
            "{} {}\n",
            1_723_161_240_000_000_000i64 + i * 100_000_000,
            "p".repeat(800)
        ));
    }
    for s in ["a/trades", "a/depth", "b/trades", "b/depth"] {
        ok(&run(
            &["write", s, "--time-prefix", "--roll", "1m"],
            r,
            lines.as_bytes(),
        ));
    }
    // Not Azurite: it takes a whole upload in a few milliseconds, too
    // fast for a kill to land mid-way reliably (its flow is covered by
    // `upload_ls_and_poll_on_every_backend`).
    let remotes = backends(tmp.path(), "kill")
        .into_iter()
        .filter(|b| !b.url.starts_with("az://"));
    for (n, Backend { url, args: extra }) in remotes.enumerate() {
        let mut args = vec![
            "upload".to_string(),
            r.display().to_string(),
            url.clone(),
            "--concurrency".into(),
            "2".into(),
        ];
        args.extend(extra.iter().cloned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut ls_args = vec!["ls".to_string(), url.clone()];
        ls_args.extend(extra.iter().cloned());
        let ls_args: Vec<&str> = ls_args.iter().map(String::as_str).collect();
        // Files whose upload is complete (manifest written), from `eventstore ls`.
        let complete = || -> u64 {
            let out = ok(&run(&ls_args, r, b""));
            out.lines()
                .skip(1)
                .map(|l| {
                    let files: u64 = l
                        .split_whitespace()
                        .nth(1)
                        .and_then(|x| x.parse().ok())
                        .unwrap_or(0);
                    let busy: u64 = l
                        .split('(')
                        .nth(1)
                        .and_then(|x| x.split_whitespace().next())
                        .and_then(|x| x.parse().ok())
                        .unwrap_or(0);
                    files - busy
                })
                .sum()
        };
        let mut seed = 12345u64;
        let mut delay = 5u64;
        let mut mid_way = 0;
        let mut done = 0;
        for _ in 0..14 {
            let mut child = bin()
                .args(&args)
                .env("EVENTSTORE_ROOT", r)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            std::thread::sleep(std::time::Duration::from_millis(delay + (seed >> 33) % 10));
            // SIGKILL, as a crash would.
            let _ = Command::new("kill")
                .args(["-9", &child.id().to_string()])
                .status();
            let _ = child.wait();
            done = complete();
            if done > 0 && done < 32 {
                mid_way += 1;
            }
            if done == 32 {
                break;
            }
            delay = delay * 3 / 2 + 5;
        }
        assert!(
            mid_way > 0,
            "no kill landed in the middle of the uploads ({url})"
        );
        let args2 = args.clone();
        let out = ok(&run(&args2, r, b""));
        let last = out.lines().last().unwrap_or_default().to_string();
        let nums: Vec<u64> = last
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|x| x.parse().ok())
            .collect();
        eprintln!("{url}: {mid_way} kills mid-way; then: {last}");
        // Files complete before are not uploaded again; the rest are.
        assert_eq!((nums[0], nums[2]), (32 - done, done), "{last}");
        let again = ok(&run(&args2, r, b""));
        assert!(
            again.contains("0 files uploaded (0 bytes), 32 already there"),
            "{again}"
        );
        // Poll everything back: byte-identical.
        let mirror = tmp.path().join(format!("mirror-{n}"));
        let mut pargs = vec![
            "poll".to_string(),
            url.clone(),
            mirror.display().to_string(),
        ];
        pargs.extend(extra.iter().cloned());
        let pargs: Vec<&str> = pargs.iter().map(String::as_str).collect();
        let p = ok(&run(&pargs, r, b""));
        assert!(p.contains("32 files downloaded"), "{p}");
        for s in ["a/trades", "a/depth", "b/trades", "b/depth"] {
            for e in std::fs::read_dir(r.join(s)).unwrap() {
                let e = e.unwrap();
                let name = e.file_name().into_string().unwrap();
                if name.ends_with(".log") {
                    assert_eq!(
                        std::fs::read(e.path()).unwrap(),
                        std::fs::read(mirror.join(s).join(&name)).unwrap(),
                        "{s}/{name}"
                    );
                }
            }
        }
    }
}

/// `eventstore upload` killed with SIGKILL while a large file goes up in
/// parts: the upload it started is noted beside the file, and the next run
/// aborts it on the server before uploading the file again.
#[test]
fn a_multipart_upload_killed_mid_way_is_aborted_by_the_next_run() {
    let Ok(ep) = std::env::var("EVENTSTORE_TEST_S3_ENDPOINT") else {
        eprintln!("skipping: EVENTSTORE_TEST_S3_ENDPOINT is not set (scripts/test.sh sets it)");
        return;
    };
    let b = std::env::var("EVENTSTORE_TEST_S3_BUCKET").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path();
    // One sealed file of about 24 MiB: three parts of 8 MiB.
    let mut lines = String::new();
    for i in 0..6000i64 {
        lines.push_str(&format!(
            "{} {}\n",
            1_723_161_240_000_000_000i64 + i * 1_000_000,
            "x".repeat(4000)
        ));
    }
    ok(&run(
        &["write", "big/s", "--time-prefix", "--roll", "1m"],
        r,
        lines.as_bytes(),
    ));
    ok(&run(&["write", "big/s", "--roll", "1m"], r, b"now\n"));
    let dir = r.join("big/s");
    let notes = || -> Vec<String> {
        std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".log.uploading"))
            .collect()
    };
    let url = format!("s3://{b}/kill-mp-{}", std::process::id());
    let args = ["upload", "big/s", &url, "--s3-endpoint", &ep];
    let mut child = bin()
        .args(args)
        .env("EVENTSTORE_ROOT", r)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it as soon as its upload is under way.
    let t = std::time::Instant::now();
    while notes().is_empty() && t.elapsed() < std::time::Duration::from_secs(60) {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let _ = Command::new("kill")
        .args(["-9", &child.id().to_string()])
        .status();
    let _ = child.wait();
    assert_eq!(notes().len(), 1, "the upload was under way when killed");
    let out = ok(&run(&args, r, b""));
    assert!(
        out.contains("1 multipart uploads left unfinished by an earlier run aborted"),
        "{out}"
    );
    assert!(out.contains("1 files uploaded"), "{out}");
    assert_eq!(notes(), Vec::<String>::new());
    let mirror = tmp.path().join("mirror");
    let p = ok(&run(
        &[
            "poll",
            &url,
            &mirror.display().to_string(),
            "--s3-endpoint",
            &ep,
        ],
        r,
        b"",
    ));
    assert!(p.contains("1 files downloaded"), "{p}");
    let name = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .find(|n| n.ends_with(".log"))
        .unwrap();
    assert_eq!(
        std::fs::read(dir.join(&name)).unwrap(),
        std::fs::read(mirror.join("big/s").join(&name)).unwrap()
    );
}

/// A remote the CLI talks to: its URL and the flags that reach it.
struct Backend {
    url: String,
    args: Vec<String>,
}

/// Every backend: a local folder, the S3 server (moto) and the Azure Blob
/// Storage server (Azurite) that `scripts/test.sh` starts. Without them a
/// run says so and uses the folder only; under `CI=true` their absence is
/// a failure. `tag` keeps each test's objects apart.
fn backends(tmp: &Path, tag: &str) -> Vec<Backend> {
    let ci = std::env::var("CI").as_deref() == Ok("true");
    let mut v = vec![Backend {
        url: format!("file://{}", tmp.join(format!("bucket-{tag}")).display()),
        args: Vec::new(),
    }];
    let var = |k: &str| std::env::var(k).ok();
    let servers = [
        (
            "S3",
            "EVENTSTORE_TEST_S3_ENDPOINT",
            "EVENTSTORE_TEST_S3_BUCKET",
            "s3",
            "--s3-endpoint",
        ),
        (
            "Azure",
            "EVENTSTORE_TEST_AZURE_ENDPOINT",
            "EVENTSTORE_TEST_AZURE_CONTAINER",
            "az",
            "--azure-endpoint",
        ),
    ];
    for (what, ep_var, bucket_var, scheme, flag) in servers {
        match (var(ep_var), var(bucket_var)) {
            (Some(ep), Some(b)) => v.push(Backend {
                url: format!("{scheme}://{b}/{tag}-{}", std::process::id()),
                args: vec![flag.into(), ep],
            }),
            _ => {
                assert!(
                    !ci,
                    "{ep_var} is not set: run the tests with scripts/test.sh"
                );
                eprintln!("skipping {what}: {ep_var} is not set (scripts/test.sh sets it)");
            }
        }
    }
    v
}

/// Write, upload, list, poll and read back, on every backend: one flow.
#[test]
fn upload_ls_and_poll_on_every_backend() {
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path();
    let mut lines = String::new();
    for i in 0..300i64 {
        lines.push_str(&format!(
            "{} trade {i}\n",
            1_723_161_240_000_000_000i64 + i * 1_000_000_000
        ));
    }
    ok(&run(
        &["write", "flow/s", "--time-prefix", "--roll", "1m"],
        r,
        lines.as_bytes(),
    ));
    for (n, b) in backends(r, "flow").iter().enumerate() {
        let with = |cmd: &[&str]| -> Vec<String> {
            cmd.iter()
                .map(|s| s.to_string())
                .chain(b.args.iter().cloned())
                .collect()
        };
        let call = |v: Vec<String>| {
            let args: Vec<&str> = v.iter().map(String::as_str).collect();
            ok(&run(&args, r, b""))
        };
        let up = call(with(&["upload", "flow/s", &b.url]));
        assert!(up.contains("5 files uploaded"), "{}: {up}", b.url);
        let ls = call(with(&["ls", &b.url]));
        assert!(ls.contains("flow/s"), "{}: {ls}", b.url);
        let mirror = r.join(format!("mirror-{n}"));
        let p = call(with(&["poll", &b.url, &mirror.display().to_string()]));
        assert!(p.contains("5 files downloaded"), "{}: {p}", b.url);
        let back = ok(&run(
            &["read", "flow/s", "--root", &mirror.display().to_string()],
            r,
            b"",
        ));
        assert_eq!(back.lines().count(), 300, "{}: {back}", b.url);
        assert!(back.contains("trade 299"), "{back}");
    }
}

/// Missing bucket, wrong credentials, unreachable endpoint, bad URL: a clear
/// error on stderr and a non-zero exit.
#[test]
fn remote_errors_are_clear_and_exit_non_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path();
    ok(&run(
        &["write", "s", "--roll", "1m", "--time-prefix"],
        r,
        b"1723161240000000000 a\n1723161300000000000 b\n",
    ));
    let e = err(&run(&["upload", "s", "ftp://x/y"], r, b""));
    assert!(e.contains("unsupported scheme \"ftp\""), "{e}");
    let e = err(&run(
        &[
            "upload",
            "s",
            "s3://b/p",
            "--s3-endpoint",
            "http://127.0.0.1:9",
            "--retries",
            "1",
            "--retry-timeout",
            "2",
        ],
        r,
        b"",
    ));
    assert!(
        e.contains("127.0.0.1:9") && e.to_lowercase().contains("connect"),
        "{e}"
    );
    let (Ok(ep), Ok(auth)) = (
        std::env::var("EVENTSTORE_TEST_S3_ENDPOINT"),
        std::env::var("EVENTSTORE_TEST_S3_AUTH_ENDPOINT"),
    ) else {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "the S3 servers are not running"
        );
        eprintln!("skipping the S3 cases: run under scripts/test.sh");
        return;
    };
    let e = err(&run(
        &["upload", "s", "s3://no-such-bucket/p", "--s3-endpoint", &ep],
        r,
        b"",
    ));
    assert!(e.contains("s3://no-such-bucket/p: no such bucket"), "{e}");
    let e = err(&run(
        &[
            "ls",
            "s3://eventstore-auth/p",
            "--s3-endpoint",
            &auth,
            "--retries",
            "0",
        ],
        r,
        b"",
    ));
    assert!(e.contains("access denied, check the credentials"), "{e}");
}

/// `upload --watch` uploads files as another process seals them, without
/// being restarted; `poll --watch` brings them to a second root.
#[test]
fn upload_and_poll_watch_follow_new_files() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let dst = tmp.path().join("dst");
    std::fs::create_dir_all(&src).unwrap();
    let url = format!("file://{}", tmp.path().join("bucket").display());
    let spawn = |args: &[&str]| {
        bin()
            .args(args)
            .env("EVENTSTORE_ROOT", &src)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    // The stream exists (one sealed file) before the watchers start.
    ok(&run(
        &["write", "w/s", "--time-prefix", "--roll", "1m"],
        &src,
        b"1723161240000000000 first\n",
    ));
    let mut up = spawn(&["upload", "w/s", &url, "--watch", "--rescan", "30"]);
    let mut poll = spawn(&[
        "poll",
        &url,
        dst.to_str().unwrap(),
        "--watch",
        "--interval",
        "1",
    ]);
    std::thread::sleep(std::time::Duration::from_millis(500));
    // Three more minutes of records: the writer seals three more files.
    let lines: String = (1..4)
        .map(|m| {
            format!(
                "{} minute {m}\n",
                1_723_161_240_000_000_000i64 + m * 60_000_000_000
            )
        })
        .collect();
    ok(&run(
        &["write", "w/s", "--time-prefix", "--roll", "1m"],
        &src,
        lines.as_bytes(),
    ));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut got = 0;
    while std::time::Instant::now() < deadline {
        got = std::fs::read_dir(dst.join("w/s"))
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
                    .count()
            })
            .unwrap_or(0);
        if got == 4 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = up.kill();
    let _ = poll.kill();
    let _ = up.wait();
    let _ = poll.wait();
    assert_eq!(
        got, 4,
        "every sealed file reached the second root while the watchers ran"
    );
    let raw = ok(&run(
        &["read", "w/s", "-o", "raw", "--root", dst.to_str().unwrap()],
        &src,
        b"",
    ));
    assert_eq!(raw, "first\nminute 1\nminute 2\nminute 3\n");
}

/// Output cut short by the reader (`| head`) ends the command quietly, never a panic.
#[test]
fn a_closed_pipe_is_not_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path();
    // 300 one-minute files: `info` prints a line for each.
    let lines: String = (0..300i64)
        .map(|i| format!("{} x\n", 1_723_161_240_000_000_000i64 + i * 60_000_000_000))
        .collect();
    ok(&run(
        &["write", "p", "--time-prefix", "--roll", "1m"],
        r,
        lines.as_bytes(),
    ));
    let mut child = bin()
        .args(["info", "p"])
        .env("EVENTSTORE_ROOT", r)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 10];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// `import binance` then `trades`: CSV rows carry the source's exact
/// strings; a bad row fails with file and line and writes nothing.
#[test]
fn binance_trades_import_and_query_from_the_command_line() {
    let Some(data) = market_data() else { return };
    let gz = data.join("binance/spot_btcusdt_20240808.hftbacktest.gz");
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path();
    let out = ok(&run(
        &["import", "binance", gz.to_str().unwrap(), "--roll", "1m"],
        r,
        b"",
    ));
    assert!(
        out.contains("binance/btcusdt/trades: 9757 records"),
        "{out}"
    );
    let csv = ok(&run(
        &[
            "trades",
            "binance/btcusdt/trades",
            "--format",
            "csv",
            "--from",
            "2024-08-08T23:58:00Z",
            "--to",
            "2024-08-08T23:59:00Z",
        ],
        r,
        b"",
    ));
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows[0], "local_ts,exchange_ts,price,size,side,trade_id");
    assert!(rows.len() > 100);
    for row in &rows[1..] {
        let f: Vec<&str> = row.split(',').collect();
        let ts: i64 = f[0].parse().unwrap();
        assert!((1_723_161_480_000_000_000..1_723_161_540_000_000_000).contains(&ts));
        assert_eq!(f[2].split_once('.').unwrap().1.len(), 8, "{row}");
    }
    let bad = tmp.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"e\":\"trade\",\"s\":\"X\",\"t\":1,\"p\":\"1.0\",\"q\":\"oops\",\"T\":1,\"m\":true}\n",
    )
    .unwrap();
    let e = err(&run(
        &["import", "binance", bad.to_str().unwrap()],
        &r.join("b"),
        b"",
    ));
    assert!(e.contains(&format!("{}:1: ", bad.display())), "{e}");
    assert!(!r.join("b").join("binance").exists());
}

/// The Python with DuckDB that scripts/test.sh prepares; absent outside it
/// (skip), required under CI.
#[cfg(feature = "parquet")]
fn test_python() -> Option<std::ffi::OsString> {
    let p = std::env::var_os("EVENTSTORE_TEST_PYTHON");
    if p.is_none() {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "EVENTSTORE_TEST_PYTHON must be set under CI"
        );
        eprintln!("skipped: EVENTSTORE_TEST_PYTHON is not set (scripts/test.sh sets it)");
    }
    p
}

/// `trades --format parquet` on the real trades, read back by DuckDB (from
/// the test Python that scripts/test.sh prepares): typed columns, exact
/// decimals.
#[cfg(feature = "parquet")]
#[test]
fn parquet_export_is_read_by_duckdb_with_exact_decimals() {
    let Some(data) = market_data() else { return };
    let Some(python) = test_python() else { return };
    let gz = data.join("binance/spot_btcusdt_20240808.hftbacktest.gz");
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path();
    ok(&run(&["import", "binance", gz.to_str().unwrap()], r, b""));
    let out = r.join("t.parquet");
    ok(&run(
        &[
            "trades",
            "binance/btcusdt/trades",
            "--format",
            "parquet",
            "-o",
            out.to_str().unwrap(),
        ],
        r,
        b"",
    ));
    let q = format!(
        "import duckdb\nprint(duckdb.sql(\"select count(*), any_value(typeof(price)), any_value(typeof(local_ts)), sum(size)::varchar, (select price::varchar || ' ' || size::varchar || ' ' || side from '{p}' order by local_ts limit 1) from '{p}'\").fetchall())",
        p = out.display()
    );
    let o = Command::new(python).args(["-c", &q]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "[(9757, 'DECIMAL(38,8)', 'TIMESTAMPTZ_NS', '212.03315000', '61837.63000000 0.02000000 sell')]"
    );
}

/// BitMEX's UUID trade ids print back as the venue gave them: in CSV, in
/// JSON (as strings) and in Parquet (`trade_id_text`, read by DuckDB).
#[test]
fn text_trade_ids_print_as_the_venue_gave_them() {
    let Some(data) = market_data() else { return };
    let csv_in = data.join("tardis/bitmex_trades_XBTUSD.csv");
    let src = std::fs::read_to_string(&csv_in).unwrap();
    let ids: Vec<&str> = src
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(4).unwrap())
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path();
    ok(&run(
        &["import", "tardis-trades", csv_in.to_str().unwrap()],
        r,
        b"",
    ));
    let stream = "bitmex/xbtusd/trades";
    let csv = ok(&run(&["trades", stream, "--format", "csv"], r, b""));
    let got: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(5).unwrap())
        .collect();
    assert_eq!(got, ids);
    let json = ok(&run(&["trades", stream, "--format", "json"], r, b""));
    let got: Vec<String> = json
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["trade_id"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(got, ids);
    #[cfg(feature = "parquet")]
    if let Some(python) = test_python() {
        let out = r.join("t.parquet");
        let args = [
            "trades",
            stream,
            "--format",
            "parquet",
            "-o",
            out.to_str().unwrap(),
        ];
        ok(&run(&args, r, b""));
        let q = format!(
            "import duckdb\nfor row in duckdb.sql(\"select trade_id_text, trade_id from '{}' order by local_ts\").fetchall(): print(row[0], row[1])",
            out.display()
        );
        let o = Command::new(python).args(["-c", &q]).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let want: Vec<String> = ids.iter().map(|i| format!("{i} None")).collect();
        assert_eq!(
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .collect::<Vec<_>>(),
            want
        );
    }
}

/// LOBSTER's message and orderbook files in one import: `book --at`
/// prints exactly the published levels of the last message before the
/// time, and no level beyond the ten published.
#[test]
fn lobster_message_and_orderbook_files_give_the_published_book() {
    let Some(data) = market_data() else { return };
    let (msg, ob) = (
        data.join("lobster/AMZN_message_20k.csv.gz"),
        data.join("lobster/AMZN_orderbook_20k.csv.gz"),
    );
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path();
    let out = ok(&run(
        &[
            "import",
            "lobster",
            "--date",
            "2012-06-21T04:00:00Z",
            "--symbol",
            "AMZN",
            msg.to_str().unwrap(),
            ob.to_str().unwrap(),
        ],
        r,
        b"",
    ));
    assert!(out.contains("aligned"), "{out}");
    let read = |p: &std::path::Path| {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut gunzip(p), &mut s).unwrap();
        s
    };
    let messages = read(&msg);
    let books = read(&ob);
    let (mlines, blines): (Vec<&str>, Vec<&str>) =
        (messages.lines().collect(), books.lines().collect());
    // The last message of its time, some way into the file.
    let i = (5_000..)
        .find(|&i| mlines[i].split(',').next() != mlines[i + 1].split(',').next())
        .unwrap();
    let secs = mlines[i].split(',').next().unwrap();
    let ns = 1_340_251_200_000_000_000i64 + seconds_ns(secs) + 1;
    let csv = ok(&run(
        &[
            "book",
            "nasdaq/amzn/orders",
            "--at",
            &ns.to_string(),
            "--format",
            "csv",
            "--depth",
            "20",
        ],
        r,
        b"",
    ));
    let row: Vec<i64> = blines[i].split(',').map(|v| v.parse().unwrap()).collect();
    let p4 = |v: i64| format!("{}.{:04}", v / 10_000, v % 10_000);
    let mut want = vec!["side,level,price,size".to_string()];
    for (side, (pc, sc)) in [("bid", (2, 3)), ("ask", (0, 1))] {
        for l in 0..10 {
            want.push(format!(
                "{side},{l},{},{}",
                p4(row[4 * l + pc]),
                row[4 * l + sc]
            ));
        }
    }
    assert_eq!(csv.lines().collect::<Vec<_>>(), want);
    let text = ok(&run(
        &["book", "nasdaq/amzn/orders", "--at", &ns.to_string()],
        r,
        b"",
    ));
    assert!(text.contains("10 levels a side are published"), "{text}");
}

/// A gzip file's text, read with the system's `gzip`.
fn gunzip(p: &std::path::Path) -> std::process::ChildStdout {
    Command::new("gzip")
        .args(["-dc", p.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap()
        .stdout
        .unwrap()
}

/// Seconds after midnight (up to 9 decimals) as ns.
fn seconds_ns(s: &str) -> i64 {
    let (i, f) = s.split_once('.').unwrap_or((s, ""));
    i.parse::<i64>().unwrap() * 1_000_000_000 + format!("{f:0<9}")[..9].parse::<i64>().unwrap()
}

/// The ledger of the real Binance depth stream with one diff taken out:
/// `audit` shows the gap with its cause and ids (text, CSV, JSON), `orders
/// --format csv` flags every row from the gap on as unreliable, and `book
/// --at` says since when and why.
#[test]
fn audit_orders_and_book_show_a_gap_and_its_cause() {
    let Some(data) = market_data() else { return };
    let gz = data.join("binance/spot_btcusdt_20240808.hftbacktest.gz");
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut gunzip(&gz), &mut text).unwrap();
    let mut diffs = 0;
    let mut expected = 0u64;
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| {
            if l.contains("\"depthUpdate\"") {
                diffs += 1;
                if diffs == 1500 {
                    let u = l.split("\"U\":").nth(1).unwrap();
                    expected = u.split(',').next().unwrap().parse().unwrap();
                    return false;
                }
            }
            true
        })
        .collect();
    let input = r.join("gap.txt");
    std::fs::write(&input, kept.join("\n")).unwrap();
    ok(&run(
        &["import", "binance", input.to_str().unwrap(), "--roll", "1m"],
        r,
        b"",
    ));
    let stream = "binance/btcusdt/depth";
    let csv = ok(&run(&["audit", stream, "--format", "csv"], r, b""));
    let gaps: Vec<&str> = csv.lines().filter(|l| l.contains(",gap,")).collect();
    assert_eq!(gaps.len(), 1, "{csv}");
    let g: Vec<&str> = gaps[0].split(',').collect();
    assert_eq!(
        (g[4], g[5]),
        ("missing_update", expected.to_string().as_str()),
        "{csv}"
    );
    let gap_ts: i64 = g[3].parse().unwrap();
    assert!(
        csv.lines().filter(|l| l.contains(",file,")).count() >= 6,
        "{csv}"
    );
    assert_eq!(
        csv.lines().filter(|l| l.contains(",reliable,")).count(),
        1,
        "{csv}"
    );
    let json = ok(&run(&["audit", stream, "--format", "json"], r, b""));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["gaps"], 1);
    let entries: Vec<&serde_json::Value> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["entries"].as_array().unwrap())
        .collect();
    assert_eq!(entries[1]["cause"], "missing update");
    assert_eq!(entries[1]["expected_update_id"], expected);
    let txt = ok(&run(&["audit", stream], r, b""));
    assert!(
        txt.contains("GAP, missing update (expected update"),
        "{txt}"
    );
    // orders: every row from the gap on carries u, none between sync and gap.
    let orders = ok(&run(
        &["orders", stream, "--from", "0", "--format", "csv"],
        r,
        b"",
    ));
    let rows: Vec<Vec<&str>> = orders
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    let at = rows.iter().position(|f| f[3] == "gap").unwrap();
    assert_eq!(rows[at][4], "missing_update");
    assert_eq!(rows[at][12], expected.to_string());
    assert!(rows[at..].iter().all(|f| f[9].contains('u')));
    let synced = rows.iter().position(|f| !f[9].contains('u')).unwrap();
    assert!(rows[synced..at].iter().all(|f| !f[9].contains('u')));
    let book = ok(&run(
        &["book", stream, "--at", &(gap_ts + 1).to_string()],
        r,
        b"",
    ));
    assert!(book.contains("UNRELIABLE since 2024-08-08T"), "{book}");
    assert!(book.contains(": missing update"), "{book}");
    let book = ok(&run(
        &["book", stream, "--at", &(gap_ts - 1).to_string()],
        r,
        b"",
    ));
    assert!(book.contains(" reliable since 2024-08-08T"), "{book}");
}

/// `book` and `orders` on the real Binance depth stream, rolled by minute.
#[test]
fn order_book_commands_on_the_real_binance_recording() {
    let Some(data) = market_data() else { return };
    let gz = data.join("binance/spot_btcusdt_20240808.hftbacktest.gz");
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path();
    ok(&run(
        &["import", "binance", gz.to_str().unwrap(), "--roll", "1m"],
        r,
        b"",
    ));
    let s = "binance/btcusdt/depth";
    let t = "2024-08-08T23:58:00Z";
    let csv = ok(&run(
        &["book", s, "--at", t, "--depth", "5", "--format", "csv"],
        r,
        b"",
    ));
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 10, "{csv}");
    let price = |r: &Vec<&str>| r[2].parse::<f64>().unwrap();
    assert!(rows[..5].iter().all(|r| r[0] == "bid"));
    assert!(rows[..5].windows(2).all(|w| price(&w[0]) > price(&w[1])));
    assert!(rows[5..].windows(2).all(|w| price(&w[0]) < price(&w[1])));
    assert!(price(&rows[0]) < price(&rows[5]), "not crossed");
    // The book at T equals the first row of the book every second from T.
    let at = ok(&run(
        &["book", s, "--at", t, "--depth", "5", "--format", "json"],
        r,
        b"",
    ));
    let every = ok(&run(
        &[
            "book",
            s,
            "--every",
            "1s",
            "--from",
            t,
            "--to",
            "2024-08-08T23:58:10Z",
            "--depth",
            "5",
            "--format",
            "json",
        ],
        r,
        b"",
    ));
    assert_eq!(every.lines().count(), 10);
    assert_eq!(every.lines().next(), at.lines().next());
    assert!(at.contains("\"reliable\":true"), "{at}");
    // orders: the snapshot batch (no seq), the last of it flagged, then updates.
    let orders = ok(&run(
        &[
            "orders",
            s,
            "--from",
            t,
            "--to",
            "2024-08-08T23:58:01Z",
            "--format",
            "csv",
        ],
        r,
        b"",
    ));
    let lines: Vec<&str> = orders.lines().collect();
    assert!(lines[0].starts_with("seq,local_ts"));
    assert!(
        lines[1].starts_with(",") && lines[1].contains(",clear,"),
        "{}",
        lines[1]
    );
    let batch = lines[1..].iter().take_while(|l| l.starts_with(',')).count();
    assert!(batch > 1000, "{batch} snapshot records");
    let flags = |l: &str| l.split(',').nth(9).unwrap().to_string();
    assert_eq!(flags(lines[batch]), "sl", "{}", lines[batch]);
    assert!(lines[1..batch].iter().all(|l| flags(l) == "s"));
    assert!(lines.len() > batch + 10);
    assert!(lines[batch + 1..].iter().all(|l| !l.starts_with(',')));
    // Not an order stream; no time given.
    let e = err(&run(&["book", "binance/btcusdt/trades", "--at", t], r, b""));
    assert!(e.contains("not order book updates"), "{e}");
    let e = err(&run(&["book", s], r, b""));
    assert!(e.contains("--at"), "{e}");
    let e = err(&run(&["book", s, "--at", t, "--format", "parquet"], r, b""));
    assert!(e.contains("--every"), "{e}");
    let e = err(&run(&["book", s, "--every", "0s", "--from", t], r, b""));
    assert!(e.contains("positive"), "{e}");
    let e = err(&run(&["orders", s, "--from", "yesterday"], r, b""));
    assert!(e.contains("yesterday"), "{e}");
}

/// `book --every --format parquet` read back by DuckDB: typed, exact.
#[cfg(feature = "parquet")]
#[test]
fn book_rows_export_to_parquet_for_duckdb() {
    let Some(data) = market_data() else { return };
    let Some(python) = test_python() else { return };
    let gz = data.join("binance/spot_btcusdt_20240808.hftbacktest.gz");
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path();
    ok(&run(&["import", "binance", gz.to_str().unwrap()], r, b""));
    let out = r.join("b.parquet");
    let args = [
        "book",
        "binance/btcusdt/depth",
        "--every",
        "1s",
        "--from",
        "2024-08-08T23:55:00Z",
        "--to",
        "2024-08-08T23:59:00Z",
        "--depth",
        "3",
    ];
    let csv = ok(&run(&[&args[..], &["--format", "csv"]].concat(), r, b""));
    ok(&run(
        &[
            &args[..],
            &["--format", "parquet", "-o", out.to_str().unwrap()],
        ]
        .concat(),
        r,
        b"",
    ));
    let q = format!(
        "import duckdb\nprint(duckdb.sql(\"select count(*), any_value(typeof(bid_price_0)), any_value(typeof(ts)), (select bid_price_0::varchar || ',' || ask_size_2::varchar from '{p}' order by ts desc limit 1) from '{p}'\").fetchall())",
        p = out.display()
    );
    let o = Command::new(python).args(["-c", &q]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let last: Vec<&str> = csv.lines().last().unwrap().split(',').collect();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        format!(
            "[(240, 'DECIMAL(38,8)', 'TIMESTAMPTZ_NS', '{},{}')]",
            last[2], last[13]
        )
    );
}

/// `upload` builds the market sidecars that are missing (book snapshots,
/// trade summaries) and uploads them with their files.
#[test]
fn upload_builds_and_carries_market_sidecars() {
    let Some(data) = market_data() else { return };
    let gz = data.join("binance/spot_btcusdt_20240808.hftbacktest.gz");
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path().join("root");
    ok(&run(
        &["import", "binance", gz.to_str().unwrap(), "--roll", "1m"],
        &r,
        b"",
    ));
    let depth = r.join("binance/btcusdt/depth");
    let trades = r.join("binance/btcusdt/trades");
    let mut removed = 0;
    for dir in [&depth, &trades] {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            if n.ends_with(".log.book") || n.ends_with(".log.summary.json") {
                std::fs::remove_file(&p).unwrap();
                removed += 1;
            }
        }
    }
    assert!(removed >= 12, "{removed}");
    let remote = tmp.path().join("remote");
    std::fs::create_dir_all(&remote).unwrap();
    let url = format!("file://{}", remote.display());
    ok(&run(&["upload", r.to_str().unwrap(), &url], &r, b""));
    for (stream, sfx) in [("depth", ".book"), ("trades", ".summary.json")] {
        let local = r.join("binance/btcusdt").join(stream);
        let mut n = 0;
        for e in std::fs::read_dir(&local).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".log") {
                let side = format!("{name}{sfx}");
                assert!(local.join(&side).exists(), "{side} built");
                assert!(
                    remote
                        .join("binance/btcusdt")
                        .join(stream)
                        .join(&side)
                        .exists(),
                    "{side} uploaded"
                );
                n += 1;
            }
        }
        assert!(n >= 6, "{stream}: {n} files");
    }
}

#[test]
fn write_compact_and_the_compact_command_keep_every_record() {
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path();
    let lines: String = (0..3_000)
        .map(|i| {
            format!(
                "{} {{\"seq\":{i},\"price\":\"61837.{:02}\",\"side\":\"buy\"}}\n",
                1_723_161_240_000_000_000i64 + i * 100_000_000,
                i % 100
            )
        })
        .collect();
    let payloads: String = lines
        .lines()
        .map(|l| format!("{}\n", l.split_once(' ').unwrap().1))
        .collect();
    // Written compact: every sealed file becomes compact behind the appends.
    ok(&run(
        &["write", "c", "--time-prefix", "--roll", "1m", "--compact"],
        r,
        lines.as_bytes(),
    ));
    // Written as frames, made compact afterwards by the command.
    ok(&run(
        &["write", "f", "--time-prefix", "--roll", "1m"],
        r,
        lines.as_bytes(),
    ));
    let before = ok(&run(&["info", "f"], r, b""));
    assert!(before.contains("sealed  framed"), "{before}");
    let out = ok(&run(&["compact", "f"], r, b""));
    assert!(out.contains("5 files compacted"), "{out}");
    assert!(out.contains("zstd records"), "{out}");
    for s in ["c", "f"] {
        let info = ok(&run(&["info", s], r, b""));
        assert_eq!(info.matches("sealed  compact").count(), 5, "{s}: {info}");
        assert!(info.contains("records  3000"), "{info}");
        let raw = ok(&run(&["read", s, "-o", "raw"], r, b""));
        assert_eq!(raw, payloads, "{s}");
        let v = ok(&run(&["verify", s], r, b""));
        assert!(v.contains("5 files in 1 streams: 5 good, 0 damaged"), "{v}");
        let t = ok(&run(
            &[
                "read",
                s,
                "--from-time",
                "2024-08-08T23:56:00Z",
                "-n",
                "1",
                "-o",
                "raw",
            ],
            r,
            b"",
        ));
        assert_eq!(
            t,
            "{\"seq\":1200,\"price\":\"61837.00\",\"side\":\"buy\"}\n"
        );
    }
    // Nothing left to do; a bad level is refused.
    assert!(ok(&run(&["compact"], r, b"")).contains("0 files compacted"));
    assert!(err(&run(&["compact", "f", "--level", "40"], r, b"")).contains("--level 40"));
}
