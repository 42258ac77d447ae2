//! The venues a recorder speaks to: their endpoints, how a connection
//! subscribes, how a depth book is synced, and which importer parses their
//! messages (the same parsers as `eventstore import`, so recorded and
//! imported streams are the same streams).

use eventstore_market::import::rows::ParsedLine;
use eventstore_market::import::Format;
use std::time::Duration;

/// A venue the recorder knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Venue {
    /// Binance spot (`wss://stream.binance.com:9443`, REST `api.binance.com`).
    Binance,
    /// Binance USD-M futures (`wss://fstream.binance.com`, REST `fapi.binance.com`).
    BinanceFutures,
    /// OKX v5 public websocket (`wss://ws.okx.com:8443/ws/v5/public`).
    Okx,
}

/// What to record from a venue, per symbol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    /// Book diffs (Binance `depth@100ms` with REST snapshots; OKX `books`
    /// with its checksums).
    Depth,
    /// Every trade (Binance `trade`, OKX `trades`).
    Trade,
    /// Binance's aggregate trades (`aggTrade`).
    AggTrade,
    /// Best bid and ask (Binance `bookTicker`, OKX `bbo-tbt`).
    BookTicker,
}

impl Channel {
    pub const ALL: [Channel; 4] = [
        Channel::Depth,
        Channel::Trade,
        Channel::AggTrade,
        Channel::BookTicker,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Channel::Depth => "depth",
            Channel::Trade => "trade",
            Channel::AggTrade => "aggtrade",
            Channel::BookTicker => "bookticker",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.name() == s)
    }
}

impl Venue {
    pub const ALL: [Venue; 3] = [Venue::Binance, Venue::BinanceFutures, Venue::Okx];

    /// Its name on the command line and in stream names.
    pub fn name(self) -> &'static str {
        match self {
            Venue::Binance => "binance",
            Venue::BinanceFutures => "binance-futures",
            Venue::Okx => "okx",
        }
    }

    pub fn parse(s: &str) -> Option<Venue> {
        Venue::ALL.into_iter().find(|v| v.name() == s)
    }

    /// The importer whose parser reads its messages.
    pub fn format(self) -> Format {
        match self {
            Venue::Binance | Venue::BinanceFutures => Format::Binance,
            Venue::Okx => Format::Okx,
        }
    }

    pub fn default_ws_url(self) -> &'static str {
        match self {
            Venue::Binance => "wss://stream.binance.com:9443",
            Venue::BinanceFutures => "wss://fstream.binance.com",
            Venue::Okx => "wss://ws.okx.com:8443/ws/v5/public",
        }
    }

    pub fn default_rest_url(self) -> &'static str {
        match self {
            Venue::Binance => "https://api.binance.com",
            Venue::BinanceFutures => "https://fapi.binance.com",
            Venue::Okx => "https://www.okx.com",
        }
    }

    /// How long a venue keeps one connection open, at most: Binance closes
    /// its connections after 24 hours, so the recorder opens the next one
    /// before that.
    pub fn max_connection_age(self) -> Option<Duration> {
        match self {
            Venue::Binance | Venue::BinanceFutures => Some(Duration::from_secs(23 * 3600)),
            Venue::Okx => None,
        }
    }

    /// A symbol as the venue's messages name it (`BTCUSDT`, `BTC-USDT`).
    pub fn symbol(self, s: &str) -> String {
        s.to_ascii_uppercase()
    }

    /// The venue's name of `channel` on the websocket.
    fn ws_channel(self, c: Channel) -> Option<&'static str> {
        Some(match (self, c) {
            (Venue::Binance | Venue::BinanceFutures, Channel::Depth) => "depth@100ms",
            (Venue::Binance | Venue::BinanceFutures, Channel::Trade) => "trade",
            (Venue::Binance | Venue::BinanceFutures, Channel::AggTrade) => "aggTrade",
            (Venue::Binance | Venue::BinanceFutures, Channel::BookTicker) => "bookTicker",
            (Venue::Okx, Channel::Depth) => "books",
            (Venue::Okx, Channel::Trade) => "trades",
            (Venue::Okx, Channel::BookTicker) => "bbo-tbt",
            (Venue::Okx, Channel::AggTrade) => return None,
        })
    }

    /// Check that the venue has each channel.
    pub fn check_channels(self, channels: &[Channel]) -> Result<(), String> {
        for c in channels {
            if self.ws_channel(*c).is_none() {
                return Err(format!("{} has no {} channel", self.name(), c.name()));
            }
        }
        Ok(())
    }

    /// The url a connection opens: Binance's combined streams name every
    /// stream in it; OKX subscribes after connecting.
    pub fn connect_url(self, ws_url: &str, symbols: &[String], channels: &[Channel]) -> String {
        let base = ws_url.trim_end_matches('/');
        match self {
            Venue::Binance | Venue::BinanceFutures => {
                let streams: Vec<String> = symbols
                    .iter()
                    .flat_map(|s| {
                        channels.iter().filter_map(move |c| {
                            self.ws_channel(*c)
                                .map(|n| format!("{}@{n}", s.to_ascii_lowercase()))
                        })
                    })
                    .collect();
                format!("{base}/stream?streams={}", streams.join("/"))
            }
            Venue::Okx => base.to_string(),
        }
    }

    /// What a connection sends once open (OKX's subscription).
    pub fn subscribe(self, symbols: &[String], channels: &[Channel]) -> Option<String> {
        match self {
            Venue::Binance | Venue::BinanceFutures => None,
            Venue::Okx => Some(okx_op("subscribe", symbols, channels, self)),
        }
    }

    /// What resubscribes one symbol's book (OKX sends a new snapshot on
    /// subscribe): an unsubscribe then a subscribe.
    pub fn resubscribe_book(self, symbol: &str) -> Option<[String; 2]> {
        match self {
            Venue::Okx => {
                let s = [symbol.to_string()];
                Some([
                    okx_op("unsubscribe", &s, &[Channel::Depth], self),
                    okx_op("subscribe", &s, &[Channel::Depth], self),
                ])
            }
            _ => None,
        }
    }

    /// The REST url of `symbol`'s depth snapshot, for venues that sync
    /// their books from one.
    pub fn snapshot_url(self, rest_url: &str, symbol: &str, limit: u32) -> Option<String> {
        let base = rest_url.trim_end_matches('/');
        match self {
            Venue::Binance => Some(format!(
                "{base}/api/v3/depth?symbol={}&limit={limit}",
                self.symbol(symbol)
            )),
            Venue::BinanceFutures => Some(format!(
                "{base}/fapi/v1/depth?symbol={}&limit={limit}",
                self.symbol(symbol)
            )),
            Venue::Okx => None,
        }
    }

    /// The REST url that gives `symbol`'s tick and lot sizes, for venues
    /// that print their decimals trimmed (the stream's scales come from it).
    pub fn instrument_url(self, rest_url: &str, symbol: &str) -> Option<String> {
        let base = rest_url.trim_end_matches('/');
        match self {
            Venue::Okx => Some(format!(
                "{base}/api/v5/public/instruments?instType={}&instId={}",
                okx_inst_type(symbol),
                self.symbol(symbol)
            )),
            _ => None,
        }
    }

    /// A keep-alive the venue wants from the client when it is quiet (OKX
    /// closes a connection that sends nothing for 30 s); Binance pings the
    /// client, which answers with pongs.
    pub fn keepalive(self) -> Option<(&'static str, Duration)> {
        match self {
            Venue::Okx => Some(("ping", Duration::from_secs(20))),
            _ => None,
        }
    }

    /// Parse one websocket message received at `local` (ns).
    pub fn parse_message(self, local: i64, text: &str) -> Result<Option<ParsedLine>, String> {
        match self {
            Venue::Binance | Venue::BinanceFutures => {
                eventstore_market::import::binance::parse_message(Some(local), text, None)
            }
            Venue::Okx => eventstore_market::import::okx::parse_message(Some(local), text),
        }
    }

    /// Parse a REST depth snapshot of `symbol` received at `local`.
    pub fn parse_snapshot(
        self,
        local: i64,
        symbol: &str,
        body: &str,
    ) -> Result<Option<ParsedLine>, String> {
        eventstore_market::import::binance::parse_message(Some(local), body, Some(symbol.into()))
    }
}

/// OKX instrument types, from the id's shape.
fn okx_inst_type(inst: &str) -> &'static str {
    let parts: Vec<&str> = inst.split('-').collect();
    match parts.as_slice() {
        [.., "SWAP"] => "SWAP",
        [_, _, _, _, "C" | "P"] => "OPTION",
        [_, _, d] if d.len() == 6 && d.bytes().all(|b| b.is_ascii_digit()) => "FUTURES",
        _ => "SPOT",
    }
}

fn okx_op(op: &str, symbols: &[String], channels: &[Channel], v: Venue) -> String {
    let args: Vec<serde_json::Value> = symbols
        .iter()
        .flat_map(|s| {
            channels.iter().filter_map(move |c| {
                v.ws_channel(*c)
                    .map(|ch| serde_json::json!({"channel": ch, "instId": v.symbol(s)}))
            })
        })
        .collect();
    serde_json::json!({"op": op, "args": args}).to_string()
}

/// The number of decimal places of a tick or lot size as a venue prints it
/// (`"0.1"`: 1, `"0.00000001"`: 8, `"1e-8"`: 8, `"1"`: 0).
pub fn places_of_step(s: &str) -> Option<u8> {
    if let Some((_, e)) = s.split_once(['e', 'E']) {
        return e.strip_prefix('-').and_then(|d| d.parse().ok());
    }
    let places = eventstore_market::records::decimal::places(s);
    u8::try_from(places).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binance_combined_stream_url_names_every_stream() {
        let url = Venue::Binance.connect_url(
            "wss://x:9443/",
            &["btcusdt".into(), "ETHUSDT".into()],
            &[Channel::Depth, Channel::Trade],
        );
        assert_eq!(
            url,
            "wss://x:9443/stream?streams=btcusdt@depth@100ms/btcusdt@trade/ethusdt@depth@100ms/ethusdt@trade"
        );
    }

    #[test]
    fn okx_subscription_and_instrument_types() {
        let s = Venue::Okx
            .subscribe(&["btc-usdt".into()], &[Channel::Depth, Channel::Trade])
            .unwrap();
        assert_eq!(
            s,
            r#"{"args":[{"channel":"books","instId":"BTC-USDT"},{"channel":"trades","instId":"BTC-USDT"}],"op":"subscribe"}"#
        );
        assert_eq!(okx_inst_type("BTC-USDT-SWAP"), "SWAP");
        assert_eq!(okx_inst_type("BTC-USD-210924"), "FUTURES");
        assert_eq!(okx_inst_type("BTC-USD-210924-42000-P"), "OPTION");
        assert_eq!(okx_inst_type("ETH-BTC"), "SPOT");
        assert!(Venue::Okx.check_channels(&[Channel::AggTrade]).is_err());
        assert_eq!(places_of_step("0.1"), Some(1));
        assert_eq!(places_of_step("1"), Some(0));
        assert_eq!(places_of_step("0.00000001"), Some(8));
        assert_eq!(places_of_step("1e-8"), Some(8));
    }
}
