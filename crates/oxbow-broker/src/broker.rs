//! The broker's state and the operations handlers share: topics and their partitions, topic and
//! broker configs, producer ids, fetch sessions.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use oxbow_config::BrokerConfig;
use oxbow_storage::{LogManager, LogManagerOptions, LogStore, StorageError, TopicPartition};
use parking_lot::{Mutex, RwLock};
use tracing::{info, warn};

use crate::fetch_session::FetchSessionCache;
use crate::partition::Partition;
use crate::producer_ids::{write_atomically, ProducerIdManager};
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

/// Errors that stop the broker from starting.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot prepare data directory {path}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the log directory")]
    Storage(#[source] StorageError),
}

/// The running broker's shared state.
pub struct Broker {
    pub config: BrokerConfig,
    pub node_id: i32,
    pub cluster_id: String,
    advertised: RwLock<(String, i32)>,
    pub defaults: RwLock<BrokerDefaults>,
    /// The storage engine, reached only through its interface.
    pub logs: Arc<dyn LogStore>,
    pub topics: TopicRegistry,
    pub producer_ids: ProducerIdManager,
    pub fetch_sessions: FetchSessionCache,
    pub groups: crate::group::GroupCoordinator,
    /// Every handler's authorization decisions (`security.authorizer`).
    pub authorizer: Arc<dyn crate::authorizer::Authorizer>,
    /// Background work with one lifecycle (see `services`).
    pub services: crate::services::Services,
    meta_dir: PathBuf,
    /// Serializes topic creation, deletion and alteration.
    admin_lock: Mutex<()>,
}

impl Broker {
    /// Opens the data directory: metadata, then every log (running recovery), then partitions.
    pub fn open(config: BrokerConfig) -> Result<Arc<Broker>, StartError> {
        let data_dir = config.storage.data_dir.clone();
        let meta_dir = data_dir.join("meta");
        let io = |source| StartError::DataDir {
            path: data_dir.clone(),
            source,
        };
        std::fs::create_dir_all(&meta_dir).map_err(io)?;
        let cluster_id = load_or_create_cluster_id(&meta_dir).map_err(io)?;
        let dynamic = load_broker_configs(&meta_dir).map_err(io)?;
        let defaults = BrokerDefaults {
            static_log: config.log.clone(),
            dynamic,
        };
        let (topics_dir, metas) = TopicRegistry::load_meta(&meta_dir).map_err(io)?;
        let by_name: BTreeMap<String, TopicMeta> =
            metas.into_iter().map(|m| (m.name.clone(), m)).collect();

        let opts = LogManagerOptions {
            dir: data_dir.clone(),
            checkpoint_interval_ms: config.storage.checkpoint_interval_ms,
        };
        let config_for = |topic: &str| by_name.get(topic).map(|m| defaults.log_config(&m.configs));
        let local = LogManager::open(opts, &config_for).map_err(StartError::Storage)?;
        local.set_producer_id_expiration_ms(config.storage.producer_id_expiration_ms);
        let cleaner = oxbow_storage::CleanerOptions {
            io_max_bytes_per_second: config.log.cleaner_io_max_bytes_per_second,
            backoff_ms: config.log.cleaner_backoff_ms,
            ..Default::default()
        };
        let services = crate::services::Services::new();
        let storage = local.clone();
        services.register("storage", move || match storage.shutdown() {
            Ok(()) => info!("storage closed cleanly"),
            Err(e) => {
                warn!(error = %e, "storage did not close cleanly; recovery will run at next start")
            }
        });
        local.start_cleaner(cleaner).map_err(StartError::Storage)?;
        let logs: Arc<dyn LogStore> = local;
        let cleaner_logs = logs.clone();
        services.register("log-cleaner", move || cleaner_logs.stop_cleaner());

        let mut states = Vec::new();
        for meta in by_name.values() {
            let log_config = defaults.log_config(&meta.configs);
            let mut partitions = Vec::new();
            for p in 0..meta.partitions {
                let tp = TopicPartition::new(meta.name.clone(), p);
                let log = match logs.get(&tp) {
                    Some(log) => log,
                    None => logs
                        .create(&tp, log_config.clone())
                        .map_err(StartError::Storage)?,
                };
                partitions.push(Arc::new(Partition::new(tp, meta.id, log)));
            }
            states.push(TopicState {
                meta: meta.clone(),
                partitions,
            });
        }
        info!(topics = states.len(), dir = %data_dir.display(), "loaded topics");
        let producer_ids = ProducerIdManager::open(&meta_dir).map_err(io)?;
        let listen = config.server.listen.clone();
        let (host, port) = split_host_port(config.advertised_listener()).unwrap_or((listen, 9092));
        let broker = Arc::new(Broker {
            node_id: config.server.node_id,
            cluster_id,
            advertised: RwLock::new((host, port)),
            defaults: RwLock::new(defaults),
            logs,
            topics: TopicRegistry::new(topics_dir, states),
            producer_ids,
            fetch_sessions: FetchSessionCache::new(1000),
            groups: crate::group::GroupCoordinator::new(config.group.clone()),
            authorizer: crate::authorizer::from_config(&config.security.authorizer),
            services,
            meta_dir,
            admin_lock: Mutex::new(()),
            config,
        });
        broker.groups.load(&broker).map_err(StartError::Storage)?;
        Ok(broker)
    }

    /// The host and port clients are told to connect to.
    pub fn advertised(&self) -> (String, i32) {
        self.advertised.read().clone()
    }

    /// Sets the advertised address once the listener is bound (needed when listening on port 0).
    pub fn set_advertised(&self, host: String, port: i32) {
        *self.advertised.write() = (host, port);
    }

    pub fn data_dir(&self) -> &Path {
        &self.config.storage.data_dir
    }

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
        let log_config = self.defaults.read().log_config(&meta.configs);
        let mut parts = Vec::with_capacity(partitions as usize);
        for p in 0..partitions {
            let tp = TopicPartition::new(name, p);
            let log = self.logs.create(&tp, log_config.clone())?;
            parts.push(Arc::new(Partition::new(tp, meta.id, log)));
        }
        self.topics.put(TopicState {
            meta: meta.clone(),
            partitions: parts,
        })?;
        info!(topic = name, partitions, topic_id = %meta.id, "created topic");
        Ok(meta)
    }

    /// Deletes a topic: forgets its metadata first (so a crash never resurrects it), then its logs.
    pub fn delete_topic(&self, name: &str) -> Result<uuid::Uuid, TopicError> {
        let _guard = self.admin_lock.lock();
        let state = self
            .topics
            .remove(name)?
            .ok_or_else(|| TopicError::Unknown(name.to_string()))?;
        for p in &state.partitions {
            p.notify_data();
            if let Err(e) = self.logs.delete(&p.tp) {
                warn!(topic = name, partition = p.tp.partition, error = %e, "deleting partition log failed");
            }
        }
        self.fetch_sessions.forget_topic(name);
        info!(topic = name, topic_id = %state.meta.id, "deleted topic");
        // Outside the admin lock: the coordinator may itself create its topic under it.
        drop(_guard);
        self.groups.forget_topic(self, name);
        Ok(state.meta.id)
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
        let log_config = self.defaults.read().log_config(&state.meta.configs);
        let mut parts = state.partitions.clone();
        for p in current..total {
            let tp = TopicPartition::new(name, p);
            let log = self.logs.create(&tp, log_config.clone())?;
            parts.push(Arc::new(Partition::new(tp, state.meta.id, log)));
        }
        let mut meta = state.meta.clone();
        meta.partitions = total;
        self.topics.put(TopicState {
            meta,
            partitions: parts,
        })?;
        info!(topic = name, from = current, to = total, "added partitions");
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

    /// Flushes and closes every log, marking a clean shutdown: for a broker that was opened but
    /// never served (a served one stops through `ServerHandle::shutdown`).
    pub fn shutdown(&self) {
        self.groups.shutdown();
        match self.logs.shutdown() {
            Ok(()) => info!("storage closed cleanly"),
            Err(e) => {
                warn!(error = %e, "storage did not close cleanly; recovery will run at next start")
            }
        }
    }
}

/// Starts the periodic services of a served broker, after storage (started by `open`): segment
/// rolls and checkpoints, retention, the group coordinator's timers. Each runs its disk work on
/// the blocking pool.
pub(crate) fn start_services(broker: &Arc<Broker>) {
    let b = broker.clone();
    broker
        .services
        .every("log-maintenance", Duration::from_millis(1000), move || {
            b.logs.maintenance(crate::now_ms())
        });
    let b = broker.clone();
    let retention_every = Duration::from_millis(broker.config.storage.retention_check_interval_ms);
    broker
        .services
        .every("log-retention", retention_every, move || {
            let deleted = b.logs.enforce_retention(crate::now_ms());
            if deleted > 0 {
                info!(segments = deleted, "retention deleted segments");
            }
        });
    let b = broker.clone();
    broker
        .services
        .spawn("group-coordinator", move |ctx| async move {
            b.groups.run_timers(ctx).await;
        });
}

/// Splits `host:port` (IPv6 in brackets allowed).
pub fn split_host_port(addr: &str) -> Option<(String, i32)> {
    let (host, port) = addr.rsplit_once(':')?;
    let port = port.parse::<u16>().ok()?;
    Some((
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        i32::from(port),
    ))
}

fn load_or_create_cluster_id(meta_dir: &Path) -> std::io::Result<String> {
    let path = meta_dir.join("cluster-id");
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => Ok(id.trim().to_string()),
        Ok(_) | Err(_) => {
            let id = uuid::Uuid::new_v4().simple().to_string()[..22].to_string();
            write_atomically(&path, id.as_bytes())?;
            Ok(id)
        }
    }
}

fn load_broker_configs(meta_dir: &Path) -> std::io::Result<BTreeMap<String, (String, bool)>> {
    let path = meta_dir.join("broker-configs.json");
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(e),
    }
}
