//! What a coordinator needs from the broker, and nothing more: the topics it may see, the internal
//! topics it persists to, and durability for what it appended.

use std::sync::Arc;

use oxbow_storage::{PartitionLog, StorageError, TxnMarker};
use tokio::sync::oneshot;

/// The broker as a coordinator sees it.
pub trait CoordinatorContext: Send + Sync {
    /// The broker's topics (subscriptions, regexes, commits to partitions that must exist).
    fn topics(&self) -> &dyn TopicCatalog;
    /// Partition 0 of a topic, if the topic exists.
    fn internal_log(&self, topic: &str) -> Option<Arc<dyn PartitionLog>>;
    /// Creates an internal topic with one partition and these configs, unless it exists.
    fn create_internal_topic(&self, topic: &str, configs: &[(&str, &str)]) -> Result<(), String>;
    /// A fresh producer id (never handed out before, across restarts).
    fn next_producer_id(&self) -> Result<i64, String>;
    /// Writes a transaction marker into a partition and wakes its waiting readers; returns the
    /// log and the offset after the marker (to flush), or None if the partition no longer exists.
    fn write_txn_marker(
        &self,
        topic: &str,
        partition: i32,
        marker: &TxnMarker,
    ) -> Result<Option<(Arc<dyn PartitionLog>, i64)>, StorageError>;
    /// Completes once every log is durable up to its offset.
    fn flush(
        &self,
        targets: Vec<(Arc<dyn PartitionLog>, i64)>,
    ) -> oneshot::Receiver<Result<(), StorageError>>;
}

/// What the coordinator needs to know about the broker's topics.
pub trait TopicCatalog {
    /// A topic's partition count (None: no such topic).
    fn partition_count(&self, topic: &str) -> Option<i32>;
    /// A topic's id (None: no such topic).
    fn topic_id(&self, topic: &str) -> Option<uuid::Uuid>;
    /// The topics a regex subscription may match (internal topics left out), sorted.
    fn topic_names(&self) -> Vec<String>;
    /// Changes whenever the set of topics may have changed.
    fn generation(&self) -> u64;
}
