//! Per-file summaries of a trade stream: count, first and last receive
//! time, open/high/low/close, volume by side and notional, kept next to
//! each sealed file as `<file>.summary.json`. Built on first use (or by
//! `summarize` when an import seals files) and uploaded and polled with the
//! file, so a day's totals or hourly bars over hourly files need no trade
//! to be read.

use crate::read::bars::Bar;
use crate::records::trade::Trade;
use crate::{Error, Result};
use eventstore_log::{files, FileEntry, ReadOptions, StartAt, StopAt, StreamReader};
use std::path::{Path, PathBuf};

/// Suffix of a file's summary, after the file's name.
pub const SUMMARY_SUFFIX: &str = ".summary.json";

/// The trades of one file, summarised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileSummary {
    /// Size of the log file summarised (a summary of another size is stale).
    pub file_bytes: u64,
    pub first_seq: u64,
    pub trades: u64,
    /// Receive times of the first and last trade; `None` without trades.
    pub first_ts: Option<i64>,
    pub last_ts: Option<i64>,
    /// Open, high, low, close, volumes and notional, as a bar; `None` without trades.
    pub bar: Option<Bar>,
}

impl FileSummary {
    pub fn to_json(&self) -> String {
        let b = self.bar;
        serde_json::json!({
            "format": "eventstore.trades.summary/1",
            "file_bytes": self.file_bytes,
            "first_seq": self.first_seq,
            "trades": self.trades,
            "first_ts": self.first_ts,
            "last_ts": self.last_ts,
            "open": b.map(|b| b.open),
            "high": b.map(|b| b.high),
            "low": b.map(|b| b.low),
            "close": b.map(|b| b.close),
            "volume": b.map(|b| b.volume),
            "buy_volume": b.map(|b| b.buy_volume),
            "sell_volume": b.map(|b| b.sell_volume),
            "notional": b.map(|b| b.notional.to_string()),
        })
        .to_string()
    }

    pub fn from_json(text: &str) -> std::result::Result<FileSummary, String> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if v["format"] != "eventstore.trades.summary/1" {
            return Err("unknown format".into());
        }
        let u = |k: &str| v[k].as_u64().ok_or_else(|| format!("no {k}"));
        let i = |k: &str| v[k].as_i64();
        let trades = u("trades")?;
        let bar = if trades == 0 {
            None
        } else {
            let g = |k: &str| i(k).ok_or_else(|| format!("no {k}"));
            Some(Bar {
                start_ns: g("first_ts")?,
                open: g("open")?,
                high: g("high")?,
                low: g("low")?,
                close: g("close")?,
                volume: g("volume")?,
                buy_volume: g("buy_volume")?,
                sell_volume: g("sell_volume")?,
                trades,
                notional: v["notional"]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .ok_or("no notional")?,
            })
        };
        Ok(FileSummary {
            file_bytes: u("file_bytes")?,
            first_seq: u("first_seq")?,
            trades,
            first_ts: i("first_ts"),
            last_ts: i("last_ts"),
            bar,
        })
    }
}

/// Where the summary of `file` lives.
pub fn summary_path(file: &Path) -> PathBuf {
    let mut name = file.file_name().unwrap_or_default().to_os_string();
    name.push(SUMMARY_SUFFIX);
    file.with_file_name(name)
}

/// Summarise one file by reading its trades.
fn compute(dir: &Path, info: &eventstore_log::FileInfo, file_bytes: u64) -> Result<FileSummary> {
    let opts = ReadOptions::from(StartAt::Seq(info.first_seq))
        .stop(StopAt::Seq(info.first_seq + info.records));
    crate::compact::install();
    let mut r = StreamReader::open_dir(dir, opts)?;
    let mut s = FileSummary {
        file_bytes,
        first_seq: info.first_seq,
        trades: 0,
        first_ts: None,
        last_ts: None,
        bar: None,
    };
    while let Some(rec) = r.next()? {
        let t = Trade::decode(rec.payload).map_err(|reason| Error::BadRecord {
            stream: dir.display().to_string(),
            seq: rec.seq,
            reason,
        })?;
        s.trades += 1;
        s.first_ts.get_or_insert(t.local_ts);
        s.last_ts = Some(t.local_ts);
        match &mut s.bar {
            Some(b) => b.add(&t),
            None => s.bar = Some(Bar::new(t.local_ts, &t)),
        }
    }
    Ok(s)
}

/// The summary of every sealed file of the trade stream in `dir`, oldest
/// first: read from each file's sidecar when it is there and current,
/// otherwise computed from the file and stored.
pub fn summaries(dir: &Path) -> Result<Vec<(FileEntry, FileSummary)>> {
    let mut out = Vec::new();
    let mut infos = None;
    for f in files::list_files(dir)? {
        if !f.sealed {
            continue;
        }
        let bytes = std::fs::metadata(&f.path)
            .map_err(|e| Error::Io {
                path: f.path.clone(),
                source: e,
            })?
            .len();
        let side = summary_path(&f.path);
        let mut cached = std::fs::read_to_string(&side)
            .ok()
            .and_then(|t| FileSummary::from_json(&t).ok());
        if let Some(s) = cached.as_mut().filter(|s| s.file_bytes != bytes) {
            // The file may have become compact since: the same records
            // (the same first sequence number and count) in fewer bytes.
            let same = eventstore_log::file_info(&f)
                .is_ok_and(|i| i.sealed && i.first_seq == s.first_seq && i.records == s.trades);
            if same {
                s.file_bytes = bytes;
                let tmp = side.with_extension("json.tmp");
                if std::fs::write(&tmp, s.to_json()).is_ok() {
                    let _ = std::fs::rename(&tmp, &side);
                }
            } else {
                cached = None;
            }
        }
        let s = match cached {
            Some(s) => s,
            None => {
                // Sequence numbers of the file: from the stream's summary,
                // read once, only if some file needs computing.
                if infos.is_none() {
                    infos = Some(eventstore_log::stream_info(dir)?.files);
                }
                let info = infos
                    .iter()
                    .flatten()
                    .find(|i| i.start_ns == f.start_ns)
                    .ok_or_else(|| Error::Vanished {
                        path: f.path.clone(),
                    })?;
                let s = compute(dir, info, bytes)?;
                let tmp = side.with_extension("json.tmp");
                let io = |e| Error::Io {
                    path: side.clone(),
                    source: e,
                };
                std::fs::write(&tmp, s.to_json()).map_err(io)?;
                std::fs::rename(&tmp, &side).map_err(io)?;
                s
            }
        };
        out.push((f, s));
    }
    Ok(out)
}
