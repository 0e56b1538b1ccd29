//! SaslHandshake: the client names a SASL mechanism; the broker answers with the ones it offers
//! (`security.sasl_mechanisms`). Only v1 is served (tokens then travel in SaslAuthenticate), as
//! every current client negotiates it.

use std::sync::Arc;

use kafka_protocol::messages::{ResponseKind, SaslHandshakeRequest, SaslHandshakeResponse};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;
use oxbow_net::{AuthState, Session};
use tracing::debug;

use super::{versions, Reply};
use crate::Broker;

pub const VERSIONS: VersionRange = versions(1, 1);

pub fn handle(
    broker: &Broker,
    session: &mut Arc<Session>,
    _version: i16,
    req: SaslHandshakeRequest,
) -> (Reply, bool) {
    let offered = &broker.config.security.sasl_mechanisms;
    let mut resp = SaslHandshakeResponse::default().with_mechanisms(
        offered
            .iter()
            .map(|m| StrBytes::from_string(m.clone()))
            .collect(),
    );
    let wanted = req.mechanism.to_string();
    // Pending: the first authentication; Authenticated: a re-authentication (KIP-368).
    let reauth = matches!(session.auth, AuthState::Authenticated { .. })
        && broker.config.security.connections_max_reauth_ms > 0;
    let error = if !session.listener.protocol.uses_sasl()
        || (session.auth != AuthState::Pending && !reauth)
        || session.sasl_mechanism.is_some()
    {
        Some(ResponseError::IllegalSaslState)
    } else if !offered.iter().any(|m| *m == wanted) {
        Some(ResponseError::UnsupportedSaslMechanism)
    } else {
        None
    };
    debug!(peer = %session.peer, client_id = session.client_id, mechanism = wanted, ?error, "SASL handshake");
    match error {
        Some(e) => {
            resp.error_code = e.code();
            (Reply::Now(ResponseKind::SaslHandshake(resp)), true)
        }
        None => {
            Arc::make_mut(session).sasl_mechanism = Some(wanted);
            (Reply::Now(ResponseKind::SaslHandshake(resp)), false)
        }
    }
}
