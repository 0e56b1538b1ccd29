//! Who may query: the seam the broker fills in with its own users and ACLs. [`SqlAccess`]
//! checks a password against the bus's users and answers whether a caller may read a topic's
//! table; [`PasswordStartup`] is the connection start-up that asks for the password
//! (PostgreSQL's `password` method) when `sql.authentication = "password"`, and admits every
//! connection as `ANONYMOUS` otherwise.

use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use futures::{Sink, SinkExt};
use pgwire::api::auth::{
    finish_authentication, protocol_negotiation, save_startup_parameters_to_metadata,
    DefaultServerParameterProvider, StartupHandler,
};
use pgwire::api::{
    ClientInfo, PgWireConnectionState, PidSecretKeyGenerator, RandomPidSecretKeyGenerator,
};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::startup::Authentication;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use tracing::{info, warn};

/// The principal of connections that did not authenticate.
pub const ANONYMOUS: &str = "ANONYMOUS";

/// Metadata key under which the authenticated user is kept on the connection.
const PRINCIPAL: &str = "oxbow.principal";

/// Who is asking: the authenticated user (`ANONYMOUS` without authentication) and from where.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: String,
    pub peer: SocketAddr,
}

impl Caller {
    /// The caller of a connection once its start-up finished.
    pub fn of(client: &impl ClientInfo) -> Caller {
        Caller {
            user: client
                .metadata()
                .get(PRINCIPAL)
                .cloned()
                .unwrap_or_else(|| ANONYMOUS.to_string()),
            peer: client.socket_addr(),
        }
    }
}

pub trait SqlAccess: Send + Sync + 'static {
    /// Whether `password` is `user`'s.
    fn authenticate(&self, user: &str, password: &str) -> bool;
    /// Whether `caller` may read `topic` (and so its table).
    fn may_read(&self, caller: &Caller, topic: &str) -> bool;
    /// Records an event in the audit log (`sql_authentication`, `sql_denied`).
    fn audit(&self, event: &str, caller: &Caller, outcome: &str, detail: serde_json::Value);
}

/// A table the caller may not read (SQLSTATE 42501, as PostgreSQL's "permission denied").
#[derive(Debug, thiserror::Error)]
#[error("permission denied for table {table}: {user} lacks READ on topic {table}")]
pub struct PermissionDenied {
    pub table: String,
    pub user: String,
}

/// The start-up of every connection.
pub struct PasswordStartup {
    pub access: Arc<dyn SqlAccess>,
    /// Ask for a password (`sql.authentication = "password"`).
    pub required: bool,
    pids: RandomPidSecretKeyGenerator,
}

impl PasswordStartup {
    pub fn new(access: Arc<dyn SqlAccess>, required: bool) -> Self {
        PasswordStartup {
            access,
            required,
            pids: RandomPidSecretKeyGenerator::default(),
        }
    }

    async fn admit<C>(&self, client: &mut C, user: String) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        client.metadata_mut().insert(PRINCIPAL.into(), user);
        let (pid, secret) = self.pids.generate(client);
        client.set_pid_and_secret_key(pid, secret);
        finish_authentication(client, &DefaultServerParameterProvider::default()).await
    }
}

fn startup_user(client: &impl ClientInfo) -> String {
    client
        .metadata()
        .get(pgwire::api::METADATA_USER)
        .cloned()
        .unwrap_or_default()
}

#[async_trait]
impl StartupHandler for PasswordStartup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match message {
            PgWireFrontendMessage::Startup(ref startup) => {
                protocol_negotiation(client, startup).await?;
                save_startup_parameters_to_metadata(client, startup);
                if !self.required {
                    return self.admit(client, ANONYMOUS.to_string()).await;
                }
                if startup_user(client).is_empty() {
                    return Err(PgWireError::UserNameRequired);
                }
                client.set_state(PgWireConnectionState::AuthenticationInProgress);
                client
                    .send(PgWireBackendMessage::Authentication(
                        Authentication::CleartextPassword,
                    ))
                    .await?;
            }
            PgWireFrontendMessage::PasswordMessageFamily(message) if self.required => {
                let password = message.into_password()?.password;
                let user = startup_user(client);
                let caller = Caller {
                    user: user.clone(),
                    peer: client.socket_addr(),
                };
                let access = self.access.clone();
                let (name, secret) = (user.clone(), password);
                // The SCRAM iterations take milliseconds of CPU: off the connection's thread.
                let verified =
                    tokio::task::spawn_blocking(move || access.authenticate(&name, &secret))
                        .await
                        .unwrap_or(false);
                if !verified {
                    warn!(user, peer = %caller.peer, "SQL authentication failed");
                    self.access.audit(
                        "sql_authentication",
                        &caller,
                        "failure",
                        serde_json::json!({"reason": "wrong user or password"}),
                    );
                    return Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                        "FATAL".into(),
                        "28P01".into(),
                        format!("password authentication failed for user \"{user}\""),
                    ))));
                }
                info!(user, peer = %caller.peer, "SQL connection authenticated");
                return self.admit(client, user).await;
            }
            _ => {}
        }
        Ok(())
    }
}
