//! `market.json`: what a market stream holds, kept in the stream's folder.

use crate::records::decimal::DecimalStyle;
use crate::{Error, Result};
use std::path::Path;

/// The file name, in the stream's folder.
pub const META_FILE: &str = "market.json";

/// What kind of records a market stream holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StreamKind {
    /// Trades ([`Trade`](crate::Trade), 48 bytes each, more with a text id).
    Trades,
    /// Price-level updates of an L2 book ([`BookLevel`](crate::BookLevel)).
    BookL2,
    /// Best bid and offer quotes ([`Quote`](crate::Quote)).
    Quotes,
    /// Order events of an L3 book ([`OrderEvent`](crate::OrderEvent)).
    OrdersL3,
}

impl StreamKind {
    /// Every kind.
    pub const ALL: [StreamKind; 4] = [
        StreamKind::Trades,
        StreamKind::BookL2,
        StreamKind::Quotes,
        StreamKind::OrdersL3,
    ];

    /// Its name in `market.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            StreamKind::Trades => "trades",
            StreamKind::BookL2 => "book_l2",
            StreamKind::Quotes => "quotes",
            StreamKind::OrdersL3 => "orders_l3",
        }
    }

    /// The kind named `s` in `market.json`.
    pub fn parse(s: &str) -> Option<StreamKind> {
        StreamKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for StreamKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a market stream holds and how to read its numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamMeta {
    /// `binance`, `binance-futures`, ...
    pub venue: String,
    /// The venue's symbol, such as `BTCUSDT`.
    pub symbol: String,
    /// What its records are.
    pub kind: StreamKind,
    /// Prices are integers of `10^-price_scale`.
    pub price_scale: u8,
    /// Sizes are integers of `10^-size_scale`.
    pub size_scale: u8,
    /// How the source printed its decimals, so that they print back the same.
    pub style: DecimalStyle,
    /// Levels a side the venue publishes, where it publishes only so many
    /// (LOBSTER's orderbook file): deeper levels are not known.
    pub depth: Option<u32>,
    /// The venue's book checksum its records carry (OKX, Kraken), verified
    /// by every reader.
    pub checksum: Option<crate::book::checksum::ChecksumKind>,
}

impl StreamMeta {
    /// Set a replay of this stream up as its venue says: the checksums to
    /// verify, the depth a price-level book is truncated to.
    pub fn configure(&self, r: &mut crate::book::replay::Replay) {
        if let Some(c) = self.checksummer() {
            r.verify_checksums(c);
        }
        if let (Some(d), crate::book::replay::BookKind::L2) = (self.depth, r.kind()) {
            r.truncate_to(d as usize);
        }
    }

    /// How a reader verifies this stream's checksums, if it carries any.
    pub fn checksummer(&self) -> Option<crate::book::checksum::Checksummer> {
        self.checksum
            .map(|kind| crate::book::checksum::Checksummer {
                kind,
                price_scale: self.price_scale,
                size_scale: self.size_scale,
                style: self.style,
            })
    }

    pub fn to_json(&self) -> String {
        let mut v = serde_json::json!({
            "format": "eventstore.market/1",
            "venue": self.venue,
            "symbol": self.symbol,
            "kind": self.kind.as_str(),
            "price_scale": self.price_scale,
            "size_scale": self.size_scale,
            "style": self.style.as_str(),
        });
        if let Some(d) = self.depth {
            v["depth"] = serde_json::json!(d);
        }
        if let Some(c) = self.checksum {
            v["checksum"] = serde_json::json!(c.as_str());
        }
        v.to_string()
    }

    pub fn from_json(text: &str, path: &Path) -> Result<StreamMeta> {
        let bad = |why: String| Error::Meta {
            path: path.to_path_buf(),
            reason: why,
        };
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| bad(format!("not JSON: {e}")))?;
        let s = |k: &str| {
            v.get(k)
                .and_then(|x| x.as_str())
                .map(String::from)
                .ok_or_else(|| bad(format!("no string {k:?}")))
        };
        let n = |k: &str| {
            v.get(k)
                .and_then(|x| x.as_u64())
                .filter(|n| *n <= crate::records::decimal::MAX_SCALE as u64)
                .map(|n| n as u8)
                .ok_or_else(|| bad(format!("no scale {k:?} from 0 to 18")))
        };
        if s("format")? != "eventstore.market/1" {
            return Err(bad("unknown format (expected eventstore.market/1)".into()));
        }
        let style = s("style")?;
        let kind = s("kind")?;
        let kind = StreamKind::parse(&kind).ok_or_else(|| {
            bad(format!(
                "unknown kind {kind:?} (one of trades, book_l2, quotes, orders_l3)"
            ))
        })?;
        Ok(StreamMeta {
            venue: s("venue")?,
            symbol: s("symbol")?,
            kind,
            price_scale: n("price_scale")?,
            size_scale: n("size_scale")?,
            style: DecimalStyle::parse(&style)
                .ok_or_else(|| bad(format!("unknown style {style:?}")))?,
            depth: match v.get("depth") {
                None => None,
                Some(d) => Some(
                    d.as_u64()
                        .filter(|d| (1..=u64::from(u32::MAX)).contains(d))
                        .map(|d| d as u32)
                        .ok_or_else(|| bad("\"depth\" is not a number of levels".into()))?,
                ),
            },
            checksum: match v.get("checksum") {
                None => None,
                Some(c) => Some(
                    c.as_str()
                        .and_then(crate::book::checksum::ChecksumKind::parse)
                        .ok_or_else(|| bad(format!("unknown checksum {c} (okx or kraken)")))?,
                ),
            },
        })
    }

    /// The metadata of the stream in `dir`, if it has any.
    pub fn load(dir: &Path) -> Result<Option<StreamMeta>> {
        // Whoever reads a market stream may meet its compact blocks.
        crate::compact::install();
        let path = dir.join(META_FILE);
        match std::fs::read_to_string(&path) {
            Ok(t) => Self::from_json(&t, &path).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::Io { path, source: e }),
        }
    }

    /// Write it into `dir` (through a temporary file and a rename).
    pub fn store(&self, dir: &Path) -> Result<()> {
        let path = dir.join(META_FILE);
        let tmp = dir.join(format!("{META_FILE}.tmp"));
        let io = |e| Error::Io {
            path: path.clone(),
            source: e,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        std::fs::write(&tmp, self.to_json()).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)
    }
}
