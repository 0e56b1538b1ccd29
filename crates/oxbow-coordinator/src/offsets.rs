//! Committed offsets: OffsetCommit (appended to `__consumer_offsets` and fsynced before the
//! answer), OffsetFetch, OffsetDelete, and DeleteGroups.

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use kafka_protocol::ResponseError;
use tracing::{debug, info, warn};

use super::store::{self, OffsetEntry, StoreRecord};
use super::{Group, GroupCoordinator, Protocol};
use crate::context::CoordinatorContext;

/// One partition of an OffsetCommit.
pub struct CommitPartition {
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

/// An OffsetCommit, version-independent.
pub struct CommitParams {
    pub group_id: String,
    pub member_id: String,
    pub instance_id: Option<String>,
    pub generation_or_epoch: i32,
    /// OffsetCommit v9+ (KIP-848 member epochs).
    pub uses_member_epoch: bool,
    pub topics: Vec<(String, Vec<CommitPartition>)>,
    pub client_id: String,
}

/// Per topic, per partition error code.
pub type PartitionCodes = Vec<(String, Vec<(i32, i16)>)>;

/// Per topic, per partition committed offset (None: never committed).
pub type FetchedOffsets = Vec<(String, Vec<(i32, Option<OffsetEntry>)>)>;

fn all_with(topics: &[(String, Vec<CommitPartition>)], e: ResponseError) -> PartitionCodes {
    topics
        .iter()
        .map(|(t, ps)| {
            (
                t.clone(),
                ps.iter().map(|p| (p.partition, e.code())).collect(),
            )
        })
        .collect()
}

impl GroupCoordinator {
    /// Validates and writes a commit; the future resolves once it is durable.
    pub fn commit(
        &self,
        ctx: &dyn CoordinatorContext,
        p: CommitParams,
    ) -> BoxFuture<'static, PartitionCodes> {
        let ready = |codes: PartitionCodes| -> BoxFuture<'static, PartitionCodes> {
            Box::pin(async move { codes })
        };
        if p.group_id.is_empty() {
            return ready(all_with(&p.topics, ResponseError::InvalidGroupId));
        }
        let log = match self.ensure_ready(ctx) {
            Ok(l) => l,
            Err(e) => return ready(all_with(&p.topics, e)),
        };
        let max_meta = self.config().offset_metadata_max_bytes;
        // Generation/epoch -1 comes from a consumer outside group management (`assign()` with a
        // group id, whatever member id it generated) or an admin tool: a missing group is made
        // as a simple (classic, empty) group, as Kafka does.
        let simple = p.generation_or_epoch < 0;
        let create: Option<fn(&str, &oxbow_config::GroupConfig) -> Group> = if simple {
            Some(|id, _| Group::new_classic(id))
        } else {
            None
        };
        let now_ms = crate::now_ms();
        let outcome = self.with_group(&*log, &p.group_id, create, |g, _| {
            let refused = match &g.protocol {
                Protocol::Classic(c) => c.validate_commit(
                    &p.member_id,
                    p.instance_id.as_deref(),
                    p.generation_or_epoch,
                ),
                Protocol::Consumer(c) => {
                    c.validate_commit(&p.member_id, p.generation_or_epoch, p.uses_member_epoch)
                }
            };
            if let Some(e) = refused {
                return Err(e);
            }
            let mut codes: PartitionCodes = Vec::new();
            let mut records = Vec::new();
            let mut slots = Vec::new();
            for (ti, (topic, parts)) in p.topics.iter().enumerate() {
                codes.push((topic.clone(), Vec::new()));
                for part in parts {
                    let meta = part.metadata.clone().unwrap_or_default();
                    let code = if meta.len() > max_meta {
                        ResponseError::OffsetMetadataTooLarge.code()
                    } else if !ctx
                        .topics()
                        .partition_count(topic)
                        .is_some_and(|n| (0..n).contains(&part.partition))
                    {
                        ResponseError::UnknownTopicOrPartition.code()
                    } else {
                        let entry = OffsetEntry {
                            offset: part.offset,
                            leader_epoch: part.leader_epoch,
                            metadata: meta,
                            commit_timestamp: now_ms,
                            log_offset: -1,
                        };
                        records.push(StoreRecord::Offset {
                            group: g.id.clone(),
                            topic: topic.clone(),
                            partition: part.partition,
                            value: Some(entry),
                        });
                        slots.push((ti, codes[ti].1.len()));
                        0
                    };
                    codes[ti].1.push((part.partition, code));
                }
            }
            if records.is_empty() {
                return Ok((codes, records, slots, -1));
            }
            match store::append(&*log, &records, now_ms) {
                Ok(last) => Ok((codes, records, slots, last)),
                Err(e) => {
                    warn!(group = g.id, error = %e, "offset commit append failed");
                    Err(ResponseError::KafkaStorageError)
                }
            }
        });
        let (mut codes, records, slots, last) = match outcome {
            // No such group and a real generation/epoch: OffsetCommit v9 says GROUP_ID_NOT_FOUND
            // (which both protocols' clients handle), older versions ILLEGAL_GENERATION.
            None if p.uses_member_epoch => {
                return ready(all_with(&p.topics, ResponseError::GroupIdNotFound))
            }
            None => return ready(all_with(&p.topics, ResponseError::IllegalGeneration)),
            Some(Err(e)) => {
                debug!(group = p.group_id, member = p.member_id, client_id = p.client_id, error = ?e, "offset commit refused");
                return ready(all_with(&p.topics, e));
            }
            Some(Ok(x)) => x,
        };
        if records.is_empty() {
            return ready(codes);
        }
        let durable = ctx.flush(vec![(log.clone(), last + 1)]);
        let inner_groups = self.inner_arc();
        let group_id = p.group_id.clone();
        Box::pin(async move {
            let ok = matches!(durable.await, Ok(Ok(())));
            if !ok {
                warn!(
                    group = group_id,
                    "fsync of offset commit failed; answering KAFKA_STORAGE_ERROR"
                );
                for (ti, pi) in slots {
                    codes[ti].1[pi].1 = ResponseError::KafkaStorageError.code();
                }
                return codes;
            }
            let first = last + 1 - records.len() as i64;
            let mut groups = inner_groups.groups.lock();
            if let Some(g) = groups.get_mut(&group_id) {
                for (i, rec) in records.into_iter().enumerate() {
                    if let StoreRecord::Offset {
                        topic,
                        partition,
                        value: Some(mut v),
                        ..
                    } = rec
                    {
                        v.log_offset = first + i as i64;
                        let key = (topic, partition);
                        if g.offsets
                            .get(&key)
                            .is_none_or(|old| old.log_offset < v.log_offset)
                        {
                            g.offsets.insert(key, v);
                        }
                    }
                }
            }
            codes
        })
    }

    /// Committed offsets of a group: the named partitions, or every committed one (`None`).
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        topics: Option<Vec<(String, Vec<i32>)>>,
        member: Option<(&str, i32)>,
    ) -> Result<FetchedOffsets, ResponseError> {
        self.read(group_id, |g| {
            if let (Some(g), Some((member_id, epoch))) = (g, member) {
                if let Protocol::Consumer(c) = &g.protocol {
                    if let Some(e) = c.validate_fetch(member_id, epoch) {
                        return Err(e);
                    }
                }
            }
            let lookup =
                |t: &str, p: i32| g.and_then(|g| g.offsets.get(&(t.to_string(), p)).cloned());
            Ok(match topics {
                Some(ts) => ts
                    .into_iter()
                    .map(|(t, ps)| {
                        let parts = ps.into_iter().map(|p| (p, lookup(&t, p))).collect();
                        (t, parts)
                    })
                    .collect(),
                None => {
                    let mut by_topic: BTreeMap<String, Vec<(i32, Option<OffsetEntry>)>> =
                        BTreeMap::new();
                    if let Some(g) = g {
                        for ((t, p), e) in &g.offsets {
                            by_topic
                                .entry(t.clone())
                                .or_default()
                                .push((*p, Some(e.clone())));
                        }
                    }
                    by_topic.into_iter().collect()
                }
            })
        })
    }

    /// OffsetDelete: removes committed offsets of topics no active member subscribes to.
    pub fn delete_offsets(
        &self,
        ctx: &dyn CoordinatorContext,
        group_id: &str,
        topics: Vec<(String, Vec<i32>)>,
    ) -> Result<PartitionCodes, ResponseError> {
        let log = self.ensure_ready(ctx)?;
        let result = self.with_group(&*log, group_id, None, |g, _| {
            let subscribed = g.subscribed_topics();
            let mut out = Vec::new();
            let mut records = Vec::new();
            for (t, ps) in topics {
                let busy = subscribed.contains(&t);
                let codes = ps
                    .into_iter()
                    .map(|p| {
                        if busy {
                            return (p, ResponseError::GroupSubscribedToTopic.code());
                        }
                        if g.offsets.remove(&(t.clone(), p)).is_some() {
                            records.push(StoreRecord::Offset {
                                group: g.id.clone(),
                                topic: t.clone(),
                                partition: p,
                                value: None,
                            });
                        }
                        (p, 0)
                    })
                    .collect();
                out.push((t, codes));
            }
            if !records.is_empty() {
                if let Err(e) = store::append(&*log, &records, crate::now_ms()) {
                    warn!(group = g.id, error = %e, "cannot write offset tombstones");
                    return Err(ResponseError::KafkaStorageError);
                }
                info!(
                    group = g.id,
                    partitions = records.len(),
                    "deleted committed offsets"
                );
            }
            Ok(out)
        });
        let out = result.ok_or(ResponseError::GroupIdNotFound)??;
        drop(ctx.flush(vec![(log.clone(), log.log_end_offset())]));
        Ok(out)
    }

    /// A deleted topic's committed offsets go with it (Kafka's `onPartitionsDeleted`): tombstones
    /// in `__consumer_offsets`, so a topic re-created under the same name starts without them.
    pub fn forget_topic(&self, ctx: &dyn CoordinatorContext, topic: &str) {
        let Some(log) = self.inner().store.log() else {
            return;
        };
        let mut groups = self.inner().groups.lock();
        let mut records = Vec::new();
        for g in groups.values_mut() {
            let keys: Vec<(String, i32)> = g
                .offsets
                .keys()
                .filter(|(t, _)| t == topic)
                .cloned()
                .collect();
            for key in keys {
                g.offsets.remove(&key);
                records.push(StoreRecord::Offset {
                    group: g.id.clone(),
                    topic: key.0,
                    partition: key.1,
                    value: None,
                });
            }
        }
        drop(groups);
        if records.is_empty() {
            return;
        }
        match store::append(&*log, &records, crate::now_ms()) {
            Ok(_) => info!(
                topic,
                offsets = records.len(),
                "deleted committed offsets of a deleted topic"
            ),
            Err(e) => {
                warn!(topic, error = %e, "cannot write offset tombstones for a deleted topic")
            }
        }
        drop(ctx.flush(vec![(log.clone(), log.log_end_offset())]));
    }

    /// DeleteGroups: removes empty groups and their offsets.
    pub fn delete_groups(
        &self,
        ctx: &dyn CoordinatorContext,
        ids: &[String],
    ) -> Vec<(String, Option<ResponseError>)> {
        let log = match self.ensure_ready(ctx) {
            Ok(l) => l,
            Err(e) => return ids.iter().map(|id| (id.clone(), Some(e))).collect(),
        };
        let mut out = Vec::new();
        let mut groups = self.inner().groups.lock();
        for id in ids {
            let code = match groups.get(id) {
                None => Some(ResponseError::GroupIdNotFound),
                Some(g) if !g.is_empty() => Some(ResponseError::NonEmptyGroup),
                Some(g) => match store::append_raw(&*log, &g.tombstones(), crate::now_ms()) {
                    Ok(_) => {
                        groups.remove(id);
                        info!(group = id, "deleted group");
                        None
                    }
                    Err(e) => {
                        warn!(group = id, error = %e, "cannot delete group");
                        Some(ResponseError::KafkaStorageError)
                    }
                },
            };
            out.push((id.clone(), code));
        }
        drop(groups);
        drop(ctx.flush(vec![(log.clone(), log.log_end_offset())]));
        out
    }
}
