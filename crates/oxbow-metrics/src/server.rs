//! The broker's HTTP listener (default 127.0.0.1:8080): `/metrics` (Prometheus text, OpenMetrics
//! when the `Accept` header asks), `/health` (200 while running; 503 with the reason when a
//! service is degraded) and `/ready` (200 once the broker serves requests). Other routes (the
//! Burrow API, the console) are merged in by their owners.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use oxbow_service::Services;
use tracing::{info, warn};

use crate::Exposition;

/// What the broker shows at a scrape, and how it is.
pub trait Collect: Send + Sync + 'static {
    fn collect(&self, out: &mut Exposition);
    /// `Err(reason)` when something does not work (a log directory offline).
    fn health(&self) -> Result<(), String>;
    /// Whether requests are being served.
    fn ready(&self) -> bool;
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// The routes of the listener, `extra` merged in.
pub fn router(collect: Arc<dyn Collect>, extra: Router) -> Router {
    let (m, h, r) = (collect.clone(), collect.clone(), collect);
    Router::new()
        .route(
            "/metrics",
            get(move |headers: HeaderMap| {
                let c = m.clone();
                async move {
                    let openmetrics = headers
                        .get(header::ACCEPT)
                        .and_then(|v| v.to_str().ok())
                        .is_some_and(|v| v.contains("application/openmetrics-text"));
                    // Collecting reads every partition's state: off the async threads.
                    let body = tokio::task::spawn_blocking(move || {
                        let mut e = Exposition::new(openmetrics);
                        c.collect(&mut e);
                        (e.content_type(), e.finish())
                    })
                    .await;
                    match body {
                        Ok((ct, body)) => text(StatusCode::OK, ct, body),
                        Err(e) => text(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "text/plain",
                            format!("collecting failed: {e}\n"),
                        ),
                    }
                }
            }),
        )
        .route(
            "/health",
            get(move || {
                let c = h.clone();
                async move {
                    match c.health() {
                        Ok(()) => text(StatusCode::OK, "text/plain", "ok\n".into()),
                        Err(why) => text(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "text/plain",
                            format!("{why}\n"),
                        ),
                    }
                }
            }),
        )
        .route(
            "/ready",
            get(move || {
                let c = r.clone();
                async move {
                    if c.ready() {
                        text(StatusCode::OK, "text/plain", "ready\n".into())
                    } else {
                        text(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "text/plain",
                            "not ready\n".into(),
                        )
                    }
                }
            }),
        )
        .merge(extra)
}

/// Serves `app` on `listener` as the service `http` until the services stop.
pub fn start(
    services: &Services,
    listener: tokio::net::TcpListener,
    app: Router,
) -> Option<SocketAddr> {
    let addr = listener.local_addr().ok();
    services.spawn("http", move |mut ctx| async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { ctx.stopped().await })
            .await;
        if let Err(e) = served {
            warn!(error = %e, "HTTP listener failed");
        }
    });
    if let Some(a) = addr {
        info!(listen = %a, "HTTP listener started (/metrics, /health, /ready)");
    }
    addr
}
