//! `eventstore record <venue>`: record a venue's live feeds into market
//! streams (see the `eventstore-record` crate).

use anyhow::{anyhow, bail, Context, Result};
use eventstore_record::config::{self, FileConfig};
use eventstore_record::{RecordOptions, Stats, Venue, VenueSpec};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The venue: binance, binance-futures or okx (or none, with --config).
    pub venue: Option<String>,
    /// Symbols, comma-separated (btcusdt,ethusdt; OKX: BTC-USDT,ETH-USDT-SWAP).
    #[arg(long, value_delimiter = ',')]
    pub symbols: Vec<String>,
    /// Channels, comma-separated: depth, trade, aggtrade, bookticker (default: all the venue has).
    #[arg(long, value_delimiter = ',')]
    pub channels: Vec<String>,
    /// A TOML file of venues and options (see the README); flags given override its options.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Root folder of the streams.
    #[arg(long, env = "EVENTSTORE_ROOT")]
    pub root: Option<PathBuf>,
    /// Roll interval of the files: minutely, hourly, daily, or any interval dividing a day (30s, 5m, 1h).
    #[arg(long)]
    pub roll: Option<String>,
    /// When records reach the disk: os (default), batch, or an interval such as 10ms.
    #[arg(long)]
    pub durability: Option<String>,
    /// Also store every venue message as received in `<venue>/raw` (REST answers as `<url> -> <body>`).
    #[arg(long)]
    pub raw: bool,
    /// Keep sealed files as written (by default they become compact).
    #[arg(long)]
    pub no_compact: bool,
    /// The venue's websocket endpoint (for tests, proxies and testnets).
    #[arg(long)]
    pub ws_url: Option<String>,
    /// The venue's REST endpoint (depth snapshots, instruments).
    #[arg(long)]
    pub rest_url: Option<String>,
    /// Serve Prometheus metrics on this address (such as 127.0.0.1:9464).
    #[arg(long)]
    pub metrics: Option<String>,
    /// Replace a connection that brings nothing for this long.
    #[arg(long)]
    pub stale_after: Option<String>,
    /// Replace each connection after this long, its successor opened first (default: 23h for Binance, never for OKX).
    #[arg(long)]
    pub max_connection_age: Option<String>,
    /// How long both connections record before the old one closes.
    #[arg(long)]
    pub overlap: Option<String>,
    /// A status line this often (0: none).
    #[arg(long)]
    pub status_every: Option<String>,
}

pub fn run(a: Args) -> Result<ExitCode> {
    let file = match &a.config {
        Some(p) => config::load(p).map_err(|e| anyhow!(e))?,
        None => FileConfig::default(),
    };
    let mut opts = RecordOptions::new("./data");
    file.apply(&mut opts).map_err(|e| anyhow!(e))?;
    if let Some(r) = &a.root {
        opts.root = r.clone();
    }
    if let Some(r) = &a.roll {
        opts.roll =
            eventstore_log::RollInterval::parse(r).with_context(|| format!("--roll {r}"))?;
    }
    if let Some(d) = &a.durability {
        opts.durability = d.parse().map_err(|e| anyhow!("--durability {d}: {e}"))?;
    }
    opts.raw |= a.raw;
    if a.no_compact {
        opts.compact = false;
    }
    let dur = |flag: &str, v: &Option<String>| -> Result<Option<std::time::Duration>> {
        v.as_deref()
            .map(|s| config::duration(flag, s).map_err(|e| anyhow!(e)))
            .transpose()
    };
    if let Some(d) = dur("--stale-after", &a.stale_after)? {
        opts.stale_after = d;
    }
    if let Some(d) = dur("--max-connection-age", &a.max_connection_age)? {
        opts.max_connection_age = Some(d);
    }
    if let Some(d) = dur("--overlap", &a.overlap)? {
        opts.overlap = d;
    }
    if let Some(d) = dur("--status-every", &a.status_every)? {
        opts.status_every = (!d.is_zero()).then_some(d);
    }
    let mut specs = file.specs().map_err(|e| anyhow!(e))?;
    if let Some(v) = &a.venue {
        let venue = Venue::parse(v)
            .ok_or_else(|| anyhow!("venue {v:?} is not one of binance, binance-futures, okx"))?;
        if a.symbols.is_empty() {
            bail!("--symbols: name at least one symbol of {v}");
        }
        let channels = config::channels(
            venue,
            (!a.channels.is_empty()).then_some(a.channels.as_slice()),
        )
        .map_err(|e| anyhow!("--channels: {e}"))?;
        let mut spec = VenueSpec::new(venue, a.symbols.clone(), channels);
        if let Some(u) = &a.ws_url {
            spec.ws_url = u.clone();
        }
        if let Some(u) = &a.rest_url {
            spec.rest_url = u.clone();
        }
        specs.push(spec);
    }
    if specs.is_empty() {
        bail!("nothing to record: name a venue and --symbols, or --config FILE");
    }
    let metrics = a.metrics.clone().or(file.metrics.clone());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(async {
        let listener = match &metrics {
            Some(addr) => {
                let l = tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("--metrics {addr}"))?;
                eprintln!("eventstore: metrics on http://{}/metrics", l.local_addr()?);
                Some(l)
            }
            None => None,
        };
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(_) => return,
                };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            eprintln!("eventstore: stopping the recorder");
            let _ = stop_tx.send(true);
        });
        eventstore_record::record(specs, opts, Stats::default(), listener, stop_rx)
            .await
            .map_err(anyhow::Error::from)
    })?;
    Ok(ExitCode::SUCCESS)
}
