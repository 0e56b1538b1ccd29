//! Enforcing a throttle on one request (KIP-219): the response carries `throttle_time_ms`, the
//! connection is muted for that long, and the first throttle of a client each minute is audited.

use kafka_protocol::messages::{ApiKey, ResponseKind};
use oxbow_net::{Chunk, Reply, Session};
use tracing::debug;

use super::Throttle;
use crate::audit::AuditLog;

/// Mutes the session's connection, audits, and returns `reply` carrying the throttle time.
pub fn enforce(
    audit: &AuditLog,
    session: &Session,
    api_key: ApiKey,
    api_version: i16,
    throttle: &Throttle,
    reply: Reply,
) -> Reply {
    if throttle.is_zero() {
        return reply;
    }
    mute_and_audit(audit, session, api_key, throttle);
    with_throttle_time(reply, api_key, api_version, throttle.millis())
}

/// Mutes the session's connection for the throttle time and audits the throttle.
pub fn mute_and_audit(audit: &AuditLog, session: &Session, api_key: ApiKey, throttle: &Throttle) {
    session.throttle.mute_for(throttle.time);
    let (quota, entity) = throttle
        .by
        .as_ref()
        .map(|(q, e)| (*q, e.as_str()))
        .unwrap_or(("", ""));
    audit.throttled(session, quota, entity, throttle.time.as_millis() as u64);
    debug!(peer = %session.peer, client_id = session.client_id, principal = %session.principal,
        ?api_key, quota, entity, throttle_ms = throttle.millis(), "client throttled by its quota");
}

/// `reply` with its `throttle_time_ms` raised to `ms` (a larger one already set is kept).
pub fn with_throttle_time(reply: Reply, api_key: ApiKey, api_version: i16, ms: i32) -> Reply {
    match reply {
        Reply::Now(mut kind) => {
            set_throttle_time(&mut kind, ms);
            Reply::Now(kind)
        }
        Reply::Later(fut) => Reply::Later(Box::pin(async move {
            let mut kind = fut.await;
            set_throttle_time(&mut kind, ms);
            kind
        })),
        Reply::NowEncoded(mut chunks) if api_key == ApiKey::Fetch => {
            patch_fetch_throttle(&mut chunks, api_version, ms);
            Reply::NowEncoded(chunks)
        }
        Reply::LaterEncoded(fut) if api_key == ApiKey::Fetch => {
            Reply::LaterEncoded(Box::pin(async move {
                let mut chunks = fut.await;
                patch_fetch_throttle(&mut chunks, api_version, ms);
                chunks
            }))
        }
        other => other,
    }
}

/// Sets `throttle_time_ms` in an encoded Fetch response (v1+: after the size, the correlation
/// id and, from v12, the header's empty tag buffer), keeping a larger one already there.
pub fn patch_fetch_throttle(chunks: &mut [Chunk], api_version: i16, ms: i32) {
    let at = if api_version >= 12 { 9 } else { 8 };
    let Some(Chunk::Bytes(first)) = chunks.first_mut() else {
        return;
    };
    if api_version < 1 || first.len() < at + 4 {
        return;
    }
    let mut b = bytes::BytesMut::from(&first[..]);
    let old = i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    b[at..at + 4].copy_from_slice(&old.max(ms).to_be_bytes());
    *first = b.freeze();
}

/// Sets `throttle_time_ms` in every response type that has one (versions without the field do
/// not encode it).
fn set_throttle_time(kind: &mut ResponseKind, ms: i32) {
    macro_rules! set {
        ($($v:ident),* $(,)?) => {
            match kind {
                $(ResponseKind::$v(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),)*
                _ => {}
            }
        };
    }
    set!(
        Produce,
        Fetch,
        ListOffsets,
        Metadata,
        OffsetCommit,
        OffsetFetch,
        FindCoordinator,
        JoinGroup,
        Heartbeat,
        LeaveGroup,
        SyncGroup,
        DescribeGroups,
        ListGroups,
        ApiVersions,
        CreateTopics,
        DeleteTopics,
        DeleteRecords,
        InitProducerId,
        AddPartitionsToTxn,
        AddOffsetsToTxn,
        EndTxn,
        TxnOffsetCommit,
        DescribeAcls,
        CreateAcls,
        DeleteAcls,
        DescribeConfigs,
        AlterConfigs,
        DescribeLogDirs,
        CreatePartitions,
        DeleteGroups,
        IncrementalAlterConfigs,
        OffsetDelete,
        DescribeClientQuotas,
        AlterClientQuotas,
        DescribeUserScramCredentials,
        AlterUserScramCredentials,
        DescribeCluster,
        DescribeProducers,
        DescribeTransactions,
        ListTransactions,
        ConsumerGroupHeartbeat,
        ConsumerGroupDescribe,
    );
}
