//! Listeners and the second transport: one broker with a PLAINTEXT and an SSL listener. A full
//! session (create a topic, idempotent produce, a consumer group that subscribes, reads everything
//! and commits) runs over TLS, where fetched records take the copying path instead of
//! `sendfile`; Metadata on each listener advertises that listener's own address.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use kafka_protocol::messages::{
    describe_configs_request, DescribeConfigsRequest, DescribeConfigsResponse, MetadataRequest,
    MetadataResponse,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

const RECORDS: usize = 5_000;

/// A self-signed certificate for 127.0.0.1 made with the openssl command.
fn make_cert(dir: &Path) -> (String, String) {
    let cert = dir.join("server.pem");
    let key = dir.join("server.key");
    let status = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ])
        .output()
        .expect("run openssl (the tests need the openssl command)");
    assert!(
        status.status.success(),
        "openssl failed: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    (cert.display().to_string(), key.display().to_string())
}

fn ssl_config(bootstrap: &str, ca: &str, extra: &[(&str, &str)]) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("security.protocol", "ssl")
        .set("ssl.ca.location", ca);
    for (k, v) in extra {
        c.set(*k, *v);
    }
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_ssl_listener_when_running_a_full_session_should_produce_fetch_and_commit_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = make_cert(dir.path());
    let plain_port = free_port();
    let ssl_port = free_port();
    let config = dir.path().join("oxbow.toml");
    std::fs::write(
        &config,
        format!(
            "[[server.listeners]]\nname = \"LOCAL\"\nlisten = \"127.0.0.1:{plain_port}\"\n\n\
             [[server.listeners]]\nname = \"SECURE\"\nlisten = \"127.0.0.1:{ssl_port}\"\n\
             protocol = \"SSL\"\n\n[tls]\ncert_file = \"{cert}\"\nkey_file = \"{key}\"\n"
        ),
    )
    .unwrap();
    let broker = TestBroker::builder()
        .with_port(plain_port)
        .with_arg("--config")
        .with_arg(config.to_str().unwrap())
        .start();
    let ssl = format!("127.0.0.1:{ssl_port}");

    // Each listener advertises itself.
    let plain_md: MetadataResponse = broker.raw_request(12, &MetadataRequest::default());
    assert_eq!(plain_md.brokers[0].port, i32::from(plain_port));
    // DescribeConfigs names every listener, as Kafka's `listeners` and protocol map do.
    let configs: DescribeConfigsResponse = broker.raw_request(
        4,
        &DescribeConfigsRequest::default().with_resources(vec![
            describe_configs_request::DescribeConfigsResource::default()
                .with_resource_type(4)
                .with_resource_name(StrBytes::from_static_str("0")),
        ]),
    );
    let value = |name: &str| {
        configs.results[0]
            .configs
            .iter()
            .find(|c| c.name.as_str() == name)
            .and_then(|c| c.value.as_ref().map(|v| v.to_string()))
            .unwrap_or_default()
    };
    assert_eq!(
        value("listeners"),
        format!("LOCAL://127.0.0.1:{plain_port},SECURE://127.0.0.1:{ssl_port}")
    );
    assert_eq!(
        value("listener.security.protocol.map"),
        "LOCAL:PLAINTEXT,SECURE:SSL"
    );
    let admin: rdkafka::admin::AdminClient<rdkafka::client::DefaultClientContext> =
        ssl_config(&ssl, &cert, &[]).create().unwrap();
    let md = admin
        .inner()
        .fetch_metadata(None, OP_TIMEOUT)
        .expect("metadata over TLS");
    assert_eq!(md.brokers()[0].port(), i32::from(ssl_port));

    // Create, produce, consume in a group, commit: all over TLS.
    let topic = unique_topic("tls");
    let new = rdkafka::admin::NewTopic::new(&topic, 3, rdkafka::admin::TopicReplication::Fixed(1));
    let created = admin
        .create_topics([&new], &admin_opts())
        .await
        .expect("CreateTopics over TLS");
    assert!(created.iter().all(|r| r.is_ok()), "{created:?}");

    let producer: FutureProducer = ssl_config(
        &ssl,
        &cert,
        &[
            ("enable.idempotence", "true"),
            ("compression.type", "lz4"),
            ("linger.ms", "5"),
            ("message.timeout.ms", "30000"),
        ],
    )
    .create()
    .unwrap();
    let sends = (0..RECORDS).map(|i| {
        let producer = &producer;
        let topic = &topic;
        async move {
            let key = format!("k{}", i % 31);
            let value = format!("value-{i}-{}", "x".repeat(i % 300));
            producer
                .send(
                    FutureRecord::to(topic).key(&key).payload(&value),
                    Duration::from_secs(30),
                )
                .await
                .map(|_| ())
                .map_err(|(e, _)| e)
        }
    });
    for r in futures::future::join_all(sends).await {
        r.expect("produce over TLS");
    }

    let group = unique_topic("tls-group");
    let consumer: StreamConsumer = ssl_config(
        &ssl,
        &cert,
        &[
            ("group.id", &group),
            ("enable.auto.commit", "false"),
            ("auto.offset.reset", "earliest"),
            ("fetch.wait.max.ms", "100"),
        ],
    )
    .create()
    .unwrap();
    consumer.subscribe(&[&topic]).unwrap();
    let mut seen = vec![false; RECORDS];
    let mut count = 0;
    let deadline = Instant::now() + Duration::from_secs(90);
    while count < RECORDS {
        let left = deadline.saturating_duration_since(Instant::now());
        let m = tokio::time::timeout(left, consumer.recv())
            .await
            .unwrap_or_else(|_| panic!("only {count} of {RECORDS} records arrived over TLS"))
            .expect("consume over TLS");
        let value = std::str::from_utf8(m.payload().unwrap()).unwrap();
        let i: usize = value.split('-').nth(1).unwrap().parse().unwrap();
        assert_eq!(value, format!("value-{i}-{}", "x".repeat(i % 300)));
        assert!(!seen[i], "record {i} delivered twice");
        seen[i] = true;
        count += 1;
    }
    consumer
        .commit_consumer_state(CommitMode::Sync)
        .expect("commit over TLS");
    let mut tpl = TopicPartitionList::new();
    for p in 0..3 {
        tpl.add_partition(&topic, p);
    }
    let committed = consumer
        .committed_offsets(tpl, OP_TIMEOUT)
        .expect("committed offsets");
    let total: i64 = committed
        .elements()
        .iter()
        .map(|e| match e.offset() {
            Offset::Offset(o) => o,
            other => panic!("no committed offset: {other:?}"),
        })
        .sum();
    assert_eq!(total, RECORDS as i64);

    // The plaintext listener serves the same data.
    let plain = broker.consume_to_end(&topic, &[0, 1, 2], OP_TIMEOUT).await;
    assert_eq!(plain.len(), RECORDS);
}

/// Runs openssl with `args` in `dir`, panicking with its output on failure.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A client certificate for `subject`, signed by the CA in `dir` (ca.pem, ca.key).
fn client_cert(dir: &Path, name: &str, subject: &str) -> (String, String) {
    let ext = dir.join("client.ext");
    std::fs::write(
        &ext,
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    let (key, csr, pem) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.pem"),
    );
    openssl(
        dir,
        &[
            "req", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &csr, "-subj", subject,
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &pem,
            "-days",
            "2",
            "-extfile",
            "client.ext",
        ],
    );
    (
        dir.join(pem).display().to_string(),
        dir.join(key).display().to_string(),
    )
}

/// Mutual TLS: the principal is mapped from the client certificate's subject by
/// `ssl_principal_mapping_rules`; the mapped super user produces, another certificate's principal
/// is refused by the ACL authorizer, and a client without a certificate cannot connect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_mutual_tls_when_clients_present_certificates_should_map_their_principals() {
    let dir = tempfile::tempdir().unwrap();
    let (server_cert, server_key) = make_cert(dir.path());
    openssl(
        dir.path(),
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-subj",
            "/CN=oxbow-test-ca",
        ],
    );
    let alice = client_cert(dir.path(), "alice", "/C=FR/O=Acme/OU=ops/CN=Alice");
    let mallory = client_cert(dir.path(), "mallory", "/O=Acme/OU=sales/CN=mallory");
    let config = dir.path().join("oxbow.toml");
    std::fs::write(
        &config,
        format!(
            "[tls]\ncert_file = \"{server_cert}\"\nkey_file = \"{server_key}\"\nclient_ca_file = \"{}\"\n\n\
             [security]\nsuper_users = [\"alice\"]\n\
             ssl_principal_mapping_rules = \"RULE:^CN=([^,]+),OU=ops,.*$/$1/L,DEFAULT\"\n",
            dir.path().join("ca.pem").display()
        ),
    )
    .unwrap();
    let broker = TestBroker::builder()
        .with_arg("--config")
        .with_arg(config.to_str().unwrap())
        .start();
    let producer = |cert: Option<&(String, String)>| -> FutureProducer {
        let mut extra = vec![("message.timeout.ms", "5000")];
        if let Some((pem, key)) = cert {
            extra.push(("ssl.certificate.location", pem.as_str()));
            extra.push(("ssl.key.location", key.as_str()));
        }
        ssl_config(&broker.bootstrap(), &server_cert, &extra)
            .create()
            .unwrap()
    };
    producer(Some(&alice))
        .send(
            FutureRecord::<str, str>::to("mtls").payload("from alice"),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| e)
        .expect("CN=Alice,OU=ops maps to the super user alice");
    let refused = producer(Some(&mallory))
        .send(
            FutureRecord::<str, str>::to("mtls").payload("no"),
            Duration::from_secs(10),
        )
        .await
        .expect_err("CN=mallory,OU=sales,O=Acme has no ACL");
    assert!(refused.0.to_string().contains("authoriz"), "{}", refused.0);
    assert!(producer(None)
        .send(
            FutureRecord::<str, str>::to("mtls").payload("no"),
            Duration::from_secs(6)
        )
        .await
        .is_err());
    let log = broker.log_tail(200);
    assert!(
        log.contains("TLS handshake failed"),
        "no certificate, no connection"
    );
}
