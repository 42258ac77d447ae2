//! Exact decimals: a price or size is an integer count of `10^-scale`
//! units, with the scale fixed per stream. `"61837.63000000"` at scale 8 is
//! `6_183_763_000_000` and prints back as `"61837.63000000"`; no floating
//! point is involved anywhere.

/// How a stream's decimals are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecimalStyle {
    /// Always `scale` digits after the point (`"0.02000000"`), as Binance prints.
    Fixed,
    /// Trailing zeros (and a bare point) removed (`"0.02"`, `"9650"`), as
    /// Tardis.dev's CSV files print.
    Trimmed,
}

impl DecimalStyle {
    pub fn as_str(self) -> &'static str {
        match self {
            DecimalStyle::Fixed => "fixed",
            DecimalStyle::Trimmed => "trimmed",
        }
    }

    pub fn parse(s: &str) -> Option<DecimalStyle> {
        match s {
            "fixed" => Some(DecimalStyle::Fixed),
            "trimmed" => Some(DecimalStyle::Trimmed),
            _ => None,
        }
    }
}

/// Largest scale supported (10^18 fits an i64).
pub const MAX_SCALE: u8 = 18;

/// Parse a size or quantity: as [`parse`], and never negative (a price
/// may be below zero, an amount traded or resting may not).
pub fn parse_size(s: &str, scale: u8) -> Result<i64, String> {
    let v = parse(s, scale)?;
    if v < 0 {
        return Err(format!("size {s:?} is negative"));
    }
    Ok(v)
}

/// Parse `s` (`[-]digits[.digits]`) as a count of `10^-scale` units.
/// Refuses (with the reason) anything else, more fractional digits than
/// `scale` unless they are zeros, and values that do not fit an i64.
pub fn parse(s: &str, scale: u8) -> Result<i64, String> {
    if scale > MAX_SCALE {
        return Err(format!("scale {scale} is above {MAX_SCALE}"));
    }
    let bytes = s.as_bytes();
    let (neg, body) = match bytes.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, bytes),
    };
    // One pass over the digits; what is wrong is told in the order: not a
    // number, too many places, too large.
    let (mut v, mut over) = (0i64, false);
    let (mut digits, mut frac, mut dot) = (0usize, 0usize, false);
    let mut extra = false;
    for &b in body {
        if b == b'.' && !dot {
            dot = true;
            continue;
        }
        if !b.is_ascii_digit() {
            return Err(format!("{s:?} is not a decimal number"));
        }
        digits += 1;
        if dot {
            frac += 1;
            if frac > scale as usize {
                extra |= b != b'0';
                continue;
            }
        }
        match v
            .checked_mul(10)
            .and_then(|v| v.checked_add((b - b'0') as i64))
        {
            Some(x) => v = x,
            None => over = true,
        }
    }
    if digits == 0 {
        return Err(format!("{s:?} is not a decimal number"));
    }
    if extra {
        return Err(format!(
            "{s:?} has more than {scale} decimal places (the stream's scale)"
        ));
    }
    for _ in frac.min(scale as usize)..scale as usize {
        match v.checked_mul(10) {
            Some(x) => v = x,
            None => over = true,
        }
    }
    if over {
        return Err(format!("{s:?} does not fit at scale {scale}"));
    }
    Ok(if neg { -v } else { v })
}

/// Print `v` units of `10^-scale` in `style`.
pub fn format(v: i64, scale: u8, style: DecimalStyle) -> String {
    let mut out = String::with_capacity(24);
    write(&mut out, v, scale, style);
    out
}

/// Append `v` units of `10^-scale` in `style` to `out`.
pub fn write(out: &mut String, v: i64, scale: u8, style: DecimalStyle) {
    let scale = scale.min(MAX_SCALE) as usize;
    if v < 0 {
        out.push('-');
    }
    let digits = v.unsigned_abs().to_string();
    let (int, frac) = if digits.len() > scale {
        digits.split_at(digits.len() - scale)
    } else {
        ("", digits.as_str())
    };
    out.push_str(if int.is_empty() { "0" } else { int });
    if scale == 0 {
        return;
    }
    let mut frac_full = String::with_capacity(scale);
    for _ in frac.len()..scale {
        frac_full.push('0');
    }
    frac_full.push_str(frac);
    let frac = match style {
        DecimalStyle::Fixed => frac_full.as_str(),
        DecimalStyle::Trimmed => frac_full.trim_end_matches('0'),
    };
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
}

/// The number of decimal places `s` is written with.
pub fn places(s: &str) -> usize {
    s.bytes()
        .position(|b| b == b'.')
        .map_or(0, |i| s.len() - i - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binance_strings_round_trip_at_their_scale() {
        for s in [
            "61837.63000000",
            "0.02000000",
            "0.00000001",
            "0.00000000",
            "100000.00000000",
        ] {
            let v = parse(s, 8).unwrap();
            assert_eq!(format(v, 8, DecimalStyle::Fixed), s);
        }
        assert_eq!(parse("61837.63000000", 8).unwrap(), 6_183_763_000_000);
    }

    #[test]
    fn trimmed_strings_round_trip() {
        for s in ["9650.01", "0.003", "9650", "0", "-1.5", "12.000001"] {
            let v = parse(s, 8).unwrap();
            assert_eq!(format(v, 8, DecimalStyle::Trimmed), s);
        }
    }

    #[test]
    fn bad_input_is_refused_with_a_reason() {
        assert!(parse("1.123", 2)
            .unwrap_err()
            .contains("more than 2 decimal places"));
        assert_eq!(parse("1.1200", 2).unwrap(), 112);
        for bad in ["", ".", "1e5", "1.2.3", "abc", " 1", "+1", "1,5", "--1"] {
            assert!(parse(bad, 8).is_err(), "{bad:?}");
        }
        assert!(parse("99999999999999999999", 0)
            .unwrap_err()
            .contains("does not fit"));
        assert!(parse("1", 19).is_err());
        // What is wrong first: not a number, then too many places, then
        // too large.
        let why = |s: &str| parse(s, 8).unwrap_err();
        assert!(why("99999999999999999999x").contains("not a decimal number"));
        assert!(why("1.2.3").contains("not a decimal number"));
        assert!(why("-").contains("not a decimal number"));
        assert!(why(".").contains("not a decimal number"));
        assert!(why("99999999999999999999.123456789").contains("decimal places"));
        assert!(why("99999999999999999999").contains("does not fit"));
        assert!(why("92233720368.54775808").contains("does not fit"));
        assert_eq!(parse("92233720368.54775807", 8), Ok(i64::MAX));
        assert_eq!(parse("-5.", 2), Ok(-500));
        assert_eq!(parse(".5", 1), Ok(5));
        assert_eq!(parse("1.5000000000", 2), Ok(150));
        assert_eq!(places("61000.10"), 2);
        assert_eq!(places("61000"), 0);
        assert_eq!(places("1."), 0);
    }

    #[test]
    fn every_value_round_trips_through_both_styles() {
        for v in [
            0i64,
            1,
            -1,
            7,
            10,
            123_456_789,
            -98_765,
            i64::MAX,
            i64::MIN + 1,
        ] {
            for scale in [0u8, 1, 2, 8, 12] {
                for style in [DecimalStyle::Fixed, DecimalStyle::Trimmed] {
                    let s = format(v, scale, style);
                    assert_eq!(parse(&s, scale).unwrap(), v, "{s} at {scale}");
                }
            }
        }
    }
}
