//! The audit log: one JSON object per line for every authentication success and failure, every
//! authorization denial, every client a quota throttles, and every ACL, quota, credential and
//! topic change — with the principal, the
//! client's address and id, the listener and the outcome. Written by a thread of its own (a
//! request never waits for the disk), rotated by size (`audit.log` → `audit.log.1` → ...), and
//! copied to the audit topic when one is configured (`security.audit_topic`).
//! Denials repeated by one principal from one address for one resource, and throttles of one
//! client by one quota, are written once a minute with how many were suppressed (a client
//! retrying a refused fetch, or held to its quota, would flood it).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use oxbow_net::Session;
use parking_lot::Mutex;
use serde_json::{json, Value};

const DENIAL_EVERY: Duration = Duration::from_secs(60);
const MAX_DENIAL_KINDS: usize = 10_000;
const QUEUE: usize = 65_536;

/// Where audit lines are copied besides the file (the audit topic): called by the writer thread
/// with each batch of lines, already written to the file.
pub type AuditSink = Box<dyn FnMut(&[String]) + Send>;

/// Lines written to the file before the copy to the sink (the writer drains what is queued).
const BATCH: usize = 1000;

pub struct AuditLog {
    tx: Option<SyncSender<String>>,
    /// The copy to the audit topic, once attached.
    sink: Arc<Mutex<Option<AuditSink>>>,
    /// Lines lost because the writer fell behind (reported in the next line written).
    dropped: AtomicU64,
    denials: Mutex<HashMap<String, (Instant, u64)>>,
}

impl AuditLog {
    /// An audit log writing to `path` (None: disabled), rotating at `max_bytes`, keeping
    /// `files` old files.
    pub fn open(path: Option<PathBuf>, max_bytes: u64, files: usize) -> std::io::Result<Self> {
        let Some(path) = path else {
            return Ok(Self::disabled());
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let (tx, rx) = sync_channel::<String>(QUEUE);
        let sink: Arc<Mutex<Option<AuditSink>>> = Arc::default();
        let thread_sink = sink.clone();
        std::thread::Builder::new()
            .name("audit-log".into())
            .spawn(move || {
                let mut writer = Writer {
                    path,
                    file,
                    max_bytes,
                    files,
                };
                let mut batch = Vec::with_capacity(BATCH);
                while let Ok(first) = rx.recv() {
                    batch.push(first);
                    while batch.len() < BATCH {
                        match rx.try_recv() {
                            Ok(line) => batch.push(line),
                            Err(_) => break,
                        }
                    }
                    for line in &batch {
                        writer.write(line);
                    }
                    if let Some(sink) = thread_sink.lock().as_mut() {
                        sink(&batch);
                    }
                    batch.clear();
                }
            })?;
        Ok(Self {
            tx: Some(tx),
            sink,
            dropped: AtomicU64::new(0),
            denials: Mutex::new(HashMap::new()),
        })
    }

    pub fn disabled() -> Self {
        Self {
            tx: None,
            sink: Arc::default(),
            dropped: AtomicU64::new(0),
            denials: Mutex::new(HashMap::new()),
        }
    }

    /// Copies every line from now on to `sink` too (the audit topic).
    pub fn attach(&self, sink: AuditSink) {
        *self.sink.lock() = Some(sink);
    }

    /// Records an event of `session` with `outcome` and event-specific fields.
    pub fn record(&self, event: &str, session: &Session, outcome: &str, detail: Value) {
        let Some(tx) = &self.tx else { return };
        let mut line = json!({
            "ts_ms": crate::now_ms(),
            "event": event,
            "outcome": outcome,
            "principal": session.principal.to_string(),
            "peer": session.peer.to_string(),
            "client_id": session.client_id,
            "listener": session.listener.name,
        });
        if let (Value::Object(l), Value::Object(d)) = (&mut line, detail) {
            l.extend(d);
            let dropped = self.dropped.swap(0, Ordering::Relaxed);
            if dropped > 0 {
                l.insert("lines_dropped_before".into(), json!(dropped));
            }
        }
        match tx.try_send(line.to_string()) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Records an authorization denial, at most once a minute per principal, address and
    /// resource operation (with how many were suppressed since).
    pub fn denial(
        &self,
        session: &Session,
        api: &str,
        operation: &str,
        resource: &str,
        name: &str,
    ) {
        if self.tx.is_none() {
            return;
        }
        let key = format!(
            "denial|{}|{}|{api}|{operation}|{resource}|{name}",
            session.principal,
            session.peer.ip()
        );
        let Some(suppressed) = self.once_a_minute(key) else {
            return;
        };
        self.record(
            "authorization",
            session,
            "denied",
            json!({"api": api, "operation": operation, "resource_type": resource,
                   "resource_name": name, "suppressed_since_last": suppressed}),
        );
    }

    /// Records that a quota throttled a client, at most once a minute per principal, address,
    /// client id and quota (with how many throttles were not written since).
    pub fn throttled(&self, session: &Session, quota: &str, entity: &str, throttle_ms: u64) {
        if self.tx.is_none() {
            return;
        }
        let key = format!(
            "throttle|{}|{}|{}|{quota}",
            session.principal,
            session.peer.ip(),
            session.client_id
        );
        let Some(suppressed) = self.once_a_minute(key) else {
            return;
        };
        self.record(
            "quota_throttle",
            session,
            "throttled",
            json!({"quota": quota, "entity": entity, "throttle_time_ms": throttle_ms,
                   "suppressed_since_last": suppressed}),
        );
    }

    /// Whether an event of this kind is written now: `Some(n)` with the `n` suppressed since the
    /// last one written, `None` within a minute of it.
    fn once_a_minute(&self, key: String) -> Option<u64> {
        let now = Instant::now();
        let mut kinds = self.denials.lock();
        if kinds.len() >= MAX_DENIAL_KINDS {
            kinds.clear();
        }
        match kinds.get_mut(&key) {
            Some((last, n)) if now.duration_since(*last) < DENIAL_EVERY => {
                *n += 1;
                None
            }
            Some((last, n)) => {
                *last = now;
                Some(std::mem::take(n))
            }
            None => {
                kinds.insert(key, (now, 0));
                Some(0)
            }
        }
    }
}

struct Writer {
    path: PathBuf,
    file: File,
    max_bytes: u64,
    files: usize,
}

impl Writer {
    fn write(&mut self, line: &str) {
        let size = self.file.metadata().map(|m| m.len()).unwrap_or(0);
        if size > 0 && size + line.len() as u64 + 1 > self.max_bytes {
            if let Err(e) = self.rotate() {
                tracing::warn!(path = %self.path.display(), error = %e, "cannot rotate the audit log");
            }
        }
        if let Err(e) = writeln!(self.file, "{line}") {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot write the audit log");
        }
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        let numbered = |n: usize| -> PathBuf {
            let mut p = self.path.as_os_str().to_owned();
            p.push(format!(".{n}"));
            PathBuf::from(p)
        };
        if self.files == 0 {
            self.file = File::create(&self.path)?;
            return Ok(());
        }
        let _ = std::fs::remove_file(numbered(self.files));
        for n in (1..self.files).rev() {
            if Path::new(&numbered(n)).exists() {
                std::fs::rename(numbered(n), numbered(n + 1))?;
            }
        }
        std::fs::rename(&self.path, numbered(1))?;
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxbow_net::Listener;

    #[test]
    fn given_events_when_recorded_should_write_json_lines_rotate_and_rate_limit_denials() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let log = AuditLog::open(Some(path.clone()), 600, 2).unwrap();
        let listener = Listener::new(
            "SASL".into(),
            oxbow_config::SecurityProtocol::SaslPlaintext,
            "127.0.0.1".into(),
            9092,
        );
        let session = Session::new(listener, "10.1.2.3:4000".parse().unwrap());
        for _ in 0..5 {
            log.denial(&session, "Fetch", "Read", "Topic", "payroll");
        }
        log.record(
            "authentication",
            &session,
            "failure",
            json!({"mechanism": "PLAIN"}),
        );
        for i in 0..20 {
            log.record(
                "topic_create",
                &session,
                "success",
                json!({"topic": format!("t{i}")}),
            );
        }
        drop(log);
        // The writer drains its queue and ends once the log is dropped.
        let deadline = Instant::now() + Duration::from_secs(5);
        let written = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        while !(written(&path) + &written(&dir.path().join("audit.log.1"))).contains("\"t19\"")
            && Instant::now() < deadline
        {
            std::thread::yield_now();
        }
        let current = std::fs::read_to_string(&path).unwrap();
        let rotated = std::fs::read_to_string(dir.path().join("audit.log.1")).unwrap();
        for line in current.lines().chain(rotated.lines()) {
            let v: Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["peer"], "10.1.2.3:4000");
        }
        assert!(std::fs::metadata(&path).unwrap().len() <= 600);
        assert!(
            !dir.path().join("audit.log.3").exists(),
            "two old files kept"
        );
        let all = format!("{rotated}{current}");
        assert!(all.contains("\"t19\""));
    }
}
