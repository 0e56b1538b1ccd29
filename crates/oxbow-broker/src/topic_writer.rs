//! Writing records into a topic from inside the broker: the lake's dead-letter records, with
//! headers. The topic is created with one partition when it does not exist; the records go
//! through the internal append path of partition 0 as one batch (`state_store::append_records`),
//! and the returned future completes once the flusher has made them durable.

use futures::future::BoxFuture;
use oxbow_coordinator::context::CoordinatorContext;
use oxbow_coordinator::state_store;
pub use oxbow_coordinator::state_store::OwnedRecord;

use crate::Broker;

impl Broker {
    /// Appends `records` to partition 0 of `topic` (created with one partition if missing);
    /// completes once they are durable.
    pub fn append_records(
        &self,
        topic: &str,
        records: &[OwnedRecord],
    ) -> BoxFuture<'static, Result<(), String>> {
        let written = (|| {
            if records.is_empty() {
                return Ok(None);
            }
            if self.internal_log(topic).is_none() {
                self.create_internal_topic(topic, &[])?;
            }
            let log = self
                .internal_log(topic)
                .ok_or_else(|| format!("topic {topic} could not be created"))?;
            let last = state_store::append_records(&*log, records, crate::now_ms())
                .map_err(|e| format!("appending to {topic}: {e}"))?;
            if let Some(p) = self.partition(topic, 0) {
                p.notify_data();
            }
            Ok::<_, String>(Some(self.flush(vec![(log, last + 1)])))
        })();
        let topic = topic.to_string();
        Box::pin(async move {
            let Some(flushed) = written? else {
                return Ok(());
            };
            match flushed.await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(format!("fsync of {topic} failed: {e}")),
                Err(_) => Err("the flusher stopped".into()),
            }
        })
    }
}
