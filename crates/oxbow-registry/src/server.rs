//! The registry's HTTP listener, run as a service of the broker (stopped with the others).

use std::net::SocketAddr;
use std::sync::Arc;

use oxbow_service::Services;
use tracing::{info, warn};

use crate::registry::Registry;

/// Binds the registry's listener (before the service starts, so a taken port fails the start).
pub async fn bind(addr: &str) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

/// Serves the REST API on `listener` until the services stop.
pub fn start(
    services: &Services,
    listener: tokio::net::TcpListener,
    registry: Arc<Registry>,
    access: crate::access::Access,
) -> Option<SocketAddr> {
    let addr = listener.local_addr().ok();
    let app = crate::api::router(registry, Arc::new(access))
        .into_make_service_with_connect_info::<SocketAddr>();
    services.spawn("schema-registry", move |mut ctx| async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { ctx.stopped().await })
            .await;
        if let Err(e) = served {
            warn!(error = %e, "schema registry listener failed");
        }
    });
    if let Some(a) = addr {
        info!(listen = %a, "schema registry listening (Confluent REST API)");
    }
    addr
}
