//! Consumer groups with real clients (librdkafka): classic eager and cooperative rebalancing,
//! static membership, the KIP-848 consumer protocol, durable commits, at-least-once across a
//! member crash.

mod common;
#[path = "support/groups.rs"]
mod groups_support;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use groups_support::*;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};

#[tokio::test]
async fn given_committed_offsets_when_broker_is_sigkilled_should_survive_restart() {
    let mut broker = fast_broker();
    let topic = unique_topic("grp-durable");
    broker.create_topic(&topic, 3, &[]).await;
    let group = unique_topic("g-durable");
    let c = broker.base_consumer(&[("group.id", &group)]);
    let mut tpl = TopicPartitionList::new();
    for p in 0..3 {
        tpl.add_partition_offset(&topic, p, Offset::Offset(10 + p as i64))
            .unwrap();
    }
    tpl.find_partition(&topic, 1)
        .unwrap()
        .set_metadata("processed-by-job-7");
    c.commit(&tpl, CommitMode::Sync).expect("commit");
    drop(c);
    broker.kill9();
    broker.restart();
    let c = broker.base_consumer(&[("group.id", &group)]);
    let mut ask = TopicPartitionList::new();
    for p in 0..3 {
        ask.add_partition(&topic, p);
    }
    let got = c
        .committed_offsets(ask, OP_TIMEOUT)
        .expect("committed offsets");
    for p in 0..3 {
        let e = got.find_partition(&topic, p).unwrap();
        assert_eq!(e.offset(), Offset::Offset(10 + p as i64), "partition {p}");
    }
    assert_eq!(
        got.find_partition(&topic, 1).unwrap().metadata(),
        "processed-by-job-7"
    );
}

#[tokio::test]
async fn given_kip848_consumer_using_assign_when_committing_should_keep_the_offsets() {
    // `group.protocol=consumer` with assign(): librdkafka sends its own member id with epoch -1.
    // Kafka accepts that while the group has no members (OffsetCommit v9's rules).
    let mut broker = fast_broker();
    let topic = unique_topic("grp-848-assign");
    broker.create_topic(&topic, 2, &[]).await;
    let group = unique_topic("g-848-assign");
    let c = broker.base_consumer(&[("group.id", &group), ("group.protocol", "consumer")]);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 0, Offset::Offset(0))
        .unwrap();
    tpl.add_partition_offset(&topic, 1, Offset::Offset(0))
        .unwrap();
    c.assign(&tpl).expect("assign");
    let mut commit = TopicPartitionList::new();
    commit
        .add_partition_offset(&topic, 0, Offset::Offset(3))
        .unwrap();
    commit
        .add_partition_offset(&topic, 1, Offset::Offset(5))
        .unwrap();
    commit
        .find_partition(&topic, 1)
        .unwrap()
        .set_metadata("job-9");
    c.commit(&commit, CommitMode::Sync)
        .expect("a non-member's commit with epoch -1 is accepted");
    drop(c);
    broker.kill9();
    broker.restart();
    let reader = broker.base_consumer(&[("group.id", &group)]);
    let mut ask = TopicPartitionList::new();
    ask.add_partition(&topic, 0);
    ask.add_partition(&topic, 1);
    let got = reader
        .committed_offsets(ask, OP_TIMEOUT)
        .expect("committed");
    assert_eq!(
        got.find_partition(&topic, 0).unwrap().offset(),
        Offset::Offset(3)
    );
    let p1 = got.find_partition(&topic, 1).unwrap();
    assert_eq!((p1.offset(), p1.metadata()), (Offset::Offset(5), "job-9"));
}

#[tokio::test]
async fn given_three_members_when_one_leaves_should_reshare_six_partitions() {
    let broker = fast_broker();
    let topic = unique_topic("grp-eager");
    broker.create_topic(&topic, 6, &[]).await;
    let group = unique_topic("g-eager");
    let mut members: Vec<Member> = (0..3)
        .map(|_| Member::classic(&broker, &group, &topic, "range"))
        .collect();
    let ok = poll_until(&members, Duration::from_secs(30), |ms| {
        ms.iter().all(|m| m.owned().len() == 2)
    });
    assert!(
        ok,
        "three members never held two partitions each: {:?}",
        owned_all(&members)
    );
    assert_eq!(union(&members).len(), 6, "every partition is assigned once");
    let leaving = members.pop().unwrap();
    assert!(
        leaving.close_within(CLOSE_LIMIT),
        "the leaving member closed"
    );
    let ok = poll_until(&members, Duration::from_secs(30), |ms| {
        ms.iter().all(|m| m.owned().len() == 3)
    });
    assert!(
        ok,
        "two members never held three partitions each: {:?}",
        owned_all(&members)
    );
    assert_eq!(union(&members).len(), 6);
}

#[tokio::test]
async fn given_cooperative_sticky_when_member_joins_should_revoke_only_moved_partitions() {
    let broker = fast_broker();
    let topic = unique_topic("grp-coop");
    broker.create_topic(&topic, 6, &[]).await;
    let group = unique_topic("g-coop");
    let mut members: Vec<Member> = (0..2)
        .map(|_| Member::classic(&broker, &group, &topic, "cooperative-sticky"))
        .collect();
    assert!(poll_until(&members, Duration::from_secs(30), |ms| ms
        .iter()
        .all(|m| m.owned().len() == 3)));
    let before: Vec<BTreeSet<i32>> = members.iter().map(Member::owned).collect();
    for m in &members {
        m.events.lock().unwrap().revoked.clear();
    }
    members.push(Member::classic(
        &broker,
        &group,
        &topic,
        "cooperative-sticky",
    ));
    assert!(
        poll_until(&members, Duration::from_secs(30), |ms| ms
            .iter()
            .all(|m| m.owned().len() == 2)),
        "{:?}",
        owned_all(&members)
    );
    for (i, m) in members.iter().take(2).enumerate() {
        let revoked: BTreeSet<i32> = m.events.lock().unwrap().revoked.iter().copied().collect();
        let kept = m.owned();
        assert!(
            kept.is_subset(&before[i]),
            "member {i} gained partitions: {kept:?} vs {:?}",
            before[i]
        );
        assert_eq!(
            revoked,
            before[i].difference(&kept).copied().collect(),
            "member {i} revoked more than it moved"
        );
        assert_eq!(revoked.len(), 1, "member {i}");
    }
}

#[tokio::test]
async fn given_static_member_when_it_restarts_within_session_should_not_rebalance_others() {
    let broker = fast_broker();
    let topic = unique_topic("grp-static");
    broker.create_topic(&topic, 6, &[]).await;
    let group = unique_topic("g-static");
    let mut members: Vec<Member> = (0..3)
        .map(|i| {
            Member::with_instance(&broker, &group, &topic, "range", Some(&format!("inst-{i}")))
        })
        .collect();
    assert!(poll_until(&members, Duration::from_secs(30), |ms| ms
        .iter()
        .all(|m| m.owned().len() == 2)));
    let assigns_before: Vec<usize> = members
        .iter()
        .map(|m| m.events.lock().unwrap().assigns)
        .collect();
    let old = members.pop().unwrap();
    let old_owned = old.owned();
    assert!(old.close_within(CLOSE_LIMIT), "the static member closed");
    members.push(Member::with_instance(
        &broker,
        &group,
        &topic,
        "range",
        Some("inst-2"),
    ));
    assert!(poll_until(&members, Duration::from_secs(20), |ms| ms[2]
        .owned()
        .len()
        == 2));
    assert_eq!(
        members[2].owned(),
        old_owned,
        "the restarted static member got its assignment back"
    );
    poll_for(&members, Duration::from_millis(1500));
    for i in 0..2 {
        assert_eq!(
            members[i].events.lock().unwrap().assigns,
            assigns_before[i],
            "member {i} went through a rebalance"
        );
        assert_eq!(members[i].owned().len(), 2);
    }
}

#[tokio::test]
async fn given_kip848_members_when_third_joins_should_keep_partitions_they_keep() {
    let broker = fast_broker();
    let topic = unique_topic("grp-848");
    broker.create_topic(&topic, 6, &[]).await;
    let group = unique_topic("g-848");
    let mut members = two_kip848_members_sharing_six(&broker, &group, &topic);
    let before: Vec<BTreeSet<i32>> = members.iter().map(Member::owned).collect();
    members.push(Member::consumer_protocol(&broker, &group, &topic));
    assert!(
        poll_until(&members, Duration::from_secs(30), |ms| ms
            .iter()
            .all(|m| m.owned().len() == 2)),
        "{:?}",
        owned_all(&members)
    );
    assert_eq!(union(&members).len(), 6);
    for (i, m) in members.iter().take(2).enumerate() {
        let kept = m.owned();
        let revoked: BTreeSet<i32> = m.events.lock().unwrap().revoked.iter().copied().collect();
        assert!(
            kept.is_subset(&before[i]),
            "member {i}: {kept:?} vs {:?}",
            before[i]
        );
        assert!(
            revoked.is_disjoint(&kept),
            "member {i} lost a partition it keeps: revoked {revoked:?}, kept {kept:?}"
        );
    }
    // Dropping the members closes them within CLOSE_LIMIT each (see `Member`'s Drop).
}

#[tokio::test]
async fn given_kip848_members_when_broker_is_sigkilled_and_restarted_should_keep_their_partitions()
{
    let mut broker = fast_broker();
    let topic = unique_topic("grp-848-restart");
    broker.create_topic(&topic, 6, &[]).await;
    let group = unique_topic("g-848-restart");
    let members = two_kip848_members_sharing_six(&broker, &group, &topic);
    let before = owned_all(&members);
    let assigns_before: Vec<usize> = members
        .iter()
        .map(|m| m.events.lock().unwrap().assigns)
        .collect();
    broker.kill9();
    broker.restart();
    // Several heartbeat intervals against the restarted broker: the group must still know both
    // members at their epochs, so nobody is fenced into giving its partitions up.
    poll_for(&members, Duration::from_secs(3));
    for (i, m) in members.iter().enumerate() {
        let e = m.events.lock().unwrap();
        assert!(e.revoked.is_empty(), "member {i} lost {:?}", e.revoked);
        assert_eq!(
            e.assigns, assigns_before[i],
            "member {i} was assigned again"
        );
    }
    assert_eq!(owned_all(&members), before);
}

#[tokio::test]
async fn given_manual_commits_when_member_crashes_should_reread_only_uncommitted() {
    let broker = fast_broker();
    let topic = unique_topic("grp-alo");
    broker.create_topic(&topic, 2, &[]).await;
    produce_keyed(&broker, &topic, 2, 40).await;
    let group = unique_topic("g-alo");
    // The first consumer processes 30 records but commits only after the first 20 (then "crashes").
    let first = Member::classic(&broker, &group, &topic, "range");
    let mut processed = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while processed.len() < 30 && std::time::Instant::now() < deadline {
        if let Some(Ok(m)) = first.consumer().poll(Duration::from_millis(100)) {
            use rdkafka::Message;
            processed.push((m.partition(), m.offset()));
            if processed.len() == 20 {
                let mut tpl = TopicPartitionList::new();
                let mut next = std::collections::BTreeMap::new();
                for (p, o) in &processed {
                    next.insert(*p, *o + 1);
                }
                for (p, o) in next {
                    tpl.add_partition_offset(&topic, p, Offset::Offset(o))
                        .unwrap();
                }
                first
                    .consumer()
                    .commit(&tpl, CommitMode::Sync)
                    .expect("commit after processing");
            }
        }
    }
    assert_eq!(processed.len(), 30);
    let committed: BTreeSet<(i32, i64)> = processed[..20].iter().copied().collect();
    let uncommitted: BTreeSet<(i32, i64)> = processed[20..].iter().copied().collect();
    drop(first);
    let second = Member::classic(&broker, &group, &topic, "range");
    let mut reread = BTreeSet::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while reread.len() < 20 && std::time::Instant::now() < deadline {
        if let Some(Ok(m)) = second.consumer().poll(Duration::from_millis(100)) {
            use rdkafka::Message;
            reread.insert((m.partition(), m.offset()));
        }
    }
    let all: BTreeSet<(i32, i64)> = committed.union(&reread).copied().collect();
    assert_eq!(all.len(), 40, "every record was read at least once");
    assert!(
        reread.is_disjoint(&committed),
        "committed records were read again"
    );
    assert!(
        uncommitted.is_subset(&reread),
        "uncommitted records were re-read"
    );
}

/// Two KIP-848 members of `group` once they hold three of `topic`'s six partitions each, with
/// the revocations of getting there forgotten.
fn two_kip848_members_sharing_six(broker: &TestBroker, group: &str, topic: &str) -> Vec<Member> {
    let members: Vec<Member> = (0..2)
        .map(|_| Member::consumer_protocol(broker, group, topic))
        .collect();
    assert!(
        poll_until(&members, Duration::from_secs(30), |ms| ms
            .iter()
            .all(|m| m.owned().len() == 3)),
        "{:?}",
        owned_all(&members)
    );
    for m in &members {
        m.events.lock().unwrap().revoked.clear();
    }
    members
}
