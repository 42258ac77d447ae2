//! The book snapshot kept for every file of an order stream:
//! `<file>.log.book` holds the whole [`Replay`] state as of the file's first
//! record (the book, the feed's sequencing state, diffs kept for a coming
//! snapshot), so reading from anywhere in the file replays that file only.
//! See `docs/format.md`, "Book snapshots".
//!
//! The codec is pure (`encode`/`decode` over bytes); the files are read and
//! written by [`crate::read::orders`].

use crate::book::l3::Order;
use crate::book::replay::{Book, BookKind, Cause, Decision, Phase, Replay};
use crate::records::level::{BookLevel, BookSide, BOOK_RECORD_LEN};
use std::path::{Path, PathBuf};

/// The book after a stream's last sealed file (see [`OrderStreamReader::build_snapshots`](crate::OrderStreamReader::build_snapshots)).
pub const NEXT_BOOK: &str = "book.next";

/// Suffix of a file's book snapshot, after the file's name.
pub const BOOK_SUFFIX: &str = ".book";

const MAGIC: &[u8; 8] = b"ESBOOK02";
/// The first version, without the book's reliability time and cause
/// (still read: both come out as "from the start", "no snapshot yet").
const MAGIC_V1: &[u8; 8] = b"ESBOOK01";
/// Length of the fixed header.
pub const HEADER_LEN: usize = 104;
const HEADER_LEN_V1: usize = 96;

/// Where the snapshot of the file at `file` (`<stem>.log` or
/// `<stem>.log.open`) lives: `<stem>.log.book` for both, so the snapshot
/// written while a file is open stays valid once it is sealed.
pub fn snapshot_path(file: &Path) -> PathBuf {
    let name = file.file_name().unwrap_or_default().to_string_lossy();
    let stem = name.strip_suffix(".open").unwrap_or(&name);
    file.with_file_name(format!("{stem}{BOOK_SUFFIX}"))
}

fn put(b: &mut Vec<u8>, v: u64) {
    b.extend_from_slice(&v.to_le_bytes());
}

/// Encode `r`, the state before the record `first_seq`.
// Format: {magic 8 | kind u8 | state u8 | phase u8 | decision u8 | cause u8 |
// 0 u8 x3 | first_seq u64 | last_ts i64 | last_id u64 | snapshot_id u64 |
// gaps u64 | unknown u64 | over u64 | dup u64 | since i64 | body_len u32 |
// raw_len u32 | body_crc u32 | header_crc u32} then the zstd body
// (docs/format.md).
pub fn encode(r: &Replay, first_seq: u64) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    let mut counts = [0u32; 4];
    let mut levels = Vec::new();
    let mut orders = Vec::new();
    match r.book() {
        Book::L2(book) => {
            for (i, side) in [BookSide::Bid, BookSide::Ask].into_iter().enumerate() {
                let it: Vec<_> = if side == BookSide::Bid {
                    book.bids().collect()
                } else {
                    book.asks().collect()
                };
                counts[i] = it.len() as u32;
                levels.extend(it);
            }
        }
        Book::L3(book) => {
            for (i, side) in [BookSide::Bid, BookSide::Ask].into_iter().enumerate() {
                let u = book.unattributed(side);
                counts[i] = u.len() as u32;
                levels.extend(u);
                for (price, _) in book.levels(side) {
                    orders.extend(book.queue(side, price));
                }
            }
            counts[2] = orders.len() as u32;
        }
    }
    counts[3] = r.pending.len() as u32;
    for c in counts {
        body.extend_from_slice(&c.to_le_bytes());
    }
    for (p, s) in levels {
        put(&mut body, p as u64);
        put(&mut body, s as u64);
    }
    for o in orders {
        put(&mut body, o.id);
        put(&mut body, o.price as u64);
        put(&mut body, o.size as u64);
        body.push(o.side as u8);
        body.extend_from_slice(&[0; 7]);
    }
    for (seq, l) in &r.pending {
        put(&mut body, *seq);
        body.extend_from_slice(&l.encode());
    }
    let raw_len = body.len();
    let body = zstd::bulk::compress(&body, 1)?;
    let mut h = Vec::with_capacity(HEADER_LEN + body.len());
    h.extend_from_slice(MAGIC);
    h.push(match r.kind() {
        BookKind::L2 => 2,
        BookKind::L3 => 4,
    });
    h.push(
        r.reliable as u8
            | (r.in_snapshot as u8) << 1
            | (r.snapshot_unreliable as u8) << 2
            | (r.event_start as u8) << 3,
    );
    h.push(r.phase as u8);
    h.push(r.decision as u8);
    h.push(r.cause as u8);
    h.extend_from_slice(&[0; 3]);
    let a = r.anomalies();
    for v in [
        first_seq,
        r.last_ts as u64,
        r.last_id,
        r.snapshot_id,
        r.gaps,
        a.unknown_order,
        a.over_cancel,
        a.duplicate_add,
        r.since as u64,
    ] {
        put(&mut h, v);
    }
    for v in [body.len() as u32, raw_len as u32, crc32c::crc32c(&body)] {
        h.extend_from_slice(&v.to_le_bytes());
    }
    let hc = crc32c::crc32c(&h);
    h.extend_from_slice(&hc.to_le_bytes());
    h.extend_from_slice(&body);
    Ok(h)
}

fn u64_at(b: &[u8], o: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[o..o + 8]);
    u64::from_le_bytes(x)
}

fn u32_at(b: &[u8], o: usize) -> u32 {
    let mut x = [0u8; 4];
    x.copy_from_slice(&b[o..o + 4]);
    u32::from_le_bytes(x)
}

/// The first sequence number a snapshot applies to, from its header (checked).
pub fn first_seq(b: &[u8]) -> Result<u64, String> {
    check_header(b)?;
    Ok(u64_at(b, 16))
}

/// Checks the header; returns its length (that of its version).
fn check_header(b: &[u8]) -> Result<usize, String> {
    let len = match b.get(..8) {
        Some(m) if m == MAGIC => HEADER_LEN,
        Some(m) if m == MAGIC_V1 => HEADER_LEN_V1,
        _ => return Err("not a book snapshot (its header has no ESBOOK magic)".into()),
    };
    if b.len() < len {
        return Err(format!(
            "{} bytes, shorter than the {len}-byte header",
            b.len()
        ));
    }
    if crc32c::crc32c(&b[..len - 4]) != u32_at(b, len - 4) {
        return Err("header checksum mismatch".into());
    }
    Ok(len)
}

/// Decode a snapshot: the state and the first sequence number it applies to.
pub fn decode(b: &[u8]) -> Result<(Replay, u64), String> {
    let header = check_header(b)?;
    // Where the lengths and checksums start (after `since` in version 2).
    let tail = header - 16;
    let kind = match b[8] {
        2 => BookKind::L2,
        4 => BookKind::L3,
        k => return Err(format!("book kind {k} is not 2 or 4")),
    };
    let state = b[9];
    let phase = match b[10] {
        0 => Phase::AwaitSnapshot,
        1 => Phase::AwaitFirst,
        2 => Phase::Synced,
        p => return Err(format!("phase {p} is not 0, 1 or 2")),
    };
    let decision = match b[11] {
        0 => Decision::Apply,
        1 => Decision::Drop,
        2 => Decision::ApplyAndKeep,
        d => return Err(format!("decision {d} is not 0, 1 or 2")),
    };
    let (body_len, raw_len) = (u32_at(b, tail) as usize, u32_at(b, tail + 4) as usize);
    let Some(body) = b.get(header..header + body_len) else {
        return Err(format!(
            "the body of {body_len} bytes is cut short at {}",
            b.len()
        ));
    };
    if crc32c::crc32c(body) != u32_at(b, tail + 8) {
        return Err("body checksum mismatch".into());
    }
    let body = zstd::bulk::decompress(body, raw_len).map_err(|e| format!("body: {e}"))?;
    if body.len() != raw_len || raw_len < 16 {
        return Err("body length does not match the header".into());
    }
    let n = |i: usize| u32_at(&body, i * 4) as usize;
    let (nb, na, no, np) = (n(0), n(1), n(2), n(3));
    let want = 16 + (nb + na) * 16 + no * 32 + np * (8 + BOOK_RECORD_LEN);
    if want != raw_len {
        return Err(format!(
            "the body holds {raw_len} bytes, its counts need {want}"
        ));
    }
    let mut r = Replay::new(kind);
    r.reliable = state & 1 != 0;
    r.in_snapshot = state & 2 != 0;
    r.snapshot_unreliable = state & 4 != 0;
    r.event_start = state & 8 != 0;
    r.phase = phase;
    r.decision = decision;
    r.last_ts = u64_at(b, 24) as i64;
    r.last_id = u64_at(b, 32);
    r.snapshot_id = u64_at(b, 40);
    r.gaps = u64_at(b, 48);
    if header == HEADER_LEN {
        r.cause = Cause::from_u8(b[12]).ok_or_else(|| format!("cause {} is not 0 to 5", b[12]))?;
        r.since = u64_at(b, 80) as i64;
    }
    let mut at = 16;
    for (side, count) in [(BookSide::Bid, nb), (BookSide::Ask, na)] {
        for _ in 0..count {
            let (p, s) = (u64_at(&body, at) as i64, u64_at(&body, at + 8) as i64);
            at += 16;
            match &mut r.book {
                Book::L2(b) => b.set(side, p, s),
                Book::L3(b) => b.seed_level(side, p, s),
            }
        }
    }
    if no > 0 && kind == BookKind::L2 {
        return Err(format!("a price-level snapshot that holds {no} orders"));
    }
    for _ in 0..no {
        let side = match body[at + 24] {
            1 => BookSide::Bid,
            2 => BookSide::Ask,
            s => return Err(format!("order side {s} is not 1 or 2")),
        };
        if let Some(b) = r.l3_mut() {
            b.add(Order {
                id: u64_at(&body, at),
                price: u64_at(&body, at + 8) as i64,
                size: u64_at(&body, at + 16) as i64,
                side,
            });
        }
        at += 32;
    }
    for _ in 0..np {
        let seq = u64_at(&body, at);
        let l = BookLevel::decode(&body[at + 8..at + 8 + BOOK_RECORD_LEN])?;
        r.pending.push_back((seq, l));
        at += 8 + BOOK_RECORD_LEN;
    }
    if let Some(book) = r.l3_mut() {
        book.set_anomalies(crate::book::l3::Anomalies {
            unknown_order: u64_at(b, 56),
            over_cancel: u64_at(b, 64),
            duplicate_add: u64_at(b, 72),
        });
    }
    Ok((r, u64_at(b, 16)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::level::{FLAG_LAST, FLAG_SNAPSHOT};
    use crate::records::order::{Action, OrderEvent};

    fn level(side: BookSide, price: i64, size: i64, flags: u8, ids: (u64, u64)) -> BookLevel {
        BookLevel {
            exchange_ts: 1,
            local_ts: 2,
            side,
            flags,
            price,
            size,
            first_update_id: ids.0,
            last_update_id: ids.1,
            prev_update_id: 0,
            checksum: 0,
        }
    }

    #[test]
    fn l2_state_round_trips_and_damage_is_refused() {
        let mut r = Replay::new(BookKind::L2);
        let mut e = |_, _| {};
        r.apply_level(0, &level(BookSide::Bid, 100, 5, 0, (1, 3)), &mut e);
        r.apply_level(
            1,
            &level(BookSide::Bid, 99, 1, FLAG_SNAPSHOT, (2, 2)),
            &mut e,
        );
        r.apply_level(
            2,
            &level(BookSide::Ask, 101, 2, FLAG_SNAPSHOT | FLAG_LAST, (2, 2)),
            &mut e,
        );
        r.apply_level(3, &level(BookSide::Ask, 102, 7, FLAG_LAST, (3, 4)), &mut e);
        r.apply_level(4, &level(BookSide::Ask, 102, 7, FLAG_LAST, (9, 9)), &mut e); // a gap
        let b = encode(&r, 5).unwrap();
        let (d, first) = decode(&b).unwrap();
        assert_eq!(first, 5);
        assert_eq!(first_seq(&b), Ok(5));
        assert_eq!(d.l2().unwrap(), r.l2().unwrap());
        assert_eq!(d.pending, r.pending);
        assert_eq!(
            (
                d.reliable,
                d.phase,
                d.last_id,
                d.gaps,
                d.event_start,
                d.last_ts
            ),
            (
                r.reliable,
                r.phase,
                r.last_id,
                r.gaps,
                r.event_start,
                r.last_ts
            )
        );
        assert_eq!(d.gaps, 1);
        assert_eq!(d.state(), r.state());
        assert_eq!(d.state().cause, Cause::MissingUpdate);
        assert_eq!(d.state().since, 2);
        // A first-version snapshot (no `since`, no cause) still decodes.
        let mut v1 = b.clone();
        v1.drain(80..88);
        v1[..8].copy_from_slice(MAGIC_V1);
        v1[12] = 0;
        let crc = crc32c::crc32c(&v1[..92]);
        v1[92..96].copy_from_slice(&crc.to_le_bytes());
        let (old, first) = decode(&v1).unwrap();
        assert_eq!(first, 5);
        assert_eq!(old.l2().unwrap(), r.l2().unwrap());
        assert_eq!(
            (old.state().since, old.state().cause),
            (0, Cause::NoSnapshot)
        );
        for cut in [0, 10, HEADER_LEN, b.len() - 1] {
            assert!(decode(&b[..cut]).is_err(), "{cut}");
        }
        for at in [3, 20, HEADER_LEN + 2] {
            let mut bad = b.clone();
            bad[at] ^= 0x10;
            assert!(decode(&bad).is_err(), "{at}");
        }
    }

    #[test]
    fn l3_state_round_trips_with_queue_order() {
        let mut r = Replay::new(BookKind::L3);
        let mut e = |_, _| {};
        let ev = |action, id, side, price, size| OrderEvent {
            exchange_ts: 1,
            local_ts: 2,
            action,
            side,
            flags: 0,
            price,
            size,
            order_id: id,
            sequence: 0,
        };
        r.l3_mut().unwrap().seed_level(BookSide::Ask, 105, 40);
        for (i, o) in [
            ev(Action::Add, 1, BookSide::Bid, 100, 5),
            ev(Action::Add, 2, BookSide::Bid, 100, 6),
            ev(Action::Add, 3, BookSide::Ask, 105, 1),
            ev(Action::Modify, 1, BookSide::Bid, 100, 9),
        ]
        .iter()
        .enumerate()
        {
            r.apply_order(i as u64, o, &mut e);
        }
        let (d, _) = decode(&encode(&r, 4).unwrap()).unwrap();
        assert_eq!(
            d.l3().unwrap().queue(BookSide::Bid, 100),
            r.l3().unwrap().queue(BookSide::Bid, 100)
        );
        assert_eq!(d.l3().unwrap().queue(BookSide::Bid, 100)[0].id, 2);
        assert_eq!(d.depth(5), r.depth(5));
        assert_eq!(d.l3().unwrap().unattributed(BookSide::Ask), [(105, 40)]);
    }
}
