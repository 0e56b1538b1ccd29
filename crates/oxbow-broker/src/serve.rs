//! Serving a broker: its Kafka listeners (from `oxbow-net`) with the broker as the frame handler,
//! after its periodic services; [`ServerHandle::shutdown`] stops every service in reverse order.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use oxbow_net::{Answer, Bound, FrameHandler, Listener, ServeError, Session};

use crate::Broker;

/// Binds every configured listener (see `oxbow_net::bind`).
pub async fn bind(broker: &Broker) -> Result<Vec<Bound>, ServeError> {
    oxbow_net::bind(&broker.config).await
}

/// Running listeners and services.
pub struct ServerHandle {
    /// The first listener's bound address.
    pub local_addr: SocketAddr,
    pub listeners: Vec<(Arc<Listener>, SocketAddr)>,
    broker: Arc<Broker>,
}

impl ServerHandle {
    /// Stops accepting, closes connections, stops every service (storage last).
    pub async fn shutdown(self) {
        self.broker.services.shutdown().await;
    }
}

/// The broker as the network's frame handler: every frame goes through the API table.
struct KafkaApis(Arc<Broker>);

impl FrameHandler for KafkaApis {
    async fn handle_frame(
        &self,
        session: &mut Arc<Session>,
        frame: Bytes,
        max_request_bytes: usize,
    ) -> Option<Answer> {
        crate::handlers::handle_frame(&self.0, session, frame, max_request_bytes).await
    }
}

/// Starts the periodic services, then the listeners.
pub fn serve(broker: Arc<Broker>, bound: Vec<Bound>) -> std::io::Result<ServerHandle> {
    let first = bound
        .first()
        .map(|b| b.local_addr)
        .ok_or_else(|| std::io::Error::other("no listener configured"))?;
    crate::broker::start_services(&broker);
    let handler = Arc::new(KafkaApis(broker.clone()));
    let listeners = oxbow_net::serve(handler, &broker.services, &broker.config.server, bound);
    broker.set_listeners(listeners.clone());
    Ok(ServerHandle {
        local_addr: first,
        listeners,
        broker,
    })
}
