//! The trade record and its encoding: 48 bytes, and the trade id's text
//! after them when the venue's id is not a number (see `docs/format.md`,
//! "Market records").

/// Which side took liquidity: the aggressor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    Unknown = 0,
    /// The buyer crossed the spread (a buy market order).
    Buy = 1,
    /// The seller crossed the spread.
    Sell = 2,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Unknown => "unknown",
            Side::Buy => "buy",
            Side::Sell => "sell",
        }
    }
}

/// The longest trade id kept as text, in bytes (a UUID is 36).
pub const MAX_TEXT_ID: usize = 47;

/// A trade id as the venue gave it: a number (Binance, Tardis for most
/// venues, Coinbase, Databento's sequence) or a text (BitMEX and Bybit
/// UUIDs), kept inline so that a trade stays `Copy`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum TradeId {
    Num(u64),
    Text(TextId),
}

/// A trade id's text: 1 to [`MAX_TEXT_ID`] bytes of UTF-8.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TextId {
    len: u8,
    bytes: [u8; MAX_TEXT_ID],
}

impl std::fmt::Debug for TextId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl TextId {
    /// `s` as a text id, if it is 1 to [`MAX_TEXT_ID`] bytes.
    pub fn new(s: &str) -> Result<TextId, String> {
        if s.is_empty() || s.len() > MAX_TEXT_ID {
            return Err(format!(
                "a trade id is 1 to {MAX_TEXT_ID} bytes, {:?} is {}",
                s.chars().take(64).collect::<String>(),
                s.len()
            ));
        }
        let mut bytes = [0u8; MAX_TEXT_ID];
        bytes[..s.len()].copy_from_slice(s.as_bytes());
        Ok(TextId {
            len: s.len() as u8,
            bytes,
        })
    }

    pub fn as_str(&self) -> &str {
        // Built only from a `&str` or from bytes checked to be UTF-8.
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or_default()
    }
}

impl TradeId {
    /// The venue's id as printed: a number when it is one (without sign,
    /// leading zeros or other characters), else the text itself.
    pub fn parse(s: &str) -> Result<TradeId, String> {
        let canonical = !s.is_empty()
            && s.bytes().all(|b| b.is_ascii_digit())
            && (s == "0" || !s.starts_with('0'));
        match s.parse::<u64>() {
            Ok(n) if canonical => Ok(TradeId::Num(n)),
            _ => TextId::new(s).map(TradeId::Text),
        }
    }

    /// The number, for a numeric id.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            TradeId::Num(n) => Some(*n),
            TradeId::Text(_) => None,
        }
    }

    /// The text, for a text id.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            TradeId::Num(_) => None,
            TradeId::Text(t) => Some(t.as_str()),
        }
    }
}

impl From<u64> for TradeId {
    fn from(n: u64) -> TradeId {
        TradeId::Num(n)
    }
}

impl PartialEq<u64> for TradeId {
    fn eq(&self, n: &u64) -> bool {
        *self == TradeId::Num(*n)
    }
}

impl std::fmt::Display for TradeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TradeId::Num(n) => write!(f, "{n}"),
            TradeId::Text(t) => f.write_str(t.as_str()),
        }
    }
}

impl std::fmt::Debug for TradeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TradeId::Num(n) => write!(f, "{n}"),
            TradeId::Text(t) => write!(f, "{:?}", t.as_str()),
        }
    }
}

/// One trade. Prices and sizes are integers at the stream's scales
/// ([`crate::StreamMeta`]); times are ns since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trade {
    /// When the exchange says the trade happened.
    pub exchange_ts: i64,
    /// When the recorder received it.
    pub local_ts: i64,
    pub price: i64,
    pub size: i64,
    pub side: Side,
    pub trade_id: TradeId,
}

/// Record kind byte of a trade.
pub const KIND_TRADE: u8 = 1;
/// Encoded length of a trade with a numeric id (one with a text id adds
/// the text).
pub const TRADE_LEN: usize = 48;

/// An encoded trade, on the stack: derefs to its bytes.
#[derive(Clone, Copy)]
pub struct EncodedTrade {
    buf: [u8; TRADE_LEN + MAX_TEXT_ID],
    len: u8,
}

impl std::ops::Deref for EncodedTrade {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.buf[..self.len as usize]
    }
}

impl std::ops::DerefMut for EncodedTrade {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.buf[..self.len as usize]
    }
}

/// Byte 2 of a trade: the id is the number at bytes 40..48.
const ID_NUM: u8 = 0;
/// Byte 2 of a trade: the id is the UTF-8 text after byte 48.
const ID_TEXT: u8 = 1;

impl Trade {
    /// `kind u8 | side u8 | id form u8 | 5 zero bytes | exchange_ts i64 |
    /// local_ts i64 | price i64 | size i64 | trade_id u64`, little-endian;
    /// for a text id (form 1), bytes 40..48 are zero and the id's text
    /// follows.
    pub fn encode(&self) -> EncodedTrade {
        let mut e = EncodedTrade {
            buf: [0u8; TRADE_LEN + MAX_TEXT_ID],
            len: TRADE_LEN as u8,
        };
        let b = &mut e.buf;
        b[0] = KIND_TRADE;
        b[1] = self.side as u8;
        b[8..16].copy_from_slice(&self.exchange_ts.to_le_bytes());
        b[16..24].copy_from_slice(&self.local_ts.to_le_bytes());
        b[24..32].copy_from_slice(&self.price.to_le_bytes());
        b[32..40].copy_from_slice(&self.size.to_le_bytes());
        match &self.trade_id {
            TradeId::Num(n) => b[40..48].copy_from_slice(&n.to_le_bytes()),
            TradeId::Text(t) => {
                b[2] = ID_TEXT;
                let text = t.as_str().as_bytes();
                b[TRADE_LEN..TRADE_LEN + text.len()].copy_from_slice(text);
                e.len += text.len() as u8;
            }
        }
        e
    }

    /// Decode a record written by [`Trade::encode`].
    #[inline]
    pub fn decode(b: &[u8]) -> Result<Trade, String> {
        let Some(head) = b.first_chunk::<TRADE_LEN>() else {
            return Err(format!(
                "a trade is at least {TRADE_LEN} bytes, this record is {}",
                b.len()
            ));
        };
        if head[0] != KIND_TRADE {
            return Err(format!(
                "record kind {} is not a trade ({KIND_TRADE})",
                head[0]
            ));
        }
        let side = match head[1] {
            0 => Side::Unknown,
            1 => Side::Buy,
            2 => Side::Sell,
            s => return Err(format!("side {s} is not 0, 1 or 2")),
        };
        let i = |o: usize| {
            let mut x = [0u8; 8];
            x.copy_from_slice(&head[o..o + 8]);
            i64::from_le_bytes(x)
        };
        let trade_id = match head[2] {
            ID_NUM if b.len() == TRADE_LEN => TradeId::Num(i(40) as u64),
            ID_NUM => {
                return Err(format!(
                    "a trade with a numeric id is {TRADE_LEN} bytes, this record is {}",
                    b.len()
                ))
            }
            ID_TEXT => {
                let text = std::str::from_utf8(&b[TRADE_LEN..])
                    .map_err(|e| format!("the trade id is not UTF-8: {e}"))?;
                TradeId::Text(TextId::new(text)?)
            }
            f => return Err(format!("trade id form {f} is not 0 or 1")),
        };
        Ok(Trade {
            exchange_ts: i(8),
            local_ts: i(16),
            price: i(24),
            size: i(32),
            side,
            trade_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_other_bytes() {
        let t = Trade {
            exchange_ts: 1_723_161_255_342_000_000,
            local_ts: 1_723_161_254_087_896_568,
            price: 6_183_763_000_000,
            size: -2,
            side: Side::Sell,
            trade_id: TradeId::Num(3_735_683_259),
        };
        assert_eq!(Trade::decode(&t.encode()), Ok(t));
        // A UUID, as BitMEX prints it, is kept as text after the 48 bytes.
        let uuid = "00000000-006d-1000-0000-0003a2e5a8a8";
        let u = Trade {
            trade_id: TradeId::parse(uuid).unwrap(),
            ..t
        };
        assert_eq!(u.encode().len(), TRADE_LEN + uuid.len());
        assert_eq!(Trade::decode(&u.encode()), Ok(u));
        assert_eq!(u.trade_id.to_string(), uuid);
        // Digits with a leading zero are not a number as the venue printed it.
        assert!(TradeId::parse("0012").unwrap().as_text().is_some());
        assert_eq!(TradeId::parse("12").unwrap(), TradeId::Num(12));
        assert!(TradeId::parse(&"x".repeat(48)).is_err());
        assert!(Trade::decode(&[&t.encode()[..], &[1]].concat()).is_err());
        assert!(Trade::decode(&t.encode()[..47]).is_err());
        let mut b = t.encode();
        b[0] = 9;
        assert!(Trade::decode(&b).unwrap_err().contains("not a trade"));
        let mut b = t.encode();
        b[1] = 7;
        assert!(Trade::decode(&b).is_err());
    }
}
