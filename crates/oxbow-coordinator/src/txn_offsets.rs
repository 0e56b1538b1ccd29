//! Offsets committed inside a transaction (TxnOffsetCommit, KIP-98 and KIP-447): held per producer
//! until the transaction ends; on commit they are written to `__consumer_offsets` like any
//! commit, on abort they are dropped. Until then OffsetFetch with `require_stable` answers
//! UNSTABLE_OFFSET_COMMIT for those partitions, so a consumer does not start from an offset that
//! may still move.
//!
//! Pending offsets live in memory only: a transaction that was open at a crash is aborted
//! anyway, and one that was committing carries its offsets in its `PrepareCommit` record in
//! `__transaction_state` (see the transaction coordinator), which re-applies them.

use futures::future::BoxFuture;
use kafka_protocol::ResponseError;
use serde::{Deserialize, Serialize};
use tracing::warn;

use super::store::{self, OffsetEntry, StoreRecord};
use super::{GroupCoordinator, Protocol};
use crate::context::CoordinatorContext;
use crate::offsets::PartitionCodes;

/// One offset committed in a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnOffset {
    pub group: String,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
}

/// A TxnOffsetCommit, version-independent (the transaction itself is checked by the caller).
pub struct TxnCommitParams {
    pub group_id: String,
    pub producer_id: i64,
    /// -1 and an empty member id: no membership check (v0–v2, or a producer outside the group).
    pub generation_id: i32,
    pub member_id: String,
    pub instance_id: Option<String>,
    pub topics: Vec<(String, Vec<(i32, i64, i32, Option<String>)>)>,
}

impl GroupCoordinator {
    /// Checks the group membership (KIP-447 fencing) and holds the offsets for the transaction.
    pub fn stage_txn_offsets(
        &self,
        ctx: &dyn CoordinatorContext,
        p: TxnCommitParams,
    ) -> Result<PartitionCodes, ResponseError> {
        if p.group_id.is_empty() {
            return Err(ResponseError::InvalidGroupId);
        }
        self.ensure_ready(ctx)?;
        let checks_membership = p.generation_id >= 0 || !p.member_id.is_empty();
        if checks_membership {
            let refused = self.read(&p.group_id, |g| match g.map(|g| &g.protocol) {
                None => Some(ResponseError::IllegalGeneration),
                Some(Protocol::Classic(c)) => {
                    c.validate_commit(&p.member_id, p.instance_id.as_deref(), p.generation_id)
                }
                Some(Protocol::Consumer(c)) => {
                    c.validate_member(&p.member_id, p.generation_id, true)
                }
            });
            if let Some(e) = refused {
                return Err(e);
            }
        }
        let max_meta = self.config().offset_metadata_max_bytes;
        let mut codes: PartitionCodes = Vec::new();
        let mut staged = Vec::new();
        for (topic, parts) in p.topics {
            let count = ctx.topics().partition_count(&topic);
            let mut topic_codes = Vec::new();
            for (partition, offset, leader_epoch, metadata) in parts {
                let metadata = metadata.unwrap_or_default();
                let code = if metadata.len() > max_meta {
                    ResponseError::OffsetMetadataTooLarge.code()
                } else if !count.is_some_and(|n| (0..n).contains(&partition)) {
                    ResponseError::UnknownTopicOrPartition.code()
                } else {
                    staged.push(TxnOffset {
                        group: p.group_id.clone(),
                        topic: topic.clone(),
                        partition,
                        offset,
                        leader_epoch,
                        metadata,
                    });
                    0
                };
                topic_codes.push((partition, code));
            }
            codes.push((topic, topic_codes));
        }
        let mut pending = self.inner().pending_txn.lock();
        let held = pending.entry(p.producer_id).or_default();
        for o in staged {
            // A later commit of the same partition in the same transaction replaces the earlier.
            held.retain(|h| {
                !(h.group == o.group && h.topic == o.topic && h.partition == o.partition)
            });
            held.push(o);
        }
        Ok(codes)
    }

    /// Takes the offsets a producer's transaction committed (at its end).
    pub fn take_txn_offsets(&self, producer_id: i64) -> Vec<TxnOffset> {
        self.inner()
            .pending_txn
            .lock()
            .remove(&producer_id)
            .unwrap_or_default()
    }

    /// Whether an open transaction holds an offset for this partition of this group.
    pub fn has_pending_txn_offset(&self, group: &str, topic: &str, partition: i32) -> bool {
        self.inner().pending_txn.lock().values().any(|held| {
            held.iter()
                .any(|o| o.group == group && o.topic == topic && o.partition == partition)
        })
    }

    /// Writes a committed transaction's offsets to `__consumer_offsets`; resolves once durable
    /// and visible to OffsetFetch.
    pub fn write_txn_offsets(
        &self,
        ctx: &dyn CoordinatorContext,
        offsets: Vec<TxnOffset>,
    ) -> BoxFuture<'static, Result<(), ResponseError>> {
        if offsets.is_empty() {
            return Box::pin(async { Ok(()) });
        }
        let log = match self.ensure_ready(ctx) {
            Ok(l) => l,
            Err(e) => return Box::pin(async move { Err(e) }),
        };
        let now_ms = crate::now_ms();
        let records: Vec<StoreRecord> = offsets
            .iter()
            .map(|o| StoreRecord::Offset {
                group: o.group.clone(),
                topic: o.topic.clone(),
                partition: o.partition,
                value: Some(OffsetEntry {
                    offset: o.offset,
                    leader_epoch: o.leader_epoch,
                    metadata: o.metadata.clone(),
                    commit_timestamp: now_ms,
                    log_offset: -1,
                }),
            })
            .collect();
        let last = match store::append(&*log, &records, now_ms) {
            Ok(last) => last,
            Err(e) => {
                warn!(error = %e, "writing transactional offsets failed");
                return Box::pin(async { Err(ResponseError::KafkaStorageError) });
            }
        };
        let durable = ctx.flush(vec![(log, last + 1)]);
        let inner = self.inner_arc();
        Box::pin(async move {
            if !matches!(durable.await, Ok(Ok(()))) {
                return Err(ResponseError::KafkaStorageError);
            }
            let first = last + 1 - records.len() as i64;
            let mut groups = inner.groups.lock();
            for (i, rec) in records.into_iter().enumerate() {
                let StoreRecord::Offset {
                    group,
                    topic,
                    partition,
                    value: Some(mut v),
                } = rec
                else {
                    continue;
                };
                v.log_offset = first + i as i64;
                let g = groups
                    .entry(group.clone())
                    .or_insert_with(|| super::Group::new_classic(&group));
                let key = (topic, partition);
                if g.offsets
                    .get(&key)
                    .is_none_or(|old| old.log_offset < v.log_offset)
                {
                    g.offsets.insert(key, v);
                }
            }
            Ok(())
        })
    }
}
