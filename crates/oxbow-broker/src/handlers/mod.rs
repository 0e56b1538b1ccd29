//! The registry of request handlers: one file per Kafka API, each stating the versions it serves,
//! and one dispatcher. ApiVersions advertises exactly this table.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse, RequestKind, ResponseKind, TopicName};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;
use oxbow_protocol::{decode_request, peek_header};
use tracing::{debug, warn};

use crate::authorizer::{Authorizer, Operation, ResourceType, CLUSTER_NAME};
use crate::Broker;
use oxbow_net::Session;

pub mod add_offsets_to_txn;
pub mod add_partitions_to_txn;
pub mod alter_client_quotas;
pub mod alter_configs;
pub mod alter_user_scram_credentials;
pub mod api_versions;
pub mod consumer_group_describe;
pub mod consumer_group_heartbeat;
pub mod create_acls;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_acls;
pub mod delete_groups;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_acls;
pub mod describe_client_quotas;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_groups;
pub mod describe_log_dirs;
pub mod describe_producers;
pub mod describe_transactions;
pub mod describe_user_scram_credentials;
pub mod end_txn;
pub mod fetch;
pub mod fetch_encode;
pub mod find_coordinator;
pub mod heartbeat;
pub mod incremental_alter_configs;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod list_transactions;
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod produce;
pub mod sasl_authenticate;
pub mod sasl_handshake;
pub mod sync_group;
pub mod txn_offset_commit;
pub mod write_txn_markers;

/// One request as a handler sees it: the connection's session (listener, client address,
/// principal), the client id and version of this request, and the authorizer to ask.
#[derive(Clone)]
pub struct RequestContext {
    pub api_key: ApiKey,
    pub api_version: i16,
    pub correlation_id: i32,
    pub session: Arc<Session>,
    pub authorizer: Arc<dyn Authorizer>,
    /// Where denials are recorded.
    pub audit: Arc<crate::audit::AuditLog>,
}

impl RequestContext {
    pub fn peer(&self) -> SocketAddr {
        self.session.peer
    }

    /// The client id of this request (the connection's latest).
    pub fn client_id(&self) -> &str {
        &self.session.client_id
    }

    /// Asks the authorizer; a denial is logged with who asked for what.
    pub fn authorize(&self, operation: Operation, resource: ResourceType, name: &str) -> bool {
        let allowed = self
            .authorizer
            .authorize(&self.session, operation, resource, name);
        if !allowed {
            self.audit.denial(
                &self.session,
                &format!("{:?}", self.api_key),
                &format!("{operation:?}"),
                &format!("{resource:?}"),
                name,
            );
            debug!(peer = %self.session.peer, client_id = self.session.client_id, principal = %self.session.principal,
                listener = self.session.listener.name, api = ?self.api_key, ?operation, ?resource,
                name, authorizer = self.authorizer.name(), "authorization denied");
        }
        allowed
    }

    /// As [`Self::authorize`], for listings that leave out what is denied (Metadata of all
    /// topics, ListGroups, ListTransactions): a denial is not audited, as Kafka does not log
    /// those (`logIfDenied = false`).
    pub fn may_list(&self, operation: Operation, resource: ResourceType, name: &str) -> bool {
        self.authorizer
            .authorize(&self.session, operation, resource, name)
    }

    pub fn authorize_topic(&self, operation: Operation, topic: &str) -> bool {
        self.authorize(operation, ResourceType::Topic, topic)
    }

    pub fn authorize_group(&self, operation: Operation, group: &str) -> bool {
        self.authorize(operation, ResourceType::Group, group)
    }

    pub fn authorize_cluster(&self, operation: Operation) -> bool {
        self.authorize(operation, ResourceType::Cluster, CLUSTER_NAME)
    }

    /// The `authorized_operations` bit field of a resource for this session.
    pub fn authorized_operations(&self, resource: ResourceType, name: &str) -> i32 {
        crate::authorizer::authorized_operations(
            self.authorizer.as_ref(),
            &self.session,
            resource,
            name,
        )
    }
}

pub use oxbow_net::{Answer, Reply};

/// PRODUCER_FENCED exists from KIP-588's request versions on; older clients get
/// INVALID_PRODUCER_EPOCH, as Kafka answers them.
pub fn fenced_for_version(e: ResponseError, version: i16, first_with_fenced: i16) -> ResponseError {
    match e {
        ResponseError::ProducerFenced if version < first_with_fenced => {
            ResponseError::InvalidProducerEpoch
        }
        e => e,
    }
}

/// The one table of served APIs: each line names the API (its `ApiKey` and `RequestKind`
/// variant) and the handler module, whose `VERSIONS` are advertised by ApiVersions and whose
/// `handle` is called by [`dispatch`]. Both are generated from this list, so they cannot drift.
macro_rules! api_table {
    (
        session: { $($sapi:ident => $smodule:ident),* $(,)? }
        request: { $($api:ident => $module:ident),* $(,)? }
    ) => {
        /// Every served API and its versions, in the order ApiVersions lists them.
        pub const SERVED: &[(ApiKey, VersionRange)] =
            &[$((ApiKey::$sapi, $smodule::VERSIONS),)* $((ApiKey::$api, $module::VERSIONS)),*];

        /// Runs a session API (authentication), which changes the connection's session; any
        /// other request comes back for [`dispatch`]. The flag closes the connection after the
        /// reply (a failed authentication).
        fn dispatch_session(
            broker: &Broker,
            session: &mut Arc<Session>,
            version: i16,
            body: RequestKind,
        ) -> Result<(Reply, bool), RequestKind> {
            match body {
                $(RequestKind::$sapi(r) => Ok($smodule::handle(broker, session, version, r)),)*
                other => Err(other),
            }
        }

        /// Runs the handler for a decoded request whose version is served.
        pub async fn dispatch(broker: &Arc<Broker>, ctx: &RequestContext, body: RequestKind) -> Reply {
            match body {
                $(RequestKind::$api(r) => $module::handle(broker, ctx, r).await,)*
                // Unreachable while `handle_frame` checks the table first; closing is the
                // deliberate answer should it ever be reached.
                _ => {
                    warn!(peer = %ctx.peer(), client_id = ctx.client_id(), api = ?ctx.api_key,
                        "no handler for a request that passed the version check; closing connection");
                    Reply::Close
                }
            }
        }
    };
}

api_table! {
    session: {
        SaslHandshake => sasl_handshake,
        SaslAuthenticate => sasl_authenticate,
    }
    request: {
    ApiVersions => api_versions,
    Metadata => metadata,
    Produce => produce,
    Fetch => fetch,
    ListOffsets => list_offsets,
    InitProducerId => init_producer_id,
    CreateTopics => create_topics,
    DeleteTopics => delete_topics,
    CreatePartitions => create_partitions,
    DescribeConfigs => describe_configs,
    AlterConfigs => alter_configs,
    IncrementalAlterConfigs => incremental_alter_configs,
    DeleteRecords => delete_records,
    DescribeCluster => describe_cluster,
    DescribeLogDirs => describe_log_dirs,
    ConsumerGroupDescribe => consumer_group_describe,
    ConsumerGroupHeartbeat => consumer_group_heartbeat,
    DeleteGroups => delete_groups,
    DescribeGroups => describe_groups,
    FindCoordinator => find_coordinator,
    Heartbeat => heartbeat,
    JoinGroup => join_group,
    LeaveGroup => leave_group,
    ListGroups => list_groups,
    OffsetCommit => offset_commit,
    OffsetDelete => offset_delete,
    OffsetFetch => offset_fetch,
    SyncGroup => sync_group,
    AddPartitionsToTxn => add_partitions_to_txn,
    AddOffsetsToTxn => add_offsets_to_txn,
    EndTxn => end_txn,
    TxnOffsetCommit => txn_offset_commit,
    WriteTxnMarkers => write_txn_markers,
    DescribeProducers => describe_producers,
    ListTransactions => list_transactions,
    DescribeTransactions => describe_transactions,
    CreateAcls => create_acls,
    DescribeAcls => describe_acls,
    DeleteAcls => delete_acls,
    DescribeUserScramCredentials => describe_user_scram_credentials,
    AlterUserScramCredentials => alter_user_scram_credentials,
    DescribeClientQuotas => describe_client_quotas,
    AlterClientQuotas => alter_client_quotas,
    }
}

/// The versions of `api` this broker serves, if any.
pub fn served_versions(api: ApiKey) -> Option<VersionRange> {
    SERVED.iter().find(|(k, _)| *k == api).map(|(_, v)| *v)
}

/// Logs a refused request (unknown API, unserved version, unreadable header or body), at most
/// once a minute per client, address, API and version: a broken or hostile client retrying
/// cannot flood the log.
fn refused(broker: &Broker, frame: &[u8], peer: SocketAddr, api_key: i16, version: i16, why: &str) {
    let client_id = oxbow_protocol::peek_client_id(frame);
    if let Some(suppressed) = broker
        .refusals
        .note(&client_id, peer.ip(), api_key, version)
    {
        warn!(%peer, client_id, api_key, version, suppressed,
            "{why}; closing connection (logged once a minute per client, API and version; `suppressed` refusals since the last line)");
    }
}

/// Handles one request frame: checks the API and version against the table, decodes, runs the
/// handler. `None` means the connection must close (unknown API, unserved version, malformed
/// body, or a handler's `Reply::Close`); the reason is logged here with the session's identity.
pub async fn handle_frame(
    broker: &Arc<Broker>,
    session: &mut Arc<Session>,
    frame: Bytes,
    max_request_bytes: usize,
) -> Option<Answer> {
    let peer = session.peer;
    let received = std::time::Instant::now();
    let head = match peek_header(&frame) {
        Ok(head) => head,
        Err(e) => {
            refused(
                broker,
                &frame,
                peer,
                -1,
                -1,
                &format!("unreadable request header ({e})"),
            );
            return None;
        }
    };
    let Ok(api_key) = ApiKey::try_from(head.api_key) else {
        refused(
            broker,
            &frame,
            peer,
            head.api_key,
            head.api_version,
            "unknown API key",
        );
        return None;
    };
    let served = served_versions(api_key);
    if !served.is_some_and(|r| r.min <= head.api_version && head.api_version <= r.max) {
        if api_key == ApiKey::ApiVersions {
            // KIP-511: answer in v0 with UNSUPPORTED_VERSION and the versions we serve.
            let body = ApiVersionsResponse::default()
                .with_error_code(ResponseError::UnsupportedVersion.code())
                .with_api_keys(api_versions::served_api_keys());
            return Some(Answer {
                api_key,
                api_version: 0,
                correlation_id: head.correlation_id,
                reply: Reply::Now(ResponseKind::ApiVersions(body)),
                close_after: false,
            });
        }
        refused(
            broker,
            &frame,
            peer,
            head.api_key,
            head.api_version,
            "unsupported API version",
        );
        return None;
    }
    let frame_len = frame.len();
    let raw = frame.clone();
    let request = match decode_request(frame, max_request_bytes) {
        Ok(r) => r,
        Err(e) => {
            let why = format!("malformed request ({e})");
            refused(broker, &raw, peer, head.api_key, head.api_version, &why);
            return None;
        }
    };
    if let Some(id) = &request.header.client_id {
        if id.as_str() != session.client_id {
            Arc::make_mut(session).client_id = id.to_string();
        }
    }
    let answer = |reply, close_after| Answer {
        api_key,
        api_version: head.api_version,
        correlation_id: head.correlation_id,
        reply,
        close_after,
    };
    let body = match dispatch_session(broker, session, head.api_version, request.body) {
        Ok((reply, close_after)) => return Some(answer(reply, close_after)),
        Err(body) => body,
    };
    // A SASL listener serves nothing but ApiVersions before authentication (as Kafka: anything
    // else during the handshake closes the connection).
    // KIP-368: past the session's end, only re-authentication (above) is served.
    if session.expired() {
        warn!(%peer, client_id = session.client_id, listener = session.listener.name, principal = %session.principal, ?api_key,
            "SASL session expired without re-authentication; closing connection");
        return None;
    }
    if !session.may_serve() && api_key != ApiKey::ApiVersions {
        warn!(%peer, client_id = session.client_id, listener = session.listener.name, ?api_key,
            "request before SASL authentication; closing connection");
        return None;
    }
    let ctx = RequestContext {
        api_key,
        api_version: head.api_version,
        correlation_id: head.correlation_id,
        session: session.clone(),
        authorizer: broker.authorizer.clone(),
        audit: broker.audit.clone(),
    };
    let started = std::time::Instant::now();
    let reply = dispatch(broker, &ctx, body).await;
    if matches!(reply, Reply::Close) {
        debug!(%peer, client_id = ctx.client_id(), ?api_key, correlation_id = head.correlation_id, "handler asked to close the connection");
        return None;
    }
    let handled = std::time::Instant::now();
    // Quotas: request handler time for every API, the request's bytes for Produce (a Fetch
    // records its response's bytes itself, once it knows them).
    let mut throttle = broker
        .quotas
        .record_request_time(session, handled - started);
    if api_key == ApiKey::Produce {
        throttle = throttle.max(broker.quotas.record_produce(session, frame_len));
    }
    let reply = timed(
        broker,
        (api_key, head.api_version),
        [received, started, handled],
        reply,
    );
    let reply = crate::quota::reply::enforce(
        &broker.audit,
        session,
        api_key,
        head.api_version,
        &throttle,
        reply,
    );
    Some(answer(reply, false))
}

/// Counts the request and its times (`RequestMetrics`): in the handler, and until the response is
/// ready — for a reply that waits (an fsync, a long poll) when it is.
/// `times`: when the frame was received, the handler started, the handler returned.
fn timed(
    broker: &Arc<Broker>,
    (api_key, version): (ApiKey, i16),
    times: [std::time::Instant; 3],
    reply: Reply,
) -> Reply {
    let [received, started, handled] = times;
    let key = api_key as i16;
    let Some(stats) = broker.metrics.request(key) else {
        return reply;
    };
    stats.requests.inc();
    if let Some(c) = usize::try_from(version)
        .ok()
        .and_then(|v| stats.by_version.get(v))
    {
        c.inc();
    }
    stats.local.observe(handled - started);
    // Only a reply that waits needs the broker past this call.
    let done = |b: Arc<Broker>| {
        move || {
            if let Some(s) = b.metrics.request(key) {
                s.remote.observe(handled.elapsed());
                s.total.observe(received.elapsed());
            }
        }
    };
    match reply {
        Reply::Later(fut) => {
            let done = done(broker.clone());
            Reply::Later(Box::pin(async move {
                let r = fut.await;
                done();
                r
            }))
        }
        Reply::LaterEncoded(fut) => {
            let done = done(broker.clone());
            Reply::LaterEncoded(Box::pin(async move {
                let r = fut.await;
                done();
                r
            }))
        }
        other => {
            stats.total.observe(received.elapsed());
            other
        }
    }
}

/// A topic name for a response.
pub fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

/// An optional message string for a response.
pub fn message(text: impl Into<String>) -> Option<StrBytes> {
    Some(StrBytes::from_string(text.into()))
}

/// Versions `min..=max`.
pub const fn versions(min: i16, max: i16) -> VersionRange {
    VersionRange { min, max }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's table of served APIs must say exactly what ApiVersions advertises.
    #[test]
    fn given_served_table_when_reading_readme_should_list_every_api_with_its_versions() {
        let whole = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"));
        let start = whole
            .find("## Protocol: APIs and versions served")
            .unwrap_or(0);
        let readme = &whole[start..];
        let readme = &readme[..readme[3..]
            .find("\n## ")
            .map(|i| i + 3)
            .unwrap_or(readme.len())];
        for (key, v) in SERVED {
            let row = if v.min == v.max {
                format!("| {:?} | {} | {} ", key, *key as i16, v.min)
            } else {
                format!("| {:?} | {} | {}–{}", key, *key as i16, v.min, v.max)
            };
            assert!(readme.contains(&row), "README lacks the row `{row}`");
        }
        let rows = readme
            .lines()
            .filter(|l| {
                l.starts_with("| ")
                    && l.split('|')
                        .nth(2)
                        .is_some_and(|k| k.trim().parse::<i16>().is_ok())
            })
            .count();
        assert_eq!(rows, SERVED.len(), "README lists APIs that are not served");
    }
}
