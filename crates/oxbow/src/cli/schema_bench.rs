//! `oxbow schema bench`: the registry's two hot paths, measured from outside over HTTP with
//! keep-alive connections: registering (each schema a new field added with a default, so every
//! register runs the compatibility check against the previous version) and looking schemas up
//! by id (what every deserializer does for each new id) from several threads in a closed loop.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::Args;
use hdrhistogram::Histogram;
use serde_json::json;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// The registry's URL.
    #[arg(
        long,
        env = "OXBOW_REGISTRY_URL",
        default_value = "http://127.0.0.1:8081"
    )]
    pub registry: String,
    /// Schemas registered (one subject, one version each).
    #[arg(long, default_value_t = 200)]
    pub schemas: usize,
    /// Look-up threads.
    #[arg(long, default_value_t = 4)]
    pub threads: usize,
    /// Seconds of look-ups.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

fn new_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn us(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64
}

pub fn run(a: BenchArgs) -> anyhow::Result<()> {
    let base = a.registry.trim_end_matches('/').to_string();
    let subject = format!("bench-{}", std::process::id());
    let agent = new_agent();
    let mut register = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut ids = Vec::with_capacity(a.schemas);
    for i in 0..a.schemas {
        let fields: Vec<_> = std::iter::once(json!({"name": "id", "type": "string"}))
            .chain((0..i).map(|j| json!({"name": format!("f{j}"), "type": "long", "default": 0})))
            .collect();
        let schema = json!({"type": "record", "name": "Bench", "fields": fields}).to_string();
        let body = json!({"schema": schema}).to_string();
        let t = Instant::now();
        let mut resp = agent
            .post(&format!("{base}/subjects/{subject}/versions"))
            .header("Content-Type", "application/vnd.schemaregistry.v1+json")
            .send(body)
            .context("registering")?;
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        register.record(t.elapsed().as_micros().max(1) as u64)?;
        if !resp.status().is_success() {
            bail!("register failed: HTTP {} {text}", resp.status());
        }
        let v: serde_json::Value = serde_json::from_str(&text)?;
        ids.push(v["id"].as_i64().unwrap_or(0));
    }
    let ids = Arc::new(ids);
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..a.threads.max(1))
        .map(|t| {
            let (ids, stop, count, base) = (ids.clone(), stop.clone(), count.clone(), base.clone());
            std::thread::spawn(move || -> anyhow::Result<Histogram<u64>> {
                let agent = new_agent();
                let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
                let mut i = t;
                while !stop.load(Ordering::Relaxed) {
                    let id = ids[i % ids.len()];
                    i += 7;
                    let t0 = Instant::now();
                    let mut resp = agent.get(&format!("{base}/schemas/ids/{id}")).call()?;
                    let _ = resp.body_mut().read_to_string();
                    if !resp.status().is_success() {
                        bail!("look-up of id {id} failed: HTTP {}", resp.status());
                    }
                    h.record(t0.elapsed().as_micros().max(1) as u64)?;
                    count.fetch_add(1, Ordering::Relaxed);
                }
                Ok(h)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(a.seconds));
    stop.store(true, Ordering::Relaxed);
    let mut lookups = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    for w in workers {
        let h = w
            .join()
            .map_err(|_| anyhow::anyhow!("a look-up thread panicked"))??;
        lookups.add(h)?;
    }
    let secs = started.elapsed().as_secs_f64();
    let n = count.load(Ordering::Relaxed);
    let report = json!({
        "schemas_registered": a.schemas,
        "register_latency_us": {"p50": us(&register, 0.5), "p99": us(&register, 0.99), "max": register.max()},
        "lookup_threads": a.threads,
        "lookups": n,
        "lookups_per_s": (n as f64 / secs).round(),
        "lookup_latency_us": {"p50": us(&lookups, 0.5), "p99": us(&lookups, 0.99), "max": lookups.max()},
    });
    if a.json {
        println!("{report}");
    } else {
        println!(
            "registered {} schemas: p50 {:.0} µs, p99 {:.0} µs (each checked against the previous version, fsynced)",
            a.schemas,
            us(&register, 0.5),
            us(&register, 0.99)
        );
        println!(
            "look-ups by id from {} threads: {:.0}/s, p50 {:.0} µs, p99 {:.0} µs",
            a.threads,
            n as f64 / secs,
            us(&lookups, 0.5),
            us(&lookups, 0.99)
        );
    }
    Ok(())
}
