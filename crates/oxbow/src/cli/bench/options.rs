//! From flags and a preset to a [`Plan`]: explicit flags win over the preset, the preset over the
//! defaults. Also the parsers for durations, rates and size distributions.

use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use rdkafka::ClientConfig;

use super::payload::SizeDist;
use super::{Acks, BenchArgs, Codec, Preset, StartAt, Workload};
use crate::cli::common::{parse_key_values, ConnArgs};

/// Everything a run needs, resolved.
#[derive(Debug, Clone)]
pub struct Plan {
    pub workload: Workload,
    pub preset: Option<Preset>,
    pub topic: String,
    pub partitions: i32,
    pub topic_configs: Vec<(String, String)>,
    pub sizes: SizeDist,
    pub keys: Option<u64>,
    pub acks: Acks,
    pub compression: Codec,
    pub idempotent: bool,
    /// Records per transaction (`--transactional`); None: not transactional.
    pub transactional: Option<u64>,
    /// Records per second across all producers; `None`: closed loop, as fast as accepted.
    pub rate: Option<f64>,
    pub duration: Option<Duration>,
    pub records: Option<u64>,
    pub warmup: Duration,
    pub producers: usize,
    pub groups: usize,
    pub consumers_per_group: usize,
    pub assign: bool,
    pub from: StartAt,
    pub json: bool,
    pub quiet: bool,
    pub broker_pid: Option<u32>,
    pub conn: ConnArgs,
    /// Producer properties set by the plan (before `-X`).
    pub producer_props: Vec<(String, String)>,
}

/// The workload a preset is meant for.
pub fn preset_workload(p: Preset) -> Workload {
    match p {
        Preset::Finance => Workload::Fanout,
        Preset::MarketData => Workload::E2e,
        Preset::Cdc => Workload::E2e,
    }
}

impl Plan {
    pub fn from_args(a: &BenchArgs, workload: Workload) -> anyhow::Result<Plan> {
        let preset = a.preset;
        let is = |p: Preset| preset == Some(p);
        let fin = is(Preset::Finance);
        let md = is(Preset::MarketData);
        let cdc = is(Preset::Cdc);

        let record_size = a.record_size.unwrap_or(if md { 100 } else { 600 });
        let sizes = match a.size_dist.as_deref() {
            Some(s) => SizeDist::parse(s, record_size)?,
            None if cdc => SizeDist::Uniform {
                min: 200,
                max: 1000,
            },
            None => SizeDist::Fixed(record_size),
        };
        if sizes.min() < 8 {
            bail!("records must be at least 8 bytes (the send time is stored in them)");
        }
        let acks = a.acks.unwrap_or(if md { Acks::One } else { Acks::All });
        let transactional = a.transactional;
        if transactional == Some(0) {
            bail!("--transactional needs at least 1 record per transaction");
        }
        let idempotent = a.idempotent || cdc || transactional.is_some();
        if idempotent && acks != Acks::All {
            bail!("--idempotent and --transactional require --acks all");
        }
        let compression =
            a.compression
                .unwrap_or(if fin || cdc { Codec::Lz4 } else { Codec::None });
        let linger_ms = a.linger_ms.unwrap_or(if fin {
            50
        } else if md {
            0
        } else {
            5
        });

        let rate_text = a.rate.clone().or_else(|| {
            if fin {
                Some("20MB/s".to_string())
            } else if md {
                Some("50000".to_string())
            } else if cdc {
                Some("5MB/s".to_string())
            } else {
                None
            }
        });
        let rate = match rate_text.as_deref() {
            None | Some("max") => None,
            Some(s) => Some(parse_rate(s, sizes.mean())?),
        };
        let duration = match &a.duration {
            Some(s) => Some(parse_duration(s)?),
            None if a.records.is_some() => None,
            // consume from the beginning reads what the topic holds, then stops.
            None if workload == Workload::Consume && a.from != Some(StartAt::End) => None,
            None => Some(Duration::from_secs(10)),
        };
        if duration == Some(Duration::ZERO) {
            bail!("--duration must be positive");
        }
        let warmup = match &a.warmup {
            Some(s) => parse_duration(s)?,
            None if workload == Workload::Consume => Duration::ZERO,
            None => Duration::from_secs(2),
        };
        let producers = match workload {
            Workload::Consume => 0,
            _ => a.producers.unwrap_or(1).max(1),
        };
        let groups = match workload {
            Workload::Produce => 0,
            Workload::E2e | Workload::Consume => a.groups.unwrap_or(1).max(1),
            _ => a.groups.unwrap_or(if fin { 23 } else { 2 }).max(1),
        };
        let from = a.from.unwrap_or(if workload == Workload::Consume {
            StartAt::Beginning
        } else {
            StartAt::End
        });

        let mut topic_configs = parse_key_values(&a.topic_configs)?;
        if cdc && !topic_configs.iter().any(|(k, _)| k == "cleanup.policy") {
            topic_configs.push(("cleanup.policy".into(), "compact".into()));
        }
        let default_topic = match preset {
            Some(Preset::Finance) => "oxbow-bench-finance",
            Some(Preset::MarketData) => "oxbow-bench-market-data",
            Some(Preset::Cdc) => "oxbow-bench-cdc",
            None => "oxbow-bench",
        };

        let mut producer_props: Vec<(String, String)> = vec![
            (
                "acks".into(),
                match acks {
                    Acks::All => "all",
                    Acks::One => "1",
                    Acks::Zero => "0",
                }
                .into(),
            ),
            ("compression.type".into(), codec_name(compression).into()),
            ("enable.idempotence".into(), idempotent.to_string()),
            ("linger.ms".into(), linger_ms.to_string()),
            ("message.timeout.ms".into(), "30000".into()),
            ("queue.buffering.max.kbytes".into(), "262144".into()),
            ("queue.buffering.max.messages".into(), "1000000".into()),
        ];
        if fin {
            // MISSION.md's producer tuning: batch.size=300KB, max.in.flight=1, retries=MAX,
            // max.request.size=2MB.
            producer_props.push(("batch.size".into(), "307200".into()));
            producer_props.push(("max.in.flight.requests.per.connection".into(), "1".into()));
            producer_props.push(("message.send.max.retries".into(), "2147483647".into()));
            producer_props.push(("message.max.bytes".into(), "2097152".into()));
        }
        if let Some(b) = a.batch_size {
            producer_props.retain(|(k, _)| k != "batch.size");
            producer_props.push(("batch.size".into(), b.to_string()));
        }

        Ok(Plan {
            workload,
            preset,
            topic: a.topic.clone().unwrap_or_else(|| default_topic.to_string()),
            partitions: a.partitions.unwrap_or(6),
            topic_configs,
            sizes,
            keys: match a.keys {
                Some(0) => None,
                Some(n) => Some(n),
                None if cdc => Some(100_000),
                None => None,
            },
            acks,
            compression,
            idempotent,
            transactional,
            rate,
            duration,
            records: a.records,
            warmup,
            producers,
            groups,
            consumers_per_group: a.consumers_per_group.unwrap_or(1).max(1),
            assign: a.assign,
            from,
            json: a.json,
            quiet: a.quiet,
            broker_pid: a.broker_pid,
            conn: a.conn.clone(),
            producer_props,
        })
    }

    /// Producer configuration: the plan's properties, then `-X`.
    pub fn producer_config(&self, index: usize) -> anyhow::Result<ClientConfig> {
        let mut settings: Vec<(&str, String)> = self
            .producer_props
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        let client_id = format!("oxbow-bench-producer-{index}");
        settings.push(("client.id", client_id));
        if self.transactional.is_some() {
            let id = format!("oxbow-bench-{}-{index}", std::process::id());
            settings.push(("transactional.id", id));
        }
        self.conn.client_config(&settings)
    }

    /// Consumer configuration for reader `index` of group `group`, then `-X`.
    pub fn consumer_config(
        &self,
        run_id: &str,
        group: usize,
        index: usize,
    ) -> anyhow::Result<ClientConfig> {
        let reset = match self.from {
            StartAt::Beginning => "earliest",
            StartAt::End => "latest",
        };
        let isolation = if self.transactional.is_some() {
            "read_committed"
        } else {
            "read_uncommitted"
        };
        let settings: Vec<(&str, String)> = vec![
            ("isolation.level", isolation.into()),
            ("group.id", format!("oxbow-bench-{run_id}-g{group}")),
            ("client.id", format!("oxbow-bench-g{group}-c{index}")),
            ("enable.auto.commit", "false".into()),
            ("enable.auto.offset.store", "false".into()),
            ("auto.offset.reset", reset.into()),
            ("enable.partition.eof", "false".into()),
            ("queued.max.messages.kbytes", "16384".into()),
            ("session.timeout.ms", "30000".into()),
        ];
        self.conn.client_config(&settings)
    }

    /// The rate as text for reports.
    pub fn rate_label(&self) -> String {
        match self.rate {
            Some(r) => format!(
                "{:.0} records/s ({:.2} MB/s)",
                r,
                r * self.sizes.mean() / 1e6
            ),
            None => "max (closed loop)".to_string(),
        }
    }
}

pub fn codec_name(c: Codec) -> &'static str {
    match c {
        Codec::None => "none",
        Codec::Gzip => "gzip",
        Codec::Snappy => "snappy",
        Codec::Lz4 => "lz4",
        Codec::Zstd => "zstd",
    }
}

pub fn acks_name(a: Acks) -> &'static str {
    match a {
        Acks::All => "all",
        Acks::One => "1",
        Acks::Zero => "0",
    }
}

/// `30s`, `2m`, `500ms`, `1h`, or a plain number of seconds (fractions allowed).
pub fn parse_duration(s: &str) -> anyhow::Result<Duration> {
    let t = s.trim();
    let (num, unit) = split_number(t);
    let value: f64 = num
        .parse()
        .map_err(|_| anyhow!("bad duration {s:?} (e.g. 30s, 2m, 500ms)"))?;
    let secs = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1e3,
        "us" => value / 1e6,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => bail!("bad duration unit {other:?} in {s:?}"),
    };
    if !secs.is_finite() || !(0.0..=1e7).contains(&secs) {
        bail!("duration {s:?} out of range");
    }
    Ok(Duration::from_secs_f64(secs))
}

/// A rate in records per second: `5000`, `5000/s`, or bytes per second `20MB/s`, `512KiB/s`,
/// `1GB/s` (converted with the mean record size).
pub fn parse_rate(s: &str, mean_record_bytes: f64) -> anyhow::Result<f64> {
    let t = s.trim();
    let t = t.strip_suffix("/s").unwrap_or(t);
    let (num, unit) = split_number(t);
    let value: f64 = num
        .parse()
        .with_context(|| format!("bad rate {s:?} (e.g. 5000 or 20MB/s)"))?;
    let bytes_per_unit = match unit.trim() {
        "" => None,
        "B" => Some(1.0),
        "KB" | "kB" => Some(1e3),
        "MB" => Some(1e6),
        "GB" => Some(1e9),
        "KiB" => Some(1024.0),
        "MiB" => Some(1024.0 * 1024.0),
        "GiB" => Some(1024.0 * 1024.0 * 1024.0),
        other => bail!("bad rate unit {other:?} in {s:?} (use B, KB, MB, GB, KiB, MiB, GiB)"),
    };
    let records = match bytes_per_unit {
        None => value,
        Some(b) => value * b / mean_record_bytes.max(1.0),
    };
    if !records.is_finite() || records <= 0.0 {
        bail!("rate {s:?} must be positive");
    }
    Ok(records)
}

fn split_number(t: &str) -> (&str, &str) {
    let end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    (&t[..end], &t[end..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_durations_when_parsing_should_understand_units() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("abc").is_err());
        assert!(parse_duration("3 weeks").is_err());
    }

    #[test]
    fn given_rates_when_parsing_should_convert_bytes_to_records() {
        assert_eq!(parse_rate("5000", 600.0).unwrap(), 5000.0);
        assert_eq!(parse_rate("5000/s", 600.0).unwrap(), 5000.0);
        assert!((parse_rate("6MB/s", 600.0).unwrap() - 10_000.0).abs() < 1e-6);
        assert!(parse_rate("0", 600.0).is_err());
        assert!(parse_rate("1XB/s", 600.0).is_err());
    }
}
