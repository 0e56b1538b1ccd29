//! `oxbow bench` smoke runs against a real broker: short, small, and not timed. They check that
//! the tool runs end to end and reports what it measured, not how fast anything is.

mod common;

use std::process::Command;

use common::TestBroker;
use serde_json::Value;

/// Runs `oxbow bench ARGS --json` against `broker` and returns the parsed report.
fn bench(broker: &TestBroker, args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_oxbow"))
        .arg("bench")
        .args(args)
        .args(["--json", "--quiet", "--bootstrap", &broker.bootstrap()])
        .output()
        .expect("run oxbow bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "oxbow bench {args:?} failed: {}\nstdout: {stdout}\nstderr: {stderr}\nbroker log:\n{}",
        out.status,
        broker.log_tail(40)
    );
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}\nstderr: {stderr}"))
}

#[test]
fn given_broker_when_bench_produce_runs_should_report_records_and_no_errors() {
    let broker = TestBroker::start();
    let pid = broker.pid().expect("broker pid").to_string();
    let report = bench(
        &broker,
        &[
            "produce",
            "--topic",
            "bench-smoke",
            "--partitions",
            "2",
            "--record-size",
            "200",
            "--rate",
            "2000",
            "--duration",
            "2s",
            "--warmup",
            "0",
            "--broker-pid",
            &pid,
        ],
    );
    assert!(report["records"].as_u64().unwrap_or(0) > 0, "{report}");
    assert_eq!(report["errors"].as_u64(), Some(0), "{report}");
    assert!(report["latency_us"]["p99"].as_u64().is_some(), "{report}");
    assert!(report["broker"]["cpu_s"].as_f64().is_some(), "{report}");
}

#[test]
fn given_produced_topic_when_bench_consume_and_e2e_run_should_read_everything() {
    let broker = TestBroker::start();
    let produced = bench(
        &broker,
        &[
            "produce",
            "--topic",
            "bench-read",
            "--partitions",
            "3",
            "--records",
            "3000",
            "--warmup",
            "0",
        ],
    );
    assert_eq!(produced["records"].as_u64(), Some(3000), "{produced}");
    let consumed = bench(&broker, &["consume", "--topic", "bench-read", "--assign"]);
    assert_eq!(consumed["records"].as_u64(), Some(3000), "{consumed}");
    assert_eq!(consumed["errors"].as_u64(), Some(0), "{consumed}");

    let e2e = bench(
        &broker,
        &[
            "e2e",
            "--topic",
            "bench-read",
            "--assign",
            "--rate",
            "1000",
            "--duration",
            "1s",
            "--warmup",
            "0",
        ],
    );
    assert!(e2e["records"].as_u64().unwrap_or(0) > 0, "{e2e}");
    assert_eq!(e2e["errors"].as_u64(), Some(0), "{e2e}");
    assert_eq!(e2e["drained"], Value::Bool(true), "{e2e}");
    assert!(e2e["latency_us"]["p50"].as_u64().is_some(), "{e2e}");
}
