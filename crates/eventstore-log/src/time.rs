//! Roll intervals, UTC timestamps and the file names derived from them.
//!
//! Pure functions; no I/O and no time-zone database: every time is UTC.

use crate::error::{Error, Result};
use std::fmt;

/// Nanoseconds in one second.
pub const NS_PER_SEC: i64 = 1_000_000_000;
const SECS_PER_DAY: i64 = 86_400;

/// How often a stream's files roll over: a whole number of seconds that
/// divides a day, so that every file starts at a round UTC time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RollInterval {
    secs: u32,
}

impl RollInterval {
    /// Every minute.
    pub const MINUTELY: RollInterval = RollInterval { secs: 60 };
    /// Every hour.
    pub const HOURLY: RollInterval = RollInterval { secs: 3600 };
    /// Every UTC day.
    pub const DAILY: RollInterval = RollInterval { secs: 86_400 };

    /// An interval of `secs` seconds; it must divide a day.
    pub fn from_secs(secs: u32) -> Result<Self> {
        if secs == 0 || SECS_PER_DAY % secs as i64 != 0 {
            return Err(Error::InvalidInterval(format!("{secs}s")));
        }
        Ok(RollInterval { secs })
    }

    /// Parse `minutely`, `hourly`, `daily`, or a number with a unit
    /// (`30s`, `5m`, `15m`, `1h`, `1d`).
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "minutely" => return Ok(Self::MINUTELY),
            "hourly" => return Ok(Self::HOURLY),
            "daily" => return Ok(Self::DAILY),
            _ => {}
        }
        let ns = parse_duration_ns(s).map_err(|_| Error::InvalidInterval(s.to_string()))?;
        if ns % NS_PER_SEC != 0 {
            return Err(Error::InvalidInterval(s.to_string()));
        }
        let secs = u32::try_from(ns / NS_PER_SEC).map_err(|_| Error::InvalidInterval(s.into()))?;
        Self::from_secs(secs).map_err(|_| Error::InvalidInterval(s.to_string()))
    }

    /// The length in seconds.
    pub fn secs(self) -> u32 {
        self.secs
    }

    /// The length in nanoseconds.
    pub fn ns(self) -> i64 {
        self.secs as i64 * NS_PER_SEC
    }

    /// The start of the interval that holds `t_ns`.
    pub fn floor(self, t_ns: i64) -> i64 {
        t_ns.div_euclid(self.ns()) * self.ns()
    }
}

impl fmt::Display for RollInterval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.secs;
        if s.is_multiple_of(86_400) {
            write!(f, "{}d", s / 86_400)
        } else if s.is_multiple_of(3600) {
            write!(f, "{}h", s / 3600)
        } else if s.is_multiple_of(60) {
            write!(f, "{}m", s / 60)
        } else {
            write!(f, "{s}s")
        }
    }
}

/// Parse a duration such as `500ms`, `30s`, `5m`, `2h`, `7d` into nanoseconds.
pub fn parse_duration_ns(s: &str) -> Result<i64> {
    let bad = || {
        Error::InvalidArgument(format!(
            "invalid duration {s:?} (use e.g. 500ms, 30s, 5m, 2h, 7d)"
        ))
    };
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (num, unit) = s.split_at(split);
    let n: i64 = num.parse().map_err(|_| bad())?;
    let mult = match unit {
        "ns" => 1,
        "us" => 1_000,
        "ms" => 1_000_000,
        "s" => NS_PER_SEC,
        "m" => 60 * NS_PER_SEC,
        "h" => 3600 * NS_PER_SEC,
        "d" => SECS_PER_DAY * NS_PER_SEC,
        _ => return Err(bad()),
    };
    n.checked_mul(mult).ok_or_else(bad)
}

/// Days since 1970-01-01 to a (year, month, day) civil date.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A civil date to days since 1970-01-01.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

struct Parts {
    y: i64,
    mo: u32,
    d: u32,
    h: u32,
    mi: u32,
    s: u32,
    nanos: u32,
}

fn parts(t_ns: i64) -> Parts {
    let secs = t_ns.div_euclid(NS_PER_SEC);
    let nanos = t_ns.rem_euclid(NS_PER_SEC) as u32;
    let days = secs.div_euclid(SECS_PER_DAY);
    let sod = secs.rem_euclid(SECS_PER_DAY) as u32;
    let (y, mo, d) = civil_from_days(days);
    Parts {
        y,
        mo,
        d,
        h: sod / 3600,
        mi: sod / 60 % 60,
        s: sod % 60,
        nanos,
    }
}

/// RFC 3339 UTC with nanoseconds: `2024-08-08T23:54:00.123456789Z`.
pub fn format_utc(t_ns: i64) -> String {
    let p = parts(t_ns);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z",
        p.y, p.mo, p.d, p.h, p.mi, p.s, p.nanos
    )
}

/// The file stem for an interval starting at `t_ns`: `20240808T235400Z`.
/// Lexicographic order of stems is time order (for years 0 to 9999).
pub fn file_stem(t_ns: i64) -> String {
    let p = parts(t_ns);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        p.y, p.mo, p.d, p.h, p.mi, p.s
    )
}

/// Parse a file stem made by [`file_stem`] back into nanoseconds.
pub fn parse_file_stem(stem: &str) -> Option<i64> {
    let b = stem.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let s = stem.get(r)?;
        if !s.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, s) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 59 {
        return None;
    }
    let days = days_from_civil(y as i64, mo, d);
    Some((days * SECS_PER_DAY + (h * 3600 + mi * 60 + s) as i64) * NS_PER_SEC)
}

/// Parse a point in time: RFC 3339 in UTC (`2024-08-08T23:54:00Z`, with an
/// optional fraction of up to 9 digits, `T` or a space between date and
/// time, a date alone meaning midnight) or an integer of nanoseconds since
/// the epoch.
pub fn parse_time(s: &str) -> Result<i64> {
    let bad = || {
        Error::InvalidArgument(format!(
            "invalid time {s:?} (use RFC 3339 UTC such as 2024-08-08T23:54:00.5Z, or nanoseconds since the epoch)"
        ))
    };
    let t = s.trim();
    if !t.is_empty() && t.bytes().all(|c| c.is_ascii_digit() || c == b'-') && !t[1..].contains('-')
    {
        return t.parse::<i64>().map_err(|_| bad());
    }
    let (date, time) = match t.find(['T', 't', ' ']) {
        Some(i) => (&t[..i], &t[i + 1..]),
        None => (t, "00:00:00Z"),
    };
    let dp: Vec<&str> = date.split('-').collect();
    if dp.len() != 3 || dp[0].len() != 4 || dp[1].len() != 2 || dp[2].len() != 2 {
        return Err(bad());
    }
    let y: i64 = dp[0].parse().map_err(|_| bad())?;
    let mo: u32 = dp[1].parse().map_err(|_| bad())?;
    let d: u32 = dp[2].parse().map_err(|_| bad())?;
    let time = time
        .strip_suffix(['Z', 'z'])
        .or_else(|| time.strip_suffix("+00:00"))
        .ok_or_else(bad)?;
    let (hms, frac) = match time.split_once('.') {
        Some((a, b)) => (a, b),
        None => (time, ""),
    };
    let tp: Vec<&str> = hms.split(':').collect();
    if tp.len() != 3 || tp.iter().any(|p| p.len() != 2) {
        return Err(bad());
    }
    let h: u32 = tp[0].parse().map_err(|_| bad())?;
    let mi: u32 = tp[1].parse().map_err(|_| bad())?;
    let sec: u32 = tp[2].parse().map_err(|_| bad())?;
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return Err(bad());
    }
    if frac.len() > 9 || !frac.bytes().all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    let mut nanos: i64 = 0;
    for (i, c) in frac.bytes().enumerate() {
        nanos += (c - b'0') as i64 * 10i64.pow(8 - i as u32);
    }
    let days = days_from_civil(y, mo, d);
    Ok((days * SECS_PER_DAY + (h * 3600 + mi * 60 + sec) as i64) * NS_PER_SEC + nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_must_divide_a_day() {
        for ok in [
            "1s", "30s", "1m", "5m", "15m", "1h", "4h", "1d", "minutely", "hourly", "daily",
        ] {
            assert!(RollInterval::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["7m", "0s", "2d", "1500ms", "abc", "5", "-1m"] {
            assert!(RollInterval::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(RollInterval::parse("15m").unwrap().to_string(), "15m");
    }

    #[test]
    fn stems_round_trip_and_sort_in_time_order() {
        let t = parse_time("2024-08-08T23:54:00Z").unwrap();
        assert_eq!(file_stem(t), "20240808T235400Z");
        assert_eq!(parse_file_stem("20240808T235400Z"), Some(t));
        assert!(file_stem(t) < file_stem(t + 60 * NS_PER_SEC));
        assert_eq!(parse_file_stem("2024080xT235400Z"), None);
    }

    #[test]
    fn times_parse_and_format() {
        let t = parse_time("2024-08-08T23:54:00.123456789Z").unwrap();
        assert_eq!(format_utc(t), "2024-08-08T23:54:00.123456789Z");
        assert_eq!(parse_time("1970-01-01T00:00:00Z").unwrap(), 0);
        assert_eq!(parse_time("1970-01-02").unwrap(), 86_400 * NS_PER_SEC);
        assert_eq!(parse_time("12345").unwrap(), 12345);
        assert_eq!(format_utc(-1), "1969-12-31T23:59:59.999999999Z");
        assert!(parse_time("2024-13-01T00:00:00Z").is_err());
        assert!(parse_time("yesterday").is_err());
        assert_eq!(parse_duration_ns("500ms").unwrap(), 500_000_000);
    }

    #[test]
    fn floor_is_euclidean() {
        let m = RollInterval::MINUTELY;
        assert_eq!(m.floor(61 * NS_PER_SEC), 60 * NS_PER_SEC);
        assert_eq!(m.floor(-1), -60 * NS_PER_SEC);
    }
}
