//! Kafka 4.0's consumer group records: byte layouts checked by hand against the schemas, and a
//! group's state through its records and back.

use super::*;
use crate::store::StoreRecord;

fn uuid(n: u8) -> Uuid {
    Uuid::from_bytes([n; 16])
}

fn assignment(topic: &str, partitions: &[i32]) -> Assignment {
    [(topic.to_string(), partitions.iter().copied().collect())].into()
}

fn member(id: &str) -> StoredConsumerMember {
    StoredConsumerMember {
        id: id.into(),
        instance_id: None,
        rack_id: None,
        client_id: format!("client-{id}"),
        client_host: "/127.0.0.1".into(),
        epoch: 4,
        previous_epoch: 3,
        subscribed: vec!["orders".into()],
        regex: None,
        matched: vec![],
        server_assignor: None,
        rebalance_timeout_ms: 300_000,
        assigned: Assignment::new(),
        revoking: Assignment::new(),
        departed: false,
    }
}

fn group() -> StoredConsumerGroup {
    let mut a = member("a");
    a.assigned = assignment("orders", &[0, 1, 2]);
    a.revoking = assignment("orders", &[2]);
    let mut b = member("b");
    b.instance_id = Some("static-b".into());
    b.server_assignor = Some("range".into());
    b.assigned = assignment("orders", &[3]);
    b.departed = true;
    // A departed static member is recorded with epoch -2 and its epoch as the previous one
    // (as Kafka does), so its own previous epoch is not kept.
    b.previous_epoch = b.epoch;
    StoredConsumerGroup {
        group_epoch: 4,
        assignment_epoch: 4,
        assignor: "range".into(),
        target: [
            ("a".to_string(), assignment("orders", &[0, 1])),
            ("b".to_string(), assignment("orders", &[2, 3])),
        ]
        .into(),
        topic_counts: [("orders".to_string(), 4)].into(),
        members: vec![a, b],
        topic_ids: [("orders".to_string(), uuid(7))].into(),
    }
}

fn replay(records: &[(Bytes, Option<Bytes>)]) -> ConsumerGroupParts {
    let mut parts = ConsumerGroupParts::default();
    for (k, v) in records {
        match StoreRecord::parse(k.clone(), v.clone(), 0) {
            Some(StoreRecord::ConsumerGroup { group, key, value }) => {
                assert_eq!(group, "g");
                parts.apply(key, value);
            }
            other => panic!("not a consumer group record: {other:?}"),
        }
    }
    parts
}

#[test]
fn given_group_state_when_written_as_kafka_records_should_replay_to_the_same_state() {
    let st = group();
    let records: Vec<(Bytes, Option<Bytes>)> = records_for("g", &st)
        .into_iter()
        .map(|(k, v)| (k, Some(v)))
        .collect();
    let types: Vec<i16> = records
        .iter()
        .map(|(k, _)| i16::from_be_bytes([k[0], k[1]]))
        .collect();
    assert_eq!(types, vec![5, 5, 4, 3, 7, 7, 6, 8, 8]);
    let back = replay(&records)
        .into_stored(&HashMap::new())
        .expect("group metadata present");
    assert_eq!(back, st);
}

#[test]
fn given_member_tombstones_when_replayed_should_drop_the_member_and_group_tombstone_the_group() {
    let st = group();
    let mut records: Vec<(Bytes, Option<Bytes>)> = records_for("g", &st)
        .into_iter()
        .map(|(k, v)| (k, Some(v)))
        .collect();
    for key in [
        ConsumerGroupKey::CurrentMemberAssignment("b".into()),
        ConsumerGroupKey::TargetAssignmentMember("b".into()),
        ConsumerGroupKey::MemberMetadata("b".into()),
    ] {
        records.push((key.encode("g"), None));
    }
    let back = replay(&records).into_stored(&HashMap::new()).unwrap();
    assert_eq!(back.members.len(), 1);
    assert_eq!(back.members[0].id, "a");
    assert!(!back.target.contains_key("b"));
    records.push((ConsumerGroupKey::Metadata.encode("g"), None));
    assert!(replay(&records).into_stored(&HashMap::new()).is_none());
}

#[test]
fn given_current_assignment_bytes_laid_out_by_the_schema_when_parsed_should_read_every_field() {
    // ConsumerGroupCurrentMemberAssignmentKey: version 8, GroupId "g", MemberId "m".
    let key = Bytes::from_static(&[0, 8, 0, 1, b'g', 0, 1, b'm']);
    // Value version 0: MemberEpoch 5, PreviousMemberEpoch 4, State 1 (UNREVOKED_PARTITIONS),
    // AssignedPartitions [{uuid 0x07.., [0, 1], a tagged field 0 of 3 bytes}], no
    // PartitionsPendingRevocation, then an unknown tagged field 9 of 1 byte.
    let mut v = vec![0, 0, 0, 0, 0, 5, 0, 0, 0, 4, 1, 2];
    v.extend([7u8; 16]);
    v.extend([3, 0, 0, 0, 0, 0, 0, 0, 1]);
    v.extend([1, 0, 3, 0xaa, 0xbb, 0xcc]);
    v.extend([1]);
    v.extend([1, 9, 1, 0xff]);
    let rec = StoreRecord::parse(key, Some(Bytes::from(v)), 0).expect("parses");
    let StoreRecord::ConsumerGroup { group, key, value } = rec else {
        panic!("not a consumer group record");
    };
    assert_eq!(group, "g");
    assert_eq!(key, ConsumerGroupKey::CurrentMemberAssignment("m".into()));
    assert_eq!(
        value,
        Some(ConsumerGroupValue::CurrentMemberAssignment(
            CurrentAssignment {
                epoch: 5,
                previous_epoch: 4,
                state: 1,
                assigned: vec![(uuid(7), vec![0, 1])],
                revoking: vec![],
            }
        ))
    );
}

#[test]
fn given_member_metadata_when_encoded_should_match_the_schema_bytes() {
    let value = ConsumerGroupValue::MemberMetadata(MemberMetadata {
        instance_id: None,
        rack_id: Some("r".into()),
        client_id: "c".into(),
        client_host: "/h".into(),
        subscribed: vec!["t".into()],
        regex: None,
        rebalance_timeout_ms: 300_000,
        server_assignor: Some("uniform".into()),
    });
    let mut want = vec![0, 0, 0, 2, b'r', 2, b'c', 3, b'/', b'h', 2, 2, b't', 0];
    want.extend(300_000i32.to_be_bytes());
    want.extend([8]);
    want.extend(b"uniform");
    want.push(0);
    assert_eq!(value.encode().as_ref(), want.as_slice());
    let key = ConsumerGroupKey::MemberMetadata("m".into()).encode("g");
    assert_eq!(key.as_ref(), &[0, 5, 0, 1, b'g', 0, 1, b'm']);
    assert_eq!(
        ConsumerGroupKey::Metadata.encode("g").as_ref(),
        &[0, 3, 0, 1, b'g']
    );
}

#[test]
fn given_random_or_truncated_values_when_parsed_should_never_panic() {
    let full: Vec<(Bytes, Bytes)> = records_for("g", &group());
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for (k, v) in &full {
        for cut in 0..v.len() {
            let _ = StoreRecord::parse(k.clone(), Some(v.slice(..cut)), 0);
        }
        for _ in 0..200 {
            let mut bytes = v.to_vec();
            let i = (next() as usize) % bytes.len();
            bytes[i] = next() as u8;
            let _ = StoreRecord::parse(k.clone(), Some(Bytes::from(bytes)), 0);
        }
    }
}
