//! Admin APIs through librdkafka (and raw IncrementalAlterConfigs through kafka-protocol):
//! CreateTopics, Metadata, DescribeConfigs, IncrementalAlterConfigs, CreatePartitions, DeleteTopics.

mod common;

use std::time::Duration;

use common::*;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::IncrementalAlterConfigsRequest;
use kafka_protocol::protocol::StrBytes;
use rdkafka::admin::{ConfigSource, NewPartitions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::producer::FutureRecord;
use rdkafka::types::RDKafkaErrorCode;

const RESOURCE_TOPIC: i8 = 2;
const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;
const INVALID_CONFIG: i16 = 40;

async fn describe(broker: &TestBroker, topic: &str) -> rdkafka::admin::ConfigResource {
    let admin = broker.admin();
    let spec = ResourceSpecifier::Topic(topic);
    let mut res = admin
        .describe_configs([&spec], &admin_opts())
        .await
        .expect("DescribeConfigs");
    assert_eq!(res.len(), 1);
    res.remove(0).expect("DescribeConfigs result")
}

fn config_value(res: &rdkafka::admin::ConfigResource, name: &str) -> Option<String> {
    res.get(name).and_then(|e| e.value.clone())
}

fn is_topic_override(res: &rdkafka::admin::ConfigResource, name: &str) -> bool {
    res.get(name)
        .map(|e| e.source == ConfigSource::DynamicTopic && !e.is_default)
        .unwrap_or(false)
}

fn incremental_alter(
    broker: &TestBroker,
    topic: &str,
    ops: &[(&str, i8, Option<&str>)],
    validate_only: bool,
) -> (i16, Option<String>) {
    let configs = ops
        .iter()
        .map(|(k, op, v)| {
            AlterableConfig::default()
                .with_name(StrBytes::from_string(k.to_string()))
                .with_config_operation(*op)
                .with_value(v.map(|v| StrBytes::from_string(v.to_string())))
        })
        .collect();
    let req = IncrementalAlterConfigsRequest::default()
        .with_resources(vec![AlterConfigsResource::default()
            .with_resource_type(RESOURCE_TOPIC)
            .with_resource_name(StrBytes::from_string(topic.to_string()))
            .with_configs(configs)])
        .with_validate_only(validate_only);
    let resp = broker.raw_request(1, &req);
    assert_eq!(resp.responses.len(), 1);
    let r = &resp.responses[0];
    assert_eq!(r.resource_name.as_str(), topic);
    (
        r.error_code,
        r.error_message.as_ref().map(|m| m.as_str().to_string()),
    )
}

#[tokio::test]
async fn given_new_topic_with_configs_when_creating_should_report_partitions_and_configs() {
    let broker = TestBroker::start();
    let topic = unique_topic("created");
    broker
        .create_topic(
            &topic,
            3,
            &[
                ("retention.ms", "3600000"),
                ("segment.bytes", "1048576"),
                ("cleanup.policy", "delete"),
            ],
        )
        .await;

    let admin = broker.admin();
    let md = admin
        .inner()
        .fetch_metadata(Some(&topic), OP_TIMEOUT)
        .expect("metadata");
    let t = md
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .expect("topic in metadata");
    assert!(t.error().is_none(), "topic error {:?}", t.error());
    let mut ids: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
    ids.sort();
    assert_eq!(ids, vec![0, 1, 2]);
    for p in t.partitions() {
        assert_eq!(p.leader(), 0, "leader of partition {}", p.id());
        assert_eq!(p.replicas(), &[0]);
        assert_eq!(p.isr(), &[0]);
    }

    let res = describe(&broker, &topic).await;
    assert_eq!(
        config_value(&res, "retention.ms").as_deref(),
        Some("3600000")
    );
    assert_eq!(
        config_value(&res, "segment.bytes").as_deref(),
        Some("1048576")
    );
    assert!(
        is_topic_override(&res, "retention.ms"),
        "retention.ms should be a topic override: {:?}",
        res.get("retention.ms")
    );
    // Configs not set on the topic are reported too, as defaults.
    let max_bytes = res
        .get("max.message.bytes")
        .expect("max.message.bytes is described");
    assert!(max_bytes.is_default || max_bytes.source != ConfigSource::DynamicTopic);
    for p in 0..3 {
        assert_eq!(
            broker.watermarks(&topic, p),
            (0, 0),
            "partition {p} starts empty"
        );
    }
}

#[tokio::test]
async fn given_existing_topic_when_creating_again_should_fail_with_topic_already_exists() {
    let broker = TestBroker::start();
    let topic = unique_topic("dup");
    broker.create_topic(&topic, 1, &[]).await;
    let admin = broker.admin();
    let nt = NewTopic::new(&topic, 1, TopicReplication::Fixed(1));
    let res = admin
        .create_topics([&nt], &admin_opts())
        .await
        .expect("CreateTopics");
    assert_eq!(
        res,
        vec![Err((topic.clone(), RDKafkaErrorCode::TopicAlreadyExists))]
    );
}

#[tokio::test]
async fn given_invalid_topic_name_when_creating_should_fail_with_invalid_topic() {
    let broker = TestBroker::start();
    let admin = broker.admin();
    let long = "x".repeat(250);
    for name in ["has space", "..", ".", "bad/slash", "star*", long.as_str()] {
        let nt = NewTopic::new(name, 1, TopicReplication::Fixed(1));
        let res = admin
            .create_topics([&nt], &admin_opts())
            .await
            .expect("CreateTopics");
        assert_eq!(
            res,
            vec![Err((name.to_string(), RDKafkaErrorCode::InvalidTopic))],
            "name {name:?}"
        );
    }
    let names = broker.topic_names();
    assert!(
        !names.iter().any(|n| n == "has space" || n == ".."),
        "{names:?}"
    );
}

#[tokio::test]
async fn given_bad_config_when_creating_should_fail_with_invalid_config_and_create_nothing() {
    let broker = TestBroker::start();
    let admin = broker.admin();
    let cases = [
        ("retention.ms", "not-a-number"),
        ("segment.bytes", "-5"),
        ("cleanup.policy", "sometimes"),
        ("no.such.config", "1"),
    ];
    for (k, v) in cases {
        let topic = unique_topic("badcfg");
        let nt = NewTopic::new(&topic, 1, TopicReplication::Fixed(1)).set(k, v);
        let res = admin
            .create_topics([&nt], &admin_opts())
            .await
            .expect("CreateTopics");
        assert_eq!(
            res,
            vec![Err((topic.clone(), RDKafkaErrorCode::InvalidConfig))],
            "{k}={v}"
        );
        assert!(
            !broker.topic_names().contains(&topic),
            "{k}={v} created the topic anyway"
        );
    }
    let topic = unique_topic("badparts");
    let nt = NewTopic::new(&topic, 0, TopicReplication::Fixed(1));
    let res = admin.create_topics([&nt], &admin_opts()).await;
    // librdkafka may reject 0 partitions locally; if it is sent, the broker must refuse it.
    if let Ok(res) = res {
        assert_eq!(
            res,
            vec![Err((topic.clone(), RDKafkaErrorCode::InvalidPartitions))]
        );
    }
    assert!(!broker.topic_names().contains(&topic));
}

#[tokio::test]
async fn given_validate_only_when_creating_should_validate_but_create_nothing() {
    let broker = TestBroker::start();
    let admin = broker.admin();
    let topic = unique_topic("validate");
    let nt = NewTopic::new(&topic, 2, TopicReplication::Fixed(1)).set("retention.ms", "1000");
    let res = admin
        .create_topics([&nt], &admin_opts().validate_only(true))
        .await
        .expect("CreateTopics");
    assert_eq!(res, vec![Ok(topic.clone())]);
    assert!(!broker.topic_names().contains(&topic));

    // Validation still applies.
    let bad = NewTopic::new(&topic, 2, TopicReplication::Fixed(1)).set("retention.ms", "soon");
    let res = admin
        .create_topics([&bad], &admin_opts().validate_only(true))
        .await
        .expect("CreateTopics");
    assert_eq!(
        res,
        vec![Err((topic.clone(), RDKafkaErrorCode::InvalidConfig))]
    );

    // And the topic can really be created afterwards.
    broker.create_topic(&topic, 2, &[]).await;
    assert!(broker.topic_names().contains(&topic));
}

#[tokio::test]
async fn given_topics_when_listing_should_return_all_of_them() {
    let broker = TestBroker::start();
    let a = unique_topic("list-a");
    let b = unique_topic("list-b");
    broker.create_topic(&a, 1, &[]).await;
    broker.create_topic(&b, 4, &[]).await;
    let admin = broker.admin();
    let md = admin
        .inner()
        .fetch_metadata(None, OP_TIMEOUT)
        .expect("metadata");
    let find = |n: &str| {
        md.topics()
            .iter()
            .find(|t| t.name() == n)
            .map(|t| t.partitions().len())
    };
    assert_eq!(find(&a), Some(1));
    assert_eq!(find(&b), Some(4));
}

#[tokio::test]
async fn given_topic_overrides_when_altering_incrementally_should_change_only_named_configs() {
    let broker = TestBroker::start();
    let topic = unique_topic("alter");
    broker
        .create_topic(
            &topic,
            1,
            &[("retention.ms", "3600000"), ("segment.bytes", "1048576")],
        )
        .await;

    let (code, msg) = incremental_alter(
        &broker,
        &topic,
        &[("retention.ms", OP_SET, Some("7200000"))],
        false,
    );
    assert_eq!(code, 0, "SET retention.ms: {msg:?}");
    let res = describe(&broker, &topic).await;
    assert_eq!(
        config_value(&res, "retention.ms").as_deref(),
        Some("7200000")
    );
    assert_eq!(
        config_value(&res, "segment.bytes").as_deref(),
        Some("1048576"),
        "other override kept"
    );

    let (code, msg) = incremental_alter(
        &broker,
        &topic,
        &[("segment.bytes", OP_DELETE, None)],
        false,
    );
    assert_eq!(code, 0, "DELETE segment.bytes: {msg:?}");
    let res = describe(&broker, &topic).await;
    assert!(
        !is_topic_override(&res, "segment.bytes"),
        "segment.bytes back to default: {:?}",
        res.get("segment.bytes")
    );
    assert_eq!(
        config_value(&res, "retention.ms").as_deref(),
        Some("7200000")
    );

    // validate_only changes nothing; a bad value is INVALID_CONFIG and changes nothing.
    let (code, _) = incremental_alter(
        &broker,
        &topic,
        &[("retention.ms", OP_SET, Some("1000"))],
        true,
    );
    assert_eq!(code, 0);
    let (code, _) = incremental_alter(
        &broker,
        &topic,
        &[("retention.ms", OP_SET, Some("bogus"))],
        false,
    );
    assert_eq!(code, INVALID_CONFIG);
    let res = describe(&broker, &topic).await;
    assert_eq!(
        config_value(&res, "retention.ms").as_deref(),
        Some("7200000")
    );

    // Overrides survive a restart.
    let mut broker = broker;
    broker.stop();
    broker.restart();
    let res = describe(&broker, &topic).await;
    assert_eq!(
        config_value(&res, "retention.ms").as_deref(),
        Some("7200000")
    );
}

#[tokio::test]
async fn given_topic_when_creating_partitions_should_grow_and_accept_records_in_new_ones() {
    let broker = TestBroker::start();
    let topic = unique_topic("grow");
    broker.create_topic(&topic, 1, &[]).await;
    let admin = broker.admin();
    let np = NewPartitions::new(&topic, 3);
    let res = admin
        .create_partitions([&np], &admin_opts())
        .await
        .expect("CreatePartitions");
    assert_eq!(res, vec![Ok(topic.clone())]);

    let md = admin
        .inner()
        .fetch_metadata(Some(&topic), OP_TIMEOUT)
        .expect("metadata");
    let t = md
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .expect("topic");
    assert_eq!(t.partitions().len(), 3);

    // Shrinking is refused.
    let np = NewPartitions::new(&topic, 2);
    let res = admin
        .create_partitions([&np], &admin_opts())
        .await
        .expect("CreatePartitions");
    assert_eq!(
        res,
        vec![Err((topic.clone(), RDKafkaErrorCode::InvalidPartitions))]
    );

    let producer = broker.producer(&[("topic.metadata.refresh.interval.ms", "500")]);
    producer
        .send(
            FutureRecord::<(), _>::to(&topic)
                .partition(2)
                .payload("in-new-partition"),
            Duration::from_secs(10),
        )
        .await
        .expect("produce to new partition");
    let msgs = broker
        .consume_n(&topic, &[2], 1, Duration::from_secs(20))
        .await;
    assert_eq!(msgs.len(), 1);
    assert_eq!(value(&msgs[0]), "in-new-partition");
}

#[tokio::test]
async fn given_topic_when_deleting_should_remove_it_and_allow_recreating_empty() {
    let broker = TestBroker::start();
    let topic = unique_topic("del");
    broker.create_topic(&topic, 2, &[]).await;
    let producer = broker.producer(&[]);
    producer
        .send(
            FutureRecord::<(), _>::to(&topic)
                .partition(0)
                .payload("old"),
            Duration::from_secs(10),
        )
        .await
        .expect("produce");

    let admin = broker.admin();
    let res = admin
        .delete_topics(&[&topic], &admin_opts())
        .await
        .expect("DeleteTopics");
    assert_eq!(res, vec![Ok(topic.clone())]);
    assert!(!broker.topic_names().contains(&topic));

    let res = admin
        .delete_topics(&[&topic], &admin_opts())
        .await
        .expect("DeleteTopics");
    assert_eq!(
        res,
        vec![Err((
            topic.clone(),
            RDKafkaErrorCode::UnknownTopicOrPartition
        ))]
    );

    broker.create_topic(&topic, 1, &[]).await;
    assert_eq!(
        broker.watermarks(&topic, 0),
        (0, 0),
        "recreated topic starts empty"
    );

    // Deletion is durable.
    let mut broker = broker;
    broker.stop();
    broker.restart();
    assert_eq!(broker.watermarks(&topic, 0), (0, 0));
}

#[tokio::test]
async fn given_running_broker_when_fetching_metadata_should_describe_the_cluster() {
    let broker = TestBroker::start();
    let admin = broker.admin();
    let md = admin
        .inner()
        .fetch_metadata(None, OP_TIMEOUT)
        .expect("metadata");
    assert_eq!(md.brokers().len(), 1);
    let b = &md.brokers()[0];
    assert_eq!(b.id(), 0);
    assert_eq!(b.host(), "127.0.0.1");
    assert_eq!(b.port(), i32::from(broker.port()));
    let cluster_id = admin.inner().fetch_cluster_id(OP_TIMEOUT);
    assert!(
        cluster_id.as_deref().is_some_and(|c| !c.is_empty()),
        "cluster id {cluster_id:?}"
    );
    // Internal topics, if any, are never offered to a fresh cluster's users as regular topics.
    assert!(md.topics().iter().all(|t| t.error().is_none()));

    // The cluster id is stable across restarts.
    let mut broker = broker;
    broker.stop();
    broker.restart();
    let admin = broker.admin();
    assert_eq!(admin.inner().fetch_cluster_id(OP_TIMEOUT), cluster_id);
}
