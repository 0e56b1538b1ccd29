//! The lake wired to the broker: the schema registry reading Avro and Protobuf values, the broker as its topic source (committed records read from
//! its own logs with `Broker::read_committed`, woken by its appends), and the tables' series
//! beside the broker's in `/metrics`.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use oxbow_broker::topic_writer::OwnedRecord;
use oxbow_broker::Broker;
use oxbow_lake::source::DeadLetter;
use oxbow_lake::{SourceRead, SourceRecord, TopicSource};

pub struct BrokerTopics(pub Arc<Broker>);

impl TopicSource for BrokerTopics {
    fn partition_count(&self, topic: &str) -> Option<i32> {
        self.0.topic(topic).map(|t| t.meta.partitions)
    }

    fn read(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        max_bytes: usize,
    ) -> Result<SourceRead, String> {
        let r = self
            .0
            .read_committed(topic, partition, offset, max_bytes)
            .map_err(|e| e.to_string())?;
        Ok(SourceRead {
            records: r
                .records
                .into_iter()
                .map(|c| SourceRecord {
                    offset: c.offset,
                    timestamp: c.timestamp,
                    key: c.key,
                    value: c.value,
                })
                .collect(),
            next_offset: r.next_offset,
            stable_offset: r.stable_offset,
            log_start_offset: r.log_start_offset,
        })
    }

    fn wait_for_data(&self, topic: &str, timeout: Duration) -> BoxFuture<'static, ()> {
        self.0.wait_for_data(topic, timeout)
    }

    fn dead_letter(
        &self,
        topic: &str,
        records: Vec<DeadLetter>,
    ) -> BoxFuture<'static, Result<(), String>> {
        let records: Vec<OwnedRecord> = records
            .into_iter()
            .map(|d| OwnedRecord {
                key: d.key,
                value: d.value,
                timestamp: d.timestamp,
                headers: d.headers,
            })
            .collect();
        self.0.append_records(topic, &records)
    }
}

/// Values framed by the schema registry, read with its schemas (Avro and Protobuf tables).
pub struct RegistryValues(pub oxbow_registry::payload::PayloadDecoder);

impl oxbow_lake::RegisteredValues for RegistryValues {
    fn to_json(&self, payload: &[u8]) -> Result<serde_json::Value, String> {
        self.0.to_json(payload).map_err(|e| e.to_string())
    }
}

/// The broker's metrics followed by the lake's.
pub struct WithLake {
    pub broker: Arc<dyn oxbow_metrics::server::Collect>,
    pub lake: oxbow_lake::LakeStatus,
}

impl oxbow_metrics::server::Collect for WithLake {
    fn collect(&self, out: &mut oxbow_metrics::text::Exposition) {
        self.broker.collect(out);
        oxbow_lake::report::collect(&self.lake, out);
    }

    fn health(&self) -> Result<(), String> {
        self.broker.health()
    }

    fn ready(&self) -> bool {
        self.broker.ready()
    }
}
