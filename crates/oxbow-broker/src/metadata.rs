//! Topic metadata and its lifecycle: the topic registry (names, stable ids, partition counts,
//! config overrides, persisted in `meta/topics/`), the broker-level config defaults (static and
//! dynamic, persisted in `meta/broker-configs.json`), and creating, growing, reconfiguring and
//! deleting topics together with their partitions' logs. One lock serializes these changes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use oxbow_config::LogDefaults;
use oxbow_storage::{LogConfig, LogStore, StorageError, TopicPartition};
use parking_lot::{Mutex, RwLock};
use tracing::{info, warn};

use crate::partition::Partition;
use crate::producer_ids::write_atomically;
use crate::topic_config::{self, BrokerDefaults};
use crate::topics::{self, TopicMeta, TopicRegistry, TopicState};

/// Why a topic operation failed; mapped to a Kafka error code in `error_map`.
#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    #[error("Topic '{0}' already exists.")]
    AlreadyExists(String),
    #[error("This server does not host this topic-partition: {0}")]
    Unknown(String),
    #[error("{0}")]
    InvalidName(String),
    #[error("{0}")]
    InvalidConfig(String),
    #[error("{0}")]
    InvalidPartitions(String),
    #[error("{0}")]
    InvalidReplicationFactor(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("storage error: {0}")]
    Storage(#[from] StorageError),
    #[error("I/O error writing metadata: {0}")]
    Io(#[from] std::io::Error),
}

/// Topic metadata read from disk, before the logs are open.
pub struct LoadedMetadata {
    topics_dir: PathBuf,
    by_name: BTreeMap<String, TopicMeta>,
    defaults: BrokerDefaults,
    meta_dir: PathBuf,
}

impl LoadedMetadata {
    /// Reads the topic registry and the dynamic broker configs from `meta_dir`.
    pub fn load(meta_dir: &Path, static_log: LogDefaults) -> std::io::Result<Self> {
        let dynamic = load_broker_configs(meta_dir)?;
        let defaults = BrokerDefaults {
            static_log,
            dynamic,
        };
        let (topics_dir, metas) = TopicRegistry::load_meta(meta_dir)?;
        let by_name = metas.into_iter().map(|m| (m.name.clone(), m)).collect();
        Ok(Self {
            topics_dir,
            by_name,
            defaults,
            meta_dir: meta_dir.to_path_buf(),
        })
    }

    /// The log config of a known topic (None: the topic no longer exists), for opening logs.
    pub fn log_config(&self, topic: &str) -> Option<LogConfig> {
        self.by_name
            .get(topic)
            .map(|m| self.defaults.log_config(&m.configs))
    }

    /// Attaches every topic's partitions to the opened logs (creating missing ones).
    pub fn attach(self, logs: Arc<dyn LogStore>) -> Result<MetadataStore, StorageError> {
        let mut states = Vec::new();
        for meta in self.by_name.values() {
            let log_config = self.defaults.log_config(&meta.configs);
            let mut partitions = Vec::new();
            for p in 0..meta.partitions {
                let tp = TopicPartition::new(meta.name.clone(), p);
                let log = match logs.get(&tp) {
                    Some(log) => log,
                    None => logs.create(&tp, log_config.clone())?,
                };
                partitions.push(Arc::new(Partition::new(tp, meta.id, log)));
            }
            states.push(TopicState {
                meta: meta.clone(),
                partitions,
            });
        }
        info!(topics = states.len(), "loaded topics");
        Ok(MetadataStore {
            topics: TopicRegistry::new(self.topics_dir, states),
            defaults: RwLock::new(self.defaults),
            logs,
            meta_dir: self.meta_dir,
            admin_lock: Mutex::new(()),
        })
    }
}

/// The topics and broker-level defaults.
pub struct MetadataStore {
    pub topics: TopicRegistry,
    pub defaults: RwLock<BrokerDefaults>,
    logs: Arc<dyn LogStore>,
    meta_dir: PathBuf,
    /// Serializes topic creation, deletion and alteration.
    admin_lock: Mutex<()>,
}

impl MetadataStore {
    pub fn topic(&self, name: &str) -> Option<Arc<TopicState>> {
        self.topics.get(name)
    }

    pub fn partition(&self, topic: &str, partition: i32) -> Option<Arc<Partition>> {
        let t = self.topics.get(topic)?;
        usize::try_from(partition)
            .ok()
            .and_then(|i| t.partitions.get(i).cloned())
    }

    /// Creates a topic (or, with `validate_only`, checks that it could be created).
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<TopicMeta, TopicError> {
        let _guard = self.admin_lock.lock();
        topics::validate_name(name).map_err(TopicError::InvalidName)?;
        if self.topics.get(name).is_some() {
            return Err(TopicError::AlreadyExists(name.to_string()));
        }
        if let Some(other) = self.topics.colliding(name) {
            return Err(TopicError::InvalidName(format!(
                "Topic '{name}' collides with existing topic: {other}"
            )));
        }
        let partitions = if partitions == -1 {
            self.defaults.read().num_partitions()
        } else {
            partitions
        };
        if !(1..=100_000).contains(&partitions) {
            return Err(TopicError::InvalidPartitions(format!(
                "Number of partitions was set to an invalid value {partitions}: it must be between 1 and 100000"
            )));
        }
        if replication_factor != -1 && replication_factor != 1 {
            return Err(TopicError::InvalidReplicationFactor(format!(
                "Unable to replicate the partition {replication_factor} time(s): The target replication factor of {replication_factor} cannot be reached because only 1 broker(s) are registered."
            )));
        }
        topic_config::validate_all(&configs).map_err(TopicError::InvalidConfig)?;
        let meta = TopicMeta {
            name: name.to_string(),
            id: uuid::Uuid::new_v4(),
            partitions,
            configs,
            created_ms: crate::now_ms(),
        };
        if validate_only {
            return Ok(meta);
        }
        let mut parts = Vec::with_capacity(partitions as usize);
        self.create_logs(&meta, 0..partitions, &mut parts)?;
        self.topics.put(TopicState {
            meta: meta.clone(),
            partitions: parts,
        })?;
        info!(topic = name, partitions, topic_id = %meta.id, "created topic");
        Ok(meta)
    }

    /// Deletes a topic: forgets its metadata first (so a crash never resurrects it), then its logs.
    pub fn delete_topic(&self, name: &str) -> Result<Arc<TopicState>, TopicError> {
        let _guard = self.admin_lock.lock();
        let state = self
            .topics
            .remove(name)?
            .ok_or_else(|| TopicError::Unknown(name.to_string()))?;
        for p in &state.partitions {
            if let Err(e) = self.logs.delete(&p.tp) {
                warn!(topic = name, partition = p.tp.partition, error = %e, "deleting partition log failed");
            }
        }
        // Only now wake the fetches waiting on them: each then finds every partition gone (a
        // wake between two deletions answered the later partitions as if nothing happened).
        for p in &state.partitions {
            p.notify_data();
        }
        info!(topic = name, topic_id = %state.meta.id, "deleted topic");
        Ok(state)
    }

    /// Raises a topic's partition count to `total`.
    pub fn create_partitions(
        &self,
        name: &str,
        total: i32,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        let _guard = self.admin_lock.lock();
        let state = self
            .topics
            .get(name)
            .ok_or_else(|| TopicError::Unknown(name.to_string()))?;
        let current = state.meta.partitions;
        if total <= current {
            return Err(TopicError::InvalidPartitions(format!(
                "Topic currently has {current} partitions, which is higher than or equal to the requested {total}."
            )));
        }
        if total > 100_000 {
            return Err(TopicError::InvalidPartitions(format!(
                "{total} partitions is more than the limit of 100000"
            )));
        }
        if validate_only {
            return Ok(());
        }
        let mut parts = state.partitions.clone();
        self.create_logs(&state.meta, current..total, &mut parts)?;
        let mut meta = state.meta.clone();
        meta.partitions = total;
        self.topics.put(TopicState {
            meta,
            partitions: parts,
        })?;
        info!(topic = name, from = current, to = total, "added partitions");
        Ok(())
    }

    /// Creates the logs of a topic's partitions `range` with its resolved config.
    fn create_logs(
        &self,
        meta: &TopicMeta,
        range: std::ops::Range<i32>,
        parts: &mut Vec<Arc<Partition>>,
    ) -> Result<(), TopicError> {
        let log_config = self.defaults.read().log_config(&meta.configs);
        for p in range {
            let tp = TopicPartition::new(meta.name.clone(), p);
            let log = self.logs.create(&tp, log_config.clone())?;
            parts.push(Arc::new(Partition::new(tp, meta.id, log)));
        }
        Ok(())
    }

    /// Replaces a topic's config overrides (already merged by the caller) after validating them.
    pub fn set_topic_configs(
        &self,
        name: &str,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        let _guard = self.admin_lock.lock();
        let state = self
            .topics
            .get(name)
            .ok_or_else(|| TopicError::Unknown(name.to_string()))?;
        topic_config::validate_all(&configs).map_err(TopicError::InvalidConfig)?;
        if validate_only {
            return Ok(());
        }
        let mut meta = state.meta.clone();
        meta.configs = configs;
        let log_config = self.defaults.read().log_config(&meta.configs);
        for p in &state.partitions {
            p.log.update_config(log_config.clone());
        }
        self.topics.put(TopicState {
            meta,
            partitions: state.partitions.clone(),
        })?;
        info!(topic = name, "updated topic configs");
        Ok(())
    }

    /// Replaces the dynamic broker configs and re-resolves every topic's log config.
    pub fn set_broker_configs(
        &self,
        dynamic: BTreeMap<String, (String, bool)>,
    ) -> Result<(), TopicError> {
        let _guard = self.admin_lock.lock();
        let text = serde_json::to_vec_pretty(&dynamic)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        write_atomically(&self.meta_dir.join("broker-configs.json"), &text)?;
        let mut defaults = self.defaults.write();
        defaults.dynamic = dynamic;
        for t in self.topics.all() {
            let log_config = defaults.log_config(&t.meta.configs);
            for p in &t.partitions {
                p.log.update_config(log_config.clone());
            }
        }
        Ok(())
    }
}

fn load_broker_configs(meta_dir: &Path) -> std::io::Result<BTreeMap<String, (String, bool)>> {
    let path = meta_dir.join("broker-configs.json");
    crate::producer_ids::read_json_or_default(&path)
}
