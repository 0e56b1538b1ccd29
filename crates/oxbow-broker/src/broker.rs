//! The broker's shared state, as handlers see it: configuration and identity, topic metadata
//! ([`MetadataStore`]), the storage engine (behind its traits), producer ids, fetch sessions, the
//! group coordinator, the authorizer and the services. Opening a broker opens them in order.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use oxbow_config::BrokerConfig;
use oxbow_storage::{LogManager, LogManagerOptions, LogStore, StorageError};
use parking_lot::RwLock;
use tracing::{info, warn};

use crate::fetch_session::FetchSessionCache;
use crate::metadata::LoadedMetadata;
pub use crate::metadata::{MetadataStore, TopicError};
use crate::partition::Partition;
use crate::producer_ids::{write_atomically, ProducerIdManager};
use crate::topics::TopicState;

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
    /// The bound listeners and their addresses, once served (DescribeConfigs reports them).
    listeners: RwLock<Vec<(Arc<oxbow_net::Listener>, std::net::SocketAddr)>>,
    /// The storage engine, reached only through its interface.
    pub logs: Arc<dyn LogStore>,
    /// Topics, their partitions and configs, and the broker-level defaults.
    pub metadata: MetadataStore,
    pub producer_ids: ProducerIdManager,
    pub fetch_sessions: FetchSessionCache,
    pub groups: oxbow_coordinator::GroupCoordinator,
    pub txns: oxbow_coordinator::transaction::TransactionCoordinator,
    /// Every handler's authorization decisions (`security.authorizer`).
    pub authorizer: Arc<dyn crate::authorizer::Authorizer>,
    /// The ACLs (CreateAcls/DescribeAcls/DeleteAcls; read by the ACL authorizer).
    pub acls: Arc<crate::acl::AclStore>,
    /// SCRAM credentials (AlterUserScramCredentials; read by SaslAuthenticate).
    pub scram: crate::scram::credentials::CredentialStore,
    /// The groups' recent commits and their diagnosis (Burrow's rules).
    pub lag_monitor: crate::lag_monitor::LagMonitor,
    /// What `/metrics` shows (counted on the request path).
    pub metrics: crate::metrics::BrokerMetrics,
    /// The schema registry, once `oxbow serve` has opened it (broker-side schema validation).
    pub schema_registry: std::sync::OnceLock<Arc<oxbow_registry::Registry>>,
    /// Per-group configs (the GROUP config resource), applied by `groups`.
    pub group_configs: crate::group_configs::GroupConfigStore,
    /// Client quotas (AlterClientQuotas) and the rates measured against them.
    pub quotas: crate::quota::ClientQuotaManager,
    /// Authentications, denials and changes (`security.audit_log`).
    pub audit: Arc<crate::audit::AuditLog>,
    /// Failed authentications per address (delay and per-minute limit).
    pub auth_failures: crate::auth_limit::AuthFailureLimiter,
    /// Background work with one lifecycle (see `services`).
    pub services: oxbow_service::Services,
    /// Rate-limits the log lines of refused requests.
    pub refusals: crate::refusal_log::RefusalLog,
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
        let loaded = LoadedMetadata::load(&meta_dir, config.log.clone()).map_err(io)?;

        let opts = LogManagerOptions {
            dir: data_dir.clone(),
            checkpoint_interval_ms: config.storage.checkpoint_interval_ms,
        };
        let config_for = |topic: &str| loaded.log_config(topic);
        let local = LogManager::open(opts, &config_for).map_err(StartError::Storage)?;
        local.set_producer_id_expiration_ms(config.storage.producer_id_expiration_ms);
        let cleaner = oxbow_storage::CleanerOptions {
            io_max_bytes_per_second: config.log.cleaner_io_max_bytes_per_second,
            backoff_ms: config.log.cleaner_backoff_ms,
            ..Default::default()
        };
        let services = oxbow_service::Services::new();
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

        let metadata = loaded.attach(logs.clone()).map_err(StartError::Storage)?;
        let producer_ids = ProducerIdManager::open(&meta_dir).map_err(io)?;
        let acls = Arc::new(crate::acl::AclStore::open(&meta_dir).map_err(io)?);
        let group_configs = crate::group_configs::GroupConfigStore::open(&meta_dir).map_err(io)?;
        let scram = crate::scram::credentials::CredentialStore::open(&meta_dir).map_err(io)?;
        let quotas =
            crate::quota::ClientQuotaManager::open(&meta_dir, config.quota.clone()).map_err(io)?;
        let audit_path = match config.security.audit_log.as_str() {
            "none" => None,
            "" => Some(data_dir.join("audit.log")),
            p => Some(PathBuf::from(p)),
        };
        let audit = Arc::new(
            crate::audit::AuditLog::open(
                audit_path.clone(),
                config.security.audit_log_max_bytes,
                config.security.audit_log_files,
            )
            .map_err(|source| StartError::DataDir {
                path: audit_path.clone().unwrap_or_default(),
                source,
            })?,
        );
        let groups = oxbow_coordinator::GroupCoordinator::new(config.group.clone());
        groups.set_overrides(group_configs.overrides());
        let txns = oxbow_coordinator::transaction::TransactionCoordinator::new(
            config.transaction.clone(),
            groups.clone(),
        );
        let broker = Arc::new(Broker {
            node_id: config.server.node_id,
            cluster_id,
            listeners: RwLock::new(Vec::new()),
            logs,
            metadata,
            producer_ids,
            fetch_sessions: FetchSessionCache::new(1000),
            groups,
            group_configs,
            txns,
            authorizer: crate::acl::authorizer_from_config(&config.security, &acls),
            acls,
            quotas,
            schema_registry: std::sync::OnceLock::new(),
            metrics: crate::metrics::BrokerMetrics::default(),
            lag_monitor: crate::lag_monitor::LagMonitor::default(),
            scram,
            audit,
            auth_failures: crate::auth_limit::AuthFailureLimiter::new(
                config.security.max_failed_authentications_per_minute,
                config.security.failed_authentication_delay_ms,
            ),
            services,
            refusals: Default::default(),
            config,
        });
        let flushes = broker.metrics.log_flush.clone();
        broker
            .logs
            .observe_flushes(Arc::new(move |took| flushes.observe(took)));
        broker.groups.load(&*broker).map_err(StartError::Storage)?;
        broker.txns.load(&*broker).map_err(StartError::Storage)?;
        Ok(broker)
    }

    /// The bound listeners with their addresses (empty until served).
    pub fn listeners(&self) -> Vec<(Arc<oxbow_net::Listener>, std::net::SocketAddr)> {
        self.listeners.read().clone()
    }

    pub(crate) fn set_listeners(
        &self,
        bound: Vec<(Arc<oxbow_net::Listener>, std::net::SocketAddr)>,
    ) {
        *self.listeners.write() = bound;
    }

    pub fn data_dir(&self) -> &Path {
        &self.config.storage.data_dir
    }

    pub fn topic(&self, name: &str) -> Option<Arc<TopicState>> {
        self.metadata.topic(name)
    }

    pub fn partition(&self, topic: &str, partition: i32) -> Option<Arc<Partition>> {
        self.metadata.partition(topic, partition)
    }

    /// Deletes a topic (metadata, then logs), then what refers to it: fetch sessions and the
    /// groups' committed offsets.
    pub fn delete_topic(&self, name: &str) -> Result<uuid::Uuid, TopicError> {
        let state = self.metadata.delete_topic(name)?;
        self.metrics.forget_topic(name);
        self.fetch_sessions.forget_topic(name);
        // Outside the metadata lock: the coordinator may itself create its topic under it.
        self.groups.forget_topic(self, name);
        Ok(state.meta.id)
    }
}

/// Starts the periodic services of a served broker, after storage (started by `open`): segment
/// rolls and checkpoints, retention, the group coordinator's timers. Each runs its disk work on
/// the blocking pool.
pub(crate) fn start_services(broker: &Arc<Broker>) {
    crate::audit_topic::attach(broker);
    if !broker.config.alerts.rules.is_empty() {
        let external = format!("http://{}", broker.config.http.listen);
        let engine = crate::alerts::AlertEngine::new(broker.config.alerts.clone(), external);
        let b = broker.clone();
        broker.services.every(
            "alerts",
            Duration::from_millis(broker.config.alerts.evaluation_interval_ms),
            move || engine.evaluate(&b),
        );
    }
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
        .every("lag-monitor", Duration::from_millis(1000), move || {
            b.lag_monitor.sample(&b)
        });
    let b = broker.clone();
    broker
        .services
        .spawn("group-coordinator", move |ctx| async move {
            b.groups.run_timers(ctx).await;
        });
    let b = broker.clone();
    broker
        .services
        .spawn("transaction-coordinator", move |ctx| async move {
            let coordinator_ctx: Arc<dyn oxbow_coordinator::context::CoordinatorContext> =
                b.clone();
            b.txns.run_timers(coordinator_ctx, ctx).await;
        });
}

pub use oxbow_net::split_host_port;

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
