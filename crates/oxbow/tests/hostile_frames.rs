//! Hostile and malformed frames: the broker closes the offending connection (or answers with the
//! right error), keeps serving everyone else, and its memory stays bounded.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use common::TestBroker;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, MetadataRequest};
use rdkafka::producer::FutureRecord;

fn header(api: i16, version: i16, flexible: bool) -> BytesMut {
    let mut b = BytesMut::new();
    b.put_i16(api);
    b.put_i16(version);
    b.put_i32(42);
    b.put_i16(-1);
    if flexible {
        b.put_u8(0);
    }
    b
}

fn framed(body: &[u8]) -> Vec<u8> {
    let mut f = (body.len() as i32).to_be_bytes().to_vec();
    f.extend_from_slice(body);
    f
}

/// Sends raw bytes and reports whether the broker closed the connection without answering.
fn closed_after(addr: &str, bytes: &[u8]) -> bool {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let _ = s.write_all(bytes);
    let mut buf = [0u8; 64];
    matches!(s.read(&mut buf), Ok(0) | Err(_))
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn assert_alive(broker: &TestBroker) {
    let resp = broker.raw_request(1, &MetadataRequest::default().with_topics(None));
    assert_eq!(resp.brokers.len(), 1, "broker answers metadata");
}

#[test]
fn given_metadata_v1_claiming_2pow31_topics_when_sent_should_close_only_that_connection() {
    let broker = TestBroker::start();
    let addr = broker.bootstrap();
    // A connection that stays open across the attack.
    let mut bystander = TcpStream::connect(&addr).expect("connect");
    let mut body = header(ApiKey::Metadata as i16, 1, false);
    body.put_i32(i32::MAX);
    assert_eq!(
        body.len() + 4,
        18,
        "a tiny frame claiming tens of GiB of topics"
    );
    for _ in 0..50 {
        assert!(closed_after(&addr, &framed(&body)));
    }
    // Flexible version: compact array length u32::MAX as a varint.
    let mut body = header(ApiKey::Metadata as i16, 9, true);
    body.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
    assert!(closed_after(&addr, &framed(&body)));
    assert_alive(&broker);
    // The bystander connection still works.
    let mut req = header(ApiKey::ApiVersions as i16, 0, false);
    req.put_slice(&[]);
    bystander
        .write_all(&framed(&req))
        .expect("bystander writes");
    let mut len = [0u8; 4];
    bystander
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    bystander
        .read_exact(&mut len)
        .expect("bystander gets an answer");
    assert!(i32::from_be_bytes(len) > 6);
}

#[test]
fn given_bad_frame_sizes_when_sent_should_close_the_connection() {
    let broker = TestBroker::start();
    let addr = broker.bootstrap();
    assert!(closed_after(&addr, &(-1i32).to_be_bytes()), "negative size");
    assert!(
        closed_after(&addr, &i32::MAX.to_be_bytes()),
        "size above socket.request.max.bytes"
    );
    assert!(
        closed_after(&addr, &3i32.to_be_bytes()),
        "too short for a header"
    );
    assert_alive(&broker);
}

#[test]
fn given_unknown_api_key_or_unserved_version_when_sent_should_close_the_connection() {
    let broker = TestBroker::start();
    let addr = broker.bootstrap();
    assert!(
        closed_after(&addr, &framed(&header(999, 0, false))),
        "unknown key"
    );
    assert!(
        closed_after(&addr, &framed(&header(ApiKey::Produce as i16, 99, true))),
        "produce v99"
    );
    assert!(
        closed_after(
            &addr,
            &framed(&header(ApiKey::DescribeLogDirs as i16, 0, false))
        ),
        "DescribeLogDirs v0 (not served)"
    );
    assert_alive(&broker);
}

#[test]
fn given_api_versions_newer_than_served_when_sent_should_answer_unsupported_version_with_the_table()
{
    let broker = TestBroker::start();
    let resp = broker.raw_request(0, &ApiVersionsRequest::default());
    assert_eq!(resp.error_code, 0);
    assert!(resp
        .api_keys
        .iter()
        .any(|k| k.api_key == ApiKey::Produce as i16 && k.min_version == 0));
    // Version 127 is newer than anything served: the answer comes in v0 with error 35.
    let mut s = TcpStream::connect(broker.bootstrap()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(&framed(&header(ApiKey::ApiVersions as i16, 127, true)))
        .expect("send");
    let mut len = [0u8; 4];
    s.read_exact(&mut len).expect("answered");
    let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
    s.read_exact(&mut body).expect("body");
    assert_eq!(
        i32::from_be_bytes([body[0], body[1], body[2], body[3]]),
        42,
        "correlation id"
    );
    assert_eq!(
        i16::from_be_bytes([body[4], body[5]]),
        35,
        "UNSUPPORTED_VERSION"
    );
    let count = i32::from_be_bytes([body[6], body[7], body[8], body[9]]);
    assert!(count >= 5, "the served table comes with the error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_thousands_of_garbage_requests_when_sent_should_keep_serving_with_bounded_memory() {
    let broker = TestBroker::start();
    let addr = broker.bootstrap();
    let pid = broker.pid().expect("pid");
    let before = rss_kib(pid);
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for i in 0..2000u64 {
        let api = (next() % 75) as i16;
        let version = (next() % 16) as i16;
        let mut body = header(api, version, version >= 9);
        let n = (next() % 96) as usize;
        for _ in 0..n {
            body.put_u8((next() & 0xff) as u8);
        }
        // Every tenth body claims an enormous array right after the header.
        if i % 10 == 0 {
            body.put_i32(i32::MAX - (i as i32));
        }
        let mut s = TcpStream::connect(&addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        let _ = s.write_all(&framed(&body));
        let mut buf = [0u8; 256];
        let _ = s.read(&mut buf);
    }
    assert_alive(&broker);
    let after = rss_kib(pid);
    assert!(
        after < before + 200 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );

    // And real clients are still served.
    let topic = common::unique_topic("after-garbage");
    broker.create_topic(&topic, 1, &[]).await;
    let producer = broker.producer(&[]);
    producer
        .send(
            FutureRecord::to(&topic).key("k").payload("v"),
            Duration::from_secs(10),
        )
        .await
        .expect("produce after garbage");
}

#[test]
fn given_an_old_client_retrying_an_unserved_version_when_refused_should_log_one_line_a_minute() {
    let broker = TestBroker::start();
    let addr = broker.bootstrap();
    let refused = |client: &str| {
        let mut b = BytesMut::new();
        b.put_i16(ApiKey::WriteTxnMarkers as i16);
        b.put_i16(0); // below the versions served
        b.put_i32(7);
        b.put_i16(client.len() as i16);
        b.put_slice(client.as_bytes());
        assert!(closed_after(&addr, &framed(&b)), "refused and closed");
    };
    for _ in 0..40 {
        refused("old-sarama");
    }
    refused("old-kafka-go");
    assert_alive(&broker);
    let log = std::fs::read_to_string(broker.log_path()).expect("broker log");
    let lines = |client: &str| {
        log.lines()
            .filter(|l| l.contains("unsupported API version") && l.contains(client))
            .count()
    };
    assert_eq!(
        lines("old-sarama"),
        1,
        "40 refusals, one line:\n{}",
        broker.log_tail(20)
    );
    assert_eq!(lines("old-kafka-go"), 1, "another client gets its own line");
}
