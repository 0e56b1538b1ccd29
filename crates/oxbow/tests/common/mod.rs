//! Integration-test harness: runs the real `oxbow` binary on a free loopback port with a temporary
//! data directory, and hands out rdkafka clients pointed at it.
//!
//! ```ignore
//! let broker = TestBroker::builder().with_env("OXBOW_LOG_SEGMENT_BYTES", "1048576").start();
//! let producer = broker.producer(&[("enable.idempotence", "true")]);
//! broker.kill9();
//! broker.restart();
//! ```
#![allow(dead_code)]

mod watchdog;

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::message::OwnedMessage;
use rdkafka::producer::FutureProducer;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

/// How long the broker may take to accept connections after being started.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a SIGTERM'd broker may take to exit.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Default timeout for client operations in tests.
pub const OP_TIMEOUT: Duration = Duration::from_secs(30);

/// Options for a [`TestBroker`] before it starts.
#[derive(Default)]
pub struct TestBrokerBuilder {
    env: Vec<(String, String)>,
    args: Vec<String>,
    data_dir: Option<PathBuf>,
    port: Option<u16>,
}

impl TestBrokerBuilder {
    /// Listen on this port (e.g. one named in a config file) instead of a fresh free one.
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// An environment variable for the broker process (e.g. an `OXBOW_LOG_*` override).
    pub fn with_env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// An extra command-line argument after `serve ...`.
    pub fn with_arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_string());
        self
    }

    /// Use this data directory instead of a fresh temporary one.
    pub fn with_data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Starts the broker and waits until it accepts TCP connections.
    pub fn start(self) -> TestBroker {
        let tmp = tempfile::Builder::new()
            .prefix("oxbow-it-")
            .tempdir()
            .expect("create temp dir");
        let data_dir = self.data_dir.unwrap_or_else(|| tmp.path().join("data"));
        std::fs::create_dir_all(&data_dir).expect("create data dir");
        let log_path = tmp.path().join("broker.log");
        let mut broker = TestBroker {
            watch_id: watchdog::register(log_path.clone()),
            child: None,
            port: self.port.unwrap_or_else(free_port),
            data_dir,
            log_path,
            env: self.env,
            args: self.args,
            _tmp: tmp,
        };
        broker.spawn();
        broker
    }
}

/// A running `oxbow serve` child process. Dropping it kills the process.
pub struct TestBroker {
    watch_id: u64,
    child: Option<Child>,
    port: u16,
    data_dir: PathBuf,
    log_path: PathBuf,
    env: Vec<(String, String)>,
    args: Vec<String>,
    _tmp: tempfile::TempDir,
}

/// Picks a port that is free right now by binding port 0 and releasing it.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr").port()
}

impl TestBroker {
    /// A broker with default settings.
    pub fn start() -> Self {
        Self::builder().start()
    }

    pub fn builder() -> TestBrokerBuilder {
        TestBrokerBuilder::default()
    }

    /// `127.0.0.1:<port>`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The file receiving the broker's stdout and stderr.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    fn spawn(&mut self) {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("open broker log");
        let mut marker = log.try_clone().expect("clone log handle");
        let _ = writeln!(
            marker,
            "==== oxbow serve starting (port {}) ====",
            self.port
        );
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_oxbow"));
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--listen")
            .arg(self.bootstrap())
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().expect("clone log handle")))
            .stderr(Stdio::from(log));
        if std::env::var_os("OXBOW_LOG_LEVEL").is_none() && std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "info");
        }
        // Many brokers run at once: each one's schema registry on a free port unless a test
        // names one.
        cmd.env("OXBOW_REGISTRY_LISTEN", "127.0.0.1:0");
        cmd.env("OXBOW_HTTP_LISTEN", "127.0.0.1:0");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn oxbow serve");
        watchdog::update_pid(self.watch_id, Some(child.id()));
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    panic!(
                        "oxbow serve exited during startup with {status}; log tail:\n{}",
                        self.log_tail(80)
                    );
                }
            }
            if TcpStream::connect_timeout(
                &format!("127.0.0.1:{}", self.port).parse().unwrap(),
                Duration::from_millis(200),
            )
            .is_ok()
            {
                return;
            }
            if Instant::now() > deadline {
                self.kill9();
                panic!(
                    "oxbow serve did not accept connections on {} within {:?}; log tail:\n{}",
                    self.bootstrap(),
                    START_TIMEOUT,
                    self.log_tail(80)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The last `lines` lines of the broker's log.
    pub fn log_tail(&self, lines: usize) -> String {
        file_tail(&self.log_path, lines)
    }

    /// The child's pid, if running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// SIGKILL: no chance to flush or clean up.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: plain kill(2) on our own child's pid, which has not been reaped yet.
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGKILL);
            }
            let _ = child.wait();
            watchdog::update_pid(self.watch_id, None);
        }
    }

    /// SIGTERM, then waits; panics (with the log tail) unless the broker exits within 10 s.
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("broker is not running");
        // SAFETY: as in kill9.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
        watchdog::update_pid(self.watch_id, None);
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return status,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "oxbow serve did not exit within {STOP_TIMEOUT:?} of SIGTERM; log tail:\n{}",
                        self.log_tail(80)
                    );
                }
            }
        }
    }

    /// Starts the broker again on the same port and data directory (after `stop` or `kill9`;
    /// a running broker is killed first).
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// As [`restart`](Self::restart), with these environment variables instead of the ones
    /// given at start (e.g. without a crash point).
    pub fn restart_with_env(&mut self, env: &[(&str, &str)]) {
        self.env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.restart();
    }

    /// Whether the child is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// A client configuration pointed at this broker, then `extra`.
    pub fn client_config(&self, extra: &[(&str, &str)]) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", self.bootstrap());
        c.set("broker.address.family", "v4");
        for (k, v) in extra {
            c.set(*k, *v);
        }
        c
    }

    pub fn producer(&self, extra: &[(&str, &str)]) -> FutureProducer {
        let mut base: Vec<(&str, &str)> = vec![("message.timeout.ms", "30000")];
        base.extend_from_slice(extra);
        self.client_config(&base).create().expect("create producer")
    }

    /// A consumer with no group (use `assign`).
    pub fn consumer(&self, extra: &[(&str, &str)]) -> StreamConsumer {
        let mut base: Vec<(&str, &str)> = vec![
            ("group.id", "oxbow-it"),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("auto.offset.reset", "earliest"),
        ];
        base.extend_from_slice(extra);
        self.client_config(&base).create().expect("create consumer")
    }

    pub fn base_consumer(&self, extra: &[(&str, &str)]) -> BaseConsumer {
        let mut base: Vec<(&str, &str)> = vec![
            ("group.id", "oxbow-it"),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("auto.offset.reset", "earliest"),
        ];
        base.extend_from_slice(extra);
        self.client_config(&base).create().expect("create consumer")
    }

    pub fn admin(&self) -> AdminClient<DefaultClientContext> {
        // Never let a metadata look-up auto-create the topic it asks about.
        self.client_config(&[("allow.auto.create.topics", "false")])
            .create()
            .expect("create admin client")
    }

    /// Creates a topic, panicking on failure.
    pub async fn create_topic(&self, name: &str, partitions: i32, configs: &[(&str, &str)]) {
        let admin = self.admin();
        let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
        for (k, v) in configs {
            topic = topic.set(k, v);
        }
        let res = admin
            .create_topics([&topic], &admin_opts())
            .await
            .expect("CreateTopics request");
        for r in res {
            if let Err((n, code)) = r {
                panic!(
                    "creating topic {n} failed: {code:?}; log tail:\n{}",
                    self.log_tail(40)
                );
            }
        }
    }

    /// Names of all topics in cluster metadata (a metadata request for all topics never creates one).
    pub fn topic_names(&self) -> Vec<String> {
        let admin = self.admin();
        let md = admin
            .inner()
            .fetch_metadata(None, OP_TIMEOUT)
            .expect("metadata");
        let mut names: Vec<String> = md.topics().iter().map(|t| t.name().to_string()).collect();
        names.sort();
        names
    }

    /// (low, high) watermarks of a partition.
    pub fn watermarks(&self, topic: &str, partition: i32) -> (i64, i64) {
        let c = self.base_consumer(&[]);
        c.fetch_watermarks(topic, partition, OP_TIMEOUT)
            .expect("fetch watermarks")
    }

    /// Reads `partitions` of `topic` from the beginning until `n` records arrived or `timeout`
    /// passed; returns what arrived (in arrival order; per partition that is offset order).
    pub async fn consume_n(
        &self,
        topic: &str,
        partitions: &[i32],
        n: usize,
        timeout: Duration,
    ) -> Vec<OwnedMessage> {
        let consumer = self.consumer(&[("fetch.wait.max.ms", "100")]);
        let mut tpl = TopicPartitionList::new();
        for &p in partitions {
            tpl.add_partition_offset(topic, p, Offset::Beginning)
                .expect("tpl");
        }
        consumer.assign(&tpl).expect("assign");
        let deadline = tokio::time::Instant::now() + timeout;
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            match tokio::time::timeout_at(deadline, consumer.recv()).await {
                Ok(Ok(m)) => out.push(m.detach()),
                Ok(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => {}
                Ok(Err(e)) => panic!("consume error: {e}; log tail:\n{}", self.log_tail(40)),
                Err(_) => break,
            }
        }
        out
    }

    /// Reads every record currently in `partitions` (up to each partition's high watermark at call
    /// time), starting at each partition's log start.
    pub async fn consume_to_end(
        &self,
        topic: &str,
        partitions: &[i32],
        timeout: Duration,
    ) -> Vec<OwnedMessage> {
        let mut ends = HashMap::new();
        let mut total = 0usize;
        for &p in partitions {
            let (lo, hi) = self.watermarks(topic, p);
            ends.insert(p, hi);
            total += (hi - lo).max(0) as usize;
        }
        self.consume_n(topic, partitions, total, timeout).await
    }

    /// Sends one raw Kafka request (via the kafka-protocol crate) on a fresh connection and returns
    /// the decoded response.
    pub fn raw_request<R: Request>(&self, version: i16, request: &R) -> R::Response {
        raw_request(&self.bootstrap(), version, request)
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        watchdog::release(self.watch_id);
        if std::thread::panicking() {
            eprintln!(
                "---- oxbow broker log tail ({}) ----\n{}",
                self.log_path.display(),
                self.log_tail(60)
            );
        }
    }
}

/// The last `lines` lines of a log file (reading at most its last 64 KiB).
pub fn file_tail(path: &Path, lines: usize) -> String {
    let mut text = String::new();
    if let Ok(mut f) = File::open(path) {
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let _ = f.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
        let mut buf = Vec::new();
        let _ = f.read_to_end(&mut buf);
        text = String::from_utf8_lossy(&buf).into_owned();
    }
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

pub fn admin_opts() -> AdminOptions {
    AdminOptions::new()
        .request_timeout(Some(OP_TIMEOUT))
        .operation_timeout(Some(OP_TIMEOUT))
}

/// A topic name unique within this test run.
pub fn unique_topic(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{nanos}", N.fetch_add(1, Ordering::Relaxed))
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// One raw request/response exchange on a new TCP connection.
pub fn raw_request<R: Request>(addr: &str, version: i16, request: &R) -> R::Response {
    let mut stream = TcpStream::connect(addr).expect("connect for raw request");
    raw_on(&mut stream, version, request)
}

/// A connection authenticated with SASL/PLAIN (SaslHandshake v1, SaslAuthenticate v2), for raw
/// requests as that user.
pub fn sasl_plain_connection(addr: &str, user: &str, password: &str) -> TcpStream {
    use kafka_protocol::messages::{SaslAuthenticateRequest, SaslHandshakeRequest};
    let mut stream = TcpStream::connect(addr).expect("connect for SASL");
    let hs = raw_on(
        &mut stream,
        1,
        &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")),
    );
    assert_eq!(hs.error_code, 0, "SaslHandshake");
    let token = format!("\0{user}\0{password}");
    let auth = raw_on(
        &mut stream,
        2,
        &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token)),
    );
    assert_eq!(auth.error_code, 0, "SaslAuthenticate as {user}");
    stream
}

/// One raw request/response exchange on `stream`.
pub fn raw_on<R: Request>(stream: &mut TcpStream, version: i16, request: &R) -> R::Response {
    let header = RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(7)
        .with_client_id(Some(StrBytes::from_static_str("oxbow-it")));
    let mut body = BytesMut::new();
    header
        .encode(&mut body, R::header_version(version))
        .expect("encode header");
    request.encode(&mut body, version).expect("encode request");
    let mut frame = BytesMut::with_capacity(body.len() + 4);
    frame.put_i32(body.len() as i32);
    frame.extend_from_slice(&body);

    stream
        .set_read_timeout(Some(OP_TIMEOUT))
        .expect("read timeout");
    stream.write_all(&frame).expect("send raw request");
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).expect("read response length");
    let len = i32::from_be_bytes(len);
    assert!(len >= 4, "bad response length {len}");
    let mut buf = vec![0u8; len as usize];
    stream.read_exact(&mut buf).expect("read response");
    let mut buf = Bytes::from(buf);
    let resp_header = ResponseHeader::decode(
        &mut buf,
        <R::Response as HeaderVersion>::header_version(version),
    )
    .expect("decode response header");
    assert_eq!(resp_header.correlation_id, 7, "correlation id");
    let resp = <R::Response as Decodable>::decode(&mut buf, version).expect("decode response");
    assert_eq!(buf.remaining(), 0, "trailing bytes after response");
    resp
}

/// Path of the newest (highest base offset) `.log` segment file of a partition directory.
pub fn last_segment(partition_dir: &Path) -> PathBuf {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(partition_dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", partition_dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    logs.sort();
    logs.pop()
        .unwrap_or_else(|| panic!("no .log file in {}", partition_dir.display()))
}

/// Number of `.log` segment files in a partition directory.
pub fn segment_count(partition_dir: &Path) -> usize {
    std::fs::read_dir(partition_dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
                .count()
        })
        .unwrap_or(0)
}

/// Polls `cond` every 100 ms until it holds or `timeout` passes; returns whether it held.
pub async fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The value of a header on a message, as UTF-8.
pub fn header(m: &OwnedMessage, key: &str) -> Option<String> {
    use rdkafka::message::Headers;
    let h = m.headers()?;
    (0..h.count())
        .map(|i| h.get(i))
        .find(|h| h.key == key)
        .and_then(|h| h.value.map(|v| String::from_utf8_lossy(v).into_owned()))
}

/// Payload of a message as UTF-8.
pub fn value(m: &OwnedMessage) -> String {
    String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned()
}

/// Key of a message as UTF-8.
pub fn key(m: &OwnedMessage) -> Option<String> {
    m.key().map(|k| String::from_utf8_lossy(k).into_owned())
}

/// Queues a record, waiting while librdkafka's local queue is full; panics on any other error.
#[allow(dead_code)]
pub async fn enqueue<K, P>(
    producer: &FutureProducer,
    mut record: rdkafka::producer::FutureRecord<'_, K, P>,
) -> rdkafka::producer::DeliveryFuture
where
    K: rdkafka::message::ToBytes + ?Sized,
    P: rdkafka::message::ToBytes + ?Sized,
{
    loop {
        match producer.send_result(record) {
            Ok(f) => return f,
            Err((
                rdkafka::error::KafkaError::MessageProduction(
                    rdkafka::types::RDKafkaErrorCode::QueueFull,
                ),
                back,
            )) => {
                record = back;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            Err((e, _)) => panic!("enqueue: {e}"),
        }
    }
}
