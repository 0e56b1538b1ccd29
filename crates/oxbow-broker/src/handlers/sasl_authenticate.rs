//! SaslAuthenticate: the SASL exchange after SaslHandshake. PLAIN (RFC 4616) checks the
//! `authzid NUL authcid NUL passwd` message against `[security.plain_users]`; SCRAM-SHA-256/512
//! take two rounds (client-first → server-first, client-final → server-final) against the
//! stored credentials ([`crate::scram`]). Success makes the connection's principal
//! `User:<name>`; failure answers SASL_AUTHENTICATION_FAILED and closes the connection, as Kafka
//! does.

use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::{ResponseKind, SaslAuthenticateRequest, SaslAuthenticateResponse};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;
use oxbow_net::{AuthState, Principal, Session};
use tracing::{info, warn};

use super::{versions, Reply};
use crate::Broker;

pub const VERSIONS: VersionRange = versions(0, 2);

pub fn handle(
    broker: &Broker,
    session: &mut Arc<Session>,
    version: i16,
    req: SaslAuthenticateRequest,
) -> (Reply, bool) {
    let fail = |code: ResponseError, text: &str| {
        let resp = SaslAuthenticateResponse::default()
            .with_error_code(code.code())
            .with_error_message(Some(StrBytes::from_string(text.to_string())))
            .with_auth_bytes(Bytes::new());
        (Reply::Now(ResponseKind::SaslAuthenticate(resp)), true)
    };
    let reauthenticating = matches!(session.auth, AuthState::Authenticated { .. });
    if session.auth != AuthState::Pending && !(reauthenticating && session.sasl_mechanism.is_some())
    {
        return fail(
            ResponseError::IllegalSaslState,
            "no SASL authentication is in progress",
        );
    }
    let Some(mechanism) = session.sasl_mechanism.clone() else {
        return fail(
            ResponseError::IllegalSaslState,
            "SaslHandshake must come first",
        );
    };
    let (peer, client_id, listener) = (
        session.peer,
        session.client_id.clone(),
        session.listener.name.clone(),
    );
    if broker.auth_failures.blocked(peer.ip()) {
        warn!(%peer, client_id, listener, mechanism, "authentication refused: too many failures from this address");
        broker.audit.record(
            "authentication",
            session,
            "rate_limited",
            serde_json::json!({"mechanism": mechanism}),
        );
        return delayed(
            broker,
            fail(
                ResponseError::SaslAuthenticationFailed,
                "Authentication failed: too many failed attempts from this address, try again later",
            ),
        );
    }
    let outcome = match (
        mechanism.as_str(),
        crate::scram::Mechanism::from_name(&mechanism),
    ) {
        ("PLAIN", _) => plain(&broker.config.security.plain_users, &req.auth_bytes)
            .map(|user| (user, Bytes::new())),
        (_, Some(scram)) => match session.sasl_state.clone() {
            None => {
                let nonce = crate::scram::new_nonce();
                match crate::scram::server_first(&broker.scram, scram, &req.auth_bytes, &nonce) {
                    Ok((first, state)) => {
                        Arc::make_mut(session).sasl_state = Some(state);
                        let resp = SaslAuthenticateResponse::default()
                            .with_error_message(None)
                            .with_auth_bytes(Bytes::from(first));
                        return (Reply::Now(ResponseKind::SaslAuthenticate(resp)), false);
                    }
                    Err(why) => Err(why),
                }
            }
            Some(state) => {
                crate::scram::server_final(&broker.scram, scram, &state, &req.auth_bytes)
                    .map(|(user, fin)| (user, Bytes::from(fin)))
            }
        },
        (other, None) => Err(format!("mechanism {other} is not served")),
    };
    let outcome = match outcome {
        // A re-authentication must keep the principal (KIP-368).
        Ok((user, _)) if reauthenticating && session.principal != Principal::user(&user) => {
            Err(format!(
                "re-authentication as User:{user} on a connection of {}",
                session.principal
            ))
        }
        other => other,
    };
    match outcome {
        Ok((user, final_bytes)) => {
            info!(%peer, client_id, listener, mechanism, principal = %format!("User:{user}"), "authenticated");
            broker.audit.record(
                "authentication",
                session,
                "success",
                serde_json::json!({"mechanism": mechanism, "authenticated_as": format!("User:{user}")}),
            );
            let s = Arc::make_mut(session);
            s.principal = Principal::user(&user);
            s.auth = AuthState::Authenticated { mechanism };
            s.sasl_mechanism = None;
            s.sasl_state = None;
            let lifetime = broker.config.security.connections_max_reauth_ms;
            s.auth_expires_at = (lifetime > 0)
                .then(|| std::time::Instant::now() + std::time::Duration::from_millis(lifetime));
            let resp = SaslAuthenticateResponse::default()
                .with_error_message(None)
                .with_auth_bytes(final_bytes)
                .with_session_lifetime_ms(if version >= 1 {
                    i64::try_from(lifetime).unwrap_or(i64::MAX)
                } else {
                    0
                });
            (Reply::Now(ResponseKind::SaslAuthenticate(resp)), false)
        }
        Err(why) => {
            warn!(%peer, client_id, listener, mechanism, reason = why, "authentication failed");
            broker.audit.record(
                "authentication",
                session,
                "failure",
                serde_json::json!({"mechanism": mechanism, "reason": why}),
            );
            broker.auth_failures.failed(peer.ip());
            delayed(
                broker,
                fail(
                    ResponseError::SaslAuthenticationFailed,
                    "Authentication failed: Invalid username or password",
                ),
            )
        }
    }
}

/// A failure's answer after `security.failed_authentication_delay_ms` (the connection closes after it).
fn delayed(broker: &Broker, (reply, close): (Reply, bool)) -> (Reply, bool) {
    let delay = broker.auth_failures.delay();
    match reply {
        Reply::Now(resp) if !delay.is_zero() => (
            Reply::Later(Box::pin(async move {
                tokio::time::sleep(delay).await;
                resp
            })),
            close,
        ),
        other => (other, close),
    }
}

/// Checks a PLAIN message; the authenticated user name, or why not (for the log, never the
/// client).
pub fn plain(
    users: &std::collections::BTreeMap<String, String>,
    message: &[u8],
) -> Result<String, String> {
    let mut parts = message.splitn(3, |b| *b == 0);
    let (Some(authzid), Some(authcid), Some(password)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err("malformed PLAIN message".into());
    };
    let user = std::str::from_utf8(authcid).map_err(|_| "user name is not UTF-8".to_string())?;
    if user.is_empty() {
        return Err("empty user name".into());
    }
    if !authzid.is_empty() && authzid != authcid {
        return Err(format!("user {user} asked to act as another identity"));
    }
    match users.get(user) {
        Some(expected) if crate::scram::constant_time_eq(expected.as_bytes(), password) => {
            Ok(user.to_string())
        }
        Some(_) => Err(format!("wrong password for user {user}")),
        None => Err(format!("unknown user {user}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn users() -> std::collections::BTreeMap<String, String> {
        [("alice".to_string(), "secret".to_string())].into()
    }

    #[test]
    fn given_plain_messages_when_checked_should_accept_only_the_right_password() {
        assert_eq!(plain(&users(), b"\0alice\0secret"), Ok("alice".into()));
        assert_eq!(plain(&users(), b"alice\0alice\0secret"), Ok("alice".into()));
        assert!(plain(&users(), b"\0alice\0Secret").is_err());
        assert!(plain(&users(), b"\0alice\0secret\0").is_err());
        assert!(plain(&users(), b"bob\0alice\0secret").is_err());
        assert!(plain(&users(), b"\0mallory\0secret").is_err());
        assert!(plain(&users(), b"\0\0secret").is_err());
        assert!(plain(&users(), b"alice-secret").is_err());
        assert!(plain(&users(), b"").is_err());
    }

    proptest! {
        #[test]
        fn given_any_bytes_when_parsed_as_plain_should_never_panic_or_accept(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assume!(bytes != b"\0alice\0secret" && bytes != b"alice\0alice\0secret");
            prop_assert!(plain(&users(), &bytes).is_err());
        }
    }
}
