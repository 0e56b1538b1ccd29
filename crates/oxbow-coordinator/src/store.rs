//! Persistence of group state in the internal `__consumer_offsets` log, laid out as Kafka lays it
//! out: every record's key says what it is (offset commit: key version 1 with group, topic and
//! partition; group metadata: key version 2 with the group), the value holds the latest state and
//! a null value (tombstone) deletes it, so a compacted log keeps exactly the live state. The log is
//! replayed at startup to rebuild every group. A KIP-848 consumer group's state is kept in
//! Kafka 4.0's records, key versions 3 to 8 ([`crate::consumer_group_records`]). Oxbow before
//! those stored it as JSON under the group-metadata key (value version 100): such records are
//! still read, and rewritten in Kafka's layout at start.

use bytes::{BufMut, Bytes, BytesMut};
use oxbow_storage::{PartitionLog, StorageError};

use crate::consumer_group_records::{ConsumerGroupKey, ConsumerGroupValue, StoredConsumerGroup};
use crate::state_store;
use crate::wire::*;

/// The internal topic holding committed offsets and group metadata.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// One committed offset.
#[derive(Debug, Clone, PartialEq)]
pub struct OffsetEntry {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
    /// Offset of the record in the offsets log that carried this commit (orders concurrent commits).
    pub log_offset: i64,
}

/// A member as persisted in a classic group's metadata record.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub subscription: Bytes,
    pub assignment: Bytes,
}

/// A classic group's state after a completed rebalance.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredGroup {
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub state_timestamp: i64,
    pub members: Vec<StoredMember>,
}

/// What a group-metadata record (key version 2) holds.
#[derive(Debug, Clone, PartialEq)]
pub enum StoredGroupState {
    Classic(StoredGroup),
    /// A KIP-848 group's state as JSON (value version 100), as Oxbow wrote it before Kafka's
    /// layouts; read to migrate, never written by the coordinator.
    LegacyConsumer(StoredConsumerGroup),
}

/// Value version of the legacy JSON consumer group state.
const LEGACY_CONSUMER_GROUP_VALUE_VERSION: i16 = 100;

/// What one record of the offsets log says.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreRecord {
    Offset {
        group: String,
        topic: String,
        partition: i32,
        value: Option<OffsetEntry>,
    },
    Group {
        group: String,
        value: Option<StoredGroupState>,
    },
    /// One piece of a KIP-848 group (key versions 3 to 8).
    ConsumerGroup {
        group: String,
        key: ConsumerGroupKey,
        value: Option<ConsumerGroupValue>,
    },
}

impl StoreRecord {
    pub fn key(&self) -> Bytes {
        let mut b = BytesMut::new();
        match self {
            StoreRecord::Offset {
                group,
                topic,
                partition,
                ..
            } => {
                b.put_i16(1);
                put_str(&mut b, group);
                put_str(&mut b, topic);
                b.put_i32(*partition);
            }
            StoreRecord::Group { group, .. } => {
                b.put_i16(2);
                put_str(&mut b, group);
            }
            StoreRecord::ConsumerGroup { group, key, .. } => return key.encode(group),
        }
        b.freeze()
    }

    pub fn value(&self) -> Option<Bytes> {
        let mut b = BytesMut::new();
        match self {
            StoreRecord::ConsumerGroup { value, .. } => return value.as_ref().map(|v| v.encode()),
            StoreRecord::Offset { value: Some(v), .. } => {
                b.put_i16(3);
                b.put_i64(v.offset);
                b.put_i32(v.leader_epoch);
                put_str(&mut b, &v.metadata);
                b.put_i64(v.commit_timestamp);
            }
            StoreRecord::Group {
                value: Some(StoredGroupState::LegacyConsumer(g)),
                ..
            } => {
                b.put_i16(LEGACY_CONSUMER_GROUP_VALUE_VERSION);
                // Serialising plain maps, strings and integers cannot fail.
                let json = serde_json::to_vec(g).unwrap_or_default();
                b.put_slice(&json);
            }
            StoreRecord::Group {
                value: Some(StoredGroupState::Classic(g)),
                ..
            } => {
                b.put_i16(3);
                put_str(&mut b, &g.protocol_type);
                b.put_i32(g.generation);
                put_nstr(&mut b, g.protocol.as_deref());
                put_nstr(&mut b, g.leader.as_deref());
                b.put_i64(g.state_timestamp);
                b.put_i32(g.members.len() as i32);
                for m in &g.members {
                    put_str(&mut b, &m.member_id);
                    put_nstr(&mut b, m.instance_id.as_deref());
                    put_str(&mut b, &m.client_id);
                    put_str(&mut b, &m.client_host);
                    b.put_i32(m.rebalance_timeout_ms);
                    b.put_i32(m.session_timeout_ms);
                    put_bytes(&mut b, &m.subscription);
                    put_bytes(&mut b, &m.assignment);
                }
            }
            _ => return None,
        }
        Some(b.freeze())
    }

    /// Parses a record; None for keys of unknown versions or truncated data.
    pub fn parse(mut key: Bytes, value: Option<Bytes>, log_offset: i64) -> Option<StoreRecord> {
        let version = get_i16(&mut key)?;
        match version {
            0 | 1 => {
                let group = get_str(&mut key)?;
                let topic = get_str(&mut key)?;
                let partition = get_i32(&mut key)?;
                let value = match value {
                    None => None,
                    Some(mut v) => {
                        let _version = get_i16(&mut v)?;
                        let offset = get_i64(&mut v)?;
                        let leader_epoch = get_i32(&mut v)?;
                        let metadata = get_str(&mut v)?;
                        let commit_timestamp = get_i64(&mut v)?;
                        Some(OffsetEntry {
                            offset,
                            leader_epoch,
                            metadata,
                            commit_timestamp,
                            log_offset,
                        })
                    }
                };
                Some(StoreRecord::Offset {
                    group,
                    topic,
                    partition,
                    value,
                })
            }
            2 => {
                let group = get_str(&mut key)?;
                let value = match value {
                    None => None,
                    Some(v) => Some(parse_group(v)?),
                };
                Some(StoreRecord::Group { group, value })
            }
            _ => {
                let (group, key) = ConsumerGroupKey::parse(version, &mut key)?;
                let value = match value {
                    None => None,
                    Some(v) => Some(key.parse_value(v)?),
                };
                Some(StoreRecord::ConsumerGroup { group, key, value })
            }
        }
    }
}

fn parse_group(mut v: Bytes) -> Option<StoredGroupState> {
    let version = get_i16(&mut v)?;
    if version == LEGACY_CONSUMER_GROUP_VALUE_VERSION {
        return serde_json::from_slice(&v)
            .ok()
            .map(StoredGroupState::LegacyConsumer);
    }
    let protocol_type = get_str(&mut v)?;
    let generation = get_i32(&mut v)?;
    let protocol = get_nstr(&mut v)?;
    let leader = get_nstr(&mut v)?;
    let state_timestamp = get_i64(&mut v)?;
    let n = get_i32(&mut v)?;
    let mut members = Vec::new();
    for _ in 0..n.max(0) {
        members.push(StoredMember {
            member_id: get_str(&mut v)?,
            instance_id: get_nstr(&mut v)?,
            client_id: get_str(&mut v)?,
            client_host: get_str(&mut v)?,
            rebalance_timeout_ms: get_i32(&mut v)?,
            session_timeout_ms: get_i32(&mut v)?,
            subscription: get_bytes(&mut v)?,
            assignment: get_bytes(&mut v)?,
        });
    }
    Some(StoredGroupState::Classic(StoredGroup {
        protocol_type,
        generation,
        protocol,
        leader,
        state_timestamp,
        members,
    }))
}

/// Encodes records as one v2 batch (offsets are assigned by the log).
pub fn encode_batch(records: &[StoreRecord], now_ms: i64) -> Result<Bytes, String> {
    state_store::encode_batch(&key_values(records), now_ms)
}

fn key_values(records: &[StoreRecord]) -> Vec<(Bytes, Option<Bytes>)> {
    records.iter().map(|r| (r.key(), r.value())).collect()
}

/// Appends records to the offsets log; returns the offset of the last one.
pub fn append(
    log: &dyn PartitionLog,
    records: &[StoreRecord],
    now_ms: i64,
) -> Result<i64, StorageError> {
    state_store::append(log, &key_values(records), now_ms)
}

/// Appends already encoded key/value records; returns the offset of the last one.
pub fn append_raw(
    log: &dyn PartitionLog,
    records: &[(Bytes, Option<Bytes>)],
    now_ms: i64,
) -> Result<i64, StorageError> {
    state_store::append(log, records, now_ms)
}

/// Reads the whole log, calling `visit(record, offset, key, value)` for every record it
/// understands, in offset order (the raw key and value let the caller remember what is live).
pub fn replay(
    log: &dyn PartitionLog,
    mut visit: impl FnMut(StoreRecord, i64, &Bytes, Option<&Bytes>),
) -> Result<usize, StorageError> {
    state_store::replay(log, |offset, key, value| {
        match StoreRecord::parse(key.clone(), value.clone(), offset) {
            Some(rec) => {
                visit(rec, offset, &key, value.as_ref());
                true
            }
            None => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::assignor::Assignment;
    use crate::consumer_group_records::StoredConsumerMember;

    #[test]
    fn given_offset_and_group_records_when_encoded_should_parse_back() {
        let off = StoreRecord::Offset {
            group: "g".into(),
            topic: "t".into(),
            partition: 3,
            value: Some(OffsetEntry {
                offset: 42,
                leader_epoch: -1,
                metadata: "m".into(),
                commit_timestamp: 7,
                log_offset: 9,
            }),
        };
        let grp = StoreRecord::Group {
            group: "g".into(),
            value: Some(StoredGroupState::Classic(StoredGroup {
                protocol_type: "consumer".into(),
                generation: 4,
                protocol: Some("range".into()),
                leader: Some("a".into()),
                state_timestamp: 1,
                members: vec![StoredMember {
                    member_id: "a".into(),
                    instance_id: None,
                    client_id: "c".into(),
                    client_host: "/127.0.0.1".into(),
                    rebalance_timeout_ms: 1,
                    session_timeout_ms: 2,
                    subscription: Bytes::from_static(b"sub"),
                    assignment: Bytes::from_static(b"asg"),
                }],
            })),
        };
        assert_eq!(StoreRecord::parse(off.key(), off.value(), 9), Some(off));
        assert_eq!(StoreRecord::parse(grp.key(), grp.value(), 0), Some(grp));
        let tomb = StoreRecord::Group {
            group: "g".into(),
            value: None,
        };
        assert_eq!(tomb.value(), None);
        assert_eq!(StoreRecord::parse(tomb.key(), None, 0), Some(tomb));
    }

    #[test]
    fn given_legacy_json_consumer_group_state_when_parsed_should_read_back() {
        let assigned: Assignment = [("t".to_string(), [0, 2].into_iter().collect())].into();
        let grp = StoreRecord::Group {
            group: "g".into(),
            value: Some(StoredGroupState::LegacyConsumer(StoredConsumerGroup {
                group_epoch: 5,
                assignment_epoch: 5,
                assignor: "uniform".into(),
                target: [("m".to_string(), assigned.clone())].into(),
                topic_counts: [("t".to_string(), 3)].into(),
                members: vec![StoredConsumerMember {
                    id: "m".into(),
                    instance_id: Some("i".into()),
                    rack_id: None,
                    client_id: "c".into(),
                    client_host: "/127.0.0.1".into(),
                    epoch: 5,
                    previous_epoch: 4,
                    subscribed: vec!["t".into()],
                    regex: None,
                    matched: vec![],
                    server_assignor: None,
                    rebalance_timeout_ms: 300_000,
                    assigned,
                    revoking: Assignment::new(),
                    departed: false,
                }],
                topic_ids: BTreeMap::new(),
            })),
        };
        assert_eq!(StoreRecord::parse(grp.key(), grp.value(), 0), Some(grp));
    }

    #[test]
    fn given_truncated_value_when_parsed_should_return_none() {
        let off = StoreRecord::Offset {
            group: "g".into(),
            topic: "t".into(),
            partition: 0,
            value: None,
        };
        assert!(StoreRecord::parse(off.key(), Some(Bytes::from_static(&[0, 3, 1])), 0).is_none());
        assert!(StoreRecord::parse(Bytes::from_static(&[0]), None, 0).is_none());
    }
}
