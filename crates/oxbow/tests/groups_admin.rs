//! Group administration: ListGroups with a state filter, DescribeGroups, DeleteGroups, OffsetDelete,
//! admin commits to an inactive group, static-member fencing, and the `oxbow group` CLI.

mod common;
#[path = "support/groups.rs"]
mod groups_support;

use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use groups_support::*;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};

fn s(x: &str) -> StrBytes {
    StrBytes::from_string(x.to_string())
}

fn commit(broker: &TestBroker, group: &str, topic: &str, offsets: &[(i32, i64)]) {
    let c = broker.base_consumer(&[("group.id", group)]);
    let mut tpl = TopicPartitionList::new();
    for (p, o) in offsets {
        tpl.add_partition_offset(topic, *p, Offset::Offset(*o))
            .unwrap();
    }
    c.commit(&tpl, CommitMode::Sync).expect("commit");
}

fn admin_commit(broker: &TestBroker, group: &str, topic: &str, offset: i64) -> i16 {
    let req = OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(TopicName(s(topic)))
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(offset)])]);
    broker.raw_request(8, &req).topics[0].partitions[0].error_code
}

fn cli(broker: &TestBroker, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_oxbow"))
        .args(args)
        .arg("-b")
        .arg(broker.bootstrap())
        .output()
        .expect("run oxbow");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn given_active_and_empty_groups_when_listed_described_and_deleted_should_follow_kafka_rules()
{
    let broker = fast_broker();
    let topic = unique_topic("adm");
    broker.create_topic(&topic, 2, &[]).await;
    let (idle, active) = (unique_topic("g-idle"), unique_topic("g-active"));
    commit(&broker, &idle, &topic, &[(0, 1), (1, 2)]);
    let members = vec![Member::classic(&broker, &active, &topic, "range")];
    assert!(poll_until(&members, Duration::from_secs(20), |ms| ms[0]
        .owned()
        .len()
        == 2));

    let list = broker.raw_request(
        4,
        &ListGroupsRequest::default().with_states_filter(vec![s("Stable")]),
    );
    let names: Vec<String> = list
        .groups
        .iter()
        .map(|g| g.group_id.0.to_string())
        .collect();
    assert!(
        names.contains(&active) && !names.contains(&idle),
        "{names:?}"
    );
    let list = broker.raw_request(
        4,
        &ListGroupsRequest::default().with_states_filter(vec![s("Empty")]),
    );
    assert!(list.groups.iter().any(|g| g.group_id.0.as_str() == idle));

    let desc = broker.raw_request(
        5,
        &DescribeGroupsRequest::default().with_groups(vec![GroupId(s(&active))]),
    );
    let g = &desc.groups[0];
    assert_eq!(g.group_state.as_str(), "Stable");
    assert_eq!(g.protocol_data.as_str(), "range");
    assert_eq!(g.members.len(), 1);
    assert_eq!(g.members[0].client_host.as_str(), "/127.0.0.1");

    // Admin commits only while the group is empty.
    assert_eq!(admin_commit(&broker, &idle, &topic, 7), 0);
    assert_ne!(admin_commit(&broker, &active, &topic, 7), 0);

    // OffsetDelete refuses subscribed topics.
    let del = OffsetDeleteRequest::default()
        .with_group_id(GroupId(s(&active)))
        .with_topics(vec![OffsetDeleteRequestTopic::default()
            .with_name(TopicName(s(&topic)))
            .with_partitions(vec![OffsetDeleteRequestPartition::default()])]);
    let resp = broker.raw_request(0, &del);
    assert_eq!(
        resp.topics[0].partitions[0].error_code,
        ResponseError::GroupSubscribedToTopic.code()
    );

    let admin = broker.admin();
    let res = admin
        .delete_groups(&[active.as_str(), idle.as_str()], &admin_opts())
        .await
        .expect("DeleteGroups");
    assert!(
        res[0].is_err(),
        "an active group must not be deleted: {res:?}"
    );
    assert!(res[1].is_ok(), "{res:?}");
    let desc = broker.raw_request(
        5,
        &DescribeGroupsRequest::default().with_groups(vec![GroupId(s(&idle))]),
    );
    assert_eq!(desc.groups[0].group_state.as_str(), "Dead");
    drop(members);
}

#[tokio::test]
async fn given_static_instance_when_it_rejoins_should_fence_the_old_member_id() {
    let broker = fast_broker();
    let group = unique_topic("g-fence");
    let join = |member: &str| {
        JoinGroupRequest::default()
            .with_group_id(GroupId(s(&group)))
            .with_session_timeout_ms(10_000)
            .with_rebalance_timeout_ms(10_000)
            .with_member_id(s(member))
            .with_group_instance_id(Some(s("instance-a")))
            .with_protocol_type(s("consumer"))
            .with_protocols(vec![JoinGroupRequestProtocol::default()
                .with_name(s("range"))
                .with_metadata(Bytes::from_static(&[0, 0, 0, 0, 0, 0, 0, 0]))])
    };
    let first = broker.raw_request(5, &join(""));
    assert_eq!(first.error_code, 0);
    let second = broker.raw_request(5, &join(""));
    assert_eq!(second.error_code, 0);
    assert_ne!(first.member_id, second.member_id);
    let hb = HeartbeatRequest::default()
        .with_group_id(GroupId(s(&group)))
        .with_generation_id(first.generation_id)
        .with_member_id(first.member_id.clone())
        .with_group_instance_id(Some(s("instance-a")));
    assert_eq!(
        broker.raw_request(3, &hb).error_code,
        ResponseError::FencedInstanceId.code()
    );
}

#[tokio::test]
async fn given_lagging_group_when_using_cli_should_describe_lag_and_reset_offsets() {
    let broker = fast_broker();
    let topic = unique_topic("cli-grp");
    broker.create_topic(&topic, 1, &[]).await;
    produce_keyed(&broker, &topic, 1, 10).await;
    let group = unique_topic("g-cli");
    commit(&broker, &group, &topic, &[(0, 4)]);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let (ok, out) = cli(&broker, &["group", "list"]);
    assert!(ok && out.contains(&group), "{out}");
    let (ok, out) = cli(&broker, &["group", "describe", &group]);
    assert!(ok, "{out}");
    let row = out
        .lines()
        .find(|l| l.starts_with(&topic))
        .unwrap_or_else(|| panic!("no row: {out}"));
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&cols[1..5], &["0", "4", "10", "6"], "{row}");
    assert!(
        cols[5].ends_with('s') && cols[5] != "0.0s",
        "lag in time: {row}"
    );

    let (ok, out) = cli(
        &broker,
        &[
            "group",
            "reset-offsets",
            &group,
            "--topic",
            &topic,
            "--to-earliest",
            "--dry-run",
        ],
    );
    assert!(ok && out.contains("dry run"), "{out}");
    let (ok, out) = cli(
        &broker,
        &[
            "group",
            "reset-offsets",
            &group,
            "--topic",
            &topic,
            "--shift-by",
            "-2",
            "--execute",
        ],
    );
    assert!(ok, "{out}");
    let c = broker.base_consumer(&[("group.id", group.as_str())]);
    let mut ask = TopicPartitionList::new();
    ask.add_partition(&topic, 0);
    let got = c.committed_offsets(ask, OP_TIMEOUT).unwrap();
    assert_eq!(
        got.find_partition(&topic, 0).unwrap().offset(),
        Offset::Offset(2)
    );

    let members = vec![Member::classic(&broker, &group, &topic, "range")];
    assert!(poll_until(&members, Duration::from_secs(20), |ms| ms[0]
        .owned()
        .len()
        == 1));
    let (ok, out) = cli(
        &broker,
        &[
            "group",
            "reset-offsets",
            &group,
            "--topic",
            &topic,
            "--to-latest",
            "--execute",
        ],
    );
    assert!(!ok && out.contains("active"), "{out}");
    drop(members);
    let (ok, out) = cli(&broker, &["group", "delete", &group]);
    assert!(ok, "{out}");
}

#[tokio::test]
async fn given_a_group_heartbeat_interval_when_a_member_joins_should_be_told_that_interval() {
    use kafka_protocol::messages::incremental_alter_configs_request::{
        AlterConfigsResource, AlterableConfig,
    };
    let broker = TestBroker::start();
    let topic = unique_topic("grpcfg");
    broker.create_topic(&topic, 1, &[]).await;
    let set = |group: &str, value: &str| {
        let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(32)
                .with_resource_name(s(group))
                .with_configs(vec![AlterableConfig::default()
                    .with_name(s("consumer.heartbeat.interval.ms"))
                    .with_config_operation(0)
                    .with_value(Some(s(value)))]),
        ]);
        broker.raw_request(1, &req).responses[0].error_code
    };
    assert_eq!(set("tuned", "7000"), 0);
    assert_eq!(
        set("tuned", "60000"),
        ResponseError::InvalidConfig.code(),
        "above the bound"
    );
    let join = |group: &str| {
        let req = ConsumerGroupHeartbeatRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_member_id(s(&uuid::Uuid::new_v4().to_string()))
            .with_member_epoch(0)
            .with_rebalance_timeout_ms(30_000)
            .with_subscribed_topic_names(Some(vec![TopicName(s(&topic))]))
            .with_topic_partitions(Some(Vec::new()));
        let resp = broker.raw_request(0, &req);
        assert_eq!(resp.error_code, 0, "{resp:?}");
        resp.heartbeat_interval_ms
    };
    assert_eq!(join("tuned"), 7000, "the group's own interval");
    assert_eq!(join("untuned"), 5000, "the broker's default");
}

/// A KIP-848 group's state as Oxbow wrote it before Kafka's record layouts: JSON under the
/// classic group-metadata key (key version 2), value version 100.
fn legacy_group_json(topic: &str) -> String {
    format!(
        r#"{{"group_epoch":7,"assignment_epoch":7,"assignor":"uniform",
        "target":{{"m1":{{"{topic}":[0,1]}}}},"topic_counts":{{"{topic}":2}},
        "members":[{{"id":"m1","instance_id":null,"rack_id":null,"client_id":"legacy-client",
        "client_host":"/127.0.0.1","epoch":7,"previous_epoch":6,"subscribed":["{topic}"],
        "regex":null,"matched":[],"server_assignor":null,"rebalance_timeout_ms":300000,
        "assigned":{{"{topic}":[0,1]}},"revoking":{{}},"departed":false}}]}}"#
    )
}

/// Appends one record to `__consumer_offsets` of a stopped broker's data directory.
fn append_to_offsets_topic(data_dir: &std::path::Path, key: Bytes, value: Bytes) {
    use oxbow_storage::{LogConfig, LogManager, LogManagerOptions, TopicPartition};
    let opts = LogManagerOptions {
        dir: data_dir.to_path_buf(),
        checkpoint_interval_ms: 60_000,
    };
    let mgr = LogManager::open(opts, &|_| Some(LogConfig::default())).expect("open logs");
    let log = mgr
        .get(&TopicPartition::new("__consumer_offsets", 0))
        .expect("__consumer_offsets exists");
    oxbow_coordinator::state_store::append(&*log, &[(key, Some(value))], now_ms()).expect("append");
    mgr.shutdown().expect("shutdown");
}

/// `__consumer_offsets` records (key, value) for `group`, in offset order.
fn offsets_topic_records(broker: &TestBroker, group: &str) -> Vec<(Bytes, Option<Bytes>)> {
    use rdkafka::consumer::BaseConsumer;
    use rdkafka::Message;
    let (_, high) = broker.watermarks("__consumer_offsets", 0);
    let c: BaseConsumer = broker.base_consumer(&[("group.id", "offsets-reader")]);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("__consumer_offsets", 0, Offset::Beginning)
        .unwrap();
    c.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    let mut read = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while read < high && std::time::Instant::now() < deadline {
        let Some(Ok(m)) = c.poll(Duration::from_millis(200)) else {
            continue;
        };
        read = m.offset() + 1;
        let key = Bytes::copy_from_slice(m.key().unwrap_or_default());
        // Every record type's key starts with its version, then the group id.
        let name_len = i16::from_be_bytes([key[2], key[3]]) as usize;
        if &key[4..4 + name_len] == group.as_bytes() {
            out.push((key, m.payload().map(Bytes::copy_from_slice)));
        }
    }
    assert_eq!(read, high, "read all of __consumer_offsets");
    out
}

#[tokio::test]
async fn given_legacy_json_group_state_when_restarting_should_rewrite_it_in_kafka_layouts() {
    let mut broker = fast_broker();
    let topic = unique_topic("legacy");
    broker.create_topic(&topic, 2, &[]).await;
    commit(&broker, "seed", &topic, &[(0, 1)]); // creates __consumer_offsets
    let group = unique_topic("legacy-g");
    broker.stop();
    let mut key = bytes::BytesMut::new();
    key.extend_from_slice(&2i16.to_be_bytes());
    key.extend_from_slice(&(group.len() as i16).to_be_bytes());
    key.extend_from_slice(group.as_bytes());
    let mut value = 100i16.to_be_bytes().to_vec();
    value.extend_from_slice(legacy_group_json(&topic).as_bytes());
    append_to_offsets_topic(broker.data_dir(), key.freeze(), Bytes::from(value));
    broker.restart();

    let metadata: MetadataResponse = broker.raw_request(
        12,
        &MetadataRequest::default().with_topics(Some(vec![
            metadata_request::MetadataRequestTopic::default().with_name(Some(TopicName(s(&topic)))),
        ])),
    );
    let topic_id = metadata.topics[0].topic_id;
    let describe = |broker: &TestBroker| -> ConsumerGroupDescribeResponse {
        broker.raw_request(
            0,
            &ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(s(&group))]),
        )
    };
    let check = |resp: ConsumerGroupDescribeResponse| {
        let g = &resp.groups[0];
        assert_eq!(g.error_code, 0, "{g:?}");
        assert_eq!((g.group_epoch, g.assignment_epoch), (7, 7), "{g:?}");
        assert_eq!(g.members.len(), 1, "{g:?}");
        let m = &g.members[0];
        assert_eq!((m.member_id.as_str(), m.member_epoch), ("m1", 7));
        assert_eq!(m.client_id.as_str(), "legacy-client");
        for a in [&m.assignment, &m.target_assignment] {
            assert_eq!(a.topic_partitions.len(), 1, "{m:?}");
            assert_eq!(a.topic_partitions[0].topic_id, topic_id);
            assert_eq!(a.topic_partitions[0].partitions, vec![0, 1]);
        }
    };
    check(describe(&broker));

    // The JSON record is deleted, the state written as Kafka 4.0 does (key versions 3 to 8).
    let records = offsets_topic_records(&broker, &group);
    let last = |version: i16| {
        records
            .iter()
            .rev()
            .find(|(k, _)| i16::from_be_bytes([k[0], k[1]]) == version)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(last(2), Some(None), "legacy record tombstoned: {records:?}");
    // ConsumerGroupMetadataValue v0: epoch 7, no tagged fields.
    assert_eq!(
        last(3),
        Some(Some(Bytes::from_static(&[0, 0, 0, 0, 0, 7, 0])))
    );
    for version in [4, 5, 6, 7, 8] {
        assert!(
            matches!(last(version), Some(Some(_))),
            "key version {version}: {records:?}"
        );
    }

    // Migrated once: a second start writes nothing, and the member keeps its epoch.
    let (_, end) = broker.watermarks("__consumer_offsets", 0);
    broker.restart();
    check(describe(&broker));
    assert_eq!(broker.watermarks("__consumer_offsets", 0).1, end);
    let hb: ConsumerGroupHeartbeatResponse = broker.raw_request(
        0,
        &ConsumerGroupHeartbeatRequest::default()
            .with_group_id(GroupId(s(&group)))
            .with_member_id(s("m1"))
            .with_member_epoch(7)
            .with_rebalance_timeout_ms(300_000)
            .with_subscribed_topic_names(Some(vec![TopicName(s(&topic))])),
    );
    assert_eq!((hb.error_code, hb.member_epoch), (0, 7), "{hb:?}");
}
