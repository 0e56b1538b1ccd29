//! `oxbow lake status`: every lake table's progress (landed offsets, lag, Delta version, files,
//! last commit) and, for a stopped table, why — from the broker's `/lake/status`.

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use serde_json::Value;

#[derive(Subcommand)]
pub enum LakeCmd {
    /// Show each table's progress and health.
    Status(StatusArgs),
}

#[derive(Args)]
pub struct StatusArgs {
    /// The broker's HTTP listener.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub http: String,
    /// Print the JSON as served.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: LakeCmd) -> anyhow::Result<()> {
    match cmd {
        LakeCmd::Status(args) => status(args),
    }
}

fn status(args: StatusArgs) -> anyhow::Result<()> {
    let url = format!("{}/lake/status", args.http.trim_end_matches('/'));
    let agent = super::common::http_agent();
    let mut resp = agent
        .get(&url)
        .call()
        .with_context(|| format!("GET {url}"))?;
    let code = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    if code != 200 {
        bail!("GET {url}: HTTP {code}: {text}");
    }
    if args.json {
        println!("{text}");
        return Ok(());
    }
    let body: Value =
        serde_json::from_str(&text).with_context(|| format!("GET {url}: not JSON"))?;
    let tables = body["tables"].as_array().cloned().unwrap_or_default();
    if tables.is_empty() {
        println!("no lake tables configured ([[lake.tables]])");
        return Ok(());
    }
    println!(
        "{:<24} {:<9} {:>10} {:>9} {:>8} {:>6} {:>13}  LANDED (partition:next offset)",
        "TOPIC", "STATE", "LAG", "LAG(s)", "VERSION", "FILES", "LAST COMMIT"
    );
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    for t in &tables {
        let landed: Vec<String> = t["committed"]
            .as_object()
            .map(|m| m.iter().map(|(p, o)| format!("{p}:{o}")).collect())
            .unwrap_or_default();
        let last = match t["last_commit_ms"].as_i64() {
            Some(ms) => format!("{:.1}s ago", (now_ms - ms) as f64 / 1000.0),
            None => "never".into(),
        };
        println!(
            "{:<24} {:<9} {:>10} {:>9.1} {:>8} {:>6} {:>13}  {}",
            t["topic"].as_str().unwrap_or(""),
            t["state"].as_str().unwrap_or(""),
            t["lag_records"].as_i64().unwrap_or(0),
            t["lag_seconds"].as_f64().unwrap_or(0.0),
            t["version"].as_i64().map_or("-".into(), |v| v.to_string()),
            t["files"].as_u64().unwrap_or(0),
            last,
            landed.join(" ")
        );
        if let Some(e) = t["error"].as_str() {
            println!("    {e}");
        }
    }
    Ok(())
}
