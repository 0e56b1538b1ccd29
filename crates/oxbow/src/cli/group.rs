//! `oxbow group list|describe|reset-offsets|delete`: consumer groups and their lag, in records and
//! in time (the age of the oldest record not yet consumed).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Context as _};
use clap::{Args, Subcommand};
use kafka_protocol::messages::ListGroupsRequest;
use kafka_protocol::protocol::StrBytes;

use super::common::{admin_options, ConnArgs};
use super::group_queries::{committed, describe_group, list_offsets, now_ms, record_timestamp};
use super::group_reset::{self, ResetArgs};
use super::kafka_raw::RawClient;

#[derive(Subcommand, Debug)]
pub enum GroupCmd {
    /// List consumer groups and their state.
    List(ListArgs),
    /// Members, committed offsets and lag (records and time) of a group.
    Describe(DescribeArgs),
    /// Plan (--dry-run) or apply (--execute) new committed offsets for an inactive group.
    ResetOffsets(ResetArgs),
    /// Delete an empty group and its committed offsets.
    Delete(GroupArgs),
}

#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Only groups in this state (Empty, Stable, PreparingRebalance, CompletingRebalance, ...).
    #[arg(long)]
    pub state: Vec<String>,
}

#[derive(Args, Debug)]
pub struct DescribeArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// The group id.
    pub group: String,
    /// The broker's HTTP listener, for the lag diagnosis (Burrow's rules).
    #[arg(long, env = "OXBOW_HTTP_URL", default_value = "http://127.0.0.1:8080")]
    pub http: String,
}

#[derive(Args, Debug)]
pub struct GroupArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// The group id.
    pub group: String,
}

pub async fn run(cmd: GroupCmd) -> anyhow::Result<()> {
    match cmd {
        GroupCmd::List(a) => list(a).await,
        GroupCmd::Describe(a) => describe(a).await,
        GroupCmd::ResetOffsets(a) => group_reset::run(a).await,
        GroupCmd::Delete(a) => delete(a).await,
    }
}

fn s(x: &str) -> StrBytes {
    StrBytes::from_string(x.to_string())
}

async fn list(a: ListArgs) -> anyhow::Result<()> {
    let mut c = RawClient::open(&a.conn).await?;
    let req =
        ListGroupsRequest::default().with_states_filter(a.state.iter().map(|x| s(x)).collect());
    let resp = c.send(4, &req).await?;
    if resp.error_code != 0 {
        bail!("ListGroups failed with error code {}", resp.error_code);
    }
    println!("{:<40} {:<22} PROTOCOL-TYPE", "GROUP", "STATE");
    for g in resp.groups {
        println!(
            "{:<40} {:<22} {}",
            g.group_id.0.as_str(),
            g.group_state.as_str(),
            g.protocol_type.as_str()
        );
    }
    Ok(())
}

/// Renders a duration in ms as `1h02m03s` / `4.5s`.
pub fn human_ms(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 60_000 {
        return format!("{:.1}s", ms as f64 / 1000.0);
    }
    let secs = ms / 1000;
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    if h > 0 {
        format!("{h}h{m:02}m{s:02}s")
    } else {
        format!("{m}m{s:02}s")
    }
}

/// The broker's diagnosis of the group, from its Burrow API: the group's status and each
/// partition's, with the reason in words.
fn diagnosis(http: &str, group: &str) -> anyhow::Result<Vec<String>> {
    use anyhow::Context as _;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(10)))
        .build()
        .into();
    let base = http.trim_end_matches('/');
    let get = |url: String| -> anyhow::Result<serde_json::Value> {
        let mut r = agent
            .get(&url)
            .call()
            .with_context(|| format!("GET {url}"))?;
        let text = r.body_mut().read_to_string().unwrap_or_default();
        Ok(serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
    };
    let clusters = get(format!("{base}/v3/kafka"))?;
    let cluster = clusters["clusters"][0]
        .as_str()
        .unwrap_or("oxbow")
        .to_string();
    let lag = get(format!("{base}/v3/kafka/{cluster}/consumer/{group}/lag"))?;
    let st = &lag["status"];
    if st.is_null() {
        anyhow::bail!("{}", lag["message"].as_str().unwrap_or("no status"));
    }
    let mut out = vec![format!(
        "STATUS {}  (total lag {} records; window {:.0}% full)",
        st["status"].as_str().unwrap_or("?"),
        st["totallag"],
        st["complete"].as_f64().unwrap_or(0.0) * 100.0
    )];
    for p in st["partitions"].as_array().into_iter().flatten() {
        out.push(format!(
            "  {}-{}  {:<6} lag {} records, {:.1} s: {}",
            p["topic"].as_str().unwrap_or(""),
            p["partition"],
            p["status"].as_str().unwrap_or("?"),
            p["current_lag"],
            p["current_lag_seconds"].as_f64().unwrap_or(0.0),
            p["explanation"].as_str().unwrap_or("")
        ));
    }
    Ok(out)
}

async fn describe(a: DescribeArgs) -> anyhow::Result<()> {
    let mut c = RawClient::coordinator(&a.conn, &a.group).await?;
    let g = describe_group(&mut c, &a.group).await?;
    let offsets = committed(&mut c, &a.group).await?;
    // Who owns what.
    let mut owner: BTreeMap<(String, i32), (String, String, String)> = BTreeMap::new();
    for m in &g.members {
        for (topic, parts) in assignment_partitions(&m.member_assignment) {
            for p in parts {
                owner.insert(
                    (topic.clone(), p),
                    (
                        m.member_id.to_string(),
                        m.client_id.to_string(),
                        m.client_host.to_string(),
                    ),
                );
            }
        }
    }
    let keys: BTreeSet<(String, i32)> = offsets.keys().chain(owner.keys()).cloned().collect();
    let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for (t, p) in &keys {
        by_topic.entry(t.clone()).or_default().push(*p);
    }
    let mut data = RawClient::open(&a.conn).await?;
    let now = now_ms();
    println!(
        "GROUP {}  STATE {}  PROTOCOL {}  MEMBERS {}",
        a.group,
        g.group_state.as_str(),
        g.protocol_data.as_str(),
        g.members.len()
    );
    println!(
        "{:<30} {:>9} {:>12} {:>12} {:>10} {:>12}  {:<40} {:<20} HOST",
        "TOPIC", "PARTITION", "COMMITTED", "LOG-END", "LAG", "LAG-TIME", "MEMBER", "CLIENT-ID"
    );
    for (topic, parts) in by_topic {
        let ends = list_offsets(&mut data, &topic, &parts, -1)
            .await
            .unwrap_or_default();
        for p in parts {
            let committed = offsets.get(&(topic.clone(), p)).map(|x| x.0);
            let end = ends.get(&p).copied();
            let lag = match (committed, end) {
                (Some(c), Some(e)) => Some((e - c).max(0)),
                _ => None,
            };
            let lag_time = match (committed, lag) {
                (Some(c), Some(l)) if l > 0 => record_timestamp(&mut data, &topic, p, c)
                    .await
                    .ok()
                    .flatten()
                    .map(|ts| human_ms(now - ts)),
                (Some(_), Some(_)) => Some("0.0s".to_string()),
                _ => None,
            };
            let (member, client, host) = owner
                .get(&(topic.clone(), p))
                .cloned()
                .unwrap_or_else(|| ("-".into(), "-".into(), "-".into()));
            let show = |v: Option<i64>| v.map_or("-".to_string(), |v| v.to_string());
            println!(
                "{:<30} {:>9} {:>12} {:>12} {:>10} {:>12}  {:<40} {:<20} {}",
                topic,
                p,
                show(committed),
                show(end),
                show(lag),
                lag_time.unwrap_or_else(|| "-".into()),
                member,
                client,
                host
            );
        }
    }
    let (http, group) = (a.http.clone(), a.group.clone());
    match tokio::task::spawn_blocking(move || diagnosis(&http, &group)).await? {
        Ok(lines) => {
            println!();
            for l in lines {
                println!("{l}");
            }
        }
        Err(e) => println!(
            "\n(no diagnosis: the broker's HTTP listener at {} did not answer: {e})",
            a.http
        ),
    }
    Ok(())
}

/// (topic, partitions) of a consumer-protocol assignment (i16 version, then the struct).
pub fn assignment_partitions(bytes: &bytes::Bytes) -> Vec<(String, Vec<i32>)> {
    use bytes::Buf;
    use kafka_protocol::protocol::Decodable;
    let mut buf = bytes.clone();
    if buf.remaining() < 2 {
        return Vec::new();
    }
    let version = buf.get_i16().clamp(0, 3);
    kafka_protocol::messages::ConsumerProtocolAssignment::decode(&mut buf, version)
        .map(|a| {
            a.assigned_partitions
                .into_iter()
                .map(|t| (t.topic.0.to_string(), t.partitions))
                .collect()
        })
        .unwrap_or_default()
}

async fn delete(a: GroupArgs) -> anyhow::Result<()> {
    let admin = a.conn.admin()?;
    let results = admin
        .delete_groups(&[a.group.as_str()], &admin_options())
        .await
        .context("DeleteGroups")?;
    for r in results {
        match r {
            Ok(g) => println!("deleted group {g}"),
            Err((g, code)) => bail!("deleting group {g} failed: {code:?}"),
        }
    }
    Ok(())
}
