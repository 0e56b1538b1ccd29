//! The progress line (stderr, each second) and the final report (human summary or one JSON object
//! on stdout).

use std::time::Duration;

use clap::ValueEnum;
use serde_json::{json, Value};

use super::options::{acks_name, codec_name, Plan};
use super::stats::{fmt_count, fmt_us, round, Totals};
use super::Workload;

/// One progress line: rates of the last second and p99 so far.
pub fn print_progress(
    elapsed: Duration,
    warming: bool,
    prod: &Totals,
    cons: &Totals,
    rss_kb: Option<u64>,
) {
    let mut line = format!(
        "[{:>4.0}s]{}",
        elapsed.as_secs_f64(),
        if warming { " warm-up" } else { "" }
    );
    let side = |name: &str, what: &str, t: &Totals| {
        let p99 = if !t.hist.is_empty() {
            fmt_us(t.hist.value_at_quantile(0.99))
        } else if !t.tick_hist.is_empty() {
            fmt_us(t.tick_hist.value_at_quantile(0.99))
        } else {
            "-".to_string()
        };
        let errors = if t.errors > 0 {
            format!(" errors {}", t.errors)
        } else {
            String::new()
        };
        format!(
            " | {name} {} rec/s {:.1} MB/s {what} p99 {p99}{errors}",
            fmt_count(t.tick_records as f64),
            t.tick_bytes as f64 / 1e6
        )
    };
    if !prod.recorders.is_empty() {
        line.push_str(&side("produce", "ack", prod));
    }
    if !cons.recorders.is_empty() {
        line.push_str(&side(
            "consume",
            if cons.hist.is_empty() && cons.tick_hist.is_empty() {
                ""
            } else {
                "e2e"
            },
            cons,
        ));
    }
    if let Some(kb) = rss_kb {
        line.push_str(&format!(" | broker rss {:.0} MB", kb as f64 / 1024.0));
    }
    eprintln!("{line}");
}

pub struct Report<'a> {
    pub plan: &'a Plan,
    pub partitions: usize,
    pub window_start_us: u64,
    pub producers: &'a Totals,
    pub consumers: &'a Totals,
    pub broker: Option<Value>,
    /// Readers received everything acknowledged (e2e, fanout) before the drain timeout.
    pub drained: bool,
    pub interrupted: bool,
}

impl Report<'_> {
    /// Seconds of measurement for one side: the configured duration, or less when the side's
    /// last in-window event came earlier (the end of the data, an interrupt, `--records`).
    fn secs(&self, t: &Totals) -> f64 {
        let observed = t.last_us.saturating_sub(self.window_start_us) as f64 / 1e6;
        match self.plan.duration {
            Some(d) if observed > 0.0 => d.as_secs_f64().min(observed),
            Some(d) => d.as_secs_f64(),
            None => observed,
        }
    }

    pub fn to_json(&self) -> Value {
        let plan = self.plan;
        let has_prod = plan.producers > 0;
        let has_cons = plan.groups > 0;
        let prod = has_prod.then(|| self.producers.to_json(self.secs(self.producers), true));
        let cons = has_cons.then(|| {
            self.consumers.to_json(
                self.secs(self.consumers),
                plan.workload != Workload::Consume,
            )
        });
        let primary = if plan.workload == Workload::Produce {
            &prod
        } else {
            &cons
        };
        let field = |k: &str| primary.as_ref().map_or(Value::Null, |v| v[k].clone());
        let secs = if plan.workload == Workload::Produce {
            self.secs(self.producers)
        } else {
            self.secs(self.consumers)
        };
        json!({
            "workload": value_name(plan.workload),
            "preset": plan.preset.map(value_name),
            "topic": plan.topic,
            "partitions": self.partitions,
            "record_size": plan.sizes.label(),
            "keys": plan.keys,
            "acks": acks_name(plan.acks),
            "compression": codec_name(plan.compression),
            "idempotent": plan.idempotent,
            "records_per_transaction": plan.transactional,
            "rate_records_per_s": plan.rate.map(|r| round(r, 1)),
            "producers": plan.producers,
            "groups": plan.groups,
            "consumers_per_group": plan.consumers_per_group,
            "group_mode": if plan.assign { "assign" } else { "subscribe" },
            "warmup_s": plan.warmup.as_secs_f64(),
            "duration_s": round(secs, 3),
            "records": field("records"),
            "records_per_s": field("records_per_s"),
            "mb_per_s": field("mb_per_s"),
            "errors": self.producers.errors + self.consumers.errors,
            "latency_us": field("latency_us"),
            "produce": prod,
            "consume": cons,
            "drained": self.drained,
            "interrupted": self.interrupted,
            "broker": self.broker,
        })
    }

    pub fn print(&self) {
        let j = self.to_json();
        if self.plan.json {
            println!("{j}");
            return;
        }
        let plan = self.plan;
        let preset = plan
            .preset
            .map(|p| format!(" (preset {})", value_name(p)))
            .unwrap_or_default();
        println!(
            "oxbow bench {}{preset}: topic {}, {} partitions, {} records, keys {}, acks {}, {}, idempotent {}{}, rate {}",
            j["workload"].as_str().unwrap_or(""),
            plan.topic,
            self.partitions,
            plan.sizes.label(),
            plan.keys.map_or("none".to_string(), |k| k.to_string()),
            acks_name(plan.acks),
            codec_name(plan.compression),
            plan.idempotent,
            plan.transactional
                .map(|n| format!(", transactional ({n} records per transaction)"))
                .unwrap_or_default(),
            plan.rate_label(),
        );
        if plan.groups > 0 {
            println!(
                "readers: {} group(s) x {} ({})",
                plan.groups,
                plan.consumers_per_group,
                if plan.assign {
                    "assign, no group coordinator"
                } else {
                    "subscribe"
                }
            );
        }
        println!(
            "measured {:.1} s after {:.1} s warm-up",
            j["duration_s"].as_f64().unwrap_or(0.0),
            plan.warmup.as_secs_f64()
        );
        if let Some(p) = j.get("produce").filter(|v| !v.is_null()) {
            print_side("produce", "ack latency", p);
        }
        if let Some(c) = j.get("consume").filter(|v| !v.is_null()) {
            print_side("consume", "e2e latency", c);
        }
        if !self.drained {
            println!(
                "warning: readers did not receive everything acknowledged within the drain time"
            );
        }
        if let Some(b) = &self.broker {
            let num = |k: &str| b[k].as_f64().map_or("-".to_string(), |x| format!("{x:.3}"));
            let mb = |k: &str| b[k].as_f64().map_or("-".to_string(), |x| format!("{x:.0}"));
            println!(
                "broker pid {}: {} CPU-s in {} s = {} cores; {} CPU-s per GB in, {} per GB out; peak RSS {} MB, max sampled RSS {} MB",
                b["pid"], num("cpu_s"), num("wall_s"), num("cpu_cores"), num("cpu_s_per_gb_in"),
                num("cpu_s_per_gb_out"), mb("peak_rss_mb"), mb("max_sampled_rss_mb"),
            );
        }
    }
}

/// The command-line spelling of an enum value.
fn value_name<T: ValueEnum>(v: T) -> String {
    v.to_possible_value()
        .map(|p| p.get_name().to_string())
        .unwrap_or_default()
}

fn print_side(name: &str, what: &str, v: &Value) {
    let f = |k: &str| v[k].as_f64().unwrap_or(0.0);
    println!(
        "{name:<8} {} records, {} rec/s, {:.2} MB/s, errors {}",
        v["records"],
        fmt_count(f("records_per_s")),
        f("mb_per_s"),
        v["errors"]
    );
    if let Some(e) = v["first_error"].as_str() {
        println!("         first error: {e}");
    }
    let l = &v["latency_us"];
    if !l.is_null() {
        let q = |k: &str| fmt_us(l[k].as_u64().unwrap_or(0));
        println!(
            "         {what}: p50 {} p90 {} p99 {} p99.9 {} max {}",
            q("p50"),
            q("p90"),
            q("p99"),
            q("p99_9"),
            q("max")
        );
    }
}
