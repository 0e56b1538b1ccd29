//! SASL/PLAIN on a SASL_PLAINTEXT listener, through librdkafka: a user with the right password
//! produces, consumes in a group and commits; a wrong password and an unauthenticated client are
//! refused, and the broker keeps serving the others.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use common::*;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message};

fn sasl_broker() -> (TestBroker, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("oxbow.toml");
    std::fs::write(
        &config,
        "[security]\nsasl_mechanisms = [\"PLAIN\"]\n\n[security.plain_users]\nalice = \"alice-secret\"\n",
    )
    .unwrap();
    let broker = TestBroker::builder()
        .with_arg("--config")
        .with_arg(config.to_str().unwrap())
        .with_env("OXBOW_GROUP_INITIAL_REBALANCE_DELAY_MS", "0")
        .start();
    (broker, dir)
}

fn client(broker: &TestBroker, user: &str, password: &str, extra: &[(&str, &str)]) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", broker.bootstrap())
        .set("broker.address.family", "v4")
        .set("security.protocol", "sasl_plaintext")
        .set("sasl.mechanism", "PLAIN")
        .set("sasl.username", user)
        .set("sasl.password", password);
    for (k, v) in extra {
        c.set(*k, *v);
    }
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_plain_user_when_producing_and_consuming_should_work_and_strangers_are_refused() {
    let (broker, _dir) = sasl_broker();
    let topic = unique_topic("sasl");
    let producer: FutureProducer = client(
        &broker,
        "alice",
        "alice-secret",
        &[("message.timeout.ms", "20000")],
    )
    .create()
    .unwrap();
    for i in 0..100 {
        producer
            .send(
                FutureRecord::<str, str>::to(&topic).payload(&format!("v{i}")),
                Duration::from_secs(20),
            )
            .await
            .unwrap_or_else(|(e, _)| panic!("produce as alice: {e}\n{}", broker.log_tail(30)));
    }
    let group = unique_topic("sasl-group");
    let consumer: StreamConsumer = client(
        &broker,
        "alice",
        "alice-secret",
        &[
            ("group.id", &group),
            ("auto.offset.reset", "earliest"),
            ("enable.auto.commit", "false"),
        ],
    )
    .create()
    .unwrap();
    consumer.subscribe(&[&topic]).unwrap();
    let mut seen = 0;
    while seen < 100 {
        let m = tokio::time::timeout(Duration::from_secs(60), consumer.recv())
            .await
            .expect("records within a minute")
            .expect("consume as alice");
        assert!(m.payload().is_some());
        seen += 1;
    }
    consumer
        .commit_consumer_state(CommitMode::Sync)
        .expect("commit as alice");
    let log = std::fs::read_to_string(broker.log_path()).unwrap();
    assert!(
        log.contains("User:alice"),
        "authentication logged with the principal"
    );

    // A wrong password: the send fails, nothing is stored.
    let intruder: FutureProducer =
        client(&broker, "alice", "guess", &[("message.timeout.ms", "3000")])
            .create()
            .unwrap();
    let refused = intruder
        .send(
            FutureRecord::<str, str>::to(&topic).payload("x"),
            Duration::from_secs(5),
        )
        .await;
    assert!(refused.is_err(), "a wrong password must not produce");
    let log = std::fs::read_to_string(broker.log_path()).unwrap();
    assert!(log.contains("authentication failed"), "failure logged");
    assert!(log.contains("wrong password for user alice"));

    // A client that skips SASL: its first request closes the connection.
    let mut s = TcpStream::connect(broker.bootstrap()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut body = BytesMut::new();
    body.put_i16(3); // Metadata
    body.put_i16(1);
    body.put_i32(1);
    body.put_i16(-1);
    body.put_i32(-1); // all topics
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    s.write_all(&frame).unwrap();
    let mut buf = [0u8; 16];
    assert!(
        matches!(s.read(&mut buf), Ok(0) | Err(_)),
        "no answer before authentication"
    );

    // Alice still reads: 100 records are there.
    assert_eq!(broker_high_watermark(&broker, &topic).await, 100);
}

async fn broker_high_watermark(broker: &TestBroker, topic: &str) -> i64 {
    let c: rdkafka::consumer::BaseConsumer =
        client(broker, "alice", "alice-secret", &[("group.id", "hw")])
            .create()
            .unwrap();
    let (_, hi) = c.fetch_watermarks(topic, 0, OP_TIMEOUT).unwrap();
    hi
}

/// SASL_SSL: `[tls]` plus `security.sasl_mechanisms` make the single listener SASL over TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_sasl_ssl_listener_when_authenticated_over_tls_should_produce_and_read() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("server.pem");
    let key = dir.path().join("server.key");
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
        ])
        .args([
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl");
    assert!(made.status.success());
    let config = dir.path().join("oxbow.toml");
    std::fs::write(
        &config,
        format!(
            "[security]\nsasl_mechanisms = [\"PLAIN\"]\n\n[security.plain_users]\nalice = \"alice-secret\"\n\n\
             [tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
            cert.display(),
            key.display()
        ),
    )
    .unwrap();
    let broker = TestBroker::builder()
        .with_arg("--config")
        .with_arg(config.to_str().unwrap())
        .start();
    let topic = unique_topic("sasl-ssl");
    let ssl = |password: &str| {
        let mut c = client(
            &broker,
            "alice",
            password,
            &[("message.timeout.ms", "10000")],
        );
        c.set("security.protocol", "sasl_ssl")
            .set("ssl.ca.location", cert.to_str().unwrap());
        c
    };
    let producer: FutureProducer = ssl("alice-secret").create().unwrap();
    for i in 0..50 {
        producer
            .send(
                FutureRecord::<str, str>::to(&topic).payload(&format!("v{i}")),
                Duration::from_secs(10),
            )
            .await
            .unwrap_or_else(|(e, _)| panic!("produce over SASL_SSL: {e}\n{}", broker.log_tail(30)));
    }
    let reader: rdkafka::consumer::BaseConsumer =
        ssl("alice-secret").set("group.id", "r").create().unwrap();
    let (_, hi) = reader.fetch_watermarks(&topic, 0, OP_TIMEOUT).unwrap();
    assert_eq!(hi, 50);
    let intruder: FutureProducer = ssl("nope").create().unwrap();
    assert!(intruder
        .send(
            FutureRecord::<str, str>::to(&topic).payload("x"),
            Duration::from_secs(5)
        )
        .await
        .is_err());
}

/// ACLs through librdkafka over SASL_PLAINTEXT, made by the super user with raw CreateAcls on an
/// authenticated connection: the department user is held to them, and they survive a SIGKILL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_acls_when_broker_is_sigkilled_should_still_confine_the_department_user() {
    use kafka_protocol::messages::create_acls_request::AclCreation;
    use kafka_protocol::messages::{CreateAclsRequest, DescribeAclsRequest};
    use kafka_protocol::protocol::StrBytes;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("oxbow.toml");
    std::fs::write(
        &config,
        "[security]\nsasl_mechanisms = [\"PLAIN\"]\nsuper_users = [\"admin\"]\n\n\
         [security.plain_users]\nadmin = \"admin-secret\"\nsales = \"sales-secret\"\n",
    )
    .unwrap();
    let mut broker = TestBroker::builder()
        .with_arg("--config")
        .with_arg(config.to_str().unwrap())
        .start();
    let admin: FutureProducer = client(&broker, "admin", "admin-secret", &[])
        .create()
        .unwrap();
    for t in ["sales-ledger", "hr-payroll"] {
        admin
            .send(
                FutureRecord::<str, str>::to(t).payload("seed"),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)
            .expect("the super user may auto-create and write anywhere");
    }
    drop(admin);
    let mut conn = sasl_plain_connection(&broker.bootstrap(), "admin", "admin-secret");
    let created = raw_on(
        &mut conn,
        3,
        &CreateAclsRequest::default().with_creations(vec![AclCreation::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_static_str("sales-"))
            .with_resource_pattern_type(4)
            .with_principal(StrBytes::from_static_str("User:sales"))
            .with_host(StrBytes::from_static_str("*"))
            .with_operation(4)
            .with_permission_type(3)]),
    );
    assert_eq!(created.results[0].error_code, 0);
    drop(conn);

    broker.kill9();
    broker.restart();

    let mut conn = sasl_plain_connection(&broker.bootstrap(), "admin", "admin-secret");
    let described = raw_on(
        &mut conn,
        3,
        &DescribeAclsRequest::default()
            .with_resource_type_filter(1)
            .with_resource_name_filter(None)
            .with_principal_filter(None)
            .with_host_filter(None)
            .with_pattern_type_filter(1)
            .with_operation(1)
            .with_permission_type(1),
    );
    assert_eq!(described.resources.len(), 1, "the ACL survived the SIGKILL");
    let sales: FutureProducer = client(
        &broker,
        "sales",
        "sales-secret",
        &[("message.timeout.ms", "5000")],
    )
    .create()
    .unwrap();
    sales
        .send(
            FutureRecord::<str, str>::to("sales-ledger").payload("ok"),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| e)
        .expect("WRITE on sales-* is allowed");
    let refused = sales
        .send(
            FutureRecord::<str, str>::to("hr-payroll").payload("no"),
            Duration::from_secs(10),
        )
        .await
        .expect_err("hr-payroll is not the department's");
    assert!(
        refused.0.to_string().contains("authoriz"),
        "TOPIC_AUTHORIZATION_FAILED expected, got {}",
        refused.0
    );
}

/// A SCRAM-SHA-512 user created with AlterUserScramCredentials (the salted password computed
/// here, as Kafka's tools do) authenticates through librdkafka, also after a SIGKILL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_scram_user_when_broker_is_sigkilled_should_still_authenticate_it() {
    use kafka_protocol::messages::alter_user_scram_credentials_request::ScramCredentialUpsertion;
    use kafka_protocol::messages::AlterUserScramCredentialsRequest;
    use kafka_protocol::protocol::StrBytes;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("oxbow.toml");
    std::fs::write(
        &config,
        "[security]\nsasl_mechanisms = [\"PLAIN\", \"SCRAM-SHA-512\"]\n\n\
         [security.plain_users]\nadmin = \"admin-secret\"\n",
    )
    .unwrap();
    let mut broker = TestBroker::builder()
        .with_arg("--config")
        .with_arg(config.to_str().unwrap())
        .start();
    let salt = b"oxbow-test-salt!";
    let mut salted = [0u8; 64];
    ring::pbkdf2::derive(
        ring::pbkdf2::PBKDF2_HMAC_SHA512,
        std::num::NonZeroU32::new(4096).unwrap(),
        salt,
        b"carol-secret",
        &mut salted,
    );
    let mut conn = sasl_plain_connection(&broker.bootstrap(), "admin", "admin-secret");
    let altered = raw_on(
        &mut conn,
        0,
        &AlterUserScramCredentialsRequest::default().with_upsertions(vec![
            ScramCredentialUpsertion::default()
                .with_name(StrBytes::from_static_str("carol"))
                .with_mechanism(2)
                .with_iterations(4096)
                .with_salt(bytes::Bytes::from_static(salt))
                .with_salted_password(bytes::Bytes::copy_from_slice(&salted)),
        ]),
    );
    assert_eq!(altered.results[0].error_code, 0);
    drop(conn);
    broker.kill9();
    broker.restart();
    let scram = |password: &str| -> FutureProducer {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", broker.bootstrap())
            .set("broker.address.family", "v4")
            .set("security.protocol", "sasl_plaintext")
            .set("sasl.mechanism", "SCRAM-SHA-512")
            .set("sasl.username", "carol")
            .set("sasl.password", password)
            .set("message.timeout.ms", "5000");
        c.create().unwrap()
    };
    scram("carol-secret")
        .send(
            FutureRecord::<str, str>::to("scram-topic").payload("hi"),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| e)
        .expect("the SCRAM user survived the SIGKILL");
    assert!(scram("wrong")
        .send(
            FutureRecord::<str, str>::to("scram-topic").payload("no"),
            Duration::from_secs(6)
        )
        .await
        .is_err());
}

/// Failed authentications from one address are limited: after the configured number in a
/// minute even the right password is refused, unchecked; the failures are audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_repeated_failures_from_an_address_when_authenticating_should_refuse_it_for_a_while()
{
    use kafka_protocol::messages::{SaslAuthenticateRequest, SaslHandshakeRequest};
    use kafka_protocol::protocol::StrBytes;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("oxbow.toml");
    std::fs::write(
        &config,
        "[security]\nsasl_mechanisms = [\"PLAIN\"]\nmax_failed_authentications_per_minute = 3\n\
         failed_authentication_delay_ms = 50\n\n[security.plain_users]\nalice = \"alice-secret\"\n",
    )
    .unwrap();
    let broker = TestBroker::builder()
        .with_arg("--config")
        .with_arg(config.to_str().unwrap())
        .start();
    let attempt = |password: &str| -> (i16, Option<String>) {
        let mut s = TcpStream::connect(broker.bootstrap()).unwrap();
        let hs = raw_on(
            &mut s,
            1,
            &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")),
        );
        assert_eq!(hs.error_code, 0);
        let auth = raw_on(
            &mut s,
            2,
            &SaslAuthenticateRequest::default()
                .with_auth_bytes(bytes::Bytes::from(format!("\0alice\0{password}"))),
        );
        (auth.error_code, auth.error_message.map(|m| m.to_string()))
    };
    assert_eq!(attempt("alice-secret").0, 0);
    let started = std::time::Instant::now();
    for _ in 0..3 {
        assert_eq!(attempt("guess").0, 58, "SASL_AUTHENTICATION_FAILED");
    }
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "each failure is answered late"
    );
    let (code, text) = attempt("alice-secret");
    assert_eq!(code, 58);
    assert!(
        text.unwrap_or_default().contains("too many"),
        "the reason is given"
    );
    let audit_path = broker.data_dir().join("audit.log");
    let audited = wait_until(Duration::from_secs(5), || {
        std::fs::read_to_string(&audit_path)
            .unwrap_or_default()
            .contains("\"rate_limited\"")
    })
    .await;
    assert!(audited, "the refusal is in the audit log");
}

/// KIP-368: with `connections_max_reauth_ms`, librdkafka re-authenticates on its connections and
/// keeps producing without errors; a client that does not is disconnected once its session ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_session_lifetime_when_clients_reauthenticate_should_keep_them_and_drop_the_others() {
    use kafka_protocol::messages::MetadataRequest;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("oxbow.toml");
    std::fs::write(
        &config,
        "[security]\nsasl_mechanisms = [\"PLAIN\"]\nconnections_max_reauth_ms = 1000\n\n\
         [security.plain_users]\nalice = \"alice-secret\"\n",
    )
    .unwrap();
    let broker = TestBroker::builder()
        .with_arg("--config")
        .with_arg(config.to_str().unwrap())
        .start();
    let producer: FutureProducer = client(
        &broker,
        "alice",
        "alice-secret",
        &[("message.timeout.ms", "10000")],
    )
    .create()
    .unwrap();
    let until = std::time::Instant::now() + Duration::from_millis(3500);
    let mut sent = 0;
    while std::time::Instant::now() < until {
        producer
            .send(
                FutureRecord::<str, str>::to("reauth").payload("x"),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)
            .expect("no error across re-authentications");
        sent += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(sent > 20);
    let authentications = broker.log_tail(400).matches("authenticated").count();
    assert!(
        authentications >= 3,
        "librdkafka re-authenticated ({authentications} authentications)"
    );

    // A raw client that never re-authenticates: served within its session, closed after.
    let mut conn = sasl_plain_connection(&broker.bootstrap(), "alice", "alice-secret");
    let _ = raw_on(
        &mut conn,
        12,
        &MetadataRequest::default().with_topics(Some(vec![])),
    );
    std::thread::sleep(Duration::from_millis(1100));
    // Metadata v1 for all topics: header (key 3, version 1, correlation 9, null client id),
    // body (null topic array).
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    conn.write_all(&[
        0, 0, 0, 14, 0, 3, 0, 1, 0, 0, 0, 9, 255, 255, 255, 255, 255, 255,
    ])
    .unwrap();
    let mut buf = [0u8; 4];
    match conn.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("the expired session was answered ({n} bytes)"),
        Err(e) => panic!("the expired session's connection was not closed: {e}"),
    }
}

/// A user held to a produce quota (AlterClientQuotas by the super user, surviving a SIGKILL) is
/// slowed by librdkafka honouring `throttle_time_ms` to within 10% of its rate, with no record
/// failing; the change and the throttling are in the audit log; another user is not slowed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_produce_quota_when_user_produces_flat_out_should_hold_it_to_its_rate_without_errors()
{
    use kafka_protocol::messages::alter_client_quotas_request::{EntityData, EntryData, OpData};
    use kafka_protocol::messages::describe_client_quotas_request::ComponentData;
    use kafka_protocol::messages::{AlterClientQuotasRequest, DescribeClientQuotasRequest};
    use kafka_protocol::protocol::StrBytes;
    const RATE: f64 = 400_000.0;
    const VALUE: usize = 1000;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("oxbow.toml");
    std::fs::write(
        &config,
        "[security]\nsasl_mechanisms = [\"PLAIN\"]\nsuper_users = [\"admin\"]\n\
         allow_everyone_if_no_acl_found = true\n\n\
         [security.plain_users]\nadmin = \"admin-secret\"\nbatch = \"batch-secret\"\n",
    )
    .unwrap();
    let mut broker = TestBroker::builder()
        .with_arg("--config")
        .with_arg(config.to_str().unwrap())
        .start();
    let topic = unique_topic("quota");
    let mut conn = sasl_plain_connection(&broker.bootstrap(), "admin", "admin-secret");
    let set = raw_on(
        &mut conn,
        1,
        &AlterClientQuotasRequest::default().with_entries(vec![EntryData::default()
            .with_entity(vec![EntityData::default()
                .with_entity_type(StrBytes::from_static_str("user"))
                .with_entity_name(Some(StrBytes::from_static_str("batch")))])
            .with_ops(vec![OpData::default()
                .with_key(StrBytes::from_static_str("producer_byte_rate"))
                .with_value(RATE)])]),
    );
    assert_eq!(set.entries[0].error_code, 0, "{:?}", set.entries[0]);
    drop(conn);

    broker.kill9();
    broker.restart();

    let mut conn = sasl_plain_connection(&broker.bootstrap(), "admin", "admin-secret");
    let described = raw_on(
        &mut conn,
        1,
        &DescribeClientQuotasRequest::default().with_components(vec![ComponentData::default()
            .with_entity_type(StrBytes::from_static_str("user"))
            .with_match_type(0)
            .with_match(Some(StrBytes::from_static_str("batch")))]),
    );
    let entries = described.entries.expect("entries");
    assert_eq!(entries.len(), 1, "the quota survived the SIGKILL");
    assert_eq!(entries[0].values[0].value, RATE);
    drop(conn);

    let producer: FutureProducer = client(
        &broker,
        "batch",
        "batch-secret",
        &[
            ("message.timeout.ms", "120000"),
            ("linger.ms", "5"),
            ("batch.size", "65536"),
            ("client.id", "nightly-batch"),
            // A short queue: what is left when the test stops drains within seconds.
            ("queue.buffering.max.kbytes", "512"),
        ],
    )
    .create()
    .unwrap();
    let payload = "x".repeat(VALUE);
    let stop_at = std::time::Instant::now() + Duration::from_secs(14);
    let sender = {
        let producer = producer.clone();
        let topic = topic.clone();
        tokio::spawn(async move {
            let mut deliveries = Vec::new();
            while std::time::Instant::now() < stop_at {
                match producer.send_result(FutureRecord::<str, str>::to(&topic).payload(&payload)) {
                    Ok(d) => deliveries.push(d),
                    Err((e, _)) => {
                        assert!(
                            matches!(
                                e.rdkafka_error_code(),
                                Some(rdkafka::types::RDKafkaErrorCode::QueueFull)
                            ),
                            "enqueue failed: {e}"
                        );
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                }
                if deliveries.len() % 64 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            deliveries
        })
    };
    // The rate in the steady state: records landed between 3 s and 13 s.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, hw0) = watermarks_as(&broker, &topic).await;
    let t0 = std::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let (_, hw1) = watermarks_as(&broker, &topic).await;
    let elapsed = t0.elapsed().as_secs_f64();
    let deliveries = sender.await.unwrap();
    let mut failed = 0;
    for d in deliveries {
        if !matches!(d.await, Ok(Ok(_))) {
            failed += 1;
        }
    }
    assert_eq!(
        failed,
        0,
        "no record may fail under a quota\n{}",
        broker.log_tail(30)
    );
    let rate = (hw1 - hw0) as f64 * VALUE as f64 / elapsed;
    eprintln!("produce quota {RATE} B/s: measured {rate:.0} B/s of values");
    assert!(
        (rate - RATE).abs() / RATE <= 0.10,
        "held to {rate:.0} B/s, quota {RATE} B/s"
    );

    let audit = std::fs::read_to_string(broker.data_dir().join("audit.log")).unwrap();
    assert!(
        audit
            .lines()
            .any(|l| l.contains("\"quota_alter\"") && l.contains("user=batch")),
        "quota change audited"
    );
    assert!(
        audit.lines().any(|l| l.contains("\"quota_throttle\"")
            && l.contains("User:batch")
            && l.contains("nightly-batch")
            && l.contains("producer_byte_rate")),
        "throttling audited:\n{audit}"
    );

    // The super user has no quota: 4 MB go through at full speed.
    let admin: FutureProducer = client(&broker, "admin", "admin-secret", &[("linger.ms", "5")])
        .create()
        .unwrap();
    let start = std::time::Instant::now();
    let big = "y".repeat(VALUE);
    let sends: Vec<_> = (0..4000)
        .map(|_| {
            admin
                .send_result(FutureRecord::<str, str>::to(&topic).payload(&big))
                .map_err(|(e, _)| e)
                .unwrap()
        })
        .collect();
    for s in sends {
        s.await.unwrap().map_err(|(e, _)| e).unwrap();
    }
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "an unquota'd user is not slowed: {:?}",
        start.elapsed()
    );
}

async fn watermarks_as(broker: &TestBroker, topic: &str) -> (i64, i64) {
    let c: rdkafka::consumer::BaseConsumer =
        client(broker, "admin", "admin-secret", &[("group.id", "hw")])
            .create()
            .unwrap();
    c.fetch_watermarks(topic, 0, OP_TIMEOUT).unwrap()
}

/// `request_percentage` on the default user: a client that keeps the request handlers busy gets
/// `throttle_time_ms` in its responses (here Metadata of every topic), and its connection is held
/// back for that long; the quota lifted, it is not throttled any more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_request_percentage_quota_when_flooding_metadata_should_throttle_the_client() {
    use kafka_protocol::messages::alter_client_quotas_request::{EntityData, EntryData, OpData};
    use kafka_protocol::messages::{AlterClientQuotasRequest, MetadataRequest};
    use kafka_protocol::protocol::StrBytes;
    let broker = TestBroker::start();
    let alter = |value: f64, remove: bool| {
        AlterClientQuotasRequest::default().with_entries(vec![EntryData::default()
            .with_entity(vec![EntityData::default()
                .with_entity_type(StrBytes::from_static_str("user"))
                .with_entity_name(None)])
            .with_ops(vec![OpData::default()
                .with_key(StrBytes::from_static_str("request_percentage"))
                .with_value(value)
                .with_remove(remove)])])
    };
    let set = broker.raw_request(1, &alter(1.0, false));
    assert_eq!(set.entries[0].error_code, 0, "{:?}", set.entries[0]);
    let mut conn = TcpStream::connect(broker.bootstrap()).unwrap();
    let start = std::time::Instant::now();
    let mut throttled = 0;
    let mut total_ms = 0i64;
    for _ in 0..20_000 {
        let r = raw_on(&mut conn, 12, &MetadataRequest::default().with_topics(None));
        if r.throttle_time_ms > 0 {
            throttled += 1;
            total_ms += i64::from(r.throttle_time_ms);
        }
        if throttled >= 3 {
            break;
        }
    }
    assert!(
        throttled >= 3,
        "1% of a thread is exceeded by a Metadata flood"
    );
    // The connection was muted for the throttles answered (all but the last, still running).
    assert!(
        start.elapsed().as_millis() as i64 >= total_ms / 2,
        "muted {:?} for {total_ms} ms of throttles",
        start.elapsed()
    );
    let lifted = broker.raw_request(1, &alter(0.0, true));
    assert_eq!(lifted.entries[0].error_code, 0);
    let mut fresh = TcpStream::connect(broker.bootstrap()).unwrap();
    for _ in 0..50 {
        let r = raw_on(
            &mut fresh,
            12,
            &MetadataRequest::default().with_topics(None),
        );
        assert_eq!(r.throttle_time_ms, 0, "no quota, no throttle");
    }
}
