//! `oxbow consume`: records to stdout (kcat -C).

use std::collections::HashSet;
use std::io::Write;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::Args;
use rdkafka::config::FromClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Headers};
use rdkafka::{Message, Offset, TopicPartitionList};
use serde_json::json;

use super::common::{text, topic_partitions, unescape, ConnArgs, DEFAULT_TIMEOUT};

#[derive(Args, Debug)]
pub struct ConsumeArgs {
    /// Topic to consume.
    #[arg(long, short = 't')]
    pub topic: String,
    /// Only this partition (default: all partitions of the topic).
    #[arg(long, short = 'p')]
    pub partition: Option<i32>,
    /// Where to start: `beginning`, `end`, an offset `N`, `-N` (N before the end), or
    /// `@TIMESTAMP_MS` (the first record at or after that time). With --group and no --offset,
    /// the group's committed offsets are used.
    #[arg(long, short = 'o', allow_hyphen_values = true)]
    pub offset: Option<String>,
    /// Stop after this many records.
    #[arg(long, short = 'c')]
    pub count: Option<u64>,
    /// Stop when the end of every partition has been reached.
    #[arg(long, short = 'e')]
    pub exit: bool,
    /// Consume as a member of this consumer group (subscribe, commit offsets). Without it,
    /// partitions are assigned directly and nothing is committed.
    #[arg(long, short = 'G')]
    pub group: Option<String>,
    /// Output format: %t topic, %p partition, %o offset, %T timestamp, %k key, %v value,
    /// %h headers (k=v,...), %K/%S key/value length, %% a percent sign; `\t` and `\n` are
    /// understood. A newline is appended unless the format ends with one. Default: `%v`.
    #[arg(long, short = 'f')]
    pub format: Option<String>,
    /// Print one JSON object per record: topic, partition, offset, timestamp, key, value, headers.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Exit if no record arrives for this long (ms).
    #[arg(long)]
    pub timeout_ms: Option<u64>,
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// Where consumption starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    Beginning,
    End,
    At(i64),
    Tail(i64),
    Time(i64),
}

fn parse_start(s: &str) -> anyhow::Result<Start> {
    Ok(match s {
        "beginning" | "earliest" => Start::Beginning,
        "end" | "latest" => Start::End,
        _ if s.starts_with('@') => Start::Time(
            s[1..]
                .parse::<i64>()
                .with_context(|| format!("bad timestamp in --offset {s}"))?,
        ),
        _ => {
            let n = s.parse::<i64>().with_context(|| {
                format!("--offset must be beginning, end, N, -N or @TIMESTAMP_MS; got {s}")
            })?;
            if n < 0 {
                Start::Tail(-n)
            } else {
                Start::At(n)
            }
        }
    })
}

pub async fn run(args: ConsumeArgs) -> anyhow::Result<()> {
    let start = args.offset.as_deref().map(parse_start).transpose()?;
    let mut settings: Vec<(&str, String)> = vec![
        ("enable.partition.eof", args.exit.to_string()),
        (
            "auto.offset.reset",
            if start == Some(Start::End) {
                "latest"
            } else {
                "earliest"
            }
            .to_string(),
        ),
    ];
    match &args.group {
        Some(g) => {
            settings.push(("group.id", g.clone()));
            settings.push(("enable.auto.commit", "true".to_string()));
        }
        None => {
            // librdkafka only accepts assign() on a consumer with a group id; nothing is committed
            // under it (auto commit and offset store are off).
            settings.push(("group.id", "oxbow-cli".to_string()));
            settings.push(("enable.auto.commit", "false".to_string()));
            settings.push(("enable.auto.offset.store", "false".to_string()));
        }
    }
    let config = args.conn.client_config(&settings)?;
    let consumer: StreamConsumer =
        StreamConsumer::from_config(&config).context("creating consumer")?;

    let subscribed = args.group.is_some() && args.partition.is_none();
    let mut partitions: Vec<i32> = Vec::new();
    if subscribed {
        if let Some(s) = start {
            if s != Start::Beginning && s != Start::End {
                bail!("with --group and no --partition, --offset can only be beginning or end (where the group has no committed offset)");
            }
        }
        consumer.subscribe(&[&args.topic]).context("subscribing")?;
    } else {
        let all = topic_partitions(consumer.client(), &args.topic)?;
        partitions = match args.partition {
            Some(p) if all.contains(&p) => vec![p],
            Some(p) => bail!("topic {} has no partition {p}", args.topic),
            None => all,
        };
        let mut tpl = TopicPartitionList::new();
        for &p in &partitions {
            let offset = match start {
                None if args.group.is_some() => Offset::Stored,
                None | Some(Start::Beginning) => Offset::Beginning,
                Some(Start::End) => Offset::End,
                Some(Start::At(n)) => Offset::Offset(n),
                Some(Start::Tail(n)) => Offset::OffsetTail(n),
                Some(Start::Time(ts)) => Offset::Offset(ts),
            };
            tpl.add_partition_offset(&args.topic, p, offset)
                .context("building assignment")?;
        }
        if let Some(Start::Time(_)) = start {
            tpl = consumer
                .offsets_for_times(tpl, DEFAULT_TIMEOUT)
                .context("looking up offsets by timestamp")?;
            // A partition with no record at or after the time comes back as End (-1).
            for elem in tpl.elements() {
                elem.error().with_context(|| {
                    format!("offset for time in partition {}", elem.partition())
                })?;
            }
        }
        consumer.assign(&tpl).context("assigning partitions")?;
    }

    let format = args.format.as_deref().map(|f| {
        let mut f = unescape(f);
        if !f.ends_with('\n') {
            f.push('\n');
        }
        f
    });
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut seen: u64 = 0;
    let mut eof: HashSet<i32> = HashSet::new();
    let idle = args.timeout_ms.map(Duration::from_millis);
    let flush_each = !args.exit && args.count.is_none();

    loop {
        if args.count.is_some_and(|c| seen >= c) {
            break;
        }
        if args.exit && !subscribed && !partitions.is_empty() && eof.len() >= partitions.len() {
            break;
        }
        // Flush before waiting so a reader sees everything received so far.
        let received = match idle {
            Some(d) => match tokio::time::timeout(Duration::ZERO, consumer.recv()).await {
                Ok(r) => Some(r),
                Err(_) => {
                    flush(&mut out)?;
                    tokio::time::timeout(d, consumer.recv()).await.ok()
                }
            },
            None => match tokio::time::timeout(Duration::ZERO, consumer.recv()).await {
                Ok(r) => Some(r),
                Err(_) => {
                    flush(&mut out)?;
                    Some(consumer.recv().await)
                }
            },
        };
        let Some(received) = received else {
            break; // idle timeout
        };
        match received {
            Ok(msg) => {
                if msg.topic() != args.topic {
                    continue;
                }
                eof.remove(&msg.partition());
                let line = match (&format, args.json) {
                    (_, true) => render_json(&msg),
                    (Some(f), false) => render_format(f, &msg),
                    (None, false) => {
                        let mut v = msg.payload().unwrap_or_default().to_vec();
                        v.push(b'\n');
                        v
                    }
                };
                if !write_all(&mut out, &line)? {
                    return Ok(()); // stdout closed (e.g. piped into head)
                }
                seen += 1;
                if flush_each {
                    flush(&mut out)?;
                }
            }
            Err(KafkaError::PartitionEOF(p)) => {
                eof.insert(p);
                if args.exit && subscribed {
                    let assigned = consumer.assignment().map(|a| a.count()).unwrap_or(0);
                    if assigned > 0 && eof.len() >= assigned {
                        break;
                    }
                }
            }
            Err(e) => {
                flush(&mut out)?;
                bail!("consuming {}: {e}", args.topic);
            }
        }
    }
    flush(&mut out)?;
    drop(out);
    if let Some(c) = args.count {
        if seen < c && !args.exit && args.timeout_ms.is_none() {
            bail!("stopped after {seen} of {c} records");
        }
    }
    eprintln!("{seen} record(s) consumed from {}", args.topic);
    Ok(())
}

/// Writes, reporting `false` if stdout has been closed.
fn write_all(out: &mut impl Write, bytes: &[u8]) -> anyhow::Result<bool> {
    match out.write_all(bytes) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e).context("writing to stdout"),
    }
}

fn flush(out: &mut impl Write) -> anyhow::Result<()> {
    match out.flush() {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(e).context("writing to stdout"),
    }
}

fn headers_of(msg: &BorrowedMessage<'_>) -> Vec<(String, Option<String>)> {
    let Some(h) = msg.headers() else {
        return Vec::new();
    };
    (0..h.count())
        .map(|i| {
            let header = h.get(i);
            (header.key.to_string(), text(header.value))
        })
        .collect()
}

fn render_json(msg: &BorrowedMessage<'_>) -> Vec<u8> {
    let headers: Vec<_> = headers_of(msg)
        .into_iter()
        .map(|(k, v)| json!({"key": k, "value": v}))
        .collect();
    let obj = json!({
        "topic": msg.topic(),
        "partition": msg.partition(),
        "offset": msg.offset(),
        "timestamp": msg.timestamp().to_millis(),
        "key": text(msg.key()),
        "value": text(msg.payload()),
        "headers": headers,
    });
    let mut line = obj.to_string().into_bytes();
    line.push(b'\n');
    line
}

fn render_format(format: &str, msg: &BorrowedMessage<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(format.len() + msg.payload_len() + 32);
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        match chars.next() {
            Some('t') => out.extend_from_slice(msg.topic().as_bytes()),
            Some('p') => out.extend_from_slice(msg.partition().to_string().as_bytes()),
            Some('o') => out.extend_from_slice(msg.offset().to_string().as_bytes()),
            Some('T') => {
                let ts = msg.timestamp().to_millis().unwrap_or(-1);
                out.extend_from_slice(ts.to_string().as_bytes())
            }
            Some('k') => out.extend_from_slice(msg.key().unwrap_or_default()),
            Some('v') | Some('s') => out.extend_from_slice(msg.payload().unwrap_or_default()),
            Some('K') => out.extend_from_slice(
                msg.key()
                    .map_or(-1, |k| k.len() as i64)
                    .to_string()
                    .as_bytes(),
            ),
            Some('S') => out.extend_from_slice(
                msg.payload()
                    .map_or(-1, |v| v.len() as i64)
                    .to_string()
                    .as_bytes(),
            ),
            Some('h') => {
                let hs: Vec<String> = headers_of(msg)
                    .into_iter()
                    .map(|(k, v)| format!("{k}={}", v.unwrap_or_default()))
                    .collect();
                out.extend_from_slice(hs.join(",").as_bytes());
            }
            Some('%') => out.push(b'%'),
            Some(other) => {
                out.push(b'%');
                let mut buf = [0u8; 4];
                out.extend_from_slice(other.encode_utf8(&mut buf).as_bytes());
            }
            None => out.push(b'%'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_offset_spec_when_parsing_should_recognise_each_form() {
        assert_eq!(parse_start("beginning").unwrap(), Start::Beginning);
        assert_eq!(parse_start("end").unwrap(), Start::End);
        assert_eq!(parse_start("42").unwrap(), Start::At(42));
        assert_eq!(parse_start("-5").unwrap(), Start::Tail(5));
        assert_eq!(
            parse_start("@1700000000000").unwrap(),
            Start::Time(1_700_000_000_000)
        );
        assert!(parse_start("soon").is_err());
        assert!(parse_start("@x").is_err());
    }
}
