//! `eventstore publish <addr> <stream>`: append standard input's lines (or
//! length-prefixed frames) to a stream on a server.

use super::client_args::ClientArgs;
use super::remote_args::runtime;
use super::write::InputFormat;
use anyhow::{bail, Context, Result};
use bytes::Bytes;
use eventstore_client::PublisherOptions;
use std::io::{BufRead, Read};
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Server address, host:port.
    pub addr: String,
    /// Stream name, such as binance/btcusdt/trades.
    pub stream: String,
    #[command(flatten)]
    pub client: ClientArgs,
    /// How standard input is split into records.
    #[arg(long, value_enum, default_value = "lines")]
    pub format: InputFormat,
}

pub fn run(a: Args) -> Result<ExitCode> {
    eventstore_log::StreamName::new(&a.stream)?;
    let rt = runtime()?;
    // Standard input is read on its own thread; records cross to the
    // publisher through a bounded queue.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Bytes>>(8192);
    let format = a.format;
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut input = std::io::BufReader::with_capacity(1 << 20, stdin.lock());
        let mut line = Vec::new();
        let mut n = 0u64;
        loop {
            let rec = match format {
                InputFormat::Lines => {
                    line.clear();
                    match input.read_until(b'\n', &mut line) {
                        Ok(0) => return,
                        Ok(_) => {
                            if line.last() == Some(&b'\n') {
                                line.pop();
                            }
                            Ok(Bytes::copy_from_slice(&line))
                        }
                        Err(e) => Err(e.into()),
                    }
                }
                InputFormat::Frames => {
                    let mut len = [0u8; 4];
                    match input.read_exact(&mut len) {
                        Ok(()) => {
                            let mut buf = vec![0u8; u32::from_le_bytes(len) as usize];
                            match input.read_exact(&mut buf) {
                                Ok(()) => Ok(Bytes::from(buf)),
                                Err(e) => Err(anyhow::anyhow!(
                                    "standard input: frame {n} is cut short: {e}"
                                )),
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return,
                        Err(e) => Err(e.into()),
                    }
                }
            };
            n += 1;
            let stop = rec.is_err();
            if tx.blocking_send(rec).is_err() || stop {
                return;
            }
        }
    });
    rt.block_on(async {
        let client = a.client.connect(&a.addr).await?;
        let publisher = client.publisher(&a.stream, PublisherOptions::default());
        let mut sent = 0u64;
        while let Some(rec) = rx.recv().await {
            publisher.send(rec?).await.with_context(|| {
                format!("publishing to {} after {sent} records were sent", a.stream)
            })?;
            sent += 1;
        }
        let acked = publisher
            .flush()
            .await
            .with_context(|| format!("publishing to {}: {sent} records were sent", a.stream))?;
        if acked != sent {
            bail!("{sent} records sent, {acked} acknowledged");
        }
        eprintln!("{acked} records appended to {}", a.stream);
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
