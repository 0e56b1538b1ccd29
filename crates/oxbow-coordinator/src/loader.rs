//! Loading the group coordinator's state at start: `__consumer_offsets` is replayed in offset
//! order, committed offsets and group records folded into every group's latest state. A group
//! whose KIP-848 state is still in the legacy JSON record is rewritten in Kafka's layout (and its
//! JSON record deleted) before any request is served.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use bytes::Bytes;
use oxbow_storage::StorageError;
use tracing::info;
use uuid::Uuid;

use crate::classic::ClassicGroup;
use crate::consumer_group::ConsumerGroup;
use crate::consumer_group_records::ConsumerGroupParts;
use crate::context::CoordinatorContext;
use crate::store::{self, OffsetEntry, StoreRecord, StoredGroupState, OFFSETS_TOPIC};
use crate::{Group, GroupCoordinator, Protocol};

/// What the replay gathered for one group.
#[derive(Default)]
struct Replayed {
    offsets: BTreeMap<(String, i32), OffsetEntry>,
    /// The latest group-metadata record (key version 2) and its log offset.
    classic: Option<(i64, StoredGroupState)>,
    /// KIP-848 records (key versions 3 to 8) and the log offset of the latest.
    consumer: Option<(i64, ConsumerGroupParts)>,
    /// Live state records, key -> value.
    persisted: BTreeMap<Bytes, Bytes>,
}

impl GroupCoordinator {
    /// Rebuilds every group from `__consumer_offsets`, if it exists (at startup).
    pub fn load(&self, ctx: &dyn CoordinatorContext) -> Result<(), StorageError> {
        let Some(log) = self.inner().store.open_existing(ctx) else {
            return Ok(());
        };
        let started = Instant::now();
        let mut replayed: HashMap<String, Replayed> = HashMap::new();
        let n = store::replay(&*log, |rec, offset, key, value| {
            let remember = |r: &mut Replayed| match value {
                Some(v) => {
                    r.persisted.insert(key.clone(), v.clone());
                }
                None => {
                    r.persisted.remove(key);
                }
            };
            match rec {
                StoreRecord::Offset {
                    group,
                    topic,
                    partition,
                    value,
                } => {
                    let offsets = &mut replayed.entry(group).or_default().offsets;
                    match value {
                        Some(v) => offsets.insert((topic, partition), v),
                        None => offsets.remove(&(topic, partition)),
                    };
                }
                StoreRecord::Group { group, value } => {
                    let r = replayed.entry(group).or_default();
                    remember(r);
                    r.classic = value.map(|v| (offset, v));
                }
                StoreRecord::ConsumerGroup { group, key, value } => {
                    let r = replayed.entry(group).or_default();
                    remember(r);
                    let parts = r
                        .consumer
                        .get_or_insert_with(|| (offset, Default::default()));
                    parts.0 = offset;
                    parts.1.apply(key, value);
                }
            }
        })?;

        let catalog = ctx.topics();
        let names: HashMap<Uuid, String> = catalog
            .topic_names()
            .into_iter()
            .filter_map(|t| catalog.topic_id(&t).map(|id| (id, t)))
            .collect();
        let cfg = &self.inner().cfg;
        let now = Instant::now();
        let mut migrate = Vec::new();
        let mut groups = self.inner().groups.lock();
        for (id, r) in replayed {
            let consumer = r
                .consumer
                .and_then(|(at, parts)| parts.into_stored(&names).map(|st| (at, st)));
            // Whichever protocol's record came last is the group's (a switch deletes the other's
            // records, so normally only one is left).
            let classic = match (r.classic, &consumer) {
                (Some((at, _)), Some((consumer_at, _))) if *consumer_at > at => None,
                (classic, _) => classic.map(|(_, st)| st),
            };
            let restore =
                |st| ConsumerGroup::restore(&id, st, &cfg.consumer_default_assignor, catalog, now);
            let protocol = match (classic, consumer) {
                (Some(StoredGroupState::Classic(g)), _) => {
                    Some(Protocol::Classic(ClassicGroup::restore(&id, g, now)))
                }
                (Some(StoredGroupState::LegacyConsumer(st)), _) => {
                    let mut c = restore(st);
                    c.dirty = true;
                    migrate.push(id.clone());
                    Some(Protocol::Consumer(c))
                }
                (None, Some((_, st))) => Some(Protocol::Consumer(restore(st))),
                (None, None) => None,
            };
            if protocol.is_none() && r.offsets.is_empty() {
                continue;
            }
            let mut group = Group::new_classic(&id);
            if let Some(p) = protocol {
                group.protocol = p;
            }
            group.offsets = r.offsets;
            group.persisted = r.persisted;
            groups.insert(id, group);
        }
        for id in &migrate {
            if let Some(g) = groups.get_mut(id) {
                self.inner().persist_if_dirty(&*log, g);
                info!(
                    group = id,
                    "rewrote KIP-848 group state from the legacy JSON record in Kafka's record layout"
                );
            }
        }
        let now_ms = crate::now_ms();
        for g in groups.values_mut() {
            g.note_emptiness(now_ms);
        }
        info!(
            records = n,
            groups = groups.len(),
            migrated = migrate.len(),
            ms = started.elapsed().as_millis() as u64,
            "loaded group state from {OFFSETS_TOPIC}"
        );
        Ok(())
    }
}
