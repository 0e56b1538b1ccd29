//! `oxbow serve`: load the config (file, then `OXBOW_*` environment, then flags), open the data
//! directory (recovering after a crash), listen, and shut down cleanly on SIGTERM/SIGINT.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use oxbow_config::BrokerConfig;
use tracing::info;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// TOML config file (see README for keys).
    #[arg(long, short = 'c')]
    pub config: Option<PathBuf>,
    /// Data directory (overrides storage.data_dir).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Kafka listener HOST:PORT (overrides server.listen).
    #[arg(long)]
    pub listen: Option<String>,
    /// Address advertised to clients HOST:PORT (overrides server.advertised_listener).
    #[arg(long)]
    pub advertised_listener: Option<String>,
    /// Schema registry REST listener HOST:PORT (overrides registry.listen).
    #[arg(long)]
    pub registry_listen: Option<String>,
    /// HTTP listener for /metrics, /health and /ready, HOST:PORT (overrides http.listen).
    #[arg(long)]
    pub http_listen: Option<String>,
    /// SQL (PostgreSQL protocol) listener HOST:PORT (overrides sql.listen).
    #[arg(long)]
    pub sql_listen: Option<String>,
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    init_tracing();
    let mut config = BrokerConfig::load(args.config.as_deref()).context("loading configuration")?;
    if let Some(dir) = args.data_dir {
        config.storage.data_dir = dir;
    }
    if let Some(listen) = args.listen {
        config.server.listen = listen;
    }
    if let Some(adv) = args.advertised_listener {
        config.server.advertised_listener = adv;
    }
    if let Some(addr) = args.registry_listen {
        config.registry.listen = addr;
    }
    if let Some(addr) = args.http_listen {
        config.http.listen = addr;
    }
    if let Some(addr) = args.sql_listen {
        config.sql.listen = addr;
    }
    config.validate().context("validating configuration")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("oxbow")
        .build()
        .context("starting the runtime")?;
    runtime.block_on(serve(config))
}

async fn serve(config: BrokerConfig) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let registry_config = config.registry.clone();
    let http_config = config.http.clone();
    let lake_config = config.lake.clone();
    let sql_config = config.sql.clone();
    let broker = tokio::task::spawn_blocking(move || oxbow_broker::Broker::open(config))
        .await
        .context("opening the data directory")??;
    let bound = oxbow_broker::bind(&broker)
        .await
        .context("starting the Kafka listeners")?;
    let data_dir = broker
        .data_dir()
        .canonicalize()
        .unwrap_or_else(|_| broker.data_dir().to_path_buf());
    let server = oxbow_broker::serve(broker.clone(), bound)?;
    for (listener, local) in &server.listeners {
        let (adv_host, adv_port) = listener.advertised();
        println!(
            "oxbow {} listening on {local} (listener {}, {}, advertised as {adv_host}:{adv_port}), data in {}",
            env!("CARGO_PKG_VERSION"),
            listener.name,
            listener.protocol.name(),
            data_dir.display()
        );
        info!(listener = listener.name, protocol = listener.protocol.name(), listen = %local,
            advertised = %format!("{adv_host}:{adv_port}"), "Kafka listener started");
    }
    let registry = if registry_config.enabled {
        Some(start_registry(&broker, &registry_config).await?)
    } else {
        None
    };
    let source = std::sync::Arc::new(crate::lake::BrokerTopics(broker.clone()));
    // Avro and Protobuf tables read their values with the registry's schemas.
    let values = registry.map(|r| {
        std::sync::Arc::new(crate::lake::RegistryValues(
            oxbow_registry::payload::PayloadDecoder::new(r),
        )) as std::sync::Arc<dyn oxbow_lake::RegisteredValues>
    });
    let lake = oxbow_lake::Lake::start(
        &lake_config,
        &data_dir,
        source.clone(),
        values.clone(),
        &broker.services,
    )
    .context("starting the lake sinks")?;
    let tables = oxbow_lake::specs(&lake_config, &data_dir, values);
    for spec in &tables {
        println!(
            "oxbow lake: topic {} lands in the Delta table {}",
            spec.topic,
            spec.path.display()
        );
    }
    if sql_config.enabled && !tables.is_empty() {
        let access = std::sync::Arc::new(crate::sql_access::BrokerSqlAccess::new(
            broker.clone(),
            &sql_config.listen,
        ));
        let addr =
            oxbow_sql::SqlServer::start(&sql_config, tables, source, access, &broker.services)
                .with_context(|| {
                    format!(
                        "starting the SQL listener on {} (sql.listen, --sql-listen)",
                        sql_config.listen
                    )
                })?;
        let who = if sql_config.authentication == "password" {
            "the bus's users with their passwords"
        } else {
            "any user, as ANONYMOUS"
        };
        println!("oxbow SQL listening on {addr} (PostgreSQL protocol, database oxbow, {who})");
    }
    if http_config.enabled {
        let listener = tokio::net::TcpListener::bind(&http_config.listen)
            .await
            .with_context(|| {
                format!(
                    "starting the HTTP listener on {} (http.listen, --http-listen)",
                    http_config.listen
                )
            })?;
        let collect = std::sync::Arc::new(crate::lake::WithLake {
            broker: std::sync::Arc::new(oxbow_broker::metrics::collect::BrokerCollector {
                broker: broker.clone(),
                cluster_name: http_config.cluster_name.clone(),
            }),
            lake: lake.status.clone(),
        });
        let burrow = oxbow_broker::lag_monitor::api::router(
            broker.clone(),
            http_config.cluster_name.clone(),
        );
        let extra = burrow.merge(oxbow_lake::report::router(lake.status.clone()));
        let app = oxbow_metrics::server::router(collect, extra);
        if let Some(addr) = oxbow_metrics::server::start(&broker.services, listener, app) {
            println!("oxbow HTTP listening on http://{addr} (/metrics, /health, /ready, Burrow API /v3/kafka, /lake/status)");
        }
    }
    info!(data_dir = %data_dir.display(), cluster_id = broker.cluster_id,
        authorizer = broker.authorizer.name(), startup_ms = started.elapsed().as_millis() as u64, "broker started");

    wait_for_signal().await;
    info!("shutting down");
    server.shutdown().await;
    info!("stopped");
    Ok(())
}

/// Opens the schema registry over `_schemas` (replaying it) and serves its REST API.
async fn start_registry(
    broker: &std::sync::Arc<oxbow_broker::Broker>,
    config: &oxbow_config::RegistryConfig,
) -> anyhow::Result<std::sync::Arc<oxbow_registry::Registry>> {
    let listen = config.listen.as_str();
    let log = std::sync::Arc::new(oxbow_broker::schema_log::BrokerSchemaLog::new(broker));
    let registry = tokio::task::spawn_blocking(move || oxbow_registry::Registry::open(log))
        .await
        .context("opening the schema registry")?
        .map_err(|e| anyhow::anyhow!("opening the schema registry: {e}"))?;
    let listener = oxbow_registry::server::bind(listen)
        .await
        .with_context(|| format!("starting the schema registry listener on {listen} (registry.listen, --registry-listen)"))?;
    let registry = std::sync::Arc::new(registry);
    // Broker-side schema validation asks this registry.
    let _ = broker.schema_registry.set(registry.clone());
    let bound = listener
        .local_addr()
        .context("the registry listener's address")?;
    let access =
        oxbow_broker::registry_access::access(broker, config.authentication == "basic", bound);
    if let Some(addr) =
        oxbow_registry::server::start(&broker.services, listener, registry.clone(), access)
    {
        println!(
            "oxbow schema registry listening on http://{addr} (Confluent REST API), schemas in topic {}",
            oxbow_broker::schema_log::TOPIC
        );
    }
    Ok(registry)
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// delta-rs's kernel logs every snapshot load at info, and a new table's empty log as an error;
/// delta-rs's commits warn each time a commit retries over one made beside it, which an append
/// table's compaction does routinely. The lake's own lines say what matters, with the topic. So
/// unless a filter names their crate, the kernel is silent, delta-rs's commits log errors only and
/// the rest of delta-rs warnings, whatever level `OXBOW_LOG_LEVEL` or `RUST_LOG` asks for.
const DELTA_QUIET: [(&str, &str); 3] = [
    ("buoyant_kernel", "off"),
    ("deltalake_core", "warn"),
    ("deltalake_core::kernel::transaction", "error"),
];

/// The level when no filter is given (or the one given cannot be read).
const DEFAULT_LOG_LEVEL: &str = "info";

fn log_filter(spec: &str) -> String {
    let mut filter = match spec.trim() {
        "" => DEFAULT_LOG_LEVEL.to_string(),
        given => given.to_string(),
    };
    for (target, level) in DELTA_QUIET {
        let krate = target.split("::").next().unwrap_or(target);
        if !spec.contains(krate) {
            filter.push_str(&format!(",{target}={level}"));
        }
    }
    filter
}

fn init_tracing() {
    let spec = std::env::var("OXBOW_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_default();
    let filter = tracing_subscriber::EnvFilter::try_new(log_filter(&spec)).unwrap_or_else(|e| {
        eprintln!(
            "oxbow: log filter {spec:?} not understood ({e}); logging at {DEFAULT_LOG_LEVEL}"
        );
        tracing_subscriber::EnvFilter::new(log_filter(DEFAULT_LOG_LEVEL))
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

#[cfg(test)]
mod tests {
    use super::log_filter;

    #[test]
    fn given_a_bare_level_should_keep_delta_quiet() {
        assert_eq!(
            log_filter("warn"),
            "warn,buoyant_kernel=off,deltalake_core=warn,deltalake_core::kernel::transaction=error"
        );
    }

    #[test]
    fn given_a_filter_naming_the_kernel_should_leave_it_alone() {
        assert_eq!(
            log_filter("info,buoyant_kernel=debug"),
            "info,buoyant_kernel=debug,deltalake_core=warn,deltalake_core::kernel::transaction=error"
        );
    }

    #[test]
    fn given_a_filter_naming_delta_rs_should_leave_all_of_it_alone() {
        assert_eq!(
            log_filter("deltalake_core=debug"),
            "deltalake_core=debug,buoyant_kernel=off"
        );
    }
}
