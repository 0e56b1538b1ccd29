//! A KIP-848 consumer group's state in `__consumer_offsets` as Kafka 4.0 lays it out: one record
//! per piece, its key version naming the record type — 3 ConsumerGroupMetadata (group epoch),
//! 4 ConsumerGroupPartitionMetadata (the subscribed topics' ids, names and partition counts),
//! 5 ConsumerGroupMemberMetadata (one per member), 6 ConsumerGroupTargetAssignmentMetadata
//! (assignment epoch), 7 ConsumerGroupTargetAssignmentMember (one per member) and
//! 8 ConsumerGroupCurrentMemberAssignment (one per member). Keys are classic structs (group id,
//! and member id for 5, 7 and 8); values are value version 0 of flexible structs, partitions
//! named by topic id. A tombstone deletes one piece; a tombstone of record 3 deletes the group.
//!
//! [`records_for`] turns a group's state into these records; [`ConsumerGroupParts`] gathers them
//! back during replay.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bytes::{BufMut, Bytes, BytesMut};
use uuid::Uuid;

use serde::{Deserialize, Serialize};

use crate::assignor::{subtract, Assignment};
use crate::wire::*;

/// A KIP-848 member as persisted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredConsumerMember {
    pub id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub epoch: i32,
    pub previous_epoch: i32,
    pub subscribed: Vec<String>,
    pub regex: Option<String>,
    pub matched: Vec<String>,
    pub server_assignor: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub assigned: Assignment,
    pub revoking: Assignment,
    pub departed: bool,
}

/// A KIP-848 consumer group's state: epochs, target assignment and members.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredConsumerGroup {
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    pub assignor: String,
    pub target: BTreeMap<String, Assignment>,
    pub topic_counts: BTreeMap<String, i32>,
    pub members: Vec<StoredConsumerMember>,
    /// Ids of the topics the state names (Kafka's records name partitions by topic id).
    #[serde(skip)]
    pub topic_ids: BTreeMap<String, Uuid>,
}

/// Key versions (record types) of the consumer group records.
pub const GROUP_METADATA: i16 = 3;
pub const PARTITION_METADATA: i16 = 4;
pub const MEMBER_METADATA: i16 = 5;
pub const TARGET_ASSIGNMENT_METADATA: i16 = 6;
pub const TARGET_ASSIGNMENT_MEMBER: i16 = 7;
pub const CURRENT_MEMBER_ASSIGNMENT: i16 = 8;

/// The epoch a static member that left temporarily is recorded with (Kafka's
/// LEAVE_GROUP_STATIC_MEMBER_EPOCH).
const STATIC_MEMBER_LEFT_EPOCH: i32 = -2;

/// Kafka's MemberState values.
const STABLE: i8 = 0;
const UNREVOKED_PARTITIONS: i8 = 1;
const UNRELEASED_PARTITIONS: i8 = 2;

/// Which piece of a group a record holds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConsumerGroupKey {
    Metadata,
    PartitionMetadata,
    MemberMetadata(String),
    TargetAssignmentMetadata,
    TargetAssignmentMember(String),
    CurrentMemberAssignment(String),
}

/// Partitions by topic id.
pub type TopicPartitions = Vec<(Uuid, Vec<i32>)>;

#[derive(Debug, Clone, PartialEq)]
pub struct TopicMetadata {
    pub id: Uuid,
    pub name: String,
    pub partitions: i32,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct MemberMetadata {
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub subscribed: Vec<String>,
    pub regex: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub server_assignor: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CurrentAssignment {
    pub epoch: i32,
    pub previous_epoch: i32,
    pub state: i8,
    /// Owned partitions, not counting those pending revocation.
    pub assigned: TopicPartitions,
    pub revoking: TopicPartitions,
}

/// What one record's value says.
#[derive(Debug, Clone, PartialEq)]
pub enum ConsumerGroupValue {
    Metadata {
        epoch: i32,
    },
    PartitionMetadata {
        epoch: i32,
        topics: Vec<TopicMetadata>,
    },
    MemberMetadata(MemberMetadata),
    TargetAssignmentMetadata {
        assignment_epoch: i32,
    },
    TargetAssignmentMember(TopicPartitions),
    CurrentMemberAssignment(CurrentAssignment),
}

impl ConsumerGroupKey {
    pub fn encode(&self, group: &str) -> Bytes {
        let mut b = BytesMut::new();
        let (version, member) = match self {
            ConsumerGroupKey::Metadata => (GROUP_METADATA, None),
            ConsumerGroupKey::PartitionMetadata => (PARTITION_METADATA, None),
            ConsumerGroupKey::MemberMetadata(m) => (MEMBER_METADATA, Some(m)),
            ConsumerGroupKey::TargetAssignmentMetadata => (TARGET_ASSIGNMENT_METADATA, None),
            ConsumerGroupKey::TargetAssignmentMember(m) => (TARGET_ASSIGNMENT_MEMBER, Some(m)),
            ConsumerGroupKey::CurrentMemberAssignment(m) => (CURRENT_MEMBER_ASSIGNMENT, Some(m)),
        };
        b.put_i16(version);
        put_str(&mut b, group);
        if let Some(m) = member {
            put_str(&mut b, m);
        }
        b.freeze()
    }

    /// Parses the rest of a key whose version (`record_type`) was already read: the group id
    /// and the piece; None for other record types or truncated keys.
    pub fn parse(record_type: i16, key: &mut Bytes) -> Option<(String, ConsumerGroupKey)> {
        let group = get_str(key)?;
        let k = match record_type {
            GROUP_METADATA => ConsumerGroupKey::Metadata,
            PARTITION_METADATA => ConsumerGroupKey::PartitionMetadata,
            MEMBER_METADATA => ConsumerGroupKey::MemberMetadata(get_str(key)?),
            TARGET_ASSIGNMENT_METADATA => ConsumerGroupKey::TargetAssignmentMetadata,
            TARGET_ASSIGNMENT_MEMBER => ConsumerGroupKey::TargetAssignmentMember(get_str(key)?),
            CURRENT_MEMBER_ASSIGNMENT => ConsumerGroupKey::CurrentMemberAssignment(get_str(key)?),
            _ => return None,
        };
        Some((group, k))
    }

    /// Parses a value of this key's record type (value version 0; unknown tagged fields skipped).
    pub fn parse_value(&self, mut v: Bytes) -> Option<ConsumerGroupValue> {
        let _version = get_i16(&mut v)?;
        let b = &mut v;
        let value = match self {
            ConsumerGroupKey::Metadata => {
                let epoch = get_i32(b)?;
                ConsumerGroupValue::Metadata { epoch }
            }
            ConsumerGroupKey::PartitionMetadata => {
                let epoch = get_i32(b)?;
                let n = get_compact_len(b, 16 + 1 + 4 + 1 + 1)?;
                let mut topics = Vec::with_capacity(n);
                for _ in 0..n {
                    let id = get_uuid(b)?;
                    let name = get_compact_str(b)?;
                    let partitions = get_i32(b)?;
                    let racks = get_compact_len(b, 4 + 1 + 1)?;
                    for _ in 0..racks {
                        get_i32(b)?;
                        let r = get_compact_len(b, 1)?;
                        for _ in 0..r {
                            get_compact_str(b)?;
                        }
                        skip_tags(b)?;
                    }
                    skip_tags(b)?;
                    topics.push(TopicMetadata {
                        id,
                        name,
                        partitions,
                    });
                }
                ConsumerGroupValue::PartitionMetadata { epoch, topics }
            }
            ConsumerGroupKey::MemberMetadata(_) => {
                let instance_id = get_compact_nstr(b)?;
                let rack_id = get_compact_nstr(b)?;
                let client_id = get_compact_str(b)?;
                let client_host = get_compact_str(b)?;
                let n = get_compact_len(b, 1)?;
                let mut subscribed = Vec::with_capacity(n);
                for _ in 0..n {
                    subscribed.push(get_compact_str(b)?);
                }
                let regex = get_compact_nstr(b)?;
                let rebalance_timeout_ms = get_i32(b)?;
                let server_assignor = get_compact_nstr(b)?;
                ConsumerGroupValue::MemberMetadata(MemberMetadata {
                    instance_id,
                    rack_id,
                    client_id,
                    client_host,
                    subscribed,
                    regex,
                    rebalance_timeout_ms,
                    server_assignor,
                })
            }
            ConsumerGroupKey::TargetAssignmentMetadata => {
                let assignment_epoch = get_i32(b)?;
                ConsumerGroupValue::TargetAssignmentMetadata { assignment_epoch }
            }
            ConsumerGroupKey::TargetAssignmentMember(_) => {
                ConsumerGroupValue::TargetAssignmentMember(get_topic_partitions(b)?)
            }
            ConsumerGroupKey::CurrentMemberAssignment(_) => {
                let epoch = get_i32(b)?;
                let previous_epoch = get_i32(b)?;
                let state = get_i8(b)?;
                let assigned = get_topic_partitions(b)?;
                let revoking = get_topic_partitions(b)?;
                ConsumerGroupValue::CurrentMemberAssignment(CurrentAssignment {
                    epoch,
                    previous_epoch,
                    state,
                    assigned,
                    revoking,
                })
            }
        };
        skip_tags(b)?;
        Some(value)
    }
}

impl ConsumerGroupValue {
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::new();
        b.put_i16(0);
        match self {
            ConsumerGroupValue::Metadata { epoch } => b.put_i32(*epoch),
            ConsumerGroupValue::PartitionMetadata { epoch, topics } => {
                b.put_i32(*epoch);
                put_compact_len(&mut b, topics.len());
                for t in topics {
                    put_uuid(&mut b, &t.id);
                    put_compact_str(&mut b, &t.name);
                    b.put_i32(t.partitions);
                    put_compact_len(&mut b, 0); // partition racks: none known
                    put_no_tags(&mut b);
                }
            }
            ConsumerGroupValue::MemberMetadata(m) => {
                put_compact_nstr(&mut b, m.instance_id.as_deref());
                put_compact_nstr(&mut b, m.rack_id.as_deref());
                put_compact_str(&mut b, &m.client_id);
                put_compact_str(&mut b, &m.client_host);
                put_compact_len(&mut b, m.subscribed.len());
                for t in &m.subscribed {
                    put_compact_str(&mut b, t);
                }
                put_compact_nstr(&mut b, m.regex.as_deref());
                b.put_i32(m.rebalance_timeout_ms);
                put_compact_nstr(&mut b, m.server_assignor.as_deref());
            }
            ConsumerGroupValue::TargetAssignmentMetadata { assignment_epoch } => {
                b.put_i32(*assignment_epoch)
            }
            ConsumerGroupValue::TargetAssignmentMember(tps) => put_topic_partitions(&mut b, tps),
            ConsumerGroupValue::CurrentMemberAssignment(c) => {
                b.put_i32(c.epoch);
                b.put_i32(c.previous_epoch);
                b.put_i8(c.state);
                put_topic_partitions(&mut b, &c.assigned);
                put_topic_partitions(&mut b, &c.revoking);
            }
        }
        put_no_tags(&mut b);
        b.freeze()
    }
}

fn put_topic_partitions(b: &mut BytesMut, tps: &TopicPartitions) {
    put_compact_len(b, tps.len());
    for (id, partitions) in tps {
        put_uuid(b, id);
        put_compact_len(b, partitions.len());
        for p in partitions {
            b.put_i32(*p);
        }
        put_no_tags(b);
    }
}

fn get_topic_partitions(b: &mut Bytes) -> Option<TopicPartitions> {
    let n = get_compact_len(b, 16 + 1 + 1)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let id = get_uuid(b)?;
        let m = get_compact_len(b, 4)?;
        let mut partitions = Vec::with_capacity(m);
        for _ in 0..m {
            partitions.push(get_i32(b)?);
        }
        skip_tags(b)?;
        out.push((id, partitions));
    }
    Some(out)
}

/// A group's state as its records (key, value), in the order Kafka writes them: member
/// metadata, partition metadata, group epoch, target assignment, current assignments.
/// Partitions of topics without a known id (deleted since) are left out.
pub fn records_for(group: &str, st: &StoredConsumerGroup) -> Vec<(Bytes, Bytes)> {
    let ids = &st.topic_ids;
    let by_id = |a: &Assignment| -> TopicPartitions {
        a.iter()
            .filter(|(_, ps)| !ps.is_empty())
            .filter_map(|(t, ps)| ids.get(t).map(|id| (*id, ps.iter().copied().collect())))
            .collect()
    };
    let mut out = Vec::new();
    let mut push = |key: ConsumerGroupKey, value: ConsumerGroupValue| {
        out.push((key.encode(group), value.encode()));
    };
    for m in &st.members {
        push(
            ConsumerGroupKey::MemberMetadata(m.id.clone()),
            ConsumerGroupValue::MemberMetadata(MemberMetadata {
                instance_id: m.instance_id.clone(),
                rack_id: m.rack_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                subscribed: m.subscribed.clone(),
                regex: m.regex.clone(),
                rebalance_timeout_ms: m.rebalance_timeout_ms,
                server_assignor: m.server_assignor.clone(),
            }),
        );
    }
    let topics = st
        .topic_counts
        .iter()
        .filter_map(|(name, &partitions)| {
            ids.get(name).map(|id| TopicMetadata {
                id: *id,
                name: name.clone(),
                partitions,
            })
        })
        .collect();
    push(
        ConsumerGroupKey::PartitionMetadata,
        ConsumerGroupValue::PartitionMetadata {
            epoch: st.group_epoch,
            topics,
        },
    );
    push(
        ConsumerGroupKey::Metadata,
        ConsumerGroupValue::Metadata {
            epoch: st.group_epoch,
        },
    );
    for (member, target) in &st.target {
        push(
            ConsumerGroupKey::TargetAssignmentMember(member.clone()),
            ConsumerGroupValue::TargetAssignmentMember(by_id(target)),
        );
    }
    push(
        ConsumerGroupKey::TargetAssignmentMetadata,
        ConsumerGroupValue::TargetAssignmentMetadata {
            assignment_epoch: st.assignment_epoch,
        },
    );
    for m in &st.members {
        let owned = subtract(&m.assigned, &m.revoking);
        let state = if !m.revoking.is_empty() {
            UNREVOKED_PARTITIONS
        } else if st.target.get(&m.id).is_some_and(|t| *t != owned) {
            UNRELEASED_PARTITIONS
        } else {
            STABLE
        };
        let (epoch, previous_epoch) = if m.departed {
            (STATIC_MEMBER_LEFT_EPOCH, m.epoch)
        } else {
            (m.epoch, m.previous_epoch)
        };
        push(
            ConsumerGroupKey::CurrentMemberAssignment(m.id.clone()),
            ConsumerGroupValue::CurrentMemberAssignment(CurrentAssignment {
                epoch,
                previous_epoch,
                state,
                assigned: by_id(&owned),
                revoking: by_id(&m.revoking),
            }),
        );
    }
    out
}

/// A group's records gathered during replay, latest value per piece.
#[derive(Debug, Default)]
pub struct ConsumerGroupParts {
    epoch: Option<i32>,
    topics: Vec<TopicMetadata>,
    assignment_epoch: i32,
    members: BTreeMap<String, MemberMetadata>,
    targets: BTreeMap<String, TopicPartitions>,
    current: BTreeMap<String, CurrentAssignment>,
}

impl ConsumerGroupParts {
    /// Applies one record (None: a tombstone). A tombstone of the group metadata deletes the group.
    pub fn apply(&mut self, key: ConsumerGroupKey, value: Option<ConsumerGroupValue>) {
        use ConsumerGroupKey as K;
        use ConsumerGroupValue as V;
        match (key, value) {
            (K::Metadata, Some(V::Metadata { epoch })) => self.epoch = Some(epoch),
            (K::Metadata, None) => *self = ConsumerGroupParts::default(),
            (K::PartitionMetadata, Some(V::PartitionMetadata { topics, .. })) => {
                self.topics = topics
            }
            (K::PartitionMetadata, None) => self.topics.clear(),
            (
                K::TargetAssignmentMetadata,
                Some(V::TargetAssignmentMetadata { assignment_epoch }),
            ) => self.assignment_epoch = assignment_epoch,
            (K::TargetAssignmentMetadata, None) => self.assignment_epoch = 0,
            (K::MemberMetadata(m), Some(V::MemberMetadata(meta))) => {
                self.members.insert(m, meta);
            }
            (K::MemberMetadata(m), None) => {
                self.members.remove(&m);
            }
            (K::TargetAssignmentMember(m), Some(V::TargetAssignmentMember(tps))) => {
                self.targets.insert(m, tps);
            }
            (K::TargetAssignmentMember(m), None) => {
                self.targets.remove(&m);
            }
            (K::CurrentMemberAssignment(m), Some(V::CurrentMemberAssignment(c))) => {
                self.current.insert(m, c);
            }
            (K::CurrentMemberAssignment(m), None) => {
                self.current.remove(&m);
            }
            _ => {} // a value of another record type: cannot come from the parser
        }
    }

    /// The group's state, or None if its group metadata record is missing (deleted).
    /// `names` resolves topic ids the partition metadata does not name (the broker's topics);
    /// partitions of unknown topics are dropped.
    pub fn into_stored(self, names: &HashMap<Uuid, String>) -> Option<StoredConsumerGroup> {
        let group_epoch = self.epoch?;
        let mut topic_ids: BTreeMap<String, Uuid> = BTreeMap::new();
        let mut id_names: HashMap<Uuid, String> = names.clone();
        for t in &self.topics {
            id_names.insert(t.id, t.name.clone());
        }
        let mut by_name = |tps: &TopicPartitions| -> Assignment {
            let mut a = Assignment::new();
            for (id, ps) in tps {
                if let Some(name) = id_names.get(id) {
                    topic_ids.insert(name.clone(), *id);
                    let set: BTreeSet<i32> = ps.iter().copied().collect();
                    a.entry(name.clone()).or_default().extend(set);
                }
            }
            a
        };
        let target: BTreeMap<String, Assignment> = self
            .targets
            .iter()
            .map(|(m, tps)| (m.clone(), by_name(tps)))
            .collect();
        let mut members = Vec::new();
        for (id, meta) in self.members {
            let (epoch, previous_epoch, departed, owned, revoking) = match self.current.get(&id) {
                Some(c) => {
                    let departed = c.epoch == STATIC_MEMBER_LEFT_EPOCH;
                    let epoch = if departed { c.previous_epoch } else { c.epoch };
                    let assigned = by_name(&c.assigned);
                    (
                        epoch,
                        c.previous_epoch,
                        departed,
                        assigned,
                        by_name(&c.revoking),
                    )
                }
                None => (0, 0, false, Assignment::new(), Assignment::new()),
            };
            let mut assigned = owned;
            for (t, ps) in &revoking {
                assigned.entry(t.clone()).or_default().extend(ps);
            }
            members.push(StoredConsumerMember {
                id,
                instance_id: meta.instance_id,
                rack_id: meta.rack_id,
                client_id: meta.client_id,
                client_host: meta.client_host,
                epoch,
                previous_epoch,
                subscribed: meta.subscribed,
                regex: meta.regex,
                matched: Vec::new(),
                server_assignor: meta.server_assignor,
                rebalance_timeout_ms: meta.rebalance_timeout_ms,
                assigned,
                revoking,
                departed,
            });
        }
        let assignor = members
            .iter()
            .find_map(|m| m.server_assignor.clone())
            .unwrap_or_default();
        for t in &self.topics {
            topic_ids.insert(t.name.clone(), t.id);
        }
        Some(StoredConsumerGroup {
            group_epoch,
            assignment_epoch: self.assignment_epoch,
            assignor,
            target,
            topic_counts: self
                .topics
                .iter()
                .map(|t| (t.name.clone(), t.partitions))
                .collect(),
            members,
            topic_ids,
        })
    }
}

#[cfg(test)]
#[path = "consumer_group_records_tests.rs"]
mod tests;
