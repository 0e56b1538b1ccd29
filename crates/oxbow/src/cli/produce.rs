//! `oxbow produce`: one record per input line (kcat -P).

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::{bail, Context as _};
use clap::{Args, ValueEnum};
use futures::stream::{FuturesUnordered, StreamExt};
use rdkafka::config::FromClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;

use super::common::{parse_key_values, unescape, ConnArgs};

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Acks {
    All,
    #[value(name = "1")]
    One,
    #[value(name = "0")]
    Zero,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

#[derive(Args, Debug)]
pub struct ProduceArgs {
    /// Topic to produce to.
    #[arg(long, short = 't')]
    pub topic: String,
    /// Read records from this file instead of stdin.
    #[arg(long, short = 'f')]
    pub file: Option<PathBuf>,
    /// Split each line at the first occurrence of SEP into KEY and VALUE (a line without SEP has
    /// no key). `\t` and `\n` escapes are understood.
    #[arg(long, short = 'K', value_name = "SEP")]
    pub key_delimiter: Option<String>,
    /// A header `key=value` added to every record (repeatable).
    #[arg(long = "header", short = 'H', value_name = "KEY=VALUE")]
    pub headers: Vec<String>,
    /// Produce to this partition (default: the partitioner picks by key).
    #[arg(long, short = 'p')]
    pub partition: Option<i32>,
    /// Acknowledgements required from the broker.
    #[arg(long, value_enum, default_value = "all")]
    pub acks: Acks,
    /// Compression codec for record batches.
    #[arg(long, short = 'z', value_enum, default_value = "none")]
    pub compression: Compression,
    /// Use the idempotent producer (requires --acks all).
    #[arg(long)]
    pub idempotent: bool,
    /// Keep empty lines as records with an empty value (default: skip them).
    #[arg(long)]
    pub keep_empty: bool,
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// How many records may await their delivery report before reading more input.
const MAX_IN_FLIGHT: usize = 50_000;

pub async fn run(args: ProduceArgs) -> anyhow::Result<()> {
    if args.idempotent && args.acks != Acks::All {
        bail!("--idempotent requires --acks all");
    }
    let headers = parse_key_values(&args.headers)?;
    let delimiter = args.key_delimiter.as_deref().map(unescape);
    if matches!(&delimiter, Some(d) if d.is_empty()) {
        bail!("--key-delimiter must not be empty");
    }
    let acks = match args.acks {
        Acks::All => "all",
        Acks::One => "1",
        Acks::Zero => "0",
    };
    let config = args.conn.client_config(&[
        ("acks", acks.to_string()),
        ("compression.type", args.compression.as_str().to_string()),
        ("enable.idempotence", args.idempotent.to_string()),
        ("linger.ms", "5".to_string()),
    ])?;
    let producer: FutureProducer =
        FutureProducer::from_config(&config).context("creating producer")?;

    // Input is read on a blocking thread and handed over in order; delivery reports are collected
    // concurrently so errors are reported as they happen.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<Vec<u8>>>(1024);
    let file = args.file.clone();
    let reader = tokio::task::spawn_blocking(move || {
        let input: Box<dyn BufRead> = match file {
            Some(path) => match std::fs::File::open(&path) {
                Ok(f) => Box::new(std::io::BufReader::new(f)),
                Err(e) => {
                    let _ = tx.blocking_send(Err(std::io::Error::new(
                        e.kind(),
                        format!("{}: {e}", path.display()),
                    )));
                    return;
                }
            },
            None => Box::new(std::io::stdin().lock()),
        };
        read_lines(input, &tx);
    });

    let mut pending: FuturesUnordered<futures::future::BoxFuture<'static, (u64, DeliveryOutcome)>> =
        FuturesUnordered::new();
    let mut line_no: u64 = 0;
    let mut sent: u64 = 0;
    let mut delivered: u64 = 0;
    let mut failed: u64 = 0;
    let mut input_done = false;

    while !input_done || !pending.is_empty() {
        tokio::select! {
            biased;
            Some((line, outcome)) = pending.next(), if !pending.is_empty() => {
                match outcome {
                    DeliveryOutcome::Ok => delivered += 1,
                    DeliveryOutcome::Failed(msg) => {
                        failed += 1;
                        eprintln!("error: record on line {line}: {msg}");
                    }
                }
            }
            next = rx.recv(), if !input_done && pending.len() < MAX_IN_FLIGHT => {
                let Some(item) = next else {
                    input_done = true;
                    continue;
                };
                let line = item.context("reading input")?;
                line_no += 1;
                if line.is_empty() && !args.keep_empty {
                    continue;
                }
                let (key, value) = split_key(&line, delimiter.as_deref().map(str::as_bytes));
                let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&args.topic).payload(value);
                if let Some(k) = key {
                    record = record.key(k);
                }
                if let Some(p) = args.partition {
                    record = record.partition(p);
                }
                if !headers.is_empty() {
                    let mut h = OwnedHeaders::new_with_capacity(headers.len());
                    for (k, v) in &headers {
                        h = h.insert(Header { key: k, value: Some(v.as_bytes()) });
                    }
                    record = record.headers(h);
                }
                sent += 1;
                let this_line = line_no;
                loop {
                    match producer.send_result(record) {
                        Ok(fut) => {
                            pending.push(Box::pin(wait_delivery(this_line, fut)));
                            break;
                        }
                        Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                            record = back;
                            // Let deliveries drain before retrying.
                            if let Some((line, outcome)) = pending.next().await {
                                match outcome {
                                    DeliveryOutcome::Ok => delivered += 1,
                                    DeliveryOutcome::Failed(msg) => {
                                        failed += 1;
                                        eprintln!("error: record on line {line}: {msg}");
                                    }
                                }
                            } else {
                                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                            }
                        }
                        Err((e, _)) => {
                            failed += 1;
                            eprintln!("error: record on line {this_line}: {e}");
                            break;
                        }
                    }
                }
            }
        }
    }
    let _ = reader.await;
    eprintln!(
        "{delivered} record(s) produced to {}, {failed} failed",
        args.topic
    );
    if failed > 0 {
        bail!("{failed} of {sent} record(s) failed");
    }
    Ok(())
}

enum DeliveryOutcome {
    Ok,
    Failed(String),
}

async fn wait_delivery(line: u64, fut: DeliveryFuture) -> (u64, DeliveryOutcome) {
    let outcome = match fut.await {
        Ok(Ok(_)) => DeliveryOutcome::Ok,
        Ok(Err((e, _))) => DeliveryOutcome::Failed(e.to_string()),
        Err(_) => DeliveryOutcome::Failed("producer closed before delivery".to_string()),
    };
    (line, outcome)
}

/// Sends each input line (without its `\n` or `\r\n`) to `tx`, then an error if reading failed.
fn read_lines(
    mut input: Box<dyn BufRead>,
    tx: &tokio::sync::mpsc::Sender<std::io::Result<Vec<u8>>>,
) {
    loop {
        let mut buf = Vec::new();
        match input.read_until(b'\n', &mut buf) {
            Ok(0) => return,
            Ok(_) => {
                if buf.last() == Some(&b'\n') {
                    buf.pop();
                    if buf.last() == Some(&b'\r') {
                        buf.pop();
                    }
                }
                if tx.blocking_send(Ok(buf)).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        }
    }
}

/// Splits `line` at the first occurrence of `delimiter` into (key, value); without a delimiter, or
/// when it does not occur, the whole line is the value and there is no key.
fn split_key<'a>(line: &'a [u8], delimiter: Option<&[u8]>) -> (Option<&'a [u8]>, &'a [u8]) {
    let Some(d) = delimiter else {
        return (None, line);
    };
    if d.is_empty() || line.len() < d.len() {
        return (None, line);
    }
    match line.windows(d.len()).position(|w| w == d) {
        Some(i) => (Some(&line[..i]), &line[i + d.len()..]),
        None => (None, line),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_delimiter_when_splitting_should_cut_at_first_occurrence() {
        assert_eq!(
            split_key(b"k:v:w", Some(b":")),
            (Some(&b"k"[..]), &b"v:w"[..])
        );
        assert_eq!(split_key(b"kv", Some(b":")), (None, &b"kv"[..]));
        assert_eq!(
            split_key(b"k::v", Some(b"::")),
            (Some(&b"k"[..]), &b"v"[..])
        );
        assert_eq!(split_key(b":v", Some(b":")), (Some(&b""[..]), &b"v"[..]));
        assert_eq!(split_key(b"k:v", None), (None, &b"k:v"[..]));
    }
}
