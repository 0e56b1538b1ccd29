//! The TCP server: accepts connections (bounded in number), runs each on its own task, and runs
//! the broker's periodic work (retention, checkpoints, segment rolls) until shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tracing::{info, warn};

use crate::connection::{self, Limits};
use crate::Broker;

/// A running server.
pub struct ServerHandle {
    pub local_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    accept: tokio::task::JoinHandle<()>,
}

impl ServerHandle {
    /// Stops accepting, closes connections, and waits for the accept loop to end.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.accept.await;
    }
}

/// Starts serving on `listener`.
pub fn serve(broker: Arc<Broker>, listener: TcpListener) -> std::io::Result<ServerHandle> {
    let local_addr = listener.local_addr()?;
    let (tx, rx) = watch::channel(false);
    let cfg = &broker.config.server;
    let limits = Arc::new(Limits {
        max_request_bytes: cfg.max_request_bytes as usize,
        inflight_kib: Arc::new(Semaphore::new(
            (cfg.max_inflight_request_bytes / 1024) as usize,
        )),
        idle: Duration::from_millis(cfg.connections_max_idle_ms),
    });
    let connections = Arc::new(Semaphore::new(cfg.max_connections as usize));
    spawn_background(broker.clone(), rx.clone());
    let accept = tokio::spawn(accept_loop(broker, listener, limits, connections, rx));
    Ok(ServerHandle {
        local_addr,
        shutdown: tx,
        accept,
    })
}

async fn accept_loop(
    broker: Arc<Broker>,
    listener: TcpListener,
    limits: Arc<Limits>,
    connections: Arc<Semaphore>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.changed() => break,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            warn!(%peer, "connection limit (server.max_connections) reached; refusing connection");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (broker, limits, shutdown) = (broker.clone(), limits.clone(), shutdown.clone());
        tokio::spawn(async move {
            connection::run(stream, peer, broker, limits, shutdown).await;
            drop(permit);
        });
    }
    info!("stopped accepting connections");
}

fn spawn_background(broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let retention_every = Duration::from_millis(broker.config.storage.retention_check_interval_ms);
    tokio::spawn(async move {
        let mut maintenance = tokio::time::interval(Duration::from_millis(1000));
        let mut retention = tokio::time::interval(retention_every);
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = maintenance.tick() => {
                    let b = broker.clone();
                    let _ = tokio::task::spawn_blocking(move || b.logs.maintenance(crate::now_ms())).await;
                }
                _ = retention.tick() => {
                    let b = broker.clone();
                    let deleted = tokio::task::spawn_blocking(move || b.logs.enforce_retention(crate::now_ms())).await;
                    if let Ok(n) = deleted {
                        if n > 0 {
                            info!(segments = n, "retention deleted segments");
                        }
                    }
                }
            }
        }
    });
}
