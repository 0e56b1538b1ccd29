//! The second phase of ending a transaction (Kafka's WriteTxnMarkers, applied in-process): a
//! commit or abort marker into every partition of the transaction, durable; on commit the
//! transaction's offsets into `__consumer_offsets`; then the `Complete*` state. Safe to repeat:
//! after a crash a `Prepare*` transaction is completed again (a second marker for a partition
//! whose transaction already ended changes nothing a reader sees).

use std::sync::Arc;

use oxbow_storage::TxnMarker;
use tracing::{debug, warn};

use super::{TransactionCoordinator, TransactionMetadata, TxnState};
use crate::context::CoordinatorContext;

impl TransactionCoordinator {
    /// Completes the decided transaction `m` (a snapshot in a `Prepare*` state). On failure the
    /// state stays `Prepare*` and the timer retries.
    pub(crate) async fn complete(
        &self,
        ctx: &Arc<dyn CoordinatorContext>,
        m: TransactionMetadata,
    ) -> bool {
        let id = m.transactional_id.clone();
        if !self.inner.completing.lock().insert(id.clone()) {
            return false;
        }
        let done = self.write_markers_and_offsets(ctx, &m).await;
        if done {
            super::crash_point("txn-markers-written");
        }
        let finished = if done {
            let now = crate::now_ms();
            let snapshot = {
                let mut txns = self.inner.txns.lock();
                match txns.get_mut(&id) {
                    Some(cur)
                        if cur.state == m.state
                            && cur.producer_id == m.producer_id
                            && cur.producer_epoch == m.producer_epoch =>
                    {
                        cur.state = if m.state == TxnState::PrepareCommit {
                            TxnState::CompleteCommit
                        } else {
                            TxnState::CompleteAbort
                        };
                        cur.partitions.clear();
                        cur.groups.clear();
                        cur.pending_offsets.clear();
                        cur.txn_start_ms = -1;
                        cur.last_update_ms = now;
                        if cur.next_producer_id >= 0 {
                            // The epoch is exhausted: the id continues with a new producer id.
                            cur.prev_producer_id = cur.producer_id;
                            cur.producer_id = cur.next_producer_id;
                            cur.producer_epoch = 0;
                            cur.last_producer_epoch = -1;
                            cur.next_producer_id = -1;
                        }
                        Some(cur.clone())
                    }
                    _ => None,
                }
            };
            match snapshot {
                // Markers are durable, so the completed state need not be: a crash that loses it
                // completes the transaction again from its `Prepare*` state.
                Some(s) => match self.persist_lazily(&**ctx, &s).await {
                    Ok(()) => true,
                    Err(e) => {
                        // The markers are written; a retry writes them again and then this.
                        warn!(transactional_id = id, error = ?e, "cannot persist the completed transaction state");
                        false
                    }
                },
                None => true,
            }
        } else {
            false
        };
        self.inner.completing.lock().remove(&id);
        finished
    }

    async fn write_markers_and_offsets(
        &self,
        ctx: &Arc<dyn CoordinatorContext>,
        m: &TransactionMetadata,
    ) -> bool {
        let commit = m.state == TxnState::PrepareCommit;
        let marker = TxnMarker {
            producer_id: m.producer_id,
            producer_epoch: m.producer_epoch,
            commit,
            coordinator_epoch: 0,
        };
        let mut flush = Vec::with_capacity(m.partitions.len());
        for (topic, partition) in &m.partitions {
            match ctx.write_txn_marker(topic, *partition, &marker) {
                Ok(Some(target)) => flush.push(target),
                Ok(None) => {
                    debug!(
                        transactional_id = m.transactional_id,
                        topic, partition, "partition gone; no marker needed"
                    )
                }
                Err(oxbow_storage::StorageError::InvalidProducerEpoch { current, .. }) => {
                    // A newer epoch already wrote there: this transaction's data was fenced.
                    debug!(
                        transactional_id = m.transactional_id,
                        topic, partition, current, "marker superseded by a newer epoch"
                    )
                }
                Err(e) => {
                    warn!(transactional_id = m.transactional_id, topic, partition, error = %e, commit, "writing a transaction marker failed; will retry");
                    return false;
                }
            }
        }
        if !flush.is_empty() && !matches!(ctx.flush(flush).await, Ok(Ok(()))) {
            warn!(
                transactional_id = m.transactional_id,
                "fsync of transaction markers failed; will retry"
            );
            return false;
        }
        if commit && !m.pending_offsets.is_empty() {
            let offsets = m.pending_offsets.clone();
            if let Err(e) = self.inner.groups.write_txn_offsets(&**ctx, offsets).await {
                warn!(transactional_id = m.transactional_id, error = ?e, "writing the transaction's offsets failed; will retry");
                return false;
            }
        }
        debug!(
            transactional_id = m.transactional_id,
            producer_id = m.producer_id,
            epoch = m.producer_epoch,
            commit,
            partitions = m.partitions.len(),
            offsets = m.pending_offsets.len(),
            "transaction markers written"
        );
        true
    }
}
