//! The transaction coordinator (Kafka's TransactionCoordinator): transactional ids, their
//! producer ids and epochs, the partitions and groups of each open transaction, and the two-phase
//! end of a transaction — the decision (`PrepareCommit`/`PrepareAbort`) made durable in
//! `__transaction_state`, then markers written into every partition ([`markers`]), then the
//! `Complete*` state.
//!
//! Requests from producers are in [`requests`]; this file holds the state, its persistence and
//! replay, the timers (timed-out transactions aborted, stuck completions retried, expired ids
//! removed) and the views for DescribeTransactions and ListTransactions.
//!
//! Locks: one mutex over every transactional id, never held across an await; a transaction
//! being completed is in a `Prepare*` state, which makes other requests for it wait
//! (CONCURRENT_TRANSACTIONS, retried by clients).

pub mod markers;
pub mod metadata;
pub mod requests;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::ResponseError;
use oxbow_config::TransactionConfig;
use oxbow_storage::StorageError;
use parking_lot::Mutex;
use tracing::{info, warn};

use crate::context::CoordinatorContext;
use crate::state_store::{self, InternalTopicStore};
use crate::GroupCoordinator;
pub use metadata::{TransactionMetadata, TxnState};

/// The internal topic holding transaction state.
pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";
/// The configs `__transaction_state` is created with.
pub const TRANSACTION_STATE_CONFIGS: &[(&str, &str)] = &[
    ("cleanup.policy", "compact"),
    ("min.insync.replicas", "1"),
    ("segment.bytes", "104857600"),
];

/// Test hook for the crash tests: with `OXBOW_TEST_CRASH_POINT=<name>` in its environment the
/// process aborts at that point, as a SIGKILL at the worst moment would stop it. Points:
/// `txn-decided` (the commit or abort decision is durable, no marker written yet) and
/// `txn-markers-written` (markers durable, the `Complete*` state not yet written).
pub(crate) fn crash_point(name: &str) {
    static POINT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let point = POINT.get_or_init(|| std::env::var("OXBOW_TEST_CRASH_POINT").ok());
    if point.as_deref() == Some(name) {
        tracing::error!(
            point = name,
            "OXBOW_TEST_CRASH_POINT reached: aborting the process"
        );
        std::process::abort();
    }
}

/// The broker's transaction coordinator (a cheap handle: clones share it).
#[derive(Clone)]
pub struct TransactionCoordinator {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) cfg: TransactionConfig,
    pub(crate) txns: Mutex<HashMap<String, TransactionMetadata>>,
    /// Transactional ids whose markers are being written right now (the timer leaves them be).
    pub(crate) completing: Mutex<HashSet<String>>,
    pub(crate) store: InternalTopicStore,
    pub(crate) groups: GroupCoordinator,
}

impl TransactionCoordinator {
    pub fn new(cfg: TransactionConfig, groups: GroupCoordinator) -> Self {
        Self {
            inner: Arc::new(Inner {
                cfg,
                txns: Mutex::new(HashMap::new()),
                completing: Mutex::new(HashSet::new()),
                store: InternalTopicStore::new(TRANSACTION_STATE_TOPIC, TRANSACTION_STATE_CONFIGS),
                groups,
            }),
        }
    }

    pub fn config(&self) -> &TransactionConfig {
        &self.inner.cfg
    }

    /// Rebuilds every transactional id from `__transaction_state`, if it exists (at startup).
    /// Transactions found deciding are completed by the first timer run; open ones are aborted
    /// when their timeout passes.
    pub fn load(&self, ctx: &dyn CoordinatorContext) -> Result<(), StorageError> {
        let Some(log) = self.inner.store.open_existing(ctx) else {
            return Ok(());
        };
        let started = Instant::now();
        let mut txns = HashMap::new();
        let n = state_store::replay(&*log, |offset, key, value| {
            let Ok(id) = String::from_utf8(key.to_vec()) else {
                return false;
            };
            match value {
                None => {
                    txns.remove(&id);
                }
                Some(v) => match TransactionMetadata::decode(&v) {
                    Some(m) => {
                        txns.insert(id, m);
                    }
                    None => {
                        warn!(
                            topic = TRANSACTION_STATE_TOPIC,
                            offset,
                            transactional_id = id,
                            "unreadable transaction state record skipped"
                        );
                        return false;
                    }
                },
            }
            true
        })?;
        let open = txns
            .values()
            .filter(|m| m.state == TxnState::Ongoing || m.state.is_completing())
            .count();
        info!(
            records = n,
            transactional_ids = txns.len(),
            open_transactions = open,
            ms = started.elapsed().as_millis() as u64,
            "loaded transaction state from {TRANSACTION_STATE_TOPIC}"
        );
        *self.inner.txns.lock() = txns;
        Ok(())
    }

    /// The state log, creating the internal topic on first use.
    pub fn ensure_ready(&self, ctx: &dyn CoordinatorContext) -> Result<(), ResponseError> {
        self.inner.store.ensure(ctx).map(|_| ())
    }

    /// One transactional id's state (DescribeTransactions).
    pub fn describe(&self, transactional_id: &str) -> Option<TransactionMetadata> {
        self.inner.txns.lock().get(transactional_id).cloned()
    }

    /// Every transactional id's state (ListTransactions).
    pub fn list(&self) -> Vec<TransactionMetadata> {
        let mut all: Vec<_> = self.inner.txns.lock().values().cloned().collect();
        all.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        all
    }

    /// Runs the timers until the service stops: timed-out transactions are aborted and stuck
    /// completions retried every `abort_timed_out_check_interval_ms` (and once at start, which
    /// completes what was deciding at a crash); expired ids are removed every
    /// `remove_expired_check_interval_ms`.
    pub async fn run_timers(
        &self,
        ctx: Arc<dyn CoordinatorContext>,
        mut svc: oxbow_service::ServiceContext,
    ) {
        let abort_every = Duration::from_millis(self.inner.cfg.abort_timed_out_check_interval_ms);
        let expire_every = Duration::from_millis(self.inner.cfg.remove_expired_check_interval_ms);
        let mut last_expiry = Instant::now();
        loop {
            self.abort_timed_out(&ctx).await;
            self.retry_completions(&ctx).await;
            if last_expiry.elapsed() >= expire_every {
                last_expiry = Instant::now();
                self.remove_expired(&*ctx, crate::now_ms()).await;
            }
            tokio::select! {
                _ = svc.stopped() => break,
                _ = tokio::time::sleep(abort_every) => {}
            }
        }
    }

    /// Aborts every open transaction past its timeout, bumping the epoch so the producer that
    /// let it time out is fenced.
    async fn abort_timed_out(&self, ctx: &Arc<dyn CoordinatorContext>) {
        let now = crate::now_ms();
        let timed_out: Vec<TransactionMetadata> = {
            let mut txns = self.inner.txns.lock();
            let completing = self.inner.completing.lock();
            txns.values_mut()
                .filter(|m| m.timed_out(now) && !completing.contains(&m.transactional_id))
                .map(|m| {
                    if !m.bump_epoch() {
                        warn!(transactional_id = m.transactional_id, "producer epoch exhausted while aborting a timed-out transaction; the producer must re-initialise");
                    }
                    m.state = TxnState::PrepareAbort;
                    m.pending_offsets.clear();
                    m.last_update_ms = now;
                    m.clone()
                })
                .collect()
        };
        for m in timed_out {
            info!(
                transactional_id = m.transactional_id,
                producer_id = m.producer_id,
                epoch = m.producer_epoch,
                partitions = m.partitions.len(),
                timeout_ms = m.timeout_ms,
                "aborting timed-out transaction"
            );
            self.inner.groups.take_txn_offsets(m.producer_id);
            if let Err(e) = self.persist(&**ctx, &m).await {
                warn!(transactional_id = m.transactional_id, error = ?e, "cannot persist the abort of a timed-out transaction; retrying later");
                continue;
            }
            self.complete(ctx, m).await;
        }
    }

    /// Completes transactions left deciding (after a restart, or a failed marker write).
    async fn retry_completions(&self, ctx: &Arc<dyn CoordinatorContext>) {
        let stuck: Vec<TransactionMetadata> = {
            let txns = self.inner.txns.lock();
            let completing = self.inner.completing.lock();
            txns.values()
                .filter(|m| m.state.is_completing() && !completing.contains(&m.transactional_id))
                .cloned()
                .collect()
        };
        for m in stuck {
            info!(
                transactional_id = m.transactional_id,
                state = m.state.name(),
                partitions = m.partitions.len(),
                "completing transaction"
            );
            self.complete(ctx, m).await;
        }
    }

    /// Forgets ids idle past `transactional.id.expiration.ms` (a tombstone in the state log).
    async fn remove_expired(&self, ctx: &dyn CoordinatorContext, now: i64) {
        let expired: Vec<String> = self
            .inner
            .txns
            .lock()
            .values()
            .filter(|m| {
                matches!(
                    m.state,
                    TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort
                ) && now.saturating_sub(m.last_update_ms) > self.inner.cfg.id_expiration_ms
            })
            .map(|m| m.transactional_id.clone())
            .collect();
        for id in expired {
            if self.write_record(ctx, &id, None, true).await.is_ok() {
                info!(transactional_id = id, "expired transactional id removed");
                self.inner.txns.lock().remove(&id);
            }
        }
    }

    /// Writes an id's state to `__transaction_state` and waits until it is durable.
    pub(crate) async fn persist(
        &self,
        ctx: &dyn CoordinatorContext,
        m: &TransactionMetadata,
    ) -> Result<(), ResponseError> {
        self.write_record(
            ctx,
            &m.transactional_id,
            Some(Bytes::from(m.encode())),
            true,
        )
        .await
    }

    /// Writes an id's state without waiting for it to be durable: for a `Complete*` state, which
    /// a crash may lose (the `Prepare*` state before it is completed again at start).
    pub(crate) async fn persist_lazily(
        &self,
        ctx: &dyn CoordinatorContext,
        m: &TransactionMetadata,
    ) -> Result<(), ResponseError> {
        self.write_record(
            ctx,
            &m.transactional_id,
            Some(Bytes::from(m.encode())),
            false,
        )
        .await
    }

    async fn write_record(
        &self,
        ctx: &dyn CoordinatorContext,
        id: &str,
        value: Option<Bytes>,
        durable: bool,
    ) -> Result<(), ResponseError> {
        let log = self.inner.store.ensure(ctx)?;
        let record = [(Bytes::copy_from_slice(id.as_bytes()), value)];
        let last = state_store::append(&*log, &record, crate::now_ms()).map_err(|e| {
            warn!(transactional_id = id, error = %e, "cannot append to {TRANSACTION_STATE_TOPIC}");
            ResponseError::CoordinatorNotAvailable
        })?;
        if !durable {
            return Ok(());
        }
        match ctx.flush(vec![(log, last + 1)]).await {
            Ok(Ok(())) => Ok(()),
            _ => {
                warn!(
                    transactional_id = id,
                    "fsync of {TRANSACTION_STATE_TOPIC} failed"
                );
                Err(ResponseError::CoordinatorNotAvailable)
            }
        }
    }

    /// Waits until everything appended to the state log so far is durable.
    pub(crate) async fn sync_state_log(
        &self,
        ctx: &dyn CoordinatorContext,
    ) -> Result<(), ResponseError> {
        let log = self.inner.store.ensure(ctx)?;
        let end = log.log_end_offset();
        match ctx.flush(vec![(log, end)]).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(ResponseError::CoordinatorNotAvailable),
        }
    }
}
