//! Stream names: hierarchical, validated, safe to join to a root folder.

use crate::error::{Error, Result};
use std::fmt;
use std::path::{Path, PathBuf};

/// The longest stream name accepted, in bytes.
pub const MAX_NAME_LEN: usize = 255;

/// A validated stream name such as `binance/btcusdt/trades`.
///
/// Segments are separated by `/`; each is 1 to 64 characters from
/// `[A-Za-z0-9_.=-]`, does not start with `.`, and is never `.` or `..`.
/// A valid name can be joined to a root folder without leaving it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamName(String);

impl StreamName {
    /// Validate `name`.
    pub fn new(name: &str) -> Result<Self> {
        let bad = |reason| {
            Err(Error::InvalidName {
                name: name.to_string(),
                reason,
            })
        };
        if name.is_empty() {
            return bad("the name is empty");
        }
        if name.len() > MAX_NAME_LEN {
            return bad("the name is longer than 255 bytes");
        }
        if name.starts_with('/') {
            return bad("absolute paths are not stream names");
        }
        for segment in name.split('/') {
            if segment.is_empty() {
                return bad("empty segment (a leading, trailing or doubled '/')");
            }
            if segment == "." || segment == ".." {
                return bad("'.' and '..' are not allowed");
            }
            if segment.starts_with('.') {
                return bad("a segment may not start with '.'");
            }
            if segment.len() > 64 {
                return bad("a segment is longer than 64 bytes");
            }
            if !segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'='))
            {
                return bad("only ASCII letters, digits, '_', '-', '.', '=' and '/' are allowed");
            }
        }
        Ok(StreamName(name.to_string()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The stream's folder under `root`.
    pub fn dir(&self, root: &Path) -> PathBuf {
        let mut p = root.to_path_buf();
        for seg in self.0.split('/') {
            p.push(seg);
        }
        p
    }
}

impl fmt::Display for StreamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for StreamName {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        StreamName::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_hierarchical_names() {
        for ok in ["trades", "binance/btcusdt/trades", "a.b-c_d/x=1", "A1"] {
            assert!(StreamName::new(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_traversal_and_odd_characters() {
        for bad in [
            "", "/abs", "a/../b", "..", ".", "a//b", "a/", ".hidden", "a b", "a\\b", "a/b\0",
            "ümlaut",
        ] {
            let err = StreamName::new(bad).unwrap_err();
            assert!(matches!(err, Error::InvalidName { .. }), "{bad}: {err}");
            assert!(err.to_string().contains("invalid stream name"));
        }
        assert!(StreamName::new(&"x".repeat(256)).is_err());
    }

    #[test]
    fn dir_stays_under_root() {
        let n = StreamName::new("binance/btcusdt/trades").unwrap();
        assert_eq!(
            n.dir(Path::new("/data")),
            PathBuf::from("/data/binance/btcusdt/trades")
        );
    }
}
