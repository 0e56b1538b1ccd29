//! The schema registry's `_schemas` topic over this broker's log: records appended through the
//! internal append path and fsynced before the registry applies them; replayed from the start
//! when the registry opens. The topic is created on first write (one partition, compacted), so a
//! `_schemas` topic copied from a Confluent cluster is read as it is.

use std::sync::{Arc, Weak};

use bytes::Bytes;
use futures::future::BoxFuture;
use oxbow_coordinator::context::CoordinatorContext;
use oxbow_coordinator::state_store::{self, InternalTopicStore};
use oxbow_registry::log::{LogRecord, SchemaLog};

use crate::Broker;

pub const TOPIC: &str = "_schemas";

pub struct BrokerSchemaLog {
    broker: Weak<Broker>,
    store: InternalTopicStore,
}

impl BrokerSchemaLog {
    pub fn new(broker: &Arc<Broker>) -> Self {
        Self {
            broker: Arc::downgrade(broker),
            store: InternalTopicStore::new(TOPIC, &[("cleanup.policy", "compact")]),
        }
    }
}

impl SchemaLog for BrokerSchemaLog {
    fn append(&self, records: Vec<LogRecord>) -> BoxFuture<'static, Result<(), String>> {
        let written = (|| {
            let broker = self.broker.upgrade().ok_or("the broker is stopping")?;
            let log = self
                .store
                .ensure(&*broker)
                .map_err(|e| format!("cannot create {TOPIC}: {e:?}"))?;
            let records: Vec<(Bytes, Option<Bytes>)> = records
                .into_iter()
                .map(|(k, v)| (Bytes::from(k), v.map(Bytes::from)))
                .collect();
            let last = state_store::append(&*log, &records, crate::now_ms())
                .map_err(|e| format!("cannot append to {TOPIC}: {e}"))?;
            if let Some(p) = broker.partition(TOPIC, 0) {
                p.notify_data();
            }
            Ok::<_, String>(broker.flush(vec![(log, last + 1)]))
        })();
        Box::pin(async move {
            match written?.await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(format!("fsync of {TOPIC} failed: {e}")),
                Err(_) => Err("the flusher stopped".into()),
            }
        })
    }

    fn read_all(&self) -> Result<Vec<LogRecord>, String> {
        let broker = self.broker.upgrade().ok_or("the broker is stopping")?;
        let Some(log) = self.store.open_existing(&*broker) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        state_store::replay(&*log, |_, key, value| {
            out.push((key.to_vec(), value.map(|v| v.to_vec())));
            true
        })
        .map_err(|e| format!("cannot read {TOPIC}: {e}"))?;
        Ok(out)
    }
}
