//! A partition as the broker sees it: its log plus a signal that wakes long-polling fetches.

use std::sync::Arc;

use oxbow_storage::{PartitionLog, TopicPartition};
use tokio::sync::Notify;

/// One partition of a topic, led by this broker.
pub struct Partition {
    pub tp: TopicPartition,
    pub topic_id: uuid::Uuid,
    pub log: Arc<dyn PartitionLog>,
    data_arrived: Notify,
}

impl Partition {
    pub fn new(tp: TopicPartition, topic_id: uuid::Uuid, log: Arc<dyn PartitionLog>) -> Self {
        Self {
            tp,
            topic_id,
            log,
            data_arrived: Notify::new(),
        }
    }

    /// Wakes every fetch waiting on this partition.
    pub fn notify_data(&self) {
        self.data_arrived.notify_waiters();
    }

    /// A future that completes at the next [`notify_data`](Self::notify_data).
    pub fn data_arrived(&self) -> tokio::sync::futures::Notified<'_> {
        self.data_arrived.notified()
    }
}
