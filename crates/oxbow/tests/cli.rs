//! The admin CLI (`oxbow topic|produce|consume`) run as a process against a live broker.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::*;
use serde_json::Value;

fn oxbow(broker: &TestBroker, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_oxbow"));
    cmd.args(args)
        .arg("--bootstrap")
        .arg(broker.bootstrap())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn oxbow cli");
    if let Some(input) = stdin {
        let mut s = child.stdin.take().expect("stdin");
        s.write_all(input.as_bytes()).expect("write stdin");
    }
    let out = child.wait_with_output().expect("wait oxbow cli");
    eprintln!(
        "$ oxbow {}\n-> {}\nstdout: {}\nstderr: {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "command failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json_lines(s: &str) -> Vec<Value> {
    s.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

#[test]
fn given_cli_when_managing_topics_should_create_list_describe_alter_and_delete() {
    let broker = TestBroker::start();
    let t = "cli-topic";

    let out = ok(&oxbow(
        &broker,
        &[
            "topic",
            "create",
            t,
            "--partitions",
            "2",
            "--config",
            "retention.ms=3600000",
        ],
        None,
    ));
    assert!(out.contains("Created topic cli-topic"), "{out}");

    let again = oxbow(&broker, &["topic", "create", t, "--partitions", "2"], None);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("TOPIC_ALREADY_EXISTS"));
    ok(&oxbow(
        &broker,
        &["topic", "create", t, "--partitions", "2", "--if-not-exists"],
        None,
    ));

    let out = ok(&oxbow(
        &broker,
        &[
            "topic",
            "create",
            "cli-validated",
            "--partitions",
            "1",
            "--validate-only",
        ],
        None,
    ));
    assert!(out.contains("valid"), "{out}");

    let out = ok(&oxbow(&broker, &["topic", "list"], None));
    assert!(out.lines().any(|l| l == t), "{out}");
    assert!(
        !out.lines().any(|l| l == "cli-validated"),
        "validate-only created a topic: {out}"
    );
    let listed: Value =
        serde_json::from_str(&ok(&oxbow(&broker, &["topic", "list", "--json"], None)))
            .expect("list JSON");
    let entry = listed
        .as_array()
        .expect("array")
        .iter()
        .find(|e| e["name"] == t)
        .expect("topic listed");
    assert_eq!(entry["partitions"], 2);

    let d: Value = serde_json::from_str(&ok(&oxbow(
        &broker,
        &["topic", "describe", t, "--json"],
        None,
    )))
    .expect("describe JSON");
    assert_eq!(d["name"], t);
    assert_eq!(d["partitions"].as_array().expect("partitions").len(), 2);
    assert_eq!(d["partitions"][0]["leader"], 0);
    assert_eq!(d["partitions"][0]["low"], 0);
    assert_eq!(d["partitions"][0]["high"], 0);
    assert_eq!(d["configs"]["retention.ms"], "3600000");
    let text = ok(&oxbow(&broker, &["topic", "describe", t], None));
    assert!(
        text.contains("PartitionCount: 2") && text.contains("retention.ms=3600000"),
        "{text}"
    );

    ok(&oxbow(
        &broker,
        &[
            "topic",
            "alter",
            t,
            "--partitions",
            "3",
            "--config",
            "segment.bytes=1048576",
            "--config",
            "retention.ms=7200000",
        ],
        None,
    ));
    let d: Value = serde_json::from_str(&ok(&oxbow(
        &broker,
        &["topic", "describe", t, "--json"],
        None,
    )))
    .expect("describe JSON");
    assert_eq!(d["partitions"].as_array().expect("partitions").len(), 3);
    assert_eq!(d["configs"]["retention.ms"], "7200000");
    assert_eq!(d["configs"]["segment.bytes"], "1048576");
    ok(&oxbow(
        &broker,
        &["topic", "alter", t, "--delete-config", "segment.bytes"],
        None,
    ));
    let d: Value = serde_json::from_str(&ok(&oxbow(
        &broker,
        &["topic", "describe", t, "--json"],
        None,
    )))
    .expect("describe JSON");
    assert!(d["configs"].get("segment.bytes").is_none(), "{d}");
    assert_eq!(d["configs"]["retention.ms"], "7200000");

    let bad = oxbow(
        &broker,
        &["topic", "alter", t, "--config", "retention.ms=never"],
        None,
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("INVALID_CONFIG"));

    let out = ok(&oxbow(&broker, &["topic", "delete", t], None));
    assert!(out.contains("Deleted topic cli-topic"), "{out}");
    let out = ok(&oxbow(&broker, &["topic", "list"], None));
    assert!(!out.lines().any(|l| l == t), "{out}");
    let gone = oxbow(&broker, &["topic", "delete", t], None);
    assert!(!gone.status.success());
    assert!(String::from_utf8_lossy(&gone.stderr).contains("UNKNOWN_TOPIC_OR_PART"));
    ok(&oxbow(
        &broker,
        &["topic", "delete", t, "--if-exists"],
        None,
    ));

    let missing = oxbow(&broker, &["topic", "describe", "no-such-topic-here"], None);
    assert!(!missing.status.success());
}

#[test]
fn given_stdin_with_keys_and_headers_when_producing_should_consume_them_back_as_json() {
    let broker = TestBroker::start();
    let t = "cli-data";
    ok(&oxbow(
        &broker,
        &["topic", "create", t, "--partitions", "1"],
        None,
    ));

    let out = oxbow(
        &broker,
        &[
            "produce",
            "--topic",
            t,
            "--key-delimiter",
            ":",
            "--header",
            "source=cli",
            "--header",
            "v=1",
            "--compression",
            "lz4",
            "--idempotent",
        ],
        Some("k1:hello\nk2:world:with:colons\nno-key-here\n\nk3:\n"),
    );
    ok(&out);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("4 record(s) produced"),
        "empty line skipped"
    );

    let out = ok(&oxbow(
        &broker,
        &[
            "consume",
            "--topic",
            t,
            "--offset",
            "beginning",
            "--json",
            "--exit",
        ],
        None,
    ));
    let recs = json_lines(&out);
    assert_eq!(recs.len(), 4, "{out}");
    let expect = [
        (Some("k1"), "hello"),
        (Some("k2"), "world:with:colons"),
        (None, "no-key-here"),
        (Some("k3"), ""),
    ];
    for (i, (r, (k, v))) in recs.iter().zip(expect).enumerate() {
        assert_eq!(r["topic"], t);
        assert_eq!(r["partition"], 0);
        assert_eq!(r["offset"], i as i64);
        assert_eq!(r["key"], k.map_or(Value::Null, |k| Value::String(k.into())));
        assert_eq!(r["value"], v);
        assert!(r["timestamp"].as_i64().is_some_and(|ts| ts > 0));
        assert_eq!(
            r["headers"],
            serde_json::json!([{"key": "source", "value": "cli"}, {"key": "v", "value": "1"}])
        );
    }

    let out = ok(&oxbow(
        &broker,
        &[
            "consume",
            "--topic",
            t,
            "--offset",
            "1",
            "--count",
            "2",
            "--format",
            r"%o %k=%v",
        ],
        None,
    ));
    assert_eq!(out, "1 k2=world:with:colons\n2 =no-key-here\n");

    // Default format: values only; --exit on an already-read log stops at the end.
    let out = ok(&oxbow(&broker, &["consume", "--topic", t, "--exit"], None));
    assert_eq!(out, "hello\nworld:with:colons\nno-key-here\n\n");

    // From a file, into a named partition.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("in.txt");
    std::fs::write(&file, "a\nb\nc\n").expect("write input");
    ok(&oxbow(
        &broker,
        &[
            "produce",
            "--topic",
            t,
            "--file",
            file.to_str().expect("utf-8 path"),
            "--partition",
            "0",
            "--acks",
            "1",
        ],
        None,
    ));
    let out = ok(&oxbow(
        &broker,
        &["consume", "--topic", t, "--offset", "-3", "--exit"],
        None,
    ));
    assert_eq!(out, "a\nb\nc\n");
}

#[test]
fn given_failing_records_when_producing_should_report_them_and_exit_non_zero() {
    let broker = TestBroker::start();
    let t = "cli-small";
    ok(&oxbow(
        &broker,
        &[
            "topic",
            "create",
            t,
            "--partitions",
            "1",
            "--config",
            "max.message.bytes=2000",
        ],
        None,
    ));
    let big = "z".repeat(5000);
    let input = format!("ok-1\n{big}\nok-2\n");
    let out = oxbow(
        &broker,
        &[
            "produce",
            "--topic",
            t,
            "-X",
            "linger.ms=0",
            "-X",
            "retries=0",
            "-X",
            "batch.num.messages=1",
        ],
        Some(&input),
    );
    assert!(
        !out.status.success(),
        "a failed record makes the command fail"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2"), "the failed record is named: {err}");
    let out = ok(&oxbow(&broker, &["consume", "--topic", t, "--exit"], None));
    assert!(out.contains("ok-1"), "{out}");
    assert!(!out.contains(&big));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_open_transaction_when_using_txn_cli_should_list_describe_find_and_abort_it() {
    use rdkafka::producer::{FutureRecord, Producer};
    use std::time::Duration;
    let broker = TestBroker::start();
    let topic = unique_topic("cli-txn");
    broker.create_topic(&topic, 1, &[]).await;
    let producer = broker.producer(&[
        ("transactional.id", "cli-txn-id"),
        ("transaction.timeout.ms", "60000"),
    ]);
    producer.init_transactions(OP_TIMEOUT).unwrap();
    producer.begin_transaction().unwrap();
    producer
        .send(
            FutureRecord::<str, str>::to(&topic)
                .partition(0)
                .payload("open"),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| e)
        .unwrap();

    let list = ok(&oxbow(&broker, &["txn", "list"], None));
    assert!(
        list.lines()
            .any(|l| l.contains("cli-txn-id") && l.contains("Ongoing")),
        "{list}"
    );
    let describe = ok(&oxbow(&broker, &["txn", "describe", "cli-txn-id"], None));
    assert!(
        describe.contains("Ongoing") && describe.contains(&format!("{topic}-0")),
        "{describe}"
    );

    // Open longer than a zero timeout: reported with the offset it started at.
    let hanging = ok(&oxbow(
        &broker,
        &[
            "txn",
            "find-hanging",
            "--topic",
            &topic,
            "--max-transaction-timeout-minutes",
            "0",
        ],
        None,
    ));
    let line = hanging
        .lines()
        .find(|l| l.starts_with(&topic))
        .unwrap_or_else(|| panic!("no hanging transaction listed: {hanging}"));
    let start: String = line.split_whitespace().nth(4).unwrap().to_string();
    assert_eq!(start, "0", "{line}");
    // librdkafka asks for the read_committed end: the open transaction holds it at 0.
    assert_eq!(broker.watermarks(&topic, 0).1, 0);

    ok(&oxbow(
        &broker,
        &[
            "txn",
            "abort",
            "--topic",
            &topic,
            "--partition",
            "0",
            "--start-offset",
            &start,
        ],
        None,
    ));
    // The abort marker ended the transaction in the partition: nothing hangs there any more.
    let after = ok(&oxbow(
        &broker,
        &[
            "txn",
            "find-hanging",
            "--topic",
            &topic,
            "--max-transaction-timeout-minutes",
            "0",
        ],
        None,
    ));
    assert!(after.contains("no hanging transactions"), "{after}");
    assert_eq!(
        broker.watermarks(&topic, 0).1,
        2,
        "the LSO moved past the record and the marker"
    );
    drop(producer);
}

#[test]
fn given_sasl_broker_when_managing_acls_with_command_config_should_add_list_and_remove() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("oxbow.toml");
    std::fs::write(
        &config,
        "[security]\nsasl_mechanisms = [\"PLAIN\"]\nsuper_users = [\"admin\"]\n\n\
         [security.plain_users]\nadmin = \"admin-secret\"\nsales = \"sales-secret\"\n",
    )
    .unwrap();
    let broker = TestBroker::builder()
        .with_arg("--config")
        .with_arg(config.to_str().unwrap())
        .start();
    let props = |user: &str, password: &str| {
        let path = dir.path().join(format!("{user}.properties"));
        std::fs::write(
            &path,
            format!(
                "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n\
                 sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required \
                 username=\"{user}\" password=\"{password}\";\n"
            ),
        )
        .unwrap();
        path.to_str().unwrap().to_string()
    };
    let admin = props("admin", "admin-secret");
    let sales = props("sales", "sales-secret");
    ok(&oxbow(
        &broker,
        &[
            "acl",
            "add",
            "--command-config",
            &admin,
            "--allow-principal",
            "User:sales",
            "--operation",
            "read",
            "--operation",
            "describe",
            "--topic",
            "sales-",
            "--resource-pattern-type",
            "prefixed",
        ],
        None,
    ));
    let listed = ok(&oxbow(
        &broker,
        &["acl", "list", "--command-config", &admin],
        None,
    ));
    assert_eq!(
        listed.lines().filter(|l| l.contains("User:sales")).count(),
        2,
        "{listed}"
    );
    assert!(
        listed.contains("prefixed") && listed.contains("sales-"),
        "{listed}"
    );
    // MATCH: the prefixed ACL applies to a concrete topic name.
    let matched = ok(&oxbow(
        &broker,
        &[
            "acl",
            "list",
            "--command-config",
            &admin,
            "--topic",
            "sales-eu",
            "--resource-pattern-type",
            "match",
        ],
        None,
    ));
    assert_eq!(
        matched.lines().filter(|l| l.contains("User:sales")).count(),
        2,
        "{matched}"
    );
    // The department may not manage ACLs.
    let refused = oxbow(
        &broker,
        &[
            "acl",
            "add",
            "--command-config",
            &sales,
            "--allow-principal",
            "User:sales",
            "--operation",
            "all",
            "--cluster",
        ],
        None,
    );
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("31"),
        "CLUSTER_AUTHORIZATION_FAILED"
    );
    let removed = ok(&oxbow(
        &broker,
        &[
            "acl",
            "remove",
            "--command-config",
            &admin,
            "--topic",
            "sales-",
            "--resource-pattern-type",
            "prefixed",
        ],
        None,
    ));
    assert!(removed.contains("removed 2"), "{removed}");
    let wrong = oxbow(
        &broker,
        &["acl", "list", "--command-config", &props("admin", "nope")],
        None,
    );
    assert!(!wrong.status.success());
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("authentication"),
        "a clear error"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_user_cli_when_adding_a_scram_user_should_let_it_authenticate_until_removed() {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("oxbow.toml");
    std::fs::write(
        &config,
        "[security]\nsasl_mechanisms = [\"PLAIN\", \"SCRAM-SHA-256\"]\n\n\
         [security.plain_users]\nadmin = \"admin-secret\"\n",
    )
    .unwrap();
    let broker = TestBroker::builder()
        .with_arg("--config")
        .with_arg(config.to_str().unwrap())
        .start();
    let admin = [
        "-X",
        "security.protocol=SASL_PLAINTEXT",
        "-X",
        "sasl.username=admin",
        "-X",
        "sasl.password=admin-secret",
    ];
    let with = |args: &[&str]| -> Vec<String> {
        args.iter()
            .chain(admin.iter())
            .map(|s| s.to_string())
            .collect()
    };
    let run = |args: Vec<String>| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(&oxbow(&broker, &refs, None))
    };
    run(with(&[
        "user",
        "add",
        "dora",
        "--password",
        "dora-secret",
        "--mechanism",
        "SCRAM-SHA-256",
        "--iterations",
        "4096",
    ]));
    let listed = run(with(&["user", "list"]));
    assert!(
        listed
            .lines()
            .any(|l| l.contains("dora") && l.contains("SCRAM-SHA-256") && l.contains("4096")),
        "{listed}"
    );
    let send = |password: &str| {
        let c = broker.client_config(&[
            ("security.protocol", "sasl_plaintext"),
            ("sasl.mechanism", "SCRAM-SHA-256"),
            ("sasl.username", "dora"),
            ("sasl.password", password),
            ("message.timeout.ms", "5000"),
        ]);
        let p: FutureProducer = c.create().unwrap();
        async move {
            p.send(
                FutureRecord::<str, str>::to("dora-topic").payload("x"),
                Duration::from_secs(6),
            )
            .await
            .map(|_| ())
            .map_err(|(e, _)| e)
        }
    };
    send("dora-secret")
        .await
        .expect("the new SCRAM user authenticates");
    run(with(&[
        "user",
        "remove",
        "dora",
        "--mechanism",
        "SCRAM-SHA-256",
    ]));
    assert!(send("dora-secret").await.is_err(), "removed");
}

fn schema_cli(registry: &str, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_oxbow"))
        .arg("schema")
        .args(args)
        .arg("--registry")
        .arg(registry)
        .output()
        .expect("run oxbow schema");
    eprintln!(
        "$ oxbow schema {}\n-> {}\nstdout: {}\nstderr: {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `oxbow schema`: register, evolve (a rejected change printed with its reason, exit 1), config,
/// mode, list, get by id, delete soft then hard — against the broker's own registry.
#[test]
fn given_registry_when_using_the_schema_cli_should_register_check_and_delete() {
    let port = free_port();
    let registry = format!("http://127.0.0.1:{port}");
    let broker = TestBroker::builder()
        .with_env("OXBOW_REGISTRY_LISTEN", &format!("127.0.0.1:{port}"))
        .start();
    let _ = &broker;
    let v1 = r#"{"type":"record","name":"Trade","fields":[{"name":"sym","type":"string"}]}"#;
    let bad = r#"{"type":"record","name":"Trade","fields":[{"name":"sym","type":"string"},{"name":"qty","type":"long"}]}"#;
    let good = r#"{"type":"record","name":"Trade","fields":[{"name":"sym","type":"string"},{"name":"qty","type":"long","default":0}]}"#;
    let mut registered = None;
    for _ in 0..100 {
        let out = schema_cli(&registry, &["register", "trades-value", "--schema", v1]);
        if out.status.success() {
            registered = Some(out);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let id = ok(&registered.expect("the registry answers"));
    assert_eq!(id.trim(), "1");
    let checked = schema_cli(&registry, &["check", "trades-value", "--schema", bad]);
    assert_eq!(checked.status.code(), Some(1), "incompatible exits 1");
    let text = String::from_utf8_lossy(&checked.stdout);
    assert!(
        text.contains("field 'qty' added without a default"),
        "{text}"
    );
    assert_eq!(
        ok(&schema_cli(
            &registry,
            &["check", "trades-value", "--schema", good]
        ))
        .trim(),
        "compatible"
    );
    let refused = schema_cli(&registry, &["register", "trades-value", "--schema", bad]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("registry error 409"));
    assert_eq!(
        ok(&schema_cli(&registry, &["config", "trades-value"])).trim(),
        "BACKWARD"
    );
    assert_eq!(
        ok(&schema_cli(
            &registry,
            &["config", "trades-value", "--set", "none"]
        ))
        .trim(),
        "NONE"
    );
    assert_eq!(
        ok(&schema_cli(
            &registry,
            &["register", "trades-value", "--schema", bad]
        ))
        .trim(),
        "2"
    );
    assert_eq!(
        ok(&schema_cli(&registry, &["mode", "--set", "readonly"])).trim(),
        "READONLY"
    );
    assert!(
        !schema_cli(&registry, &["register", "other", "--schema", v1])
            .status
            .success()
    );
    assert_eq!(
        ok(&schema_cli(&registry, &["mode", "--set", "READWRITE"])).trim(),
        "READWRITE"
    );
    assert!(ok(&schema_cli(&registry, &["list"])).contains("trades-value  versions [1,2]"));
    let by_id: Value =
        serde_json::from_str(&ok(&schema_cli(&registry, &["get", "--id", "2"]))).unwrap();
    assert_eq!(by_id["schema"].as_str(), Some(bad));
    ok(&schema_cli(&registry, &["delete", "trades-value"]));
    assert!(ok(&schema_cli(&registry, &["list"])).contains("no subjects"));
    ok(&schema_cli(
        &registry,
        &["delete", "trades-value", "--permanent"],
    ));
    let gone = schema_cli(&registry, &["get", "--id", "1"]);
    assert!(String::from_utf8_lossy(&gone.stderr).contains("registry error 40403"));
}
