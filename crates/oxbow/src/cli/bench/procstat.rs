//! The broker's CPU time and memory, read from /proc/PID (Linux; the broker must run on this
//! machine). CPU is utime+stime in clock ticks (sysconf(_SC_CLK_TCK)); memory is VmHWM (peak
//! resident set since the process started) and VmRSS sampled during the run.

use std::time::Instant;

use anyhow::{anyhow, Context as _};
use serde_json::{json, Value};

use super::stats::round;

/// A CPU reading of the broker.
#[derive(Debug, Clone, Copy)]
pub struct CpuSample {
    pub cpu_s: f64,
    pub at: Instant,
}

/// Watches one process.
pub struct BrokerProbe {
    pid: u32,
    ticks_per_s: f64,
    max_rss_kb: u64,
}

impl BrokerProbe {
    /// Fails if the process cannot be read now.
    pub fn new(pid: u32) -> anyhow::Result<BrokerProbe> {
        // SAFETY: sysconf has no preconditions.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        let mut probe = BrokerProbe {
            pid,
            ticks_per_s: if ticks > 0 { ticks as f64 } else { 100.0 },
            max_rss_kb: 0,
        };
        probe
            .cpu()
            .with_context(|| format!("reading /proc/{pid}/stat (--broker-pid)"))?;
        probe.sample_rss();
        Ok(probe)
    }

    /// utime+stime of the process so far.
    pub fn cpu(&self) -> anyhow::Result<CpuSample> {
        let text = std::fs::read_to_string(format!("/proc/{}/stat", self.pid))?;
        let ticks = parse_stat_ticks(&text)?;
        Ok(CpuSample {
            cpu_s: ticks as f64 / self.ticks_per_s,
            at: Instant::now(),
        })
    }

    /// Samples VmRSS, keeping the largest value seen.
    pub fn sample_rss(&mut self) -> Option<u64> {
        let rss = status_kb(self.pid, "VmRSS:")?;
        self.max_rss_kb = self.max_rss_kb.max(rss);
        Some(rss)
    }

    /// The report: CPU between two samples, per GB (10^9 bytes of record keys+values) in and out,
    /// and memory.
    pub fn report(
        &mut self,
        before: CpuSample,
        after: CpuSample,
        bytes_in: u64,
        bytes_out: u64,
    ) -> Value {
        self.sample_rss();
        let cpu_s = (after.cpu_s - before.cpu_s).max(0.0);
        let wall_s = after.at.duration_since(before.at).as_secs_f64().max(1e-9);
        let per_gb = |bytes: u64| {
            if bytes == 0 {
                Value::Null
            } else {
                json!(round(cpu_s / (bytes as f64 / 1e9), 4))
            }
        };
        json!({
            "pid": self.pid,
            "cpu_s": round(cpu_s, 3),
            "wall_s": round(wall_s, 3),
            "cpu_cores": round(cpu_s / wall_s, 3),
            "cpu_s_per_gb_in": per_gb(bytes_in),
            "cpu_s_per_gb_out": per_gb(bytes_out),
            "peak_rss_mb": status_kb(self.pid, "VmHWM:").map(|kb| round(kb as f64 / 1024.0, 1)),
            "max_sampled_rss_mb": round(self.max_rss_kb as f64 / 1024.0, 1),
        })
    }
}

/// utime + stime (fields 14 and 15) from the text of /proc/PID/stat. The command name (field 2)
/// is in parentheses and may contain spaces or parentheses, so fields are counted after the last `)`.
fn parse_stat_ticks(text: &str) -> anyhow::Result<u64> {
    let close = text
        .rfind(')')
        .ok_or_else(|| anyhow!("unexpected /proc stat format"))?;
    let rest: Vec<&str> = text[close + 1..].split_whitespace().collect();
    // rest[0] is field 3 (state), so field N is rest[N - 3].
    let field = |n: usize| -> anyhow::Result<u64> {
        rest.get(n - 3)
            .ok_or_else(|| anyhow!("/proc stat has no field {n}"))?
            .parse::<u64>()
            .map_err(|_| anyhow!("/proc stat field {n} is not a number"))
    };
    Ok(field(14)? + field(15)?)
}

/// A `Key:   123 kB` line of /proc/PID/status, in kB.
pub(super) fn status_kb(pid: u32, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_stat_line_with_odd_name_when_parsing_should_sum_utime_and_stime() {
        let line = "4242 (my (odd) proc) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 8 0 100 0 0";
        assert_eq!(parse_stat_ticks(line).unwrap(), 300);
        assert!(parse_stat_ticks("garbage").is_err());
    }

    #[test]
    fn given_own_process_when_probing_should_read_cpu_and_memory() {
        let mut p = BrokerProbe::new(std::process::id()).unwrap();
        let a = p.cpu().unwrap();
        let b = p.cpu().unwrap();
        assert!(b.cpu_s >= a.cpu_s);
        assert!(p.sample_rss().unwrap() > 0);
        let r = p.report(a, b, 1_000_000_000, 0);
        assert!(r["peak_rss_mb"].as_f64().unwrap() > 0.0);
        assert!(r["cpu_s_per_gb_out"].is_null());
    }
}
