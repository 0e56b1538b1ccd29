//! The authorization hook: with `security.authorizer = "deny_all"` every served API that needs a
//! permission answers its authorization error (or, where Kafka filters instead, shows nothing),
//! and ApiVersions still answers. The list of APIs checked here is compared with what the broker
//! advertises, so an API added without an authorization check fails this test.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::producer::FutureRecord;
use rdkafka::{Offset, TopicPartitionList};

const TOPIC: &str = "guarded";
const GROUP: &str = "guarded-group";
const TXN: &str = "guarded-txn";

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

fn topic() -> TopicName {
    TopicName(s(TOPIC))
}

fn group() -> GroupId {
    GroupId(s(GROUP))
}

const TOPIC_DENIED: i16 = 29;
const GROUP_DENIED: i16 = 30;
const CLUSTER_DENIED: i16 = 31;
const TXN_DENIED: i16 = 53;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_deny_all_authorizer_when_calling_every_api_should_answer_authorization_errors() {
    // A topic with a record and a group with a committed offset, made while everything is allowed.
    let data = tempfile::tempdir().unwrap();
    let mut open = TestBroker::builder().with_data_dir(data.path()).start();
    open.create_topic(TOPIC, 1, &[]).await;
    let producer = open.producer(&[]);
    producer
        .send(
            FutureRecord::<str, str>::to(TOPIC).payload("v"),
            Duration::from_secs(10),
        )
        .await
        .expect("produce while allowed");
    let consumer = open.base_consumer(&[("group.id", GROUP)]);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(TOPIC, 0, Offset::Offset(1))
        .unwrap();
    consumer
        .commit(&tpl, CommitMode::Sync)
        .expect("commit while allowed");
    drop(consumer);
    drop(producer);
    let allowed: MetadataResponse =
        open.raw_request(12, &MetadataRequest::default().with_topics(None));
    assert!(allowed.topics.iter().any(|t| t.name == Some(topic())));
    // What deny_all later hides must be there while allowed, or its empty answers prove nothing.
    let listed: ListGroupsResponse = open.raw_request(5, &ListGroupsRequest::default());
    assert!(
        listed.groups.iter().any(|g| g.group_id == group()),
        "{listed:?}"
    );
    let ops: DescribeClusterResponse = open.raw_request(
        1,
        &DescribeClusterRequest::default()
            .with_include_cluster_authorized_operations(true)
            .with_endpoint_type(1),
    );
    assert_ne!(ops.cluster_authorized_operations, 0);
    let txn: InitProducerIdResponse = open.raw_request(
        4,
        &InitProducerIdRequest::default()
            .with_transactional_id(Some(TransactionalId(s(TXN))))
            .with_transaction_timeout_ms(60_000)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
    );
    assert_eq!(txn.error_code, 0, "a transactional id exists while allowed");
    let listed: ListTransactionsResponse = open.raw_request(0, &ListTransactionsRequest::default());
    assert_eq!(listed.transaction_states.len(), 1);
    open.stop();

    let broker = TestBroker::builder()
        .with_data_dir(data.path())
        .with_env("OXBOW_SECURITY_AUTHORIZER", "deny_all")
        .start();
    let checked: std::cell::RefCell<BTreeSet<i16>> = Default::default();
    let check = |key: ApiKey, got: Vec<i16>, want: i16| {
        assert!(
            !got.is_empty() && got.iter().all(|c| *c == want),
            "{key:?}: expected error {want} everywhere, got {got:?}"
        );
        checked.borrow_mut().insert(key as i16);
    };

    // ApiVersions needs no permission.
    let versions: ApiVersionsResponse = broker.raw_request(3, &ApiVersionsRequest::default());
    assert_eq!(versions.error_code, 0);
    checked.borrow_mut().insert(ApiKey::ApiVersions as i16);
    // Neither does SASL (authentication comes before authorization); on a PLAINTEXT listener it
    // is refused as out of place.
    let hs: SaslHandshakeResponse = broker.raw_request(
        1,
        &SaslHandshakeRequest::default().with_mechanism(s("PLAIN")),
    );
    assert_eq!(hs.error_code, ResponseError::IllegalSaslState.code());
    checked.borrow_mut().insert(ApiKey::SaslHandshake as i16);
    let auth: SaslAuthenticateResponse = broker.raw_request(2, &SaslAuthenticateRequest::default());
    assert_eq!(auth.error_code, ResponseError::IllegalSaslState.code());
    checked.borrow_mut().insert(ApiKey::SaslAuthenticate as i16);

    let md: MetadataResponse = broker.raw_request(
        12,
        &MetadataRequest::default()
            .with_topics(Some(vec![metadata_request::MetadataRequestTopic::default(
            )
            .with_name(Some(topic()))]))
            .with_allow_auto_topic_creation(false),
    );
    check(
        ApiKey::Metadata,
        md.topics.iter().map(|t| t.error_code).collect(),
        TOPIC_DENIED,
    );
    let all: MetadataResponse =
        broker.raw_request(12, &MetadataRequest::default().with_topics(None));
    assert!(
        all.topics.is_empty(),
        "a listing shows no undescribable topic"
    );

    let produce: ProduceResponse = broker.raw_request(
        9,
        &ProduceRequest::default().with_acks(1).with_topic_data(vec![
            produce_request::TopicProduceData::default()
                .with_name(topic())
                .with_partition_data(vec![produce_request::PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(Bytes::from_static(b"not checked before the ACL")))]),
        ]),
    );
    check(
        ApiKey::Produce,
        produce
            .responses
            .iter()
            .flat_map(|t| t.partition_responses.iter().map(|p| p.error_code))
            .collect(),
        TOPIC_DENIED,
    );

    let fetch: FetchResponse = broker.raw_request(
        12,
        &FetchRequest::default()
            .with_max_wait_ms(10)
            .with_max_bytes(1 << 20)
            .with_topics(vec![fetch_request::FetchTopic::default()
                .with_topic(topic())
                .with_partitions(vec![fetch_request::FetchPartition::default()
                    .with_partition(0)
                    .with_partition_max_bytes(1 << 20)])]),
    );
    check(
        ApiKey::Fetch,
        fetch
            .responses
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
            .collect(),
        TOPIC_DENIED,
    );

    let offsets: ListOffsetsResponse = broker.raw_request(
        7,
        &ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![list_offsets_request::ListOffsetsTopic::default()
                .with_name(topic())
                .with_partitions(vec![
                    list_offsets_request::ListOffsetsPartition::default()
                        .with_partition_index(0)
                        .with_timestamp(-1),
                ])]),
    );
    check(
        ApiKey::ListOffsets,
        offsets
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
            .collect(),
        TOPIC_DENIED,
    );

    let pid: InitProducerIdResponse = broker.raw_request(
        4,
        &InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(60_000)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
    );
    check(ApiKey::InitProducerId, vec![pid.error_code], CLUSTER_DENIED);

    let create: CreateTopicsResponse = broker.raw_request(
        7,
        &CreateTopicsRequest::default()
            .with_timeout_ms(5000)
            .with_topics(vec![create_topics_request::CreatableTopic::default()
                .with_name(TopicName(s("newcomer")))
                .with_num_partitions(1)
                .with_replication_factor(1)]),
    );
    check(
        ApiKey::CreateTopics,
        create.topics.iter().map(|t| t.error_code).collect(),
        TOPIC_DENIED,
    );

    let delete: DeleteTopicsResponse = broker.raw_request(
        6,
        &DeleteTopicsRequest::default()
            .with_timeout_ms(5000)
            .with_topics(vec![
                delete_topics_request::DeleteTopicState::default().with_name(Some(topic()))
            ]),
    );
    check(
        ApiKey::DeleteTopics,
        delete.responses.iter().map(|t| t.error_code).collect(),
        TOPIC_DENIED,
    );

    let grow: CreatePartitionsResponse = broker.raw_request(
        3,
        &CreatePartitionsRequest::default()
            .with_timeout_ms(5000)
            .with_topics(vec![
                create_partitions_request::CreatePartitionsTopic::default()
                    .with_name(topic())
                    .with_count(3),
            ]),
    );
    check(
        ApiKey::CreatePartitions,
        grow.results.iter().map(|t| t.error_code).collect(),
        TOPIC_DENIED,
    );

    let describe: DescribeConfigsResponse = broker.raw_request(
        4,
        &DescribeConfigsRequest::default().with_resources(vec![
            describe_configs_request::DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s(TOPIC)),
        ]),
    );
    check(
        ApiKey::DescribeConfigs,
        describe.results.iter().map(|r| r.error_code).collect(),
        TOPIC_DENIED,
    );
    let describe_broker: DescribeConfigsResponse = broker.raw_request(
        4,
        &DescribeConfigsRequest::default().with_resources(vec![
            describe_configs_request::DescribeConfigsResource::default()
                .with_resource_type(4)
                .with_resource_name(s("0")),
        ]),
    );
    assert_eq!(describe_broker.results[0].error_code, CLUSTER_DENIED);

    let alter: AlterConfigsResponse = broker.raw_request(
        2,
        &AlterConfigsRequest::default().with_resources(vec![
            alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s(TOPIC))
                .with_configs(vec![alter_configs_request::AlterableConfig::default()
                    .with_name(s("retention.ms"))
                    .with_value(Some(s("1000")))]),
        ]),
    );
    check(
        ApiKey::AlterConfigs,
        alter.responses.iter().map(|r| r.error_code).collect(),
        TOPIC_DENIED,
    );

    let incremental: IncrementalAlterConfigsResponse = broker.raw_request(
        1,
        &IncrementalAlterConfigsRequest::default().with_resources(vec![
            incremental_alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s(TOPIC))
                .with_configs(vec![
                    incremental_alter_configs_request::AlterableConfig::default()
                        .with_name(s("retention.ms"))
                        .with_config_operation(0)
                        .with_value(Some(s("1000"))),
                ]),
        ]),
    );
    check(
        ApiKey::IncrementalAlterConfigs,
        incremental.responses.iter().map(|r| r.error_code).collect(),
        TOPIC_DENIED,
    );

    let trim: DeleteRecordsResponse = broker.raw_request(
        2,
        &DeleteRecordsRequest::default()
            .with_timeout_ms(5000)
            .with_topics(vec![delete_records_request::DeleteRecordsTopic::default()
                .with_name(topic())
                .with_partitions(vec![
                    delete_records_request::DeleteRecordsPartition::default()
                        .with_partition_index(0)
                        .with_offset(1),
                ])]),
    );
    check(
        ApiKey::DeleteRecords,
        trim.topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
            .collect(),
        TOPIC_DENIED,
    );

    // Kafka answers DescribeCluster without error but with no authorized operations.
    let cluster: DescribeClusterResponse = broker.raw_request(
        1,
        &DescribeClusterRequest::default()
            .with_include_cluster_authorized_operations(true)
            .with_endpoint_type(1),
    );
    assert_eq!(cluster.error_code, 0);
    assert_eq!(cluster.cluster_authorized_operations, 0);
    checked.borrow_mut().insert(ApiKey::DescribeCluster as i16);

    let dirs: DescribeLogDirsResponse =
        broker.raw_request(4, &DescribeLogDirsRequest::default().with_topics(None));
    check(
        ApiKey::DescribeLogDirs,
        vec![dirs.error_code],
        CLUSTER_DENIED,
    );
    assert!(dirs.results.is_empty());

    let cg: ConsumerGroupDescribeResponse = broker.raw_request(
        1,
        &ConsumerGroupDescribeRequest::default().with_group_ids(vec![group()]),
    );
    check(
        ApiKey::ConsumerGroupDescribe,
        cg.groups.iter().map(|g| g.error_code).collect(),
        GROUP_DENIED,
    );

    let cgh: ConsumerGroupHeartbeatResponse = broker.raw_request(
        1,
        &ConsumerGroupHeartbeatRequest::default()
            .with_group_id(GroupId(s("kip848-group")))
            .with_member_id(s("m1"))
            .with_member_epoch(0)
            .with_rebalance_timeout_ms(30_000)
            .with_subscribed_topic_names(Some(vec![topic()]))
            .with_topic_partitions(Some(vec![])),
    );
    check(
        ApiKey::ConsumerGroupHeartbeat,
        vec![cgh.error_code],
        GROUP_DENIED,
    );

    let dg: DeleteGroupsResponse = broker.raw_request(
        2,
        &DeleteGroupsRequest::default().with_groups_names(vec![group()]),
    );
    check(
        ApiKey::DeleteGroups,
        dg.results.iter().map(|r| r.error_code).collect(),
        GROUP_DENIED,
    );

    let dsg: DescribeGroupsResponse = broker.raw_request(
        5,
        &DescribeGroupsRequest::default().with_groups(vec![group()]),
    );
    check(
        ApiKey::DescribeGroups,
        dsg.groups.iter().map(|g| g.error_code).collect(),
        GROUP_DENIED,
    );

    let fc: FindCoordinatorResponse = broker.raw_request(
        4,
        &FindCoordinatorRequest::default()
            .with_key_type(0)
            .with_coordinator_keys(vec![s(GROUP)]),
    );
    check(
        ApiKey::FindCoordinator,
        fc.coordinators.iter().map(|c| c.error_code).collect(),
        GROUP_DENIED,
    );
    let fct: FindCoordinatorResponse = broker.raw_request(
        4,
        &FindCoordinatorRequest::default()
            .with_key_type(1)
            .with_coordinator_keys(vec![s("txn-1")]),
    );
    assert_eq!(fct.coordinators[0].error_code, TXN_DENIED);

    let hb: HeartbeatResponse = broker.raw_request(
        4,
        &HeartbeatRequest::default()
            .with_group_id(group())
            .with_member_id(s("m"))
            .with_generation_id(1),
    );
    check(ApiKey::Heartbeat, vec![hb.error_code], GROUP_DENIED);

    let join: JoinGroupResponse = broker.raw_request(
        9,
        &JoinGroupRequest::default()
            .with_group_id(group())
            .with_session_timeout_ms(10_000)
            .with_rebalance_timeout_ms(10_000)
            .with_member_id(s(""))
            .with_protocol_type(s("consumer"))
            .with_protocols(vec![join_group_request::JoinGroupRequestProtocol::default(
            )
            .with_name(s("range"))
            .with_metadata(Bytes::new())]),
    );
    check(ApiKey::JoinGroup, vec![join.error_code], GROUP_DENIED);

    let leave: LeaveGroupResponse = broker.raw_request(
        5,
        &LeaveGroupRequest::default()
            .with_group_id(group())
            .with_members(vec![
                leave_group_request::MemberIdentity::default().with_member_id(s("m"))
            ]),
    );
    check(ApiKey::LeaveGroup, vec![leave.error_code], GROUP_DENIED);

    // Kafka filters ListGroups by DESCRIBE instead of failing it: the group exists but is hidden.
    let lg: ListGroupsResponse = broker.raw_request(5, &ListGroupsRequest::default());
    assert_eq!(lg.error_code, 0);
    assert!(lg.groups.is_empty(), "listed {:?}", lg.groups);
    checked.borrow_mut().insert(ApiKey::ListGroups as i16);

    let commit: OffsetCommitResponse = broker.raw_request(
        8,
        &OffsetCommitRequest::default()
            .with_group_id(group())
            .with_generation_id_or_member_epoch(-1)
            .with_member_id(s(""))
            .with_topics(vec![
                offset_commit_request::OffsetCommitRequestTopic::default()
                    .with_name(topic())
                    .with_partitions(vec![
                        offset_commit_request::OffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(0),
                    ]),
            ]),
    );
    check(
        ApiKey::OffsetCommit,
        commit
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
            .collect(),
        GROUP_DENIED,
    );

    let od: OffsetDeleteResponse = broker.raw_request(
        0,
        &OffsetDeleteRequest::default()
            .with_group_id(group())
            .with_topics(vec![
                offset_delete_request::OffsetDeleteRequestTopic::default()
                    .with_name(topic())
                    .with_partitions(vec![
                        offset_delete_request::OffsetDeleteRequestPartition::default()
                            .with_partition_index(0),
                    ]),
            ]),
    );
    check(ApiKey::OffsetDelete, vec![od.error_code], GROUP_DENIED);

    let of: OffsetFetchResponse = broker.raw_request(
        8,
        &OffsetFetchRequest::default().with_groups(vec![
            offset_fetch_request::OffsetFetchRequestGroup::default()
                .with_group_id(group())
                .with_topics(None),
        ]),
    );
    check(
        ApiKey::OffsetFetch,
        of.groups.iter().map(|g| g.error_code).collect(),
        GROUP_DENIED,
    );

    let sync: SyncGroupResponse = broker.raw_request(
        5,
        &SyncGroupRequest::default()
            .with_group_id(group())
            .with_generation_id(1)
            .with_member_id(s("m"))
            .with_protocol_type(Some(s("consumer")))
            .with_protocol_name(Some(s("range"))),
    );
    check(ApiKey::SyncGroup, vec![sync.error_code], GROUP_DENIED);

    // Transactions: the transactional id, the cluster (markers) or the topic is refused.
    let txn_id = || TransactionalId(s(TXN));
    let add: AddPartitionsToTxnResponse = broker.raw_request(
        3,
        &AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(txn_id())
            .with_v3_and_below_producer_id(ProducerId(txn.producer_id.0))
            .with_v3_and_below_producer_epoch(txn.producer_epoch)
            .with_v3_and_below_topics(vec![
                add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                    .with_name(topic())
                    .with_partitions(vec![0]),
            ]),
    );
    check(
        ApiKey::AddPartitionsToTxn,
        add.results_by_topic_v3_and_below
            .iter()
            .flat_map(|t| {
                t.results_by_partition
                    .iter()
                    .map(|p| p.partition_error_code)
            })
            .collect(),
        TXN_DENIED,
    );
    let offsets_to_txn: AddOffsetsToTxnResponse = broker.raw_request(
        3,
        &AddOffsetsToTxnRequest::default()
            .with_transactional_id(txn_id())
            .with_producer_id(ProducerId(txn.producer_id.0))
            .with_producer_epoch(txn.producer_epoch)
            .with_group_id(group()),
    );
    check(
        ApiKey::AddOffsetsToTxn,
        vec![offsets_to_txn.error_code],
        TXN_DENIED,
    );
    let end: EndTxnResponse = broker.raw_request(
        3,
        &EndTxnRequest::default()
            .with_transactional_id(txn_id())
            .with_producer_id(ProducerId(txn.producer_id.0))
            .with_producer_epoch(txn.producer_epoch)
            .with_committed(true),
    );
    check(ApiKey::EndTxn, vec![end.error_code], TXN_DENIED);
    let toc: TxnOffsetCommitResponse = broker.raw_request(
        3,
        &TxnOffsetCommitRequest::default()
            .with_transactional_id(txn_id())
            .with_group_id(group())
            .with_producer_id(ProducerId(txn.producer_id.0))
            .with_producer_epoch(txn.producer_epoch)
            .with_generation_id(-1)
            .with_topics(vec![
                txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
                    .with_name(topic())
                    .with_partitions(vec![
                        txn_offset_commit_request::TxnOffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(1),
                    ]),
            ]),
    );
    check(
        ApiKey::TxnOffsetCommit,
        toc.topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
            .collect(),
        TXN_DENIED,
    );
    let markers: WriteTxnMarkersResponse = broker.raw_request(
        1,
        &WriteTxnMarkersRequest::default().with_markers(vec![
            write_txn_markers_request::WritableTxnMarker::default()
                .with_producer_id(ProducerId(txn.producer_id.0))
                .with_producer_epoch(txn.producer_epoch)
                .with_transaction_result(false)
                .with_topics(vec![
                    write_txn_markers_request::WritableTxnMarkerTopic::default()
                        .with_name(topic())
                        .with_partition_indexes(vec![0]),
                ]),
        ]),
    );
    check(
        ApiKey::WriteTxnMarkers,
        markers
            .markers
            .iter()
            .flat_map(|m| {
                m.topics
                    .iter()
                    .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
            })
            .collect(),
        CLUSTER_DENIED,
    );
    let producers: DescribeProducersResponse = broker.raw_request(
        0,
        &DescribeProducersRequest::default().with_topics(vec![
            describe_producers_request::TopicRequest::default()
                .with_name(topic())
                .with_partition_indexes(vec![0]),
        ]),
    );
    check(
        ApiKey::DescribeProducers,
        producers
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
            .collect(),
        TOPIC_DENIED,
    );
    let dt: DescribeTransactionsResponse = broker.raw_request(
        0,
        &DescribeTransactionsRequest::default().with_transactional_ids(vec![txn_id()]),
    );
    check(
        ApiKey::DescribeTransactions,
        dt.transaction_states.iter().map(|t| t.error_code).collect(),
        TXN_DENIED,
    );
    // ListTransactions filters by DESCRIBE on the id, as Kafka does: the id exists but is hidden.
    let lt: ListTransactionsResponse = broker.raw_request(0, &ListTransactionsRequest::default());
    assert_eq!(lt.error_code, 0);
    assert!(lt.transaction_states.is_empty(), "{lt:?}");
    checked.borrow_mut().insert(ApiKey::ListTransactions as i16);

    // ACLs: CreateAcls and DeleteAcls need ALTER on the cluster, DescribeAcls DESCRIBE.
    let ca: CreateAclsResponse = broker.raw_request(
        3,
        &CreateAclsRequest::default().with_creations(vec![
            create_acls_request::AclCreation::default()
                .with_resource_type(2)
                .with_resource_name(s(TOPIC))
                .with_resource_pattern_type(3)
                .with_principal(s("User:x"))
                .with_host(s("*"))
                .with_operation(3)
                .with_permission_type(3),
        ]),
    );
    check(
        ApiKey::CreateAcls,
        ca.results.iter().map(|r| r.error_code).collect(),
        CLUSTER_DENIED,
    );
    let da: DescribeAclsResponse = broker.raw_request(
        3,
        &DescribeAclsRequest::default()
            .with_resource_type_filter(1)
            .with_resource_name_filter(None)
            .with_pattern_type_filter(1)
            .with_principal_filter(None)
            .with_host_filter(None)
            .with_operation(1)
            .with_permission_type(1),
    );
    check(ApiKey::DescribeAcls, vec![da.error_code], CLUSTER_DENIED);
    let dl: DeleteAclsResponse = broker.raw_request(
        3,
        &DeleteAclsRequest::default().with_filters(vec![
            delete_acls_request::DeleteAclsFilter::default()
                .with_resource_type_filter(1)
                .with_resource_name_filter(None)
                .with_pattern_type_filter(1)
                .with_principal_filter(None)
                .with_host_filter(None)
                .with_operation(1)
                .with_permission_type(1),
        ]),
    );
    check(
        ApiKey::DeleteAcls,
        dl.filter_results.iter().map(|r| r.error_code).collect(),
        CLUSTER_DENIED,
    );

    // SCRAM credentials: DESCRIBE and ALTER on the cluster.
    let dus: DescribeUserScramCredentialsResponse = broker.raw_request(
        0,
        &DescribeUserScramCredentialsRequest::default().with_users(None),
    );
    check(
        ApiKey::DescribeUserScramCredentials,
        vec![dus.error_code],
        CLUSTER_DENIED,
    );
    let aus: AlterUserScramCredentialsResponse = broker.raw_request(
        0,
        &AlterUserScramCredentialsRequest::default().with_upsertions(vec![
            alter_user_scram_credentials_request::ScramCredentialUpsertion::default()
                .with_name(s("mallory"))
                .with_mechanism(1)
                .with_iterations(4096)
                .with_salt(Bytes::from_static(b"salt"))
                .with_salted_password(Bytes::from_static(b"0123456789abcdef0123456789abcdef")),
        ]),
    );
    check(
        ApiKey::AlterUserScramCredentials,
        aus.results.iter().map(|r| r.error_code).collect(),
        CLUSTER_DENIED,
    );

    // Client quotas: DESCRIBE_CONFIGS and ALTER_CONFIGS on the cluster.
    let dq: kafka_protocol::messages::DescribeClientQuotasResponse = broker.raw_request(
        1,
        &kafka_protocol::messages::DescribeClientQuotasRequest::default(),
    );
    check(
        ApiKey::DescribeClientQuotas,
        vec![dq.error_code],
        CLUSTER_DENIED,
    );
    assert!(dq.entries.is_none(), "a refused describe lists nothing");
    let aq: kafka_protocol::messages::AlterClientQuotasResponse = broker.raw_request(
        1,
        &kafka_protocol::messages::AlterClientQuotasRequest::default().with_entries(vec![
            kafka_protocol::messages::alter_client_quotas_request::EntryData::default()
                .with_entity(vec![
                    kafka_protocol::messages::alter_client_quotas_request::EntityData::default()
                        .with_entity_type(s("user"))
                        .with_entity_name(None),
                ])
                .with_ops(vec![
                    kafka_protocol::messages::alter_client_quotas_request::OpData::default()
                        .with_key(s("producer_byte_rate"))
                        .with_value(1.0),
                ]),
        ]),
    );
    check(
        ApiKey::AlterClientQuotas,
        aq.entries.iter().map(|r| r.error_code).collect(),
        CLUSTER_DENIED,
    );

    // Every API the broker advertises was checked above.
    let advertised: BTreeSet<i16> = versions.api_keys.iter().map(|k| k.api_key).collect();
    let missing: Vec<i16> = advertised.difference(&checked.borrow()).copied().collect();
    assert!(
        missing.is_empty(),
        "APIs advertised but not checked: {missing:?}"
    );

    // Nothing was changed by the refused requests: the data is all there once allowed again.
    drop(broker);
    let reopened = TestBroker::builder().with_data_dir(data.path()).start();
    assert_eq!(reopened.watermarks(TOPIC, 0), (0, 1));
    let md: MetadataResponse =
        reopened.raw_request(12, &MetadataRequest::default().with_topics(None));
    let t = md
        .topics
        .iter()
        .find(|t| t.name == Some(topic()))
        .expect("topic still there");
    assert_eq!(t.partitions.len(), 1, "CreatePartitions was refused");
}
