//! The recorder's configuration file (TOML): many venues and symbols at
//! once, and the options of `eventstore record`.
//!
//! ```toml
//! root = "data"
//! roll = "1h"
//! durability = "10ms"
//! raw = true
//! metrics = "127.0.0.1:9464"
//!
//! [[venue]]
//! name = "binance"
//! symbols = ["btcusdt", "ethusdt"]
//! channels = ["depth", "trade", "bookticker"]
//!
//! [[venue]]
//! name = "okx"
//! symbols = ["BTC-USDT"]
//! channels = ["depth", "trade"]
//! ws_url = "wss://ws.okx.com:8443/ws/v5/public"
//! ```

use crate::venue::{Channel, Venue};
use crate::{RecordOptions, VenueSpec};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The file, as written.
#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub root: Option<PathBuf>,
    pub roll: Option<String>,
    pub durability: Option<String>,
    pub raw: Option<bool>,
    pub compact: Option<bool>,
    pub metrics: Option<String>,
    pub stale_after: Option<String>,
    pub max_connection_age: Option<String>,
    pub overlap: Option<String>,
    pub status_every: Option<String>,
    pub snapshot_limit: Option<u32>,
    #[serde(default)]
    pub venue: Vec<VenueEntry>,
}

/// One `[[venue]]` table.
#[derive(Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct VenueEntry {
    pub name: String,
    pub symbols: Vec<String>,
    pub channels: Option<Vec<String>>,
    pub ws_url: Option<String>,
    pub rest_url: Option<String>,
}

/// Read and check the file at `path`; errors name the file and the key.
pub fn load(path: &Path) -> Result<FileConfig, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// A duration such as `30s`, `500ms`, `23h`.
pub fn duration(key: &str, s: &str) -> Result<Duration, String> {
    eventstore_log::time::parse_duration_ns(s)
        .map(|ns| Duration::from_nanos(ns.max(0) as u64))
        .map_err(|e| format!("{key} = {s:?}: {e}"))
}

/// Channels by name (`depth,trade`); all the venue has when none.
pub fn channels(venue: Venue, names: Option<&[String]>) -> Result<Vec<Channel>, String> {
    let Some(names) = names else {
        return Ok(Channel::ALL
            .into_iter()
            .filter(|c| venue.check_channels(&[*c]).is_ok())
            .collect());
    };
    let mut out = Vec::new();
    for n in names {
        let c = Channel::parse(n).ok_or_else(|| {
            format!("channel {n:?} is not one of depth, trade, aggtrade, bookticker")
        })?;
        venue.check_channels(&[c])?;
        if !out.contains(&c) {
            out.push(c);
        }
    }
    Ok(out)
}

impl FileConfig {
    /// Its options over `opts`.
    pub fn apply(&self, opts: &mut RecordOptions) -> Result<(), String> {
        if let Some(r) = &self.root {
            opts.root = r.clone();
        }
        if let Some(r) = &self.roll {
            opts.roll = eventstore_log::RollInterval::parse(r).map_err(|e| format!("roll: {e}"))?;
        }
        if let Some(d) = &self.durability {
            opts.durability = d.parse().map_err(|e| format!("durability: {e}"))?;
        }
        if let Some(r) = self.raw {
            opts.raw = r;
        }
        if let Some(c) = self.compact {
            opts.compact = c;
        }
        if let Some(s) = &self.stale_after {
            opts.stale_after = duration("stale_after", s)?;
        }
        if let Some(s) = &self.max_connection_age {
            opts.max_connection_age = Some(duration("max_connection_age", s)?);
        }
        if let Some(s) = &self.overlap {
            opts.overlap = duration("overlap", s)?;
        }
        if let Some(s) = &self.status_every {
            let d = duration("status_every", s)?;
            opts.status_every = (!d.is_zero()).then_some(d);
        }
        if let Some(n) = self.snapshot_limit {
            opts.snapshot_limit = n;
        }
        Ok(())
    }

    /// The venues it names.
    pub fn specs(&self) -> Result<Vec<VenueSpec>, String> {
        let mut out = Vec::new();
        for (i, v) in self.venue.iter().enumerate() {
            let at = format!("venue[{i}]");
            let venue = Venue::parse(&v.name).ok_or_else(|| {
                format!(
                    "{at}.name = {:?}: not one of binance, binance-futures, okx",
                    v.name
                )
            })?;
            if v.symbols.is_empty() {
                return Err(format!("{at}.symbols: no symbol"));
            }
            let channels = channels(venue, v.channels.as_deref())
                .map_err(|e| format!("{at}.channels: {e}"))?;
            let mut spec = VenueSpec::new(venue, v.symbols.clone(), channels);
            if let Some(u) = &v.ws_url {
                spec.ws_url = u.clone();
            }
            if let Some(u) = &v.rest_url {
                spec.rest_url = u.clone();
            }
            out.push(spec);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_of_two_venues() {
        let c: FileConfig = toml::from_str(
            r#"
root = "data"
durability = "10ms"
raw = true
stale_after = "5s"
[[venue]]
name = "binance"
symbols = ["btcusdt", "ethusdt"]
channels = ["depth", "trade"]
[[venue]]
name = "okx"
symbols = ["BTC-USDT"]
ws_url = "ws://127.0.0.1:1/ws"
"#,
        )
        .unwrap();
        let mut o = RecordOptions::new("x");
        c.apply(&mut o).unwrap();
        assert_eq!(o.root, PathBuf::from("data"));
        assert!(o.raw);
        assert_eq!(o.stale_after, Duration::from_secs(5));
        let s = c.specs().unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].channels, vec![Channel::Depth, Channel::Trade]);
        assert_eq!(
            s[1].channels,
            vec![Channel::Depth, Channel::Trade, Channel::BookTicker]
        );
        assert_eq!(s[1].ws_url, "ws://127.0.0.1:1/ws");
    }

    #[test]
    fn errors_name_the_key() {
        let c: FileConfig =
            toml::from_str("[[venue]]\nname = \"kraken\"\nsymbols = [\"x\"]\n").unwrap();
        let e = c.specs().unwrap_err();
        assert!(e.contains("venue[0].name"), "{e}");
        let e = toml::from_str::<FileConfig>("rooot = 1\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("rooot"), "{e}");
        let c: FileConfig = toml::from_str(
            "[[venue]]\nname = \"okx\"\nsymbols = [\"x\"]\nchannels = [\"aggtrade\"]\n",
        )
        .unwrap();
        assert!(c.specs().unwrap_err().contains("venue[0].channels"));
    }
}
