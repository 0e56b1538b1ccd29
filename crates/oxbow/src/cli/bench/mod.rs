//! `oxbow bench`: load generator and latency meter for any Kafka-compatible cluster (built on
//! librdkafka), plus `oxbow bench machine`, which measures the limits of the machine itself.
//!
//! Workloads: `produce`, `consume`, `e2e` (producer → consumer latency, the intended send time
//! travels in the record) and `fanout` (N producers, M consumer groups each reading everything).
//! Sends are scheduled open-loop at their intended times when `--rate` is given, and latency is
//! measured from the intended time, so a stalled broker shows up in the percentiles instead of
//! silently slowing the generator down (coordinated omission).
//!
//! Files: `options.rs` (flags → [`Plan`]), `payload.rs` (record generation), `stats.rs`
//! (histograms and the report), `procstat.rs` (broker CPU and memory), `produce.rs` and
//! `consume.rs` (the workers), `run.rs` (orchestration), `machine.rs`, and `tools.rs` (the
//! `partitions`, `ready` and `connections` helpers for scale and restart measurements).

mod consume;
mod machine;
mod options;
mod payload;
mod procstat;
mod produce;
mod report;
mod run;
mod stats;
mod tools;

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::common::ConnArgs;

/// What `oxbow bench` runs.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// Producers only: throughput and acknowledgement latency.
    Produce,
    /// Consumers only, reading what is in the topic (from the beginning by default).
    Consume,
    /// One producer, one reader: end-to-end latency from intended send time to receipt.
    E2e,
    /// N producers, M consumer groups each reading every record.
    Fanout,
    /// The machine's own limits: sequential write with fdatasync, 4 KiB fsync latency, memcpy.
    Machine,
    /// Create `--topics` topics of `--partitions` partitions and write one record into each
    /// partition (for idle memory and restart time with many partitions).
    Partitions,
    /// Wait until the broker answers Metadata listing at least `--expect-partitions` partitions;
    /// print how long that took (restart time).
    Ready,
    /// Open `--count` connections (one ApiVersions each), hold them idle, and report the broker's
    /// memory per idle connection (`--broker-pid`).
    Connections,
}

/// Parameter sets for the workloads described in MISSION.md.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Preset {
    /// Internet finance: 600 B records, fan-out to 23 reader groups, acks=all, lz4, linger 50 ms,
    /// batch 300 KB, max.in.flight 1, 20 MB/s in (the target; MISSION.md's own load is
    /// 20 Mbit/s).
    Finance,
    /// Market data: ~100 B records at a high rate, acks=1, linger 0, latency-focused e2e.
    MarketData,
    /// Change data capture: keyed records over a key space into a compacted topic, acks=all,
    /// idempotent producer.
    Cdc,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Acks {
    All,
    #[value(name = "1")]
    One,
    #[value(name = "0")]
    Zero,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Codec {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

/// Where readers start.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum StartAt {
    /// The log start: read what is stored, stop at the end (consume's default).
    Beginning,
    /// The log end: read only what is produced during the run (e2e and fanout).
    End,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// The workload (default: the preset's, else `produce`).
    #[arg(value_enum)]
    pub workload: Option<Workload>,

    /// A named parameter set; any option given explicitly overrides it.
    #[arg(long, value_enum)]
    pub preset: Option<Preset>,

    /// Topic to use; created if missing, with `--partitions` and `--topic-config`.
    #[arg(long, short = 't')]
    pub topic: Option<String>,
    /// Partitions of the topic when it is created (default 6).
    #[arg(long, short = 'p')]
    pub partitions: Option<i32>,
    /// A config for the topic when it is created, `key=value` (repeatable).
    #[arg(long = "topic-config", value_name = "KEY=VALUE")]
    pub topic_configs: Vec<String>,

    /// Record value size in bytes (default 600; at least 8: the send time is stored in it).
    #[arg(long, short = 's')]
    pub record_size: Option<usize>,
    /// Value size distribution: `fixed` (use --record-size) or `uniform:MIN-MAX`.
    #[arg(long, value_name = "DIST")]
    pub size_dist: Option<String>,
    /// Give each record a key drawn uniformly from this many distinct keys (default: no key).
    #[arg(long, value_name = "N")]
    pub keys: Option<u64>,

    /// Acknowledgements required from the broker (default all).
    #[arg(long, value_enum)]
    pub acks: Option<Acks>,
    /// Compression codec (default none).
    #[arg(long, short = 'z', value_enum)]
    pub compression: Option<Codec>,
    /// Use the idempotent producer (needs acks all).
    #[arg(long)]
    pub idempotent: bool,
    /// Use transactional producers, committing every N records (implies --idempotent, acks
    /// all; consumers read committed).
    #[arg(long, value_name = "N")]
    pub transactional: Option<u64>,
    /// Producer linger.ms (default 5).
    #[arg(long)]
    pub linger_ms: Option<u64>,
    /// Producer batch.size in bytes (default librdkafka's).
    #[arg(long)]
    pub batch_size: Option<u64>,

    /// Target rate across all producers: records per second (`5000`) or bytes per second
    /// (`20MB/s`, `512KiB/s`). Sends are scheduled open-loop at their intended times and latency
    /// counts from there. Default: as fast as the client accepts (closed loop).
    #[arg(long)]
    pub rate: Option<String>,
    /// Measured duration after warm-up, e.g. `30s`, `2m`, `500ms` (default 10s unless --records).
    #[arg(long, short = 'd')]
    pub duration: Option<String>,
    /// Stop after this many measured records (produced, or for `consume` received).
    #[arg(long, short = 'n')]
    pub records: Option<u64>,
    /// Warm-up before measuring (excluded from the figures), e.g. `2s` (default 2s; 0 for none).
    #[arg(long)]
    pub warmup: Option<String>,

    /// Number of producers (default 1).
    #[arg(long)]
    pub producers: Option<usize>,
    /// Number of consumer groups, each reading every record (e2e: 1; fanout default 2).
    #[arg(long)]
    pub groups: Option<usize>,
    /// Consumers in each group (default 1).
    #[arg(long)]
    pub consumers_per_group: Option<usize>,
    /// Readers assign every partition directly (dummy group.id, no commits) instead of joining a
    /// consumer group with subscribe; for clusters without a group coordinator.
    #[arg(long)]
    pub assign: bool,
    /// Where readers start (consume: beginning; e2e and fanout: end).
    #[arg(long, value_enum)]
    pub from: Option<StartAt>,

    /// Print one JSON object at the end instead of the human summary.
    #[arg(long)]
    pub json: bool,
    /// No progress line each second.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Also measure this broker process: CPU-seconds per GB in and out, peak and sampled RSS
    /// (reads /proc/PID, so the broker must run on this machine).
    #[arg(long, value_name = "PID")]
    pub broker_pid: Option<u32>,

    /// machine: directory for the disk test files (default: the current directory).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// machine: MiB written by the sequential fdatasync test (default 1024).
    #[arg(long, value_name = "MIB")]
    pub disk_mib: Option<u64>,

    /// partitions: number of topics to create (default 100; `--partitions` each, default 100;
    /// `--topic` is the name prefix).
    #[arg(long, value_name = "N")]
    pub topics: Option<usize>,
    /// ready: give up after this long (default 120s).
    #[arg(long)]
    pub timeout: Option<String>,
    /// ready: the Metadata answer must list at least this many partitions (default 0).
    #[arg(long, value_name = "N")]
    pub expect_partitions: Option<usize>,
    /// connections: how many to open (default 5000).
    #[arg(long, value_name = "N")]
    pub count: Option<usize>,
    /// connections: how long to hold them idle before reading the broker's memory (default 5s).
    #[arg(long)]
    pub hold: Option<String>,

    #[command(flatten)]
    pub conn: ConnArgs,
}

/// Runs `oxbow bench`.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let workload = args
        .workload
        .or_else(|| args.preset.map(options::preset_workload))
        .unwrap_or(Workload::Produce);
    match workload {
        Workload::Machine => return machine::run(&args),
        Workload::Partitions => return tools::partitions(&args),
        Workload::Ready => return tools::ready(&args),
        Workload::Connections => return tools::connections(&args),
        _ => {}
    }
    let plan = options::Plan::from_args(&args, workload)?;
    run::run(plan)
}
