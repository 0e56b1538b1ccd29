//! AlterUserScramCredentials (KIP-554): upsert or delete SCRAM credentials; ALTER on the cluster.
//! The client sends the salted password (it salts and iterates, as Kafka's tools do); the broker
//! keeps only StoredKey and ServerKey, durably before the answer, effective for the next
//! authentication. Per user: UNSUPPORTED_SASL_MECHANISM, UNACCEPTABLE_CREDENTIAL (iterations
//! outside 4096–16384, empty salt or password), DUPLICATE_RESOURCE (one user twice),
//! RESOURCE_NOT_FOUND (deleting what does not exist).

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse, ResponseKind,
};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;
use tracing::{info, warn};

use super::{message, versions, Reply, RequestContext};
use crate::authorizer::Operation;
use crate::scram::credentials::{ScramCredential, MAX_ITERATIONS, MIN_ITERATIONS};
use crate::scram::Mechanism;
use crate::Broker;

pub const VERSIONS: VersionRange = versions(0, 0);

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: AlterUserScramCredentialsRequest,
) -> Reply {
    let allowed = ctx.authorize_cluster(Operation::Alter);
    let mut errors: BTreeMap<String, (ResponseError, String)> = BTreeMap::new();
    let mut seen: BTreeMap<(String, i8), usize> = BTreeMap::new();
    for (name, m) in req
        .deletions
        .iter()
        .map(|d| (d.name.to_string(), d.mechanism))
        .chain(
            req.upsertions
                .iter()
                .map(|u| (u.name.to_string(), u.mechanism)),
        )
    {
        *seen.entry((name, m)).or_default() += 1;
    }
    let mut deletions = Vec::new();
    for d in &req.deletions {
        let user = d.name.to_string();
        match Mechanism::from_code(d.mechanism) {
            _ if !allowed => fail(
                &mut errors,
                &user,
                ResponseError::ClusterAuthorizationFailed,
                String::new(),
            ),
            None => fail(
                &mut errors,
                &user,
                ResponseError::UnsupportedSaslMechanism,
                "unknown SCRAM mechanism".into(),
            ),
            Some(m) if broker.scram.get(&user, m).is_none() => fail(
                &mut errors,
                &user,
                ResponseError::ResourceNotFound,
                format!("Attempt to delete a user credential that does not exist: {user}"),
            ),
            Some(m) => deletions.push((user, m)),
        }
    }
    let mut upserts = Vec::new();
    for u in &req.upsertions {
        let user = u.name.to_string();
        match Mechanism::from_code(u.mechanism) {
            _ if !allowed => fail(
                &mut errors,
                &user,
                ResponseError::ClusterAuthorizationFailed,
                String::new(),
            ),
            None => fail(
                &mut errors,
                &user,
                ResponseError::UnsupportedSaslMechanism,
                "unknown SCRAM mechanism".into(),
            ),
            Some(_) if user.is_empty() => fail(
                &mut errors,
                &user,
                ResponseError::UnacceptableCredential,
                "empty user name".into(),
            ),
            Some(_) if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&u.iterations) => fail(
                &mut errors,
                &user,
                ResponseError::UnacceptableCredential,
                format!("iterations must be between {MIN_ITERATIONS} and {MAX_ITERATIONS}"),
            ),
            Some(_) if u.salt.is_empty() || u.salted_password.is_empty() => fail(
                &mut errors,
                &user,
                ResponseError::UnacceptableCredential,
                "salt and salted password must not be empty".into(),
            ),
            Some(m) => upserts.push((
                user,
                m,
                ScramCredential::from_salted_password(m, &u.salt, u.iterations, &u.salted_password),
            )),
        }
    }
    for ((user, _), n) in &seen {
        if *n > 1 {
            fail(
                &mut errors,
                user,
                ResponseError::DuplicateResource,
                "a user and mechanism appear twice".into(),
            );
        }
    }
    // A user with any error changes nothing.
    upserts.retain(|(u, _, _)| !errors.contains_key(u));
    deletions.retain(|(u, _)| !errors.contains_key(u));
    let mut users: Vec<String> = upserts
        .iter()
        .map(|(u, _, _)| u.clone())
        .chain(deletions.iter().map(|(u, _)| u.clone()))
        .collect();
    users.sort();
    users.dedup();
    if !upserts.is_empty() || !deletions.is_empty() {
        let changes: Vec<String> = upserts
            .iter()
            .map(|(u, m, _)| format!("upsert {u} {}", m.name()))
            .chain(
                deletions
                    .iter()
                    .map(|(u, m)| format!("delete {u} {}", m.name())),
            )
            .collect();
        match oxbow_storage::blocking(|| broker.scram.alter(upserts, deletions)) {
            Ok(()) => {
                info!(peer = %ctx.peer(), client_id = ctx.client_id(), principal = %ctx.session.principal, ?changes, "SCRAM credentials changed");
                ctx.audit.record(
                    "credential_change",
                    &ctx.session,
                    "success",
                    serde_json::json!({"changes": changes}),
                );
            }
            Err(e) => {
                warn!(error = %e, "cannot persist SCRAM credentials");
                for u in &users {
                    fail(
                        &mut errors,
                        u,
                        ResponseError::KafkaStorageError,
                        format!("cannot persist: {e}"),
                    );
                }
            }
        }
    }
    let mut all: Vec<String> = users;
    all.extend(errors.keys().cloned());
    all.sort();
    all.dedup();
    let results = all
        .into_iter()
        .map(|u| {
            let mut r = AlterUserScramCredentialsResult::default()
                .with_user(StrBytes::from_string(u.clone()));
            if let Some((code, text)) = errors.get(&u) {
                r.error_code = code.code();
                r.error_message = if text.is_empty() {
                    None
                } else {
                    message(text.clone())
                };
            }
            r
        })
        .collect();
    Reply::Now(ResponseKind::AlterUserScramCredentials(
        AlterUserScramCredentialsResponse::default().with_results(results),
    ))
}

/// Records the first error of a user.
fn fail(
    errors: &mut BTreeMap<String, (ResponseError, String)>,
    user: &str,
    code: ResponseError,
    text: String,
) {
    errors.entry(user.to_string()).or_insert((code, text));
}
