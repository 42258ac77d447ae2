//! The on-disk format: a pure codec over byte slices, no I/O.
//!
//! See `docs/format.md` for the byte diagrams. All integers are little-endian.
//! A file is a 64-byte header, then frames at 8-byte aligned offsets, then,
//! once sealed, an end marker, a footer with the file's index, and a trailer.

/// The first eight bytes of every log file.
pub const MAGIC: [u8; 8] = *b"EVSTRLOG";
/// The format version of a file of frames (the form every file is
/// written in).
pub const VERSION: u16 = 1;
/// The format version of a compact file: the same header, then blocks of
/// encoded records and a block index (`crate::compact`).
pub const VERSION_COMPACT: u16 = 2;
/// Bytes in the file header; the first frame starts here.
pub const HEADER_LEN: usize = 64;
/// Bytes in a frame header (`frame_len`, `crc`, `timestamp`).
pub const FRAME_HEADER_LEN: usize = 16;
/// The largest payload a record may carry (64 MiB).
pub const MAX_PAYLOAD: usize = 64 << 20;
/// The `frame_len` value that marks the end of the data of a sealed file.
pub const END_MARKER: u32 = u32::MAX;
/// Bytes of the fixed part of the footer, before its index entries.
pub const FOOTER_FIXED_LEN: usize = 40;
/// Bytes of one footer index entry.
pub const INDEX_ENTRY_LEN: usize = 16;
/// Bytes of the trailer that closes a sealed file.
pub const TRAILER_LEN: usize = 16;
/// The last four bytes of a sealed file.
pub const TRAILER_MAGIC: [u8; 4] = *b"ESND";
/// One index entry every this many records.
pub const INDEX_STRIDE: u32 = 512;

/// Round `n` up to a multiple of 8.
#[inline]
pub const fn align8(n: usize) -> usize {
    (n + 7) & !7
}

/// Bytes a record with a payload of `payload_len` bytes takes, padding included.
#[inline]
pub const fn frame_size(payload_len: usize) -> usize {
    align8(FRAME_HEADER_LEN + payload_len)
}

/// The self-describing header at the start of every file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileHeader {
    /// Roll interval in seconds.
    pub interval_secs: u32,
    /// UTC start of the file's interval, ns since the epoch.
    pub interval_start_ns: i64,
    /// Sequence number of the file's first record.
    pub first_seq: u64,
    /// The largest record timestamp of every earlier file of the stream
    /// (`i64::MIN` for the first); makes time search across files exact.
    pub prev_max_ts: i64,
    /// The writer's clock when the file was created.
    pub created_ns: i64,
    /// Frames (as written) or compact blocks (after conversion): the
    /// header's version field.
    pub form: Form,
}

/// How a file holds its records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Form {
    /// Frames, one per record (version 1): how every file is written.
    #[default]
    Framed,
    /// Blocks of encoded records with a block index (version 2): a sealed
    /// file converted by `compact`.
    Compact,
}

impl Form {
    /// The name manifests and reports use: `framed` or `compact`.
    pub fn as_str(self) -> &'static str {
        match self {
            Form::Framed => "framed",
            Form::Compact => "compact",
        }
    }
}

/// Why a header did not decode.
#[derive(Debug, PartialEq, Eq)]
pub enum HeaderError {
    TooShort,
    BadMagic,
    UnsupportedVersion(u16),
    BadChecksum,
    BadField(&'static str),
}

impl FileHeader {
    // Format: {magic [8] | version u16 | flags u16 | header_len u32 | interval_secs u32 | reserved u32
    //          | interval_start i64 | first_seq u64 | prev_max_ts i64 | created i64 | reserved [12] | crc32c u32}
    /// Encode into the 64 header bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..8].copy_from_slice(&MAGIC);
        let version = match self.form {
            Form::Framed => VERSION,
            Form::Compact => VERSION_COMPACT,
        };
        b[8..10].copy_from_slice(&version.to_le_bytes());
        b[12..16].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
        b[16..20].copy_from_slice(&self.interval_secs.to_le_bytes());
        b[24..32].copy_from_slice(&self.interval_start_ns.to_le_bytes());
        b[32..40].copy_from_slice(&self.first_seq.to_le_bytes());
        b[40..48].copy_from_slice(&self.prev_max_ts.to_le_bytes());
        b[48..56].copy_from_slice(&self.created_ns.to_le_bytes());
        let crc = crc32c::crc32c(&b[..60]);
        b[60..64].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decode and check the header at the start of `b`.
    pub fn decode(b: &[u8]) -> Result<Self, HeaderError> {
        if b.len() < 8 {
            return Err(HeaderError::TooShort);
        }
        if b[0..8] != MAGIC {
            return Err(HeaderError::BadMagic);
        }
        if b.len() < HEADER_LEN {
            return Err(HeaderError::TooShort);
        }
        let version = u16_at(b, 8);
        let form = match version {
            VERSION => Form::Framed,
            VERSION_COMPACT => Form::Compact,
            v => return Err(HeaderError::UnsupportedVersion(v)),
        };
        if crc32c::crc32c(&b[..60]) != u32_at(b, 60) {
            return Err(HeaderError::BadChecksum);
        }
        if u32_at(b, 12) as usize != HEADER_LEN {
            return Err(HeaderError::BadField("header_len"));
        }
        let h = FileHeader {
            interval_secs: u32_at(b, 16),
            interval_start_ns: i64_at(b, 24),
            first_seq: u64_at(b, 32),
            prev_max_ts: i64_at(b, 40),
            created_ns: i64_at(b, 48),
            form,
        };
        if h.interval_secs == 0 || 86_400 % h.interval_secs != 0 {
            return Err(HeaderError::BadField("interval_secs"));
        }
        Ok(h)
    }
}

/// Checksum of a frame: CRC-32C of the bytes from the timestamp to the end
/// of the payload (`ts_and_payload`), started from `frame_len` instead of
/// zero, so that a damaged length fails the check too. One pass over
/// contiguous bytes.
#[inline]
pub fn frame_crc(frame_len: u32, ts_and_payload: &[u8]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    if ts_and_payload.len() <= SMALL_CRC && std::is_x86_feature_detected!("sse4.2") {
        // SAFETY: the CPU has SSE4.2, checked just above.
        return unsafe { crc32c_small(frame_len, ts_and_payload) };
    }
    crc32c::crc32c_append(frame_len, ts_and_payload)
}

/// Frames up to this many bytes are checksummed inline (most market
/// records): a call into the general routine costs more than the CRC.
const SMALL_CRC: usize = 256;

/// CRC-32C of `data` continuing from `seed`, as `crc32c::crc32c_append`,
/// eight bytes per instruction, inlined into the frame walk.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse4.2")]
#[inline]
unsafe fn crc32c_small(seed: u32, data: &[u8]) -> u32 {
    use std::arch::x86_64::{_mm_crc32_u64, _mm_crc32_u8};
    let mut crc = !seed as u64;
    let mut words = data.chunks_exact(8);
    for w in &mut words {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        crc = _mm_crc32_u64(crc, u64::from_le_bytes(b));
    }
    let mut c = crc as u32;
    for &b in words.remainder() {
        c = _mm_crc32_u8(c, b);
    }
    !c
}

// Format: {frame_len u32 | crc32c u32 | timestamp i64 | payload [frame_len-16] | zero padding to 8}
/// Write the body of a frame (everything but `frame_len`) into `dst`, which
/// must be at least `frame_size(payload.len())` bytes; returns `frame_len`.
/// The caller publishes `frame_len` last, so a concurrent reader never sees a
/// length before the bytes it covers.
#[inline]
pub fn encode_frame_body(dst: &mut [u8], ts: i64, payload: &[u8]) -> u32 {
    let frame_len = (FRAME_HEADER_LEN + payload.len()) as u32;
    let end = FRAME_HEADER_LEN + payload.len();
    dst[8..16].copy_from_slice(&ts.to_le_bytes());
    dst[16..end].copy_from_slice(payload);
    let crc = frame_crc(frame_len, &dst[8..end]);
    dst[4..8].copy_from_slice(&crc.to_le_bytes());
    frame_len
}

/// Encode a whole frame, `frame_len` included, into `dst`.
pub fn encode_frame(dst: &mut [u8], ts: i64, payload: &[u8]) -> usize {
    let frame_len = encode_frame_body(dst, ts, payload);
    dst[0..4].copy_from_slice(&frame_len.to_le_bytes());
    frame_size(payload.len())
}

/// What lies at a frame position.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A complete, checksummed record.
    Record {
        ts: i64,
        payload: &'a [u8],
        /// Offset of the next frame.
        next: usize,
    },
    /// `frame_len` is zero: nothing has been written here yet.
    Empty,
    /// The end marker of a sealed file.
    End,
    /// The buffer ends inside the frame header or payload.
    Incomplete,
    /// A frame that can not be valid.
    Invalid(&'static str),
}

/// Decode the frame at `pos` of `buf`, given its `frame_len` (read by the
/// caller, atomically where the file is being written).
#[inline]
pub fn decode_frame(buf: &[u8], pos: usize, frame_len: u32) -> Frame<'_> {
    match frame_len {
        0 => return Frame::Empty,
        END_MARKER => return Frame::End,
        _ => {}
    }
    let len = frame_len as usize;
    if len < FRAME_HEADER_LEN {
        return Frame::Invalid("frame length below the 16-byte frame header");
    }
    if len - FRAME_HEADER_LEN > MAX_PAYLOAD {
        return Frame::Invalid("frame length above the 64 MiB maximum payload");
    }
    let Some(end) = pos.checked_add(len) else {
        return Frame::Invalid("frame length overflows");
    };
    if end > buf.len() {
        return Frame::Incomplete;
    }
    let crc = u32_at(buf, pos + 4);
    let ts = i64_at(buf, pos + 8);
    let payload = &buf[pos + FRAME_HEADER_LEN..end];
    if frame_crc(frame_len, &buf[pos + 8..end]) != crc {
        return Frame::Invalid("checksum mismatch");
    }
    Frame::Record {
        ts,
        payload,
        next: align8(end),
    }
}

/// One footer index entry: where record `k * INDEX_STRIDE` of the file
/// starts, and the stream's largest timestamp before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    pub offset: u64,
    pub max_ts_before: i64,
}

/// The summary and index written when a file is sealed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Footer {
    pub record_count: u64,
    /// Smallest record timestamp (`i64::MAX` when the file has no records).
    pub min_ts: i64,
    /// Largest record timestamp (`i64::MIN` when the file has no records).
    pub max_ts: i64,
    pub index_stride: u32,
    pub index: Vec<IndexEntry>,
}

impl Footer {
    /// Bytes from the end marker to the end of the file.
    pub fn encoded_len(&self) -> usize {
        FOOTER_FIXED_LEN + self.index.len() * INDEX_ENTRY_LEN + TRAILER_LEN
    }

    // Format: {END_MARKER u32 | reserved u32 | record_count u64 | min_ts i64 | max_ts i64
    //          | index_stride u32 | index_count u32 | index_count x {offset u64 | max_ts_before i64}
    //          | footer_offset u64 | crc32c u32 | "ESND"}
    /// Encode the footer that starts (with the end marker) at file offset `at`.
    /// The first four bytes are the end marker ([`END_MARKER`]); a writer
    /// copies the rest first and publishes the marker last, as it does a
    /// frame's length.
    pub fn encode(&self, at: u64) -> Vec<u8> {
        let mut b = Vec::with_capacity(self.encoded_len());
        b.extend_from_slice(&END_MARKER.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&self.record_count.to_le_bytes());
        b.extend_from_slice(&self.min_ts.to_le_bytes());
        b.extend_from_slice(&self.max_ts.to_le_bytes());
        b.extend_from_slice(&self.index_stride.to_le_bytes());
        b.extend_from_slice(&(self.index.len() as u32).to_le_bytes());
        for e in &self.index {
            b.extend_from_slice(&e.offset.to_le_bytes());
            b.extend_from_slice(&e.max_ts_before.to_le_bytes());
        }
        let crc = crc32c::crc32c(&b);
        b.extend_from_slice(&at.to_le_bytes());
        b.extend_from_slice(&crc.to_le_bytes());
        b.extend_from_slice(&TRAILER_MAGIC);
        b
    }

    /// Offset of the index-entry count within the footer (from its end
    /// marker): marker 4, pad 4, count 8, min 8, max 8, stride 4.
    pub const INDEX_COUNT_AT: usize = 36;

    /// Where the footer whose end marker is at `at` in `bytes` ends, if it
    /// is all there and its checksum holds (a seal interrupted by a crash
    /// leaves a partial one).
    pub fn extent(bytes: &[u8], at: usize) -> Option<usize> {
        if at.checked_add(FOOTER_FIXED_LEN)? > bytes.len() {
            return None;
        }
        let count = u32_at(bytes, at + Self::INDEX_COUNT_AT) as usize;
        let end = at
            .checked_add(FOOTER_FIXED_LEN)?
            .checked_add(count.checked_mul(INDEX_ENTRY_LEN)?)?
            .checked_add(TRAILER_LEN)?;
        if end > bytes.len() {
            return None;
        }
        Footer::decode_from_file_end(&bytes[..end])
            .ok()
            .map(|_| end)
    }

    /// Decode the footer of a whole sealed file `file`; returns the footer and
    /// the offset of its end marker (the end of the data).
    pub fn decode_from_file_end(file: &[u8]) -> Result<(Footer, usize), &'static str> {
        let (at, body) = trailed(file, &TRAILER_MAGIC, FOOTER_FIXED_LEN)
            .map_err(|e| e.unwrap_or("no trailer magic at the end of the file"))?;
        if u32_at(body, 0) != END_MARKER {
            return Err("footer does not start with the end marker");
        }
        let count = u32_at(body, Self::INDEX_COUNT_AT) as usize;
        if FOOTER_FIXED_LEN + count * INDEX_ENTRY_LEN != body.len() {
            return Err("footer index length does not match the footer size");
        }
        let index = (0..count)
            .map(|k| {
                let p = FOOTER_FIXED_LEN + k * INDEX_ENTRY_LEN;
                IndexEntry {
                    offset: u64_at(body, p),
                    max_ts_before: i64_at(body, p + 8),
                }
            })
            .collect();
        let f = Footer {
            record_count: u64_at(body, 8),
            min_ts: i64_at(body, 16),
            max_ts: i64_at(body, 24),
            index_stride: u32_at(body, 32),
            index,
        };
        if f.index_stride == 0 {
            return Err("footer index stride is zero");
        }
        if f.index.len() as u64 != f.record_count.div_ceil(f.index_stride as u64) {
            return Err("footer index count does not match the record count");
        }
        if f.index
            .iter()
            .any(|e| e.offset as usize >= at || e.offset % 8 != 0)
        {
            return Err("footer index entry points outside the data");
        }
        Ok((f, at))
    }
}

/// The footer a 16-byte trailer (`footer_offset u64 | crc32c u32 |
/// magic`) at the end of `file` points at, the form both a file of frames
/// and a compact file end with: its offset and bytes, checked to start
/// after the header, 8-aligned, with at least `fixed` bytes before the
/// trailer, and to match its checksum. `Err(None)`: no `magic` at the end
/// (the caller says what that means).
pub(crate) fn trailed<'a>(
    file: &'a [u8],
    magic: &[u8; 4],
    fixed: usize,
) -> Result<(usize, &'a [u8]), Option<&'static str>> {
    if file.len() < HEADER_LEN + fixed + TRAILER_LEN {
        return Err(Some("file too short for a footer"));
    }
    let t = file.len() - TRAILER_LEN;
    if file[t + 12..t + 16] != *magic {
        return Err(None);
    }
    let at = u64_at(file, t) as usize;
    if at < HEADER_LEN || !at.is_multiple_of(8) || at + fixed > t {
        return Err(Some("footer offset out of range"));
    }
    let body = &file[at..t];
    if crc32c::crc32c(body) != u32_at(file, t + 8) {
        return Err(Some("footer checksum mismatch"));
    }
    Ok((at, body))
}

#[inline]
pub(crate) fn u16_at(b: &[u8], p: usize) -> u16 {
    let mut a = [0u8; 2];
    a.copy_from_slice(&b[p..p + 2]);
    u16::from_le_bytes(a)
}
#[inline]
pub(crate) fn u32_at(b: &[u8], p: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[p..p + 4]);
    u32::from_le_bytes(a)
}
#[inline]
pub(crate) fn u64_at(b: &[u8], p: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[p..p + 8]);
    u64::from_le_bytes(a)
}
#[inline]
pub(crate) fn i64_at(b: &[u8], p: usize) -> i64 {
    u64_at(b, p) as i64
}

#[cfg(test)]
mod tests {
    /// The test vector of docs/format.md: a record `hello` at
    /// 2024-08-09T00:34:00Z, its CRC register started from `frame_len`.
    #[test]
    fn a_frame_encodes_as_the_documented_bytes() {
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
        let mut b = [0u8; 24];
        let n = super::encode_frame(&mut b, 1_723_161_240_000_000_000, b"hello");
        assert_eq!(n, 24);
        let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
        assert_eq!(hex, "1500000094340ed200f0eba004e6e91768656c6c6f000000");
        assert_eq!(super::frame_crc(21, &b[8..21]), 0xd20e_3494);
    }

    #[test]
    fn the_inline_crc_equals_the_general_one() {
        let data: Vec<u8> = (0..600u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for len in 0..=300 {
            for seed in [0u32, 16, 64, 0xdead_beef] {
                assert_eq!(
                    super::frame_crc(seed, &data[..len]),
                    crc32c::crc32c_append(seed, &data[..len]),
                    "len {len} seed {seed}"
                );
            }
        }
    }

    use super::*;
    use proptest::prelude::*;

    fn header() -> FileHeader {
        FileHeader {
            interval_secs: 60,
            interval_start_ns: 1_700_000_000_000_000_000,
            first_seq: 42,
            prev_max_ts: i64::MIN,
            created_ns: 5,
            form: Form::Framed,
        }
    }

    #[test]
    fn header_round_trips_and_rejects_damage() {
        let b = header().encode();
        assert_eq!(FileHeader::decode(&b), Ok(header()));
        let mut m = b;
        m[0] = b'X';
        assert_eq!(FileHeader::decode(&m), Err(HeaderError::BadMagic));
        let mut v = b;
        v[8] = 9;
        assert_eq!(
            FileHeader::decode(&v),
            Err(HeaderError::UnsupportedVersion(9))
        );
        let mut c = b;
        c[33] ^= 1;
        assert_eq!(FileHeader::decode(&c), Err(HeaderError::BadChecksum));
        assert_eq!(FileHeader::decode(&b[..30]), Err(HeaderError::TooShort));
    }

    #[test]
    fn frames_detect_every_flipped_bit() {
        let mut buf = vec![0u8; 64];
        let n = encode_frame(&mut buf, 7, b"hello");
        assert_eq!(n, 24);
        let fl = u32_at(&buf, 0);
        assert!(matches!(
            decode_frame(&buf, 0, fl),
            Frame::Record {
                ts: 7,
                payload: b"hello",
                next: 24
            }
        ));
        for byte in 0..21 {
            for bit in 0..8 {
                let mut d = buf.clone();
                d[byte] ^= 1 << bit;
                let fl = u32_at(&d, 0);
                assert!(
                    !matches!(decode_frame(&d, 0, fl), Frame::Record { .. }),
                    "byte {byte} bit {bit}"
                );
            }
        }
        assert_eq!(decode_frame(&buf, 24, 0), Frame::Empty);
        assert_eq!(decode_frame(&buf[..20], 0, fl), Frame::Incomplete);
    }

    #[test]
    fn footer_round_trips() {
        let f = Footer {
            record_count: 1000,
            min_ts: 1,
            max_ts: 99,
            index_stride: INDEX_STRIDE,
            index: vec![
                IndexEntry {
                    offset: 64,
                    max_ts_before: i64::MIN,
                },
                IndexEntry {
                    offset: 8192,
                    max_ts_before: 50,
                },
            ],
        };
        let mut file = vec![0u8; 16384];
        let enc = f.encode(16384);
        assert_eq!(enc.len(), f.encoded_len());
        file.extend_from_slice(&enc);
        assert_eq!(Footer::decode_from_file_end(&file), Ok((f, 16384)));
        let n = file.len();
        file[n - 20] ^= 1;
        assert!(Footer::decode_from_file_end(&file).is_err());
    }

    proptest! {
        #[test]
        fn frame_round_trip(ts in any::<i64>(), payload in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut buf = vec![0u8; frame_size(payload.len()) + 8];
            let n = encode_frame(&mut buf, ts, &payload);
            prop_assert_eq!(n % 8, 0);
            let fl = u32_at(&buf, 0);
            prop_assert_eq!(decode_frame(&buf, 0, fl), Frame::Record { ts, payload: &payload, next: n });
        }

        #[test]
        fn decoding_garbage_never_panics(buf in proptest::collection::vec(any::<u8>(), 0..200), pos in 0usize..200) {
            if pos + 4 <= buf.len() {
                let _ = decode_frame(&buf, pos, u32_at(&buf, pos));
            }
            let _ = FileHeader::decode(&buf);
            let _ = Footer::decode_from_file_end(&buf);
        }
    }
}
