//! `oxbow bench machine`: the limits of this machine, to read broker figures against.
//! - sequential write with fdatasync after every 1 MiB block (like `dd bs=1M oflag=dsync`), MB/s;
//! - 4 KiB append + fdatasync latency percentiles (what one acks=all group commit costs at least);
//! - single-threaded memory copy bandwidth, GiB/s.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hdrhistogram::Histogram;
use serde_json::json;

use super::stats::{fmt_us, latency_json, round};
use super::BenchArgs;

/// How many 4 KiB write+fdatasync samples to take (at most `FSYNC_MAX_TIME`).
const FSYNC_SAMPLES: u64 = 2000;
const FSYNC_MAX_TIME: Duration = Duration::from_secs(10);
/// Size of each memcpy buffer.
const COPY_BYTES: usize = 256 << 20;

/// A file removed when dropped.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn temp_file(dir: &Path, name: &str) -> anyhow::Result<(TempFile, File)> {
    let path = dir.join(format!(".oxbow-bench-{name}-{}.tmp", std::process::id()));
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    Ok((TempFile(path), file))
}

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let mib = args.disk_mib.unwrap_or(1024).max(1);
    if !args.quiet {
        eprintln!(
            "bench machine: writing {mib} MiB with fdatasync per MiB in {} ...",
            dir.display()
        );
    }
    let seq = seq_write(&dir, mib)?;
    if !args.quiet {
        eprintln!("bench machine: 4 KiB write+fdatasync latency ...");
    }
    let fsync = fsync_latency(&dir)?;
    if !args.quiet {
        eprintln!("bench machine: memory copy ...");
    }
    let copy = memcpy_gib_per_s();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let out = json!({
        "dir": dir.display().to_string(),
        "cpus": cpus,
        "seq_write_fdatasync_mib": mib,
        "seq_write_fdatasync_mb_per_s": round(seq, 1),
        "fsync_4k_us": latency_json(&fsync),
        "memcpy_gib_per_s": round(copy, 2),
    });
    if args.json {
        println!("{out}");
    } else {
        println!("cpus: {cpus}");
        println!(
            "sequential write, fdatasync per 1 MiB: {seq:.1} MB/s ({mib} MiB in {})",
            dir.display()
        );
        println!(
            "4 KiB write+fdatasync: p50 {} p90 {} p99 {} p99.9 {} max {} ({} samples)",
            fmt_us(fsync.value_at_quantile(0.5)),
            fmt_us(fsync.value_at_quantile(0.9)),
            fmt_us(fsync.value_at_quantile(0.99)),
            fmt_us(fsync.value_at_quantile(0.999)),
            fmt_us(fsync.max()),
            fsync.len()
        );
        println!("memory copy (one thread): {copy:.2} GiB/s");
    }
    Ok(())
}

/// MB/s (10^6 bytes) writing `mib` MiB in 1 MiB blocks, fdatasync after each.
fn seq_write(dir: &Path, mib: u64) -> anyhow::Result<f64> {
    let (_guard, mut file) = temp_file(dir, "seq")?;
    let block: Vec<u8> = (0..1usize << 20).map(|i| (i % 251) as u8 + 1).collect();
    let start = Instant::now();
    for _ in 0..mib {
        file.write_all(&block).context("sequential write")?;
        file.sync_data().context("fdatasync")?;
    }
    let secs = start.elapsed().as_secs_f64().max(1e-9);
    Ok((mib << 20) as f64 / secs / 1e6)
}

/// Latency (µs) of appending 4 KiB and fdatasync-ing it.
fn fsync_latency(dir: &Path) -> anyhow::Result<Histogram<u64>> {
    let (_guard, mut file) = temp_file(dir, "fsync")?;
    let block = vec![0x5au8; 4096];
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).context("histogram")?;
    let start = Instant::now();
    for _ in 0..FSYNC_SAMPLES {
        let t = Instant::now();
        file.write_all(&block).context("write")?;
        file.sync_data().context("fdatasync")?;
        hist.saturating_record(t.elapsed().as_micros().max(1) as u64);
        if start.elapsed() > FSYNC_MAX_TIME {
            break;
        }
    }
    Ok(hist)
}

/// Best of several 256 MiB copies, GiB/s.
fn memcpy_gib_per_s() -> f64 {
    let src: Vec<u8> = (0..COPY_BYTES).map(|i| i as u8).collect();
    let mut dst = vec![0u8; COPY_BYTES];
    dst.copy_from_slice(&src); // touch every page first
    let mut best = f64::MAX;
    for _ in 0..6 {
        let t = Instant::now();
        dst.copy_from_slice(std::hint::black_box(&src));
        std::hint::black_box(&mut dst);
        best = best.min(t.elapsed().as_secs_f64());
    }
    COPY_BYTES as f64 / best.max(1e-9) / (1u64 << 30) as f64
}
