//! Oxbow's SQL: DataFusion over the lake's Delta tables together with the live tail of their
//! topics, served over the PostgreSQL wire protocol so psql, psycopg, JDBC and BI tools connect.
//!
//! This crate owns the catalog SQL sees ([`catalog`]: one table per `[[lake.tables]]` entry,
//! named after its topic: the landed rows, read by [`scan`] from the files the Delta log lists,
//! of tables kept open between queries ([`tables`]), plus the tail read through [`tail`]), the
//! query engine ([`engine`]: read-only, bounded in memory and concurrency, and in nesting by
//! [`complexity`]), who may query
//! ([`access`]: the bus's users and topic READ permissions, filled in by the broker), the
//! Arrow-to-PostgreSQL encoding ([`encode`]), what clients ask about the server on connect
//! ([`server_info`]: `SHOW`, `version()`, `current_setting`) and the protocol handlers ([`pg`]).
//! [`SqlServer::start`] binds the listener and serves it on a runtime of its own ("oxbow-sql"
//! threads), so queries never take the broker's network threads, registered as one service of
//! the broker's lifecycle.

pub mod access;
pub mod catalog;
pub mod complexity;
pub mod encode;
pub mod engine;
pub mod pg;
pub mod scan;
pub mod server_info;
pub mod tables;
pub mod tail;

use std::net::SocketAddr;
use std::sync::Arc;

use oxbow_config::SqlConfig;
use oxbow_lake::{TableSpec, TopicSource};
use oxbow_service::Services;
use tokio::sync::watch;
use tracing::{info, warn};

pub use access::{Caller, SqlAccess};
pub use engine::{Engine, SqlError};

/// An error from the lake (or anything displayable) as DataFusion's external error.
pub(crate) fn external(e: impl std::fmt::Display) -> datafusion::error::DataFusionError {
    datafusion::error::DataFusionError::External(e.to_string().into())
}

/// Stack of each SQL thread (address space; only what is touched is committed).
const SQL_STACK_BYTES: usize = 16 << 20;

pub struct SqlServer;

impl SqlServer {
    /// Binds `config.listen` and serves SQL over `tables` until the broker stops; returns the
    /// bound address.
    pub fn start(
        config: &SqlConfig,
        tables: Vec<TableSpec>,
        source: Arc<dyn TopicSource>,
        access: Arc<dyn SqlAccess>,
        services: &Services,
    ) -> std::io::Result<SocketAddr> {
        let listener = std::net::TcpListener::bind(&config.listen)?;
        listener.set_nonblocking(true)?;
        let bound = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("oxbow-sql")
            // DataFusion's plans nest futures deeply; unoptimised (debug) builds need room.
            .thread_stack_size(SQL_STACK_BYTES)
            .enable_all()
            .build()?;
        let engine = Arc::new(Engine::new(tables, source, config.clone(), access));
        let password = config.authentication == "password";
        let factory = Arc::new(pg::Factory(Arc::new(pg::Handlers::new(engine, password))));
        let (stop_tx, mut stop_rx) = watch::channel(false);
        let thread = std::thread::Builder::new()
            .name("oxbow-sql".into())
            .stack_size(SQL_STACK_BYTES)
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            warn!(error = %e, "SQL listener could not start");
                            return;
                        }
                    };
                    loop {
                        tokio::select! {
                            accepted = listener.accept() => match accepted {
                                Ok((socket, peer)) => {
                                    let factory = factory.clone();
                                    tokio::spawn(async move {
                                        if let Err(e) = pgwire::tokio::process_socket(socket, None, factory).await {
                                            tracing::debug!(%peer, error = %e, "SQL connection ended");
                                        }
                                    });
                                }
                                Err(e) => {
                                    warn!(error = %e, "accepting a SQL connection");
                                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                                }
                            },
                            _ = stop_rx.changed() => break,
                        }
                    }
                });
                runtime.shutdown_timeout(std::time::Duration::from_secs(1));
            })?;
        info!(listen = %bound, "SQL listener started (PostgreSQL protocol)");
        services.register("sql", move || {
            let _ = stop_tx.send(true);
            let _ = thread.join();
        });
        Ok(bound)
    }
}
