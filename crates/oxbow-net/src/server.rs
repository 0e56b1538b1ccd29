//! The Kafka listeners: binds each `[[server.listeners]]` entry (or the single `server.listen`),
//! accepts connections (bounded in number across listeners), wraps each in its transport (plain
//! TCP with `sendfile`, or TLS) and session, and runs it on its own task. Each listener is a
//! service: stopping it stops accepting and drains its connections.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use oxbow_config::{BrokerConfig, SecurityProtocol, ServerConfig};
use oxbow_service::Services;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

use crate::connection::{self, Limits};
use crate::session::{Listener, Session};
use crate::transport::{CopyingWriter, TcpWriter};
use crate::FrameHandler;

/// A TLS handshake that takes longer than this is dropped.
const TLS_HANDSHAKE_LIMIT: Duration = Duration::from_secs(10);
/// How long shutdown waits for open connections to finish their current request.
const CONNECTION_DRAIN_LIMIT: Duration = Duration::from_secs(2);

/// Why the listeners could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("binding listener {name} on {addr}")]
    Bind {
        name: String,
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("security.ssl_principal_mapping_rules: {0}")]
    PrincipalRules(String),
}

/// A bound Kafka listener, not yet accepting.
pub struct Bound {
    pub listener: Arc<Listener>,
    pub socket: TcpListener,
    pub local_addr: SocketAddr,
    tls: Option<TlsAcceptor>,
    /// Mutual TLS on an SSL listener: the principal comes from the client certificate.
    mapper: Option<Arc<crate::SslPrincipalMapper>>,
}

/// Binds every configured listener and sets each one's advertised address (the bound address
/// unless one is configured).
pub async fn bind(config: &BrokerConfig) -> Result<Vec<Bound>, ServeError> {
    let mut acceptor = None;
    let mut bound = Vec::new();
    for l in config.listeners() {
        let socket = TcpListener::bind(&l.listen)
            .await
            .map_err(|source| ServeError::Bind {
                name: l.name.clone(),
                addr: l.listen.clone(),
                source,
            })?;
        let local_addr = socket.local_addr().map_err(|source| ServeError::Bind {
            name: l.name.clone(),
            addr: l.listen.clone(),
            source,
        })?;
        let (host, port) = crate::split_host_port(&l.advertised)
            .unwrap_or_else(|| (local_addr.ip().to_string(), i32::from(local_addr.port())));
        let tls = if l.protocol.uses_tls() {
            if acceptor.is_none() {
                acceptor = Some(crate::tls::acceptor(&config.tls)?);
            }
            acceptor.clone()
        } else {
            None
        };
        let mapper = if l.protocol == SecurityProtocol::Ssl
            && !config.tls.client_ca_file.as_os_str().is_empty()
        {
            let m = crate::SslPrincipalMapper::parse(&config.security.ssl_principal_mapping_rules)
                .map_err(ServeError::PrincipalRules)?;
            Some(Arc::new(m))
        } else {
            None
        };
        bound.push(Bound {
            listener: Listener::new(l.name, l.protocol, host, port),
            socket,
            local_addr,
            tls,
            mapper,
        });
    }
    Ok(bound)
}

/// Starts accepting on every bound listener, each as a service of `services`; returns the
/// listeners with their bound addresses.
pub fn serve<H: FrameHandler>(
    handler: Arc<H>,
    services: &Services,
    config: &ServerConfig,
    bound: Vec<Bound>,
) -> Vec<(Arc<Listener>, SocketAddr)> {
    let limits = Arc::new(Limits {
        max_request_bytes: config.max_request_bytes as usize,
        inflight_kib: Arc::new(Semaphore::new(
            (config.max_inflight_request_bytes / 1024) as usize,
        )),
        idle: Duration::from_millis(config.connections_max_idle_ms),
    });
    let connections = Arc::new(Semaphore::new(config.max_connections as usize));
    let listeners = bound
        .iter()
        .map(|b| (b.listener.clone(), b.local_addr))
        .collect();
    for b in bound {
        let (handler, limits, connections) = (handler.clone(), limits.clone(), connections.clone());
        let name = format!("kafka-listener {}", b.listener.name);
        services.spawn(name, move |ctx| {
            accept_loop(handler, b, limits, connections, ctx.shutdown_signal())
        });
    }
    listeners
}

async fn accept_loop<H: FrameHandler>(
    handler: Arc<H>,
    bound: Bound,
    limits: Arc<Limits>,
    connections: Arc<Semaphore>,
    mut shutdown: watch::Receiver<bool>,
) {
    let name = bound.listener.name.clone();
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            r = bound.socket.accept() => r,
            _ = shutdown.changed() => break,
        };
        while tasks.try_join_next().is_some() {}
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                warn!(listener = name, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            warn!(listener = name, %peer, "connection limit (server.max_connections) reached; refusing connection");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let session = Session::new(bound.listener.clone(), peer);
        let (handler, limits, shutdown) = (handler.clone(), limits.clone(), shutdown.clone());
        let tls = bound.tls.clone();
        let mapper = bound.mapper.clone();
        let listener = bound.listener.clone();
        listener.stats.opened();
        tasks.spawn(async move {
            serve_connection(stream, session, tls, mapper, handler, limits, shutdown).await;
            listener.stats.closed();
            drop(permit);
        });
    }
    info!(listener = name, "stopped accepting connections");
    // Connections see the same shutdown signal and end after their current request; those still
    // waiting (a long poll, a rebalance) after the limit are dropped with the set.
    let drained = tokio::time::timeout(CONNECTION_DRAIN_LIMIT, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        debug!(
            listener = name,
            open = tasks.len(),
            "closing connections still busy at shutdown"
        );
    }
}

async fn serve_connection<H: FrameHandler>(
    stream: TcpStream,
    mut session: Session,
    tls: Option<TlsAcceptor>,
    mapper: Option<Arc<crate::SslPrincipalMapper>>,
    handler: Arc<H>,
    limits: Arc<Limits>,
    shutdown: watch::Receiver<bool>,
) {
    match (session.listener.protocol, tls) {
        (SecurityProtocol::Ssl | SecurityProtocol::SaslSsl, Some(tls)) => {
            let peer = session.peer;
            let stream = match tokio::time::timeout(TLS_HANDSHAKE_LIMIT, tls.accept(stream)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    warn!(listener = session.listener.name, %peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    warn!(listener = session.listener.name, %peer, "TLS handshake timed out");
                    return;
                }
            };
            if let Some(mapper) = &mapper {
                let subject = stream
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .and_then(|der| crate::ssl_principal::subject_rfc2253(der));
                match subject.as_deref().and_then(|s| mapper.map(s)) {
                    Some(principal) => {
                        debug!(listener = session.listener.name, %peer, subject = ?subject, %principal, "mutual TLS client");
                        session.principal = principal;
                    }
                    None => {
                        warn!(listener = session.listener.name, %peer, subject = ?subject,
                            "no principal for the client certificate (ssl_principal_mapping_rules); closing");
                        return;
                    }
                }
            }
            debug!(listener = session.listener.name, %peer, "TLS session established");
            let (reader, writer) = tokio::io::split(stream);
            connection::run(
                reader,
                CopyingWriter(writer),
                session,
                handler,
                limits,
                shutdown,
            )
            .await;
        }
        _ => {
            let (reader, writer) = stream.into_split();
            connection::run(
                reader,
                TcpWriter(writer),
                session,
                handler,
                limits,
                shutdown,
            )
            .await;
        }
    }
}
