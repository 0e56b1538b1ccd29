//! Who is on the other end of a connection: the listener it came in on, the client's address and
//! id, how it authenticated, and the principal every authorization decision is made for.

use std::net::SocketAddr;
use std::sync::Arc;

use oxbow_config::SecurityProtocol;

/// A Kafka principal, `User:alice`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Principal {
    pub kind: String,
    pub name: String,
}

impl Principal {
    /// `User:ANONYMOUS`, the principal of every connection that has not authenticated.
    pub fn anonymous() -> Self {
        Self::user("ANONYMOUS")
    }

    pub fn user(name: &str) -> Self {
        Self {
            kind: "User".into(),
            name: name.into(),
        }
    }
}

impl std::fmt::Display for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.kind, self.name)
    }
}

/// How far a connection got with authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthState {
    /// The listener needs no authentication (PLAINTEXT, SSL without client certificates).
    NotRequired,
    /// A SASL listener's connection that has not authenticated yet: only ApiVersions,
    /// SaslHandshake and SaslAuthenticate are served.
    Pending,
    /// Authenticated with this mechanism (`PLAIN`, `SCRAM-SHA-256`, `SSL`, ...).
    Authenticated { mechanism: String },
}

/// A listener's connection counts (for the metrics).
#[derive(Debug, Default)]
pub struct ListenerStats {
    open: std::sync::atomic::AtomicI64,
    accepted: std::sync::atomic::AtomicU64,
}

impl ListenerStats {
    pub fn opened(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        self.open.fetch_add(1, Relaxed);
        self.accepted.fetch_add(1, Relaxed);
    }

    pub fn closed(&self) {
        self.open.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn open(&self) -> i64 {
        self.open.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn accepted(&self) -> u64 {
        self.accepted.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// A bound listener as connections and Metadata see it.
#[derive(Debug)]
pub struct Listener {
    pub name: String,
    pub protocol: SecurityProtocol,
    pub stats: ListenerStats,
    /// Host and port given to clients that connected here (fixed once the socket is bound).
    host: String,
    port: i32,
}

impl Listener {
    pub fn new(name: String, protocol: SecurityProtocol, host: String, port: i32) -> Arc<Self> {
        Arc::new(Self {
            name,
            protocol,
            stats: ListenerStats::default(),
            host,
            port,
        })
    }

    pub fn advertised(&self) -> (String, i32) {
        (self.host.clone(), self.port)
    }
}

/// One connection's identity, kept for its lifetime and seen by every request on it.
#[derive(Debug, Clone)]
pub struct Session {
    pub listener: Arc<Listener>,
    pub peer: SocketAddr,
    /// The last client id a request carried (empty until one does).
    pub client_id: String,
    pub auth: AuthState,
    pub principal: Principal,
    /// The SASL mechanism chosen by SaslHandshake, until authentication completes.
    pub sasl_mechanism: Option<String>,
    /// What a multi-round mechanism (SCRAM) keeps between SaslAuthenticate requests.
    pub sasl_state: Option<String>,
    /// When the SASL session ends (KIP-368): past it, only re-authentication is served.
    pub auth_expires_at: Option<std::time::Instant>,
    /// The connection's mute when a quota throttles it (shared by every copy of the session).
    pub throttle: Arc<crate::throttle::ThrottleGate>,
}

impl Session {
    /// A new connection on `listener`: not authenticated, `User:ANONYMOUS`.
    pub fn new(listener: Arc<Listener>, peer: SocketAddr) -> Self {
        let auth = if listener.protocol.uses_sasl() {
            AuthState::Pending
        } else {
            AuthState::NotRequired
        };
        Self {
            listener,
            peer,
            client_id: String::new(),
            auth,
            principal: Principal::anonymous(),
            sasl_mechanism: None,
            sasl_state: None,
            auth_expires_at: None,
            throttle: Arc::default(),
        }
    }

    /// Whether requests beyond the authentication exchange may be served.
    pub fn may_serve(&self) -> bool {
        !matches!(self.auth, AuthState::Pending)
    }

    /// Whether the SASL session has ended without re-authentication (KIP-368).
    pub fn expired(&self) -> bool {
        self.auth_expires_at
            .is_some_and(|at| std::time::Instant::now() >= at)
    }
}
