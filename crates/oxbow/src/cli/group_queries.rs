//! The raw Kafka queries the group commands share: a group's description, its committed offsets,
//! partitions' offsets by timestamp, and the timestamp of the record at an offset.

use std::collections::BTreeMap;

use anyhow::{bail, Context as _};
use kafka_protocol::messages::describe_groups_response::DescribedGroup;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{
    BrokerId, DescribeGroupsRequest, FetchRequest, GroupId, ListOffsetsRequest, OffsetFetchRequest,
    TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::RecordBatchDecoder;

use super::kafka_raw::RawClient;

fn s(x: &str) -> StrBytes {
    StrBytes::from_string(x.to_string())
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

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
