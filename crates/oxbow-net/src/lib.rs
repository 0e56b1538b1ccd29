//! Oxbow's network edge. This crate owns everything between a socket and a request handler:
//! binding the listeners (`[[server.listeners]]`, PLAINTEXT or SSL) and accepting connections
//! within the connection limit ([`server`]); the transports — plain TCP that sends file ranges
//! with `sendfile`, and TLS (rustls, [`tls`]) that copies them ([`transport`]); each connection's
//! [`session::Session`] (listener, peer, client id, authentication, principal; a mutual-TLS
//! client's from its certificate, [`ssl_principal`]); and the
//! per-connection loop ([`connection`]) that reads frames under the in-flight byte budget (and not
//! at all while a quota mutes the connection, [`throttle`]), hands
//! them to a [`FrameHandler`] one at a time and writes the [`reply::Reply`]s in request order.
//! It knows nothing of Kafka APIs beyond framing: the broker is the handler.

pub mod connection;
pub mod reply;
pub mod server;
pub mod session;
pub mod ssl_principal;
pub mod throttle;
pub mod tls;
pub mod transport;

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;

pub use reply::{Answer, Chunk, Reply};
pub use server::{bind, serve, Bound, ServeError};
pub use session::{AuthState, Listener, ListenerStats, Principal, Session};
pub use ssl_principal::SslPrincipalMapper;

/// Handles one request frame of a connection. `None` closes the connection (after the replies
/// already queued are written); the handler logs why.
pub trait FrameHandler: Send + Sync + 'static {
    fn handle_frame(
        &self,
        session: &mut Arc<Session>,
        frame: Bytes,
        max_request_bytes: usize,
    ) -> impl Future<Output = Option<Answer>> + Send;
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
