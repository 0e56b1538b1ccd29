//! Where the registry's state lives: the `_schemas` topic, reached through this interface (the
//! broker implements it over its own log, so the registry reads and writes with Kafka semantics:
//! appended, fsynced, replayed from offset 0 at start).

use futures::future::BoxFuture;

/// A record of `_schemas`: key and value bytes (`None`: a tombstone).
pub type LogRecord = (Vec<u8>, Option<Vec<u8>>);

pub trait SchemaLog: Send + Sync + 'static {
    /// Appends `records` in order; completes once they are durable.
    fn append(&self, records: Vec<LogRecord>) -> BoxFuture<'static, Result<(), String>>;

    /// Every record from the start of the topic, in order (none yet: empty).
    fn read_all(&self) -> Result<Vec<LogRecord>, String>;
}

/// A log in memory, for tests of the registry alone.
#[derive(Default)]
pub struct MemoryLog {
    records: parking_lot::Mutex<Vec<LogRecord>>,
}

impl SchemaLog for MemoryLog {
    fn append(&self, records: Vec<LogRecord>) -> BoxFuture<'static, Result<(), String>> {
        self.records.lock().extend(records);
        Box::pin(async { Ok(()) })
    }

    fn read_all(&self) -> Result<Vec<LogRecord>, String> {
        Ok(self.records.lock().clone())
    }
}
