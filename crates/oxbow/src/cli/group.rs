//! `oxbow group list|describe|reset-offsets|delete`: consumer groups and their lag, in records and
//! in time (the age of the oldest record not yet consumed).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Context as _};
use clap::{Args, Subcommand};
use kafka_protocol::messages::describe_groups_response::DescribedGroup;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{
    BrokerId, DescribeGroupsRequest, FetchRequest, GroupId, ListGroupsRequest, ListOffsetsRequest,
    OffsetFetchRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::RecordBatchDecoder;

use super::common::{admin_options, ConnArgs};
use super::group_reset::{self, ResetArgs};
use super::kafka_raw::RawClient;

#[derive(Subcommand, Debug)]
pub enum GroupCmd {
    /// List consumer groups and their state.
    List(ListArgs),
    /// Members, committed offsets and lag (records and time) of a group.
    Describe(GroupArgs),
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
    let mut c = RawClient::connect(&a.conn.bootstrap).await?;
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

/// DescribeGroups for one group.
pub async fn describe_group(c: &mut RawClient, group: &str) -> anyhow::Result<DescribedGroup> {
    let req = DescribeGroupsRequest::default().with_groups(vec![GroupId(s(group))]);
    let resp = c.send(5, &req).await?;
    let g = resp
        .groups
        .into_iter()
        .next()
        .context("empty DescribeGroups response")?;
    if g.error_code != 0 {
        bail!(
            "DescribeGroups for {group} failed with error code {}",
            g.error_code
        );
    }
    Ok(g)
}

/// Every committed offset of a group: (topic, partition) → (offset, metadata).
pub async fn committed(
    c: &mut RawClient,
    group: &str,
) -> anyhow::Result<BTreeMap<(String, i32), (i64, String)>> {
    let req = OffsetFetchRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_topics(None);
    let resp = c.send(7, &req).await?;
    if resp.error_code != 0 {
        bail!(
            "OffsetFetch for {group} failed with error code {}",
            resp.error_code
        );
    }
    let mut out = BTreeMap::new();
    for t in resp.topics {
        for p in t.partitions {
            if p.committed_offset >= 0 {
                let meta = p.metadata.map(|m| m.to_string()).unwrap_or_default();
                out.insert(
                    (t.name.0.to_string(), p.partition_index),
                    (p.committed_offset, meta),
                );
            }
        }
    }
    Ok(out)
}

/// ListOffsets at `timestamp` (-1 latest, -2 earliest) for partitions of one topic.
pub async fn list_offsets(
    c: &mut RawClient,
    topic: &str,
    partitions: &[i32],
    timestamp: i64,
) -> anyhow::Result<BTreeMap<i32, i64>> {
    let parts = partitions
        .iter()
        .map(|p| {
            ListOffsetsPartition::default()
                .with_partition_index(*p)
                .with_timestamp(timestamp)
        })
        .collect();
    let req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(TopicName(s(topic)))
            .with_partitions(parts)]);
    let resp = c.send(1, &req).await?;
    let mut out = BTreeMap::new();
    for t in resp.topics {
        for p in t.partitions {
            if p.error_code != 0 {
                bail!(
                    "ListOffsets {topic}-{} failed with error code {}",
                    p.partition_index,
                    p.error_code
                );
            }
            out.insert(p.partition_index, p.offset);
        }
    }
    Ok(out)
}

/// Timestamp of the first record at or after `offset`, if one is stored.
pub async fn record_timestamp(
    c: &mut RawClient,
    topic: &str,
    partition: i32,
    offset: i64,
) -> anyhow::Result<Option<i64>> {
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(s(topic)))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(1 << 20)])]);
    let resp = c.send(11, &req).await?;
    for t in resp.responses {
        for p in t.partitions {
            let Some(mut records) = p.records else {
                continue;
            };
            let Ok(sets) = RecordBatchDecoder::decode_all(&mut records) else {
                continue;
            };
            for r in sets.into_iter().flat_map(|s| s.records) {
                if r.offset >= offset && !r.control {
                    return Ok(Some(r.timestamp));
                }
            }
        }
    }
    Ok(None)
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

async fn describe(a: GroupArgs) -> anyhow::Result<()> {
    let mut c = RawClient::coordinator(&a.conn.bootstrap, &a.group).await?;
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
    let mut data = RawClient::connect(&a.conn.bootstrap).await?;
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

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
