//! Oxbow's coordinators. This crate owns the group coordinator, the transaction coordinator
//! ([`transaction`]; offsets committed inside transactions are held in [`txn_offsets`]) and the
//! internal-topic state store ([`state_store`]) both persist through; it reaches the broker only
//! through [`context::CoordinatorContext`] (topics, internal topics, producer ids, transaction
//! markers, durability).
//!
//! The group coordinator: consumer groups of both protocols (classic JoinGroup/SyncGroup in
//! [`classic`] and [`classic_sync`]; KIP-848 ConsumerGroupHeartbeat in [`consumer_group`] with the
//! broker-side assignors of [`assignor`]), committed offsets ([`offsets`]) and their persistence
//! in the internal `__consumer_offsets` log ([`store`]), replayed at startup.
//!
//! All groups live behind one lock; waiting requests (JoinGroup, SyncGroup) hold oneshot
//! receivers, answered when the rebalance phase completes. One background task ticks every
//! 50 ms for session, rebalance and initial-delay timeouts, and expires offsets of groups that
//! stayed empty longer than `offsets_retention_minutes`.

pub mod assignor;
pub mod classic;
pub mod classic_rebalance;
pub mod classic_sync;
pub mod consumer_group;
pub mod consumer_group_records;
pub mod context;
pub mod describe;
pub mod group_overrides;
mod loader;
pub mod membership;
pub mod offsets;
pub mod state_store;
pub mod store;
pub mod transaction;
pub mod txn_offsets;
mod wire;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::ResponseError;
use oxbow_config::GroupConfig;
use oxbow_storage::{PartitionLog, TopicPartition};
use parking_lot::Mutex;
use tracing::{info, warn};

use classic::ClassicGroup;
use consumer_group::ConsumerGroup;
use context::CoordinatorContext;
use state_store::InternalTopicStore;
use store::{OffsetEntry, StoreRecord, StoredGroupState, OFFSETS_TOPIC};

/// Which protocol a group speaks.
pub enum Protocol {
    Classic(ClassicGroup),
    Consumer(ConsumerGroup),
}

/// One group: its membership and its committed offsets.
pub struct Group {
    pub id: String,
    pub protocol: Protocol,
    pub offsets: BTreeMap<(String, i32), OffsetEntry>,
    /// Wall-clock ms since the group has had no members (for offsets expiry).
    pub empty_since_ms: Option<i64>,
    /// The group's live state records in `__consumer_offsets` (key -> value), so that a change
    /// writes only what differs and tombstones what is gone.
    persisted: BTreeMap<Bytes, Bytes>,
}

impl Group {
    pub fn new_classic(id: &str) -> Self {
        Group {
            id: id.to_string(),
            protocol: Protocol::Classic(ClassicGroup::new(id)),
            offsets: BTreeMap::new(),
            empty_since_ms: Some(crate::now_ms()),
            persisted: BTreeMap::new(),
        }
    }

    /// Records deleting the group: tombstones for its offsets and every state record it has
    /// (and the group-metadata key, as Kafka writes one whatever protocol the group spoke).
    pub(crate) fn tombstones(&self) -> Vec<(Bytes, Option<Bytes>)> {
        let mut out: Vec<(Bytes, Option<Bytes>)> = self
            .offsets
            .keys()
            .map(|(t, p)| {
                let rec = StoreRecord::Offset {
                    group: self.id.clone(),
                    topic: t.clone(),
                    partition: *p,
                    value: None,
                };
                (rec.key(), None)
            })
            .collect();
        let classic_key = StoreRecord::Group {
            group: self.id.clone(),
            value: None,
        }
        .key();
        out.extend(deletions(
            self.persisted.keys().filter(|k| **k != classic_key),
        ));
        out.push((classic_key, None));
        out
    }
}

/// Tombstones for `keys`, members' records first and a group's own record last (as Kafka
/// orders them: by record type, highest first).
fn deletions<'a>(keys: impl Iterator<Item = &'a Bytes>) -> Vec<(Bytes, Option<Bytes>)> {
    let mut keys: Vec<&Bytes> = keys.collect();
    keys.sort_by_key(|k| std::cmp::Reverse(record_type(k)));
    keys.into_iter().map(|k| (k.clone(), None)).collect()
}

/// A record key's version (its record type).
fn record_type(key: &Bytes) -> i16 {
    match key.get(..2) {
        Some(b) => i16::from_be_bytes([b[0], b[1]]),
        None => -1,
    }
}

impl Group {
    pub fn is_empty(&self) -> bool {
        match &self.protocol {
            Protocol::Classic(c) => c.is_empty(),
            Protocol::Consumer(c) => c.members.is_empty(),
        }
    }

    pub fn state_name(&self) -> &'static str {
        match &self.protocol {
            Protocol::Classic(c) => c.state.name(),
            Protocol::Consumer(c) => c.state_name(),
        }
    }

    /// `consumer` for consumer groups of either protocol, "" for offsets-only groups.
    pub fn protocol_type(&self) -> String {
        match &self.protocol {
            Protocol::Classic(c) => c.protocol_type.clone().unwrap_or_default(),
            Protocol::Consumer(_) => "consumer".into(),
        }
    }

    /// KIP-848 group type: `classic` or `consumer`.
    pub fn group_type(&self) -> &'static str {
        match &self.protocol {
            Protocol::Classic(_) => "classic",
            Protocol::Consumer(_) => "consumer",
        }
    }

    /// Topics active members subscribe to (their offsets cannot be deleted).
    pub fn subscribed_topics(&self) -> Vec<String> {
        match &self.protocol {
            Protocol::Classic(c) => c.subscribed_topics(),
            Protocol::Consumer(c) => c.subscribed_topics(),
        }
    }

    fn note_emptiness(&mut self, now_ms: i64) {
        match (self.is_empty(), self.empty_since_ms) {
            (true, None) => self.empty_since_ms = Some(now_ms),
            (false, Some(_)) => self.empty_since_ms = None,
            _ => {}
        }
    }
}

/// The broker's group coordinator (a cheap handle: clones share it).
#[derive(Clone)]
pub struct GroupCoordinator {
    inner: Arc<Inner>,
}

/// Rebalances completed since start: classic generations and KIP-848 group epochs (the
/// metrics' `group-completed-rebalance-count`).
pub static REBALANCES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

pub(crate) fn count_rebalance() {
    REBALANCES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

pub(crate) struct Inner {
    pub(crate) cfg: GroupConfig,
    pub(crate) groups: Mutex<HashMap<String, Group>>,
    /// `__consumer_offsets`.
    store: InternalTopicStore,
    stopped: AtomicBool,
    /// Offsets committed in open transactions, by producer id ([`txn_offsets`]).
    pub(crate) pending_txn: Mutex<HashMap<i64, Vec<txn_offsets::TxnOffset>>>,
    /// Per-group configs (KIP-848's GROUP resource), set by the broker.
    overrides: parking_lot::RwLock<group_overrides::OverrideTable>,
}

impl GroupCoordinator {
    pub fn new(cfg: GroupConfig) -> Self {
        GroupCoordinator {
            inner: Arc::new(Inner {
                cfg,
                groups: Mutex::new(HashMap::new()),
                store: InternalTopicStore::new(OFFSETS_TOPIC, OFFSETS_TOPIC_CONFIGS),
                stopped: AtomicBool::new(false),
                pending_txn: Mutex::new(HashMap::new()),
                overrides: parking_lot::RwLock::new(HashMap::new()),
            }),
        }
    }

    pub fn config(&self) -> &GroupConfig {
        &self.inner.cfg
    }

    /// Replaces every group's config overrides (the broker's persisted group configs).
    pub fn set_overrides(&self, table: group_overrides::OverrideTable) {
        *self.inner.overrides.write() = table;
    }

    /// The heartbeat interval a KIP-848 member of `group` is told.
    pub fn consumer_heartbeat_interval_ms(&self, group: &str) -> i32 {
        self.inner
            .overrides
            .read()
            .get(group)
            .and_then(|o| o.consumer_heartbeat_interval_ms)
            .unwrap_or(self.inner.cfg.consumer_heartbeat_interval_ms)
    }

    /// The offsets log, creating the internal topic on first use.
    pub fn ensure_ready(
        &self,
        ctx: &dyn CoordinatorContext,
    ) -> Result<Arc<dyn PartitionLog>, ResponseError> {
        self.inner.store.ensure(ctx)
    }

    /// Runs the coordinator's timers (session expiry, rebalance deadlines, offset expiry) until
    /// the service is stopped; then the coordinator stops.
    pub async fn run_timers(&self, mut ctx: oxbow_service::ServiceContext) {
        let expiry_every =
            Duration::from_millis(self.inner.cfg.offsets_retention_check_interval_ms);
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_expiry = Instant::now();
        loop {
            tokio::select! {
                _ = ctx.stopped() => break,
                _ = tick.tick() => {}
            }
            if self.inner.stopped.load(Ordering::Acquire) {
                break;
            }
            // Expiring members and offsets appends to `__consumer_offsets`: off the async threads.
            let expire = last_expiry.elapsed() >= expiry_every;
            if expire {
                last_expiry = Instant::now();
            }
            let inner = self.inner.clone();
            let _ = tokio::task::spawn_blocking(move || {
                inner.tick(Instant::now());
                if expire {
                    inner.expire_offsets(crate::now_ms());
                }
            })
            .await;
        }
        self.shutdown();
    }

    /// Stops the timer task (at broker shutdown).
    pub fn shutdown(&self) {
        self.inner.stopped.store(true, Ordering::Release);
    }

    /// Runs `f` on one group (None if unknown), read-only.
    pub fn read<R>(&self, group_id: &str, f: impl FnOnce(Option<&Group>) -> R) -> R {
        f(self.inner.groups.lock().get(group_id))
    }

    /// Runs `f` over every group, read-only.
    pub fn read_all<R>(&self, f: impl FnOnce(&HashMap<String, Group>) -> R) -> R {
        f(&self.inner.groups.lock())
    }

    /// Runs `f` on the group (created by `create` if missing and `create` is Some), then persists
    /// whatever it changed. Returns None if the group does not exist and was not created.
    pub(crate) fn with_group<R>(
        &self,
        log: &dyn PartitionLog,
        group_id: &str,
        create: Option<fn(&str, &GroupConfig) -> Group>,
        f: impl FnOnce(&mut Group, &GroupConfig) -> R,
    ) -> Option<R> {
        let mut groups = self.inner.groups.lock();
        if !groups.contains_key(group_id) {
            let make = create?;
            groups.insert(group_id.to_string(), make(group_id, &self.inner.cfg));
        }
        let g = groups.get_mut(group_id)?;
        let r = f(g, &self.inner.cfg);
        self.inner.persist_if_dirty(log, g);
        g.note_emptiness(crate::now_ms());
        Some(r)
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    pub(crate) fn inner_arc(&self) -> Arc<Inner> {
        self.inner.clone()
    }
}

impl Inner {
    fn tick(&self, now: Instant) {
        let log = self.store.log();
        let mut groups = self.groups.lock();
        let now_ms = crate::now_ms();
        let overrides = self.overrides.read();
        for g in groups.values_mut() {
            match &mut g.protocol {
                Protocol::Classic(c) => c.tick(&self.cfg, now),
                Protocol::Consumer(c) => {
                    let cfg = overrides
                        .get(&g.id)
                        .map_or(std::borrow::Cow::Borrowed(&self.cfg), |o| {
                            o.apply(&self.cfg)
                        });
                    c.tick(&cfg, now)
                }
            }
            if let Some(log) = &log {
                self.persist_if_dirty(&**log, g);
            }
            g.note_emptiness(now_ms);
        }
    }

    /// Writes a group's state records after a change: only those that differ from what the log
    /// holds, and tombstones for pieces that are gone (a departed member; the other protocol's
    /// records after a switch). Not waited for: group state only spares members a rejoin after a
    /// restart; offsets are what must be durable.
    pub(crate) fn persist_if_dirty(&self, log: &dyn PartitionLog, g: &mut Group) {
        let desired: Vec<(Bytes, Bytes)> = match &mut g.protocol {
            Protocol::Classic(c) if c.dirty => {
                c.dirty = false;
                let rec = StoreRecord::Group {
                    group: g.id.clone(),
                    value: Some(StoredGroupState::Classic(c.to_stored(crate::now_ms()))),
                };
                rec.value().map(|v| (rec.key(), v)).into_iter().collect()
            }
            Protocol::Consumer(c) if c.dirty => {
                c.dirty = false;
                consumer_group_records::records_for(&g.id, &c.to_stored())
            }
            _ => return,
        };
        let wanted: std::collections::HashSet<&Bytes> = desired.iter().map(|(k, _)| k).collect();
        let mut changes = deletions(g.persisted.keys().filter(|k| !wanted.contains(k)));
        for (k, v) in &desired {
            if g.persisted.get(k) != Some(v) {
                changes.push((k.clone(), Some(v.clone())));
            }
        }
        if changes.is_empty() {
            return;
        }
        match store::append_raw(log, &changes, crate::now_ms()) {
            Ok(_) => {
                for (k, v) in changes {
                    match v {
                        Some(v) => g.persisted.insert(k, v),
                        None => g.persisted.remove(&k),
                    };
                }
            }
            Err(e) => warn!(group = g.id, error = %e, "cannot persist group state"),
        }
    }

    /// Removes offsets of groups that have been empty for longer than the retention period.
    fn expire_offsets(&self, now_ms: i64) {
        let Some(log) = self.store.log() else {
            return;
        };
        let retention_ms = (self.cfg.offsets_retention_minutes as i64).saturating_mul(60_000);
        let mut groups = self.groups.lock();
        let mut dead = Vec::new();
        for g in groups.values_mut() {
            let Some(since) = g.empty_since_ms else {
                continue;
            };
            if now_ms - since < retention_ms {
                continue;
            }
            match store::append_raw(&*log, &g.tombstones(), now_ms) {
                Ok(_) => {
                    info!(
                        group = g.id,
                        offsets = g.offsets.len(),
                        "expired offsets of a group empty past offsets_retention_minutes"
                    );
                    dead.push(g.id.clone());
                }
                Err(e) => warn!(group = g.id, error = %e, "cannot write offset expiry tombstones"),
            }
        }
        for id in dead {
            groups.remove(&id);
        }
    }
}

/// `__consumer_offsets` is compacted and kept forever (tombstones delete).
/// The configs `__consumer_offsets` is created with.
pub const OFFSETS_TOPIC_CONFIGS: &[(&str, &str)] = &[
    ("cleanup.policy", "compact"),
    ("retention.ms", "-1"),
    ("segment.bytes", "104857600"),
];

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The partition of `__consumer_offsets` (this broker keeps a single one).
pub fn offsets_partition() -> TopicPartition {
    TopicPartition::new(OFFSETS_TOPIC, 0)
}
