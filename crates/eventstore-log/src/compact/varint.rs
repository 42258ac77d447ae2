//! LEB128 varints and zigzag signed integers: the integer columns of a
//! compact block.

/// Append `v` as an unsigned LEB128 varint (1 to 10 bytes).
#[inline]
pub fn put(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Append a signed `v`, zigzag-coded (small magnitudes take few bytes).
#[inline]
pub fn put_signed(out: &mut Vec<u8>, v: i64) {
    put(out, ((v << 1) ^ (v >> 63)) as u64);
}

/// Reads varints from a column.
pub struct Reader<'a> {
    pub b: &'a [u8],
    pub at: usize,
}

impl<'a> Reader<'a> {
    #[inline]
    pub fn get(&mut self) -> Result<u64, String> {
        match self.word() {
            Some(v) => Ok(v),
            None => self.get_slow(),
        }
    }

    /// A varint byte by byte: one of 9 or 10 bytes, or near the end.
    #[cold]
    fn get_slow(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..70).step_by(7) {
            let Some(&byte) = self.b.get(self.at) else {
                return Err(format!("a varint cut short at byte {}", self.at));
            };
            self.at += 1;
            if shift == 63 && byte > 1 {
                return Err(format!(
                    "a varint longer than 64 bits at byte {}",
                    self.at - 1
                ));
            }
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(format!("a varint longer than 10 bytes at byte {}", self.at))
    }

    #[inline]
    pub fn get_signed(&mut self) -> Result<i64, String> {
        let z = self.get()?;
        Ok(((z >> 1) as i64) ^ -((z & 1) as i64))
    }

    /// A varint of at most 8 bytes read as one little-endian word, when 8
    /// bytes remain: no loop, no branch per byte. `None` leaves the
    /// varint to [`Reader::get`] (longer ones, the column's last bytes).
    #[inline(always)]
    fn word(&mut self) -> Option<u64> {
        let w: [u8; 8] = self.b.get(self.at..self.at + 8)?.try_into().ok()?;
        let x = u64::from_le_bytes(w);
        let stops = !x & 0x8080_8080_8080_8080;
        if stops == 0 {
            return None;
        }
        let bits = stops.trailing_zeros() + 1; // through the last byte's top bit
        let x = if bits >= 64 {
            x
        } else {
            x & ((1u64 << bits) - 1)
        };
        self.at += (bits / 8) as usize;
        // Gather the 7-bit groups.
        let v = (x & 0x7f)
            | (x & 0x7f00) >> 1
            | (x & 0x7f_0000) >> 2
            | (x & 0x7f00_0000) >> 3
            | (x & 0x7f_0000_0000) >> 4
            | (x & 0x7f00_0000_0000) >> 5
            | (x & 0x7f_0000_0000_0000) >> 6
            | (x & 0x7f00_0000_0000_0000) >> 7;
        Some(v)
    }

    /// The next `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.b.len());
        let Some(end) = end else {
            return Err(format!(
                "{n} bytes wanted at byte {}, the column ends at {}",
                self.at,
                self.b.len()
            ));
        };
        let b: &'a [u8] = self.b;
        let s = &b[self.at..end];
        self.at = end;
        Ok(s)
    }

    pub fn done(&self) -> bool {
        self.at == self.b.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_width_round_trips_and_bad_varints_are_errors() {
        let values = [
            0i64,
            1,
            -1,
            63,
            -64,
            64,
            i64::MAX,
            i64::MIN,
            1 << 40,
            -(1 << 40),
        ];
        let mut b = Vec::new();
        for v in values {
            put_signed(&mut b, v);
            put(&mut b, v as u64);
        }
        let mut r = Reader { b: &b, at: 0 };
        for v in values {
            assert_eq!(r.get_signed(), Ok(v));
            assert_eq!(r.get(), Ok(v as u64));
        }
        assert!(r.done());
        // A column read in one go, on the word path and off it.
        let mut col = Vec::new();
        let many: Vec<i64> = (0..2000)
            .map(|i: i64| i.wrapping_mul(0x9E37_79B9_7F4A_7C15u64 as i64) >> (i % 64))
            .chain(values)
            .collect();
        for v in &many {
            put_signed(&mut col, *v);
        }
        let mut r = Reader { b: &col, at: 0 };
        let got: Vec<i64> = many.iter().map(|_| r.get_signed().unwrap()).collect();
        assert_eq!(got, many);
        assert!(r.done());
        assert!(r.get_signed().is_err());
        assert!(Reader { b: &[0x80], at: 0 }.get().is_err());
        assert!(Reader {
            b: &[0xff; 11],
            at: 0
        }
        .get()
        .is_err());
        assert!(Reader {
            b: &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],
            at: 0
        }
        .get()
        .is_err());
    }
}
