//! What a transactional producer asks of the coordinator: InitProducerId (epoch bump, fencing the
//! previous holder of the id and aborting its open transaction), AddPartitionsToTxn,
//! AddOffsetsToTxn, EndTxn, and the checks behind TxnOffsetCommit and transactional Produce
//! (KIP-890: a partition accepts a transactional write only if it is in the ongoing transaction).
//!
//! Errors are Kafka's codes; the handlers translate PRODUCER_FENCED to INVALID_PRODUCER_EPOCH
//! for request versions older than KIP-588.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use tracing::{debug, info};

use super::{TransactionCoordinator, TransactionMetadata, TxnState};
use crate::context::CoordinatorContext;

/// The producer id and epoch handed to a producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerIdAndEpoch {
    pub producer_id: i64,
    pub epoch: i16,
}

fn check_producer(
    m: &TransactionMetadata,
    producer_id: i64,
    epoch: i16,
) -> Result<(), ResponseError> {
    if m.producer_id != producer_id {
        return Err(ResponseError::InvalidProducerIdMapping);
    }
    if m.producer_epoch != epoch {
        return Err(ResponseError::ProducerFenced);
    }
    Ok(())
}

impl TransactionCoordinator {
    /// InitProducerId with a transactional id. `expected` is the producer id and epoch a KIP-360
    /// client already holds (-1 when it has none).
    pub async fn init_producer_id(
        &self,
        ctx: Arc<dyn CoordinatorContext>,
        transactional_id: &str,
        timeout_ms: i32,
        expected: (i64, i16),
    ) -> Result<ProducerIdAndEpoch, ResponseError> {
        if timeout_ms <= 0 || timeout_ms > self.inner.cfg.max_timeout_ms {
            return Err(ResponseError::InvalidTransactionTimeout);
        }
        self.ensure_ready(&*ctx)?;
        // At most twice: an open transaction of the previous holder is aborted first.
        for _ in 0..2 {
            let now = crate::now_ms();
            let mut abort_first = None;
            let snapshot = {
                let mut txns = self.inner.txns.lock();
                let m = match txns.get_mut(transactional_id) {
                    Some(m) => m,
                    None => {
                        let pid = ctx.next_producer_id().map_err(|e| {
                            tracing::error!(error = e, "cannot allocate a producer id");
                            ResponseError::KafkaStorageError
                        })?;
                        txns.entry(transactional_id.to_string()).or_insert_with(|| {
                            TransactionMetadata::new(transactional_id, pid, timeout_ms, now)
                        })
                    }
                };
                if m.state.is_completing() {
                    return Err(ResponseError::ConcurrentTransactions);
                }
                let (pid_in, epoch_in) = expected;
                if pid_in >= 0 {
                    let known = (pid_in == m.producer_id
                        && (epoch_in == m.producer_epoch || epoch_in == m.last_producer_epoch))
                        || pid_in == m.prev_producer_id;
                    if !known {
                        return Err(ResponseError::ProducerFenced);
                    }
                }
                if m.state == TxnState::Ongoing {
                    // Fence the previous producer and abort its transaction before handing out
                    // the id again.
                    if !m.bump_epoch() {
                        return Err(ResponseError::ConcurrentTransactions);
                    }
                    m.state = TxnState::PrepareAbort;
                    m.pending_offsets.clear();
                    m.last_update_ms = now;
                    abort_first = Some(m.clone());
                    None
                } else {
                    if !m.bump_epoch() {
                        let pid = ctx
                            .next_producer_id()
                            .map_err(|_| ResponseError::KafkaStorageError)?;
                        m.prev_producer_id = m.producer_id;
                        m.producer_id = pid;
                        m.producer_epoch = 0;
                        m.last_producer_epoch = -1;
                    }
                    m.timeout_ms = timeout_ms;
                    m.state = TxnState::Empty;
                    m.partitions.clear();
                    m.groups.clear();
                    m.txn_start_ms = -1;
                    m.last_update_ms = now;
                    m.tv2 = false;
                    Some(m.clone())
                }
            };
            if let Some(aborting) = abort_first {
                info!(
                    transactional_id,
                    producer_id = aborting.producer_id,
                    epoch = aborting.producer_epoch,
                    "InitProducerId fences the previous producer and aborts its open transaction"
                );
                self.inner.groups.take_txn_offsets(aborting.producer_id);
                self.persist(&*ctx, &aborting).await?;
                if !self.complete(&ctx, aborting).await {
                    return Err(ResponseError::ConcurrentTransactions);
                }
                continue;
            }
            if let Some(m) = snapshot {
                self.persist(&*ctx, &m).await?;
                debug!(
                    transactional_id,
                    producer_id = m.producer_id,
                    epoch = m.producer_epoch,
                    "transactional producer initialised"
                );
                return Ok(ProducerIdAndEpoch {
                    producer_id: m.producer_id,
                    epoch: m.producer_epoch,
                });
            }
        }
        Err(ResponseError::ConcurrentTransactions)
    }

    /// Adds to the producer's transaction (starting one if none is open) under the lock: `add`
    /// changes the state and says whether anything new was added. Returns the state to persist,
    /// None if nothing changed.
    fn join_transaction(
        &self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        add: impl FnOnce(&mut TransactionMetadata) -> bool,
    ) -> Result<Option<TransactionMetadata>, ResponseError> {
        let mut txns = self.inner.txns.lock();
        let m = txns
            .get_mut(transactional_id)
            .ok_or(ResponseError::InvalidProducerIdMapping)?;
        check_producer(m, producer_id, epoch)?;
        if m.state.is_completing() {
            return Err(ResponseError::ConcurrentTransactions);
        }
        let was_ongoing = m.state == TxnState::Ongoing;
        start_if_idle(m);
        if !add(m) && was_ongoing {
            return Ok(None);
        }
        m.last_update_ms = crate::now_ms();
        Ok(Some(m.clone()))
    }

    /// Persists what [`Self::join_transaction`] changed; when nothing changed, the state may still
    /// be in flight from a concurrent request, so wait until the log is durable anyway.
    async fn persist_join(
        &self,
        ctx: &dyn CoordinatorContext,
        changed: Option<TransactionMetadata>,
    ) -> Result<(), ResponseError> {
        match changed {
            Some(m) => self.persist(ctx, &m).await,
            None => self.sync_state_log(ctx).await,
        }
    }

    /// AddPartitionsToTxn: the partitions join the transaction (starting it if none is open),
    /// durably before this returns.
    pub async fn add_partitions(
        &self,
        ctx: &dyn CoordinatorContext,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: &[(String, i32)],
    ) -> Result<(), ResponseError> {
        let changed = self.join_transaction(transactional_id, producer_id, epoch, |m| {
            let before = m.partitions.len();
            m.partitions.extend(partitions.iter().cloned());
            m.partitions.len() > before
        })?;
        self.persist_join(ctx, changed).await
    }

    /// AddOffsetsToTxn: the group's offsets will be committed with the transaction.
    pub async fn add_offsets(
        &self,
        ctx: &dyn CoordinatorContext,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        group_id: &str,
    ) -> Result<(), ResponseError> {
        let changed = self.join_transaction(transactional_id, producer_id, epoch, |m| {
            m.groups.insert(group_id.to_string())
        })?;
        self.persist_join(ctx, changed).await
    }

    /// Whether a TxnOffsetCommit for `group_id` belongs to the producer's ongoing transaction.
    pub fn check_offset_commit(
        &self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        group_id: &str,
    ) -> Result<(), ResponseError> {
        let txns = self.inner.txns.lock();
        let m = txns
            .get(transactional_id)
            .ok_or(ResponseError::InvalidProducerIdMapping)?;
        check_producer(m, producer_id, epoch)?;
        if m.state != TxnState::Ongoing || !m.groups.contains(group_id) {
            return Err(ResponseError::InvalidTxnState);
        }
        Ok(())
    }

    /// KIP-890 part 1: a transactional write to a partition is accepted only while the
    /// producer's transaction is ongoing and holds the partition.
    pub fn verify_partition(
        &self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        topic: &str,
        partition: i32,
    ) -> Result<(), ResponseError> {
        let txns = self.inner.txns.lock();
        let m = txns
            .get(transactional_id)
            .ok_or(ResponseError::InvalidProducerIdMapping)?;
        if m.producer_id != producer_id {
            return Err(ResponseError::InvalidProducerIdMapping);
        }
        if m.producer_epoch != epoch {
            return Err(ResponseError::InvalidProducerEpoch);
        }
        if m.state != TxnState::Ongoing || !m.partitions.contains(&(topic.to_string(), partition)) {
            return Err(ResponseError::InvalidTxnState);
        }
        Ok(())
    }

    /// EndTxn: commits or aborts the ongoing transaction; returns once the markers are written
    /// (and, on commit, its offsets). `bump_epoch` (Transaction Version 2) moves the producer to
    /// the next epoch, which the answer carries, so a late write of this transaction cannot land
    /// in the next one.
    pub async fn end_txn(
        &self,
        ctx: Arc<dyn CoordinatorContext>,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        bump_epoch: bool,
    ) -> Result<ProducerIdAndEpoch, ResponseError> {
        let decided = {
            let mut txns = self.inner.txns.lock();
            let m = txns
                .get_mut(transactional_id)
                .ok_or(ResponseError::InvalidProducerIdMapping)?;
            // A Transaction Version 2 retry after the id moved to a new producer id.
            let retried_old_id = m.tv2 && m.prev_producer_id == producer_id;
            if m.producer_id != producer_id && !retried_old_id {
                return Err(ResponseError::InvalidProducerIdMapping);
            }
            let (producer_id_now, epoch_now) = m.next_producer();
            let current = ProducerIdAndEpoch {
                producer_id: producer_id_now,
                epoch: epoch_now,
            };
            let retry_after_bump = m.tv2 && (epoch == m.last_producer_epoch || retried_old_id);
            if m.producer_epoch != epoch && !retry_after_bump {
                return Err(ResponseError::ProducerFenced);
            }
            match (m.state, commit) {
                (TxnState::Ongoing, _) if !retry_after_bump => {}
                (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => {
                    return Ok(current)
                }
                (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => {
                    return Err(ResponseError::ConcurrentTransactions)
                }
                _ => return Err(ResponseError::InvalidTxnState),
            }
            if bump_epoch {
                m.tv2 = true;
                if m.bump_epoch_for_markers() {
                    m.next_producer_id = ctx
                        .next_producer_id()
                        .map_err(|_| ResponseError::KafkaStorageError)?;
                }
            }
            let offsets = self.inner.groups.take_txn_offsets(producer_id);
            m.state = if commit {
                TxnState::PrepareCommit
            } else {
                TxnState::PrepareAbort
            };
            m.pending_offsets = if commit { offsets } else { Vec::new() };
            m.last_update_ms = crate::now_ms();
            m.clone()
        };
        self.persist(&*ctx, &decided).await?;
        super::crash_point("txn-decided");
        let (next_pid, next_epoch) = decided.next_producer();
        let answer = ProducerIdAndEpoch {
            producer_id: next_pid,
            epoch: next_epoch,
        };
        debug!(
            transactional_id,
            producer_id,
            epoch = answer.epoch,
            commit,
            partitions = decided.partitions.len(),
            "transaction decided"
        );
        // The decision is durable: the answer is success even if the markers must be retried.
        self.complete(&ctx, decided).await;
        Ok(answer)
    }

    /// Marks Transaction Version 2 for the id (the producer added a partition implicitly with
    /// Produce v12+), starting the transaction if none is open.
    pub async fn add_partition_implicitly(
        &self,
        ctx: &dyn CoordinatorContext,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        topic: &str,
        partition: i32,
    ) -> Result<(), ResponseError> {
        {
            let mut txns = self.inner.txns.lock();
            if let Some(m) = txns.get_mut(transactional_id) {
                m.tv2 = true;
            }
        }
        self.add_partitions(
            ctx,
            transactional_id,
            producer_id,
            epoch,
            &[(topic.to_string(), partition)],
        )
        .await
    }
}

/// An idle id (Empty or Complete*) starts a new transaction.
fn start_if_idle(m: &mut TransactionMetadata) {
    if m.state != TxnState::Ongoing {
        m.state = TxnState::Ongoing;
        m.partitions.clear();
        m.groups.clear();
        m.pending_offsets.clear();
        m.txn_start_ms = crate::now_ms();
    }
}
