//! Databento DBN files (zstd-compressed or not), read with the `dbn` crate:
//! MBO records become order events in `<dataset>/<symbol>/orders`, trades
//! become trades in `<dataset>/<symbol>/trades`. Prices are DBN's fixed
//! point (10^-9), sizes are contracts or shares.

use crate::import::rows::{MarketRecord, ParsedLine};
use crate::records::level::{BookSide, FLAG_LAST, FLAG_SNAPSHOT};
use crate::records::meta::StreamKind;
use crate::records::order::{Action, OrderEvent};
use crate::records::trade::{Side, Trade};
use crate::{Error, Result};
use dbn::decode::{DbnMetadata, DecodeRecordRef};
use dbn::Record as _;
use std::path::Path;

/// A stream-name-safe version of a symbol or dataset.
fn safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.=".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect::<String>()
        .trim_start_matches('.')
        .to_string()
}

/// What a [`Watched`] reader has passed on.
#[derive(Default)]
struct Seen {
    /// Bytes read.
    bytes: u64,
    /// The first 8 bytes (`DBN`, version, metadata length).
    head: [u8; 8],
    /// The first read error, which the decoder would take for the end.
    error: Option<std::io::Error>,
    /// Where the next record starts in the DBN data (known once the
    /// metadata's length has been read).
    next_record: Option<u64>,
}

/// The shortest DBN record: its header.
const MIN_RECORD: u64 = 16;

/// The DBN data as read (decompressed), counted, with its read errors kept.
struct Watched {
    inner: Box<dyn std::io::Read>,
    seen: std::rc::Rc<std::cell::RefCell<Seen>>,
}

impl std::io::Read for Watched {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.inner.read(buf) {
            Ok(k) => {
                let mut s = self.seen.borrow_mut();
                let at = s.bytes as usize;
                if at < 8 {
                    let take = (8 - at).min(k);
                    s.head[at..at + take].copy_from_slice(&buf[..take]);
                }
                s.bytes += k as u64;
                if s.next_record.is_none() && s.bytes >= 8 {
                    let meta = u32::from_le_bytes([s.head[4], s.head[5], s.head[6], s.head[7]]);
                    s.next_record = Some(8 + u64::from(meta));
                }
                // Each record's length (its first byte, in 4-byte words) is
                // checked before the decoder sees it: `dbn` places records
                // one after another in an 8-byte aligned buffer and reads
                // each as a struct, so a length that is not a multiple of 8
                // would make it read an unaligned record.
                let end = s.bytes;
                while let Some(at) = s.next_record.filter(|&r| r < end) {
                    let len = u64::from(buf[(at - (end - k as u64)) as usize]) * 4;
                    if len < MIN_RECORD || len % 8 != 0 {
                        let e = std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            format!(
                                "the record at byte {at} of the DBN data says it is {len} bytes long \
                                 (a record is a multiple of 8 bytes, at least {MIN_RECORD})"
                            ),
                        );
                        s.error = Some(std::io::Error::new(e.kind(), e.to_string()));
                        s.bytes -= k as u64;
                        return Err(e);
                    }
                    s.next_record = Some(at + len);
                }
                Ok(k)
            }
            Err(e) => {
                let mut s = self.seen.borrow_mut();
                if s.error.is_none() {
                    s.error = Some(std::io::Error::new(e.kind(), e.to_string()));
                }
                Err(e)
            }
        }
    }
}

/// Call `f(record number from 1, row)` for every record of `path` (a DBN
/// file, zstd-compressed `.dbn.zst` or not). A file cut short (inside a
/// record, or inside its zstd frame) is an error naming the record and
/// the offset, whatever `f` does with bad rows.
pub(crate) fn for_each_row(
    path: &Path,
    mut f: impl FnMut(u64, std::result::Result<Option<ParsedLine>, String>) -> Result<()>,
) -> Result<()> {
    let bad = |e: dbn::Error| Error::BadRow {
        file: path.to_path_buf(),
        line: 0,
        reason: format!("not a DBN file: {e}"),
    };
    let file = std::fs::File::open(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let seen = std::rc::Rc::new(std::cell::RefCell::new(Seen::default()));
    let inner: Box<dyn std::io::Read> = if path.to_string_lossy().ends_with(".zst") {
        Box::new(
            zstd::stream::read::Decoder::new(file).map_err(|e| Error::Io {
                path: path.to_path_buf(),
                source: e,
            })?,
        )
    } else {
        Box::new(std::io::BufReader::new(file))
    };
    let mut dec = dbn::decode::dbn::Decoder::new(Watched {
        inner,
        seen: seen.clone(),
    })
    .map_err(bad)?;
    let meta = dec.metadata().clone();
    let venue = safe(&meta.dataset.to_ascii_lowercase());
    let only = (meta.symbols.len() == 1).then(|| safe(&meta.symbols[0]));
    let mut n = 0u64;
    // Bytes of DBN data accounted for: the metadata, then each record.
    let mut used = {
        let s = seen.borrow();
        8 + u64::from(u32::from_le_bytes([
            s.head[4], s.head[5], s.head[6], s.head[7],
        ]))
    };
    loop {
        let rec = match dec.decode_record_ref() {
            Ok(Some(r)) => r,
            // The decoder takes a read error or a partial record at the end
            // for the end of the data: a cut file would import silently.
            Ok(None) => {
                let s = seen.borrow();
                let cut = |reason: String| Error::BadRow {
                    file: path.to_path_buf(),
                    line: n + 1,
                    reason,
                };
                if let Some(e) = &s.error {
                    return Err(cut(format!(
                        "the file is cut short or damaged after {} bytes of DBN data (record {}): {e}",
                        s.bytes,
                        n + 1
                    )));
                }
                if s.bytes != used {
                    return Err(cut(format!(
                        "the file ends inside record {} at byte {used} of the DBN data ({} bytes of it are there)",
                        n + 1,
                        s.bytes - used
                    )));
                }
                return Ok(());
            }
            Err(e) => {
                n += 1;
                return f(n, Err(format!("record cannot be decoded: {e}")));
            }
        };
        n += 1;
        used += rec.record_size() as u64;
        let symbol = only
            .clone()
            .unwrap_or_else(|| rec.header().instrument_id.to_string());
        let row = if let Some(m) = rec.get::<dbn::MboMsg>() {
            let action = match m.action as u8 {
                b'A' => Action::Add,
                b'C' => Action::Cancel,
                b'M' => Action::Modify,
                b'R' => Action::Clear,
                // Databento reports executions in `T` and `F` records and
                // changes the book in the cancel or modify that follows.
                b'T' | b'F' => Action::Trade,
                b'N' => Action::Other,
                a => {
                    f(
                        n,
                        Err(format!(
                            "MBO action {:?} is not one of A C M R F T N",
                            a as char
                        )),
                    )?;
                    continue;
                }
            };
            let side = match m.side as u8 {
                b'B' => BookSide::Bid,
                b'A' => BookSide::Ask,
                _ => BookSide::None,
            };
            let mut flags = 0;
            if m.flags.is_snapshot() {
                flags |= FLAG_SNAPSHOT;
            }
            if m.flags.is_last() {
                flags |= FLAG_LAST;
            }
            Some(ParsedLine::Records {
                venue: Some(venue.clone()),
                symbol: Some(symbol),
                stream: "orders".to_string(),
                kind: StreamKind::OrdersL3,
                price_places: 9,
                size_places: 0,
                recs: vec![MarketRecord::Order(OrderEvent {
                    exchange_ts: m.hd.ts_event as i64,
                    local_ts: m.ts_recv as i64,
                    action,
                    side,
                    flags,
                    price: m.price,
                    size: m.size as i64,
                    order_id: m.order_id,
                    sequence: m.sequence as u64,
                })],
            })
        } else if let Some(t) = rec.get::<dbn::TradeMsg>() {
            Some(ParsedLine::Records {
                venue: Some(venue.clone()),
                symbol: Some(symbol),
                stream: "trades".to_string(),
                kind: StreamKind::Trades,
                price_places: 9,
                size_places: 0,
                recs: vec![MarketRecord::Trade(Trade {
                    exchange_ts: t.hd.ts_event as i64,
                    local_ts: t.ts_recv as i64,
                    price: t.price,
                    size: t.size as i64,
                    // The aggressor: 'A' the seller hit the bid, 'B' the buyer lifted the ask.
                    side: match t.side as u8 {
                        b'A' => Side::Sell,
                        b'B' => Side::Buy,
                        _ => Side::Unknown,
                    },
                    // DBN trades carry the venue's sequence number, not a trade id.
                    trade_id: (t.sequence as u64).into(),
                })],
            })
        } else {
            Some(ParsedLine::Other(format!(
                "dbn rtype 0x{:02x}",
                rec.header().rtype
            )))
        };
        f(n, Ok(row))?;
    }
}
