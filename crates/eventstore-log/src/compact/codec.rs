//! Block codecs: how a block of records is encoded, and the set of codecs
//! a process knows.
//!
//! The log knows one codec itself, [`ZSTD_RECORDS`] (id 0): any records,
//! their timestamps as deltas and their payloads whole, compressed with
//! zstd. A crate that knows what its payloads hold registers codecs for
//! them ([`register`]); `eventstore-market` registers one per market record
//! kind. A conversion tries the registered codecs in order and keeps the
//! first that takes every record of a block; a block no codec takes is
//! stored by [`ZSTD_RECORDS`]. A reader finds a block's codec by the id in
//! its header; a block whose codec this process does not know is an error
//! naming the codec, never a wrong record.

use super::varint::{self, Reader};
use std::sync::RwLock;

/// The records of one decoded block: timestamps, and the payloads one
/// after another (`ends[i]` is where payload `i` ends in `data`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decoded {
    pub ts: Vec<i64>,
    pub data: Vec<u8>,
    pub ends: Vec<u32>,
}

impl Decoded {
    /// Empty the block, keeping its allocations.
    pub fn clear(&mut self) {
        self.ts.clear();
        self.data.clear();
        self.ends.clear();
    }

    /// Add a record whose payload is already appended to `data`.
    #[inline]
    pub fn push_end(&mut self, ts: i64) {
        self.ts.push(ts);
        self.ends.push(self.data.len() as u32);
    }

    /// Records held.
    pub fn len(&self) -> usize {
        self.ts.len()
    }

    /// No records.
    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    /// Where payload `i` lies in `data`: (start, length).
    #[inline]
    pub fn span(&self, i: usize) -> (usize, usize) {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        (start, self.ends[i] as usize - start)
    }
}

/// One way to encode a block of records.
pub trait BlockCodec: Send + Sync {
    /// The id stored in every block this codec writes (0 is
    /// [`ZSTD_RECORDS`]; `eventstore-market` uses 1 to 4).
    fn id(&self) -> u16;

    /// What it encodes, for errors and reports (`"market trades"`).
    fn name(&self) -> &'static str;

    /// Encode `records` (timestamp, payload) at zstd `level`, or `None`
    /// when some record is not of this codec's kind (the block is then
    /// offered to the next codec). The encoding must decode to exactly
    /// these records.
    fn encode(&self, records: &[(i64, &[u8])], level: i32) -> Option<Vec<u8>>;

    /// Decode a block body into `out` (cleared first): `count` records
    /// whose payloads take `data_len` bytes, as the block header says. A
    /// damaged body is an error saying what is wrong, never a panic, and
    /// never more memory than `count` and `data_len` allow.
    fn decode(
        &self,
        body: &[u8],
        count: usize,
        data_len: usize,
        out: &mut Decoded,
    ) -> Result<(), String>;
}

/// Any records: `zstd(ts column | length column | payloads)`, each column
/// `len varint | bytes`; timestamps as zigzag deltas (the first from 0),
/// lengths as varints.
pub struct ZstdRecords;

/// The codec every process knows.
pub static ZSTD_RECORDS: ZstdRecords = ZstdRecords;

impl BlockCodec for ZstdRecords {
    fn id(&self) -> u16 {
        0
    }

    fn name(&self) -> &'static str {
        "zstd records"
    }

    fn encode(&self, records: &[(i64, &[u8])], level: i32) -> Option<Vec<u8>> {
        let mut ts = Vec::with_capacity(records.len() * 2);
        let mut lens = Vec::with_capacity(records.len() * 2);
        let mut prev = 0i64;
        let mut data_len = 0;
        for (t, p) in records {
            varint::put_signed(&mut ts, t.wrapping_sub(prev));
            prev = *t;
            varint::put(&mut lens, p.len() as u64);
            data_len += p.len();
        }
        let mut raw = Vec::with_capacity(ts.len() + lens.len() + data_len + 20);
        varint::put(&mut raw, ts.len() as u64);
        raw.extend_from_slice(&ts);
        varint::put(&mut raw, lens.len() as u64);
        raw.extend_from_slice(&lens);
        for (_, p) in records {
            raw.extend_from_slice(p);
        }
        zstd::bulk::compress(&raw, level).ok()
    }

    fn decode(
        &self,
        body: &[u8],
        count: usize,
        data_len: usize,
        out: &mut Decoded,
    ) -> Result<(), String> {
        out.clear();
        // Two columns of at most 10 bytes a record, their two lengths, and
        // the payloads: a body can not decompress to more.
        let cap = count
            .checked_mul(20)
            .and_then(|n| n.checked_add(data_len)?.checked_add(20))
            .ok_or("a block too large to decode")?;
        let raw = zstd::bulk::decompress(body, cap).map_err(|e| format!("zstd: {e}"))?;
        let mut r = Reader { b: &raw, at: 0 };
        let ts_len = r.get()? as usize;
        let mut ts = Reader {
            b: r.bytes(ts_len).map_err(|e| format!("timestamps: {e}"))?,
            at: 0,
        };
        let lens_len = r.get()? as usize;
        let mut lens = Reader {
            b: r.bytes(lens_len).map_err(|e| format!("lengths: {e}"))?,
            at: 0,
        };
        let payloads = &raw[r.at..];
        if payloads.len() != data_len {
            return Err(format!(
                "the payloads take {} bytes, the block header says {data_len}",
                payloads.len()
            ));
        }
        out.ts.reserve(count);
        out.ends.reserve(count);
        out.data.extend_from_slice(payloads);
        let (mut prev, mut end) = (0i64, 0u64);
        for i in 0..count {
            prev = prev.wrapping_add(
                ts.get_signed()
                    .map_err(|e| format!("record {i}: timestamp: {e}"))?,
            );
            end += lens.get().map_err(|e| format!("record {i}: length: {e}"))?;
            if end > data_len as u64 {
                return Err(format!("record {i} ends past the block's payloads"));
            }
            out.ts.push(prev);
            out.ends.push(end as u32);
        }
        if !ts.done() || !lens.done() || end != data_len as u64 {
            return Err("the columns hold more than the block's records".into());
        }
        Ok(())
    }
}

static REGISTERED: RwLock<Vec<&'static dyn BlockCodec>> = RwLock::new(Vec::new());

/// Make `codec` known to this process: conversions try it (before
/// [`ZSTD_RECORDS`], after codecs registered earlier) and readers decode
/// its blocks. Registering an id again keeps the first codec.
pub fn register(codec: &'static dyn BlockCodec) {
    let mut list = REGISTERED.write().unwrap_or_else(|e| e.into_inner());
    if codec.id() != 0 && !list.iter().any(|c| c.id() == codec.id()) {
        list.push(codec);
    }
}

/// The codec of id `id`, if this process knows it.
pub fn find(id: u16) -> Option<&'static dyn BlockCodec> {
    if id == 0 {
        return Some(&ZSTD_RECORDS);
    }
    let list = REGISTERED.read().unwrap_or_else(|e| e.into_inner());
    list.iter().copied().find(|c| c.id() == id)
}

/// Every codec a conversion tries, in order: the registered ones, then
/// [`ZSTD_RECORDS`].
pub fn all() -> Vec<&'static dyn BlockCodec> {
    let list = REGISTERED.read().unwrap_or_else(|e| e.into_inner());
    let mut v = list.clone();
    v.push(&ZSTD_RECORDS);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn zstd_records_round_trip(recs in proptest::collection::vec((any::<i64>(), proptest::collection::vec(any::<u8>(), 0..80)), 0..60)) {
            let view: Vec<(i64, &[u8])> = recs.iter().map(|(t, p)| (*t, p.as_slice())).collect();
            let body = ZSTD_RECORDS.encode(&view, 3).unwrap();
            let data_len = recs.iter().map(|r| r.1.len()).sum();
            let mut d = Decoded::default();
            ZSTD_RECORDS.decode(&body, recs.len(), data_len, &mut d).unwrap();
            prop_assert_eq!(d.len(), recs.len());
            for (i, (t, p)) in recs.iter().enumerate() {
                let (at, n) = d.span(i);
                prop_assert_eq!(d.ts[i], *t);
                prop_assert_eq!(&d.data[at..at + n], p.as_slice());
            }
            // A count or length that disagrees with the body is an error.
            if !recs.is_empty() {
                prop_assert!(ZSTD_RECORDS.decode(&body, recs.len() - 1, data_len, &mut d).is_err());
                prop_assert!(ZSTD_RECORDS.decode(&body, recs.len(), data_len + 1, &mut d).is_err());
            }
        }

        #[test]
        fn garbage_never_panics(body in proptest::collection::vec(any::<u8>(), 0..200), count in 0usize..100, len in 0usize..1000) {
            let _ = ZSTD_RECORDS.decode(&body, count, len, &mut Decoded::default());
        }
    }
}
