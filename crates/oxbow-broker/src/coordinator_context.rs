//! The broker as its coordinators see it: topics to subscribe to and commit for, internal topics
//! to persist in, and durability for what they appended. Nothing else of `Broker` reaches them.

use std::collections::BTreeMap;
use std::sync::Arc;

use oxbow_coordinator::consumer_group::TopicCatalog;
use oxbow_coordinator::context::CoordinatorContext;
use oxbow_storage::{PartitionLog, StorageError, TxnMarker};
use tokio::sync::oneshot;

use crate::broker::{Broker, TopicError};

impl TopicCatalog for Broker {
    fn partition_count(&self, topic: &str) -> Option<i32> {
        self.topic(topic).map(|s| s.meta.partitions)
    }

    fn topic_id(&self, topic: &str) -> Option<uuid::Uuid> {
        self.topic(topic).map(|s| s.meta.id)
    }

    fn topic_names(&self) -> Vec<String> {
        self.metadata
            .topics
            .all()
            .iter()
            .filter(|t| !t.is_internal())
            .map(|t| t.meta.name.clone())
            .collect()
    }

    fn generation(&self) -> u64 {
        self.metadata.topics.generation()
    }
}

impl CoordinatorContext for Broker {
    fn topics(&self) -> &dyn TopicCatalog {
        self
    }

    fn internal_log(&self, topic: &str) -> Option<Arc<dyn PartitionLog>> {
        self.partition(topic, 0).map(|p| p.log.clone())
    }

    fn create_internal_topic(&self, topic: &str, configs: &[(&str, &str)]) -> Result<(), String> {
        let configs: BTreeMap<String, String> = configs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        match self.metadata.create_topic(topic, 1, 1, configs, false) {
            Ok(_) | Err(TopicError::AlreadyExists(_)) => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }

    fn next_producer_id(&self) -> Result<i64, String> {
        self.producer_ids.next_id().map_err(|e| e.to_string())
    }

    fn write_txn_marker(
        &self,
        topic: &str,
        partition: i32,
        marker: &TxnMarker,
    ) -> Result<Option<(Arc<dyn PartitionLog>, i64)>, StorageError> {
        let Some(p) = self.partition(topic, partition) else {
            return Ok(None);
        };
        let now = crate::now_ms();
        // A marker may roll the segment (an fsync): not on an async worker thread.
        let info = if p.log.append_may_block(80) {
            oxbow_storage::blocking(|| p.log.write_txn_marker(marker, now))
        } else {
            p.log.write_txn_marker(marker, now)
        }?;
        p.notify_data();
        Ok(Some((p.log.clone(), info.last_offset + 1)))
    }

    fn flush(
        &self,
        targets: Vec<(Arc<dyn PartitionLog>, i64)>,
    ) -> oneshot::Receiver<Result<(), StorageError>> {
        self.logs.flush(targets)
    }
}
