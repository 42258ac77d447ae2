//! The trade record and its 48-byte encoding (see `docs/format.md`,
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
    pub trade_id: u64,
}

/// Record kind byte of a trade.
pub const KIND_TRADE: u8 = 1;
/// Encoded length of a trade.
pub const TRADE_LEN: usize = 48;

impl Trade {
    /// `kind u8 | side u8 | 6 zero bytes | exchange_ts i64 | local_ts i64 |
    /// price i64 | size i64 | trade_id u64`, little-endian.
    pub fn encode(&self) -> [u8; TRADE_LEN] {
        let mut b = [0u8; TRADE_LEN];
        b[0] = KIND_TRADE;
        b[1] = self.side as u8;
        b[8..16].copy_from_slice(&self.exchange_ts.to_le_bytes());
        b[16..24].copy_from_slice(&self.local_ts.to_le_bytes());
        b[24..32].copy_from_slice(&self.price.to_le_bytes());
        b[32..40].copy_from_slice(&self.size.to_le_bytes());
        b[40..48].copy_from_slice(&self.trade_id.to_le_bytes());
        b
    }

    /// Decode a record written by [`Trade::encode`].
    #[inline]
    pub fn decode(b: &[u8]) -> Result<Trade, String> {
        let Some(b) = b.first_chunk::<TRADE_LEN>() else {
            return Err(format!(
                "a trade is {TRADE_LEN} bytes, this record is {}",
                b.len()
            ));
        };
        if b[0] != KIND_TRADE {
            return Err(format!(
                "record kind {} is not a trade ({KIND_TRADE})",
                b[0]
            ));
        }
        let side = match b[1] {
            0 => Side::Unknown,
            1 => Side::Buy,
            2 => Side::Sell,
            s => return Err(format!("side {s} is not 0, 1 or 2")),
        };
        let i = |o: usize| {
            let mut x = [0u8; 8];
            x.copy_from_slice(&b[o..o + 8]);
            i64::from_le_bytes(x)
        };
        Ok(Trade {
            exchange_ts: i(8),
            local_ts: i(16),
            price: i(24),
            size: i(32),
            side,
            trade_id: i(40) as u64,
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
            trade_id: 3_735_683_259,
        };
        assert_eq!(Trade::decode(&t.encode()), Ok(t));
        assert!(Trade::decode(&t.encode()[..47]).is_err());
        let mut b = t.encode();
        b[0] = 9;
        assert!(Trade::decode(&b).unwrap_err().contains("not a trade"));
        let mut b = t.encode();
        b[1] = 7;
        assert!(Trade::decode(&b).is_err());
    }
}
