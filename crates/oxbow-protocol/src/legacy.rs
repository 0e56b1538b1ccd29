//! Request and response versions older than the `kafka-protocol` crate serves (it follows Kafka
//! 4.0, which dropped them in KIP-896), still served by Kafka 3.9 and still sent by old clients
//! (sarama's default Version, segmentio kafka-go 0.2, Burrow 1.2, old PHP and Go clients).
//!
//! Each of these versions is a near-subset of the crate's oldest one, so a request is rewritten
//! into that version's layout ([`upgrade_request`]: add the fields it lacks with the values Kafka
//! assumes for it) and decoded by the crate; the response is encoded at that version and rewritten
//! back ([`downgrade_response`]: drop what the old version lacks). The handlers see the real
//! version in their context, so they can follow its semantics (message sets in Produce v0–v2,
//! one offset in ListOffsets v0). Fetch v0–v3 responses are written by the broker's own encoder.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;

/// The oldest version the crate decodes and encodes for `api`, and the oldest served here by
/// rewriting; `None` where nothing older is served.
pub fn legacy_range(api: ApiKey) -> Option<(i16, i16)> {
    Some(match api {
        ApiKey::Produce => (0, 3),
        ApiKey::Fetch => (0, 4),
        ApiKey::ListOffsets => (0, 1),
        ApiKey::OffsetCommit => (0, 2),
        ApiKey::OffsetFetch => (0, 1),
        ApiKey::DescribeConfigs => (0, 1),
        ApiKey::CreateTopics => (0, 2),
        ApiKey::DeleteTopics => (0, 1),
        ApiKey::DescribeLogDirs => (0, 1),
        ApiKey::CreateAcls => (0, 1),
        ApiKey::DescribeAcls => (0, 1),
        ApiKey::DeleteAcls => (0, 1),
        _ => return None,
    })
}

/// The version the crate decodes a request of `api` at `version` as.
pub fn decode_version(api: ApiKey, version: i16) -> i16 {
    match legacy_range(api) {
        Some((oldest, crate_min)) if (oldest..crate_min).contains(&version) => crate_min,
        _ => version,
    }
}

fn short(what: &str) -> String {
    format!("request body too short for {what}")
}

/// Reads a non-flexible string's raw bytes (length prefix included).
fn take_string(buf: &mut Bytes, what: &str) -> Result<Bytes, String> {
    if buf.remaining() < 2 {
        return Err(short(what));
    }
    let len = i16::from_be_bytes([buf[0], buf[1]]);
    let n = 2 + usize::try_from(len.max(0)).unwrap_or(0);
    if buf.remaining() < n {
        return Err(short(what));
    }
    Ok(buf.split_to(n))
}

fn take(buf: &mut Bytes, n: usize, what: &str) -> Result<Bytes, String> {
    if buf.remaining() < n {
        return Err(short(what));
    }
    Ok(buf.split_to(n))
}

fn take_count(buf: &mut Bytes, what: &str) -> Result<usize, String> {
    let n = take(buf, 4, what)?.get_i32();
    // Every element is at least a few bytes: a count beyond the rest is a lie.
    let n = usize::try_from(n.max(0)).unwrap_or(0);
    if n > buf.remaining() {
        return Err(format!("{what} count {n} exceeds the request"));
    }
    Ok(n)
}

/// Copies a `topics[name, partitions[...]]` array from `b` to `out`, each partition through
/// `partition` (which takes its fields from `b` and writes the rewritten ones).
fn each_partition(
    b: &mut Bytes,
    out: &mut BytesMut,
    what: &str,
    mut partition: impl FnMut(&mut Bytes, &mut BytesMut) -> Result<(), String>,
) -> Result<(), String> {
    let topics = take_count(b, what)?;
    out.put_i32(topics as i32);
    for _ in 0..topics {
        out.put_slice(&take_string(b, what)?);
        let parts = take_count(b, what)?;
        out.put_i32(parts as i32);
        for _ in 0..parts {
            partition(b, out)?;
        }
    }
    Ok(())
}

/// Rewrites the body (after the request header) of `api` at an old `version` into the layout of
/// [`decode_version`]; bodies of served versions come back unchanged.
pub fn upgrade_request(api: ApiKey, version: i16, body: Bytes) -> Result<Bytes, String> {
    if decode_version(api, version) == version {
        return Ok(body);
    }
    let mut out = BytesMut::with_capacity(body.len() + 16);
    let mut b = body;
    match api {
        // v3 starts with the (nullable) transactional id.
        ApiKey::Produce => {
            out.put_i16(-1);
            out.put_slice(&b);
        }
        // v3 adds max_bytes (v0–v2: no limit) after min_bytes; v4 isolation_level.
        ApiKey::Fetch => {
            out.put_slice(&take(&mut b, 12, "Fetch")?);
            if version < 3 {
                out.put_i32(i32::MAX);
            } else {
                out.put_slice(&take(&mut b, 4, "Fetch")?);
            }
            out.put_i8(0);
            out.put_slice(&b);
        }
        // v0 partitions carry max_num_offsets after the timestamp.
        ApiKey::ListOffsets => {
            out.put_slice(&take(&mut b, 4, "ListOffsets")?);
            each_partition(&mut b, &mut out, "ListOffsets", |b, out| {
                out.put_slice(&take(b, 12, "ListOffsets partition")?);
                take(b, 4, "ListOffsets max_num_offsets").map(drop)
            })?;
        }
        // v2: group, generation, member, retention_time, topics[name, [partition, offset,
        // metadata]]. v0 lacks generation, member and retention; v1 lacks retention and has a
        // commit timestamp per partition.
        ApiKey::OffsetCommit => {
            out.put_slice(&take_string(&mut b, "OffsetCommit group")?);
            if version == 0 {
                out.put_i32(-1);
                out.put_i16(0);
            } else {
                out.put_slice(&take(&mut b, 4, "OffsetCommit generation")?);
                out.put_slice(&take_string(&mut b, "OffsetCommit member")?);
            }
            out.put_i64(-1);
            if version == 0 {
                out.put_slice(&b);
                return Ok(out.freeze());
            }
            each_partition(&mut b, &mut out, "OffsetCommit", |b, out| {
                out.put_slice(&take(b, 12, "OffsetCommit partition")?);
                take(b, 8, "OffsetCommit timestamp")?;
                out.put_slice(&take_string(b, "OffsetCommit metadata")?);
                Ok(())
            })?;
        }
        // v1 adds include_synonyms; CreateTopics v1 validate_only (v2's request is v1's).
        ApiKey::DescribeConfigs | ApiKey::CreateTopics => {
            out.put_slice(&b);
            if !(api == ApiKey::CreateTopics && version == 1) {
                out.put_i8(0);
            }
        }
        // ACL v1 (KIP-290) adds the resource pattern type after the resource name; v0 meant
        // LITERAL (3), for the creations, the describe filter and each delete filter alike.
        ApiKey::CreateAcls | ApiKey::DeleteAcls => {
            let what = if api == ApiKey::CreateAcls {
                "CreateAcls"
            } else {
                "DeleteAcls"
            };
            let n = take_count(&mut b, what)?;
            out.put_i32(n as i32);
            for _ in 0..n {
                acl_filter_v0_to_v1(&mut b, &mut out, what)?;
            }
        }
        ApiKey::DescribeAcls => acl_filter_v0_to_v1(&mut b, &mut out, "DescribeAcls")?,
        // OffsetFetch v0, DeleteTopics v0 and DescribeLogDirs v0: the next version's layout.
        _ => out.put_slice(&b),
    }
    Ok(out.freeze())
}

/// One v0 ACL binding or filter (resource type, name, principal, host, operation, permission)
/// with LITERAL inserted as the pattern type after the name.
fn acl_filter_v0_to_v1(b: &mut Bytes, out: &mut BytesMut, what: &str) -> Result<(), String> {
    out.put_slice(&take(b, 1, what)?);
    out.put_slice(&take_string(b, what)?);
    out.put_i8(LITERAL_PATTERN);
    out.put_slice(&take_string(b, what)?);
    out.put_slice(&take_string(b, what)?);
    out.put_slice(&take(b, 2, what)?);
    Ok(())
}

/// Kafka's PatternType LITERAL.
const LITERAL_PATTERN: i8 = 3;

/// Copies an ACL resource (type, name) and drops the pattern type that follows it in v1.
fn acl_resource_v1_to_v0(b: &mut Bytes, out: &mut BytesMut, what: &str) -> Result<(), String> {
    out.put_slice(&take(b, 1, what)?);
    out.put_slice(&take_string(b, what)?);
    take(b, 1, what).map(drop)
}

/// Rewrites a response body encoded at [`decode_version`] into the layout of the old `version`.
pub fn downgrade_response(api: ApiKey, version: i16, body: Bytes) -> Result<Bytes, String> {
    if decode_version(api, version) == version {
        return Ok(body);
    }
    let mut b = body;
    let mut out = BytesMut::with_capacity(b.len());
    match api {
        // v3 (= v2): responses[name, [index, error, base_offset, log_append_time]], throttle.
        // v1 has no log_append_time, v0 no throttle either.
        ApiKey::Produce if version < 2 => {
            each_partition(&mut b, &mut out, "Produce", |b, out| {
                out.put_slice(&take(b, 14, "Produce partition")?);
                take(b, 8, "Produce log_append_time").map(drop)
            })?;
            if version == 1 {
                out.put_slice(&b);
            }
        }
        ApiKey::Produce => out.put_slice(&b),
        // v1: topics[name, [index, error, timestamp, offset]]; v0: [index, error, [offsets]].
        ApiKey::ListOffsets => {
            each_partition(&mut b, &mut out, "ListOffsets", |b, out| {
                let mut p = take(b, 22, "ListOffsets partition")?;
                out.put_slice(&p.split_to(6));
                let _timestamp = p.get_i64();
                let offset = p.get_i64();
                if offset >= 0 {
                    out.put_i32(1);
                    out.put_i64(offset);
                } else {
                    out.put_i32(0);
                }
                Ok(())
            })?;
        }
        // v0–v1 are v2's layout; OffsetFetch v0 is v1's.
        ApiKey::OffsetCommit | ApiKey::OffsetFetch => out.put_slice(&b),
        // v1 = throttle + v0.
        ApiKey::DeleteTopics => {
            take(&mut b, 4, "DeleteTopics throttle")?;
            out.put_slice(&b);
        }
        // v2 = throttle + topics[name, error, message]; v1 without throttle; v0 without message.
        ApiKey::CreateTopics => {
            take(&mut b, 4, "CreateTopics throttle")?;
            if version == 1 {
                out.put_slice(&b);
                return Ok(out.freeze());
            }
            let topics = take_count(&mut b, "CreateTopics topics")?;
            out.put_i32(topics as i32);
            for _ in 0..topics {
                out.put_slice(&take_string(&mut b, "CreateTopics topic")?);
                out.put_slice(&take(&mut b, 2, "CreateTopics error")?);
                take_string(&mut b, "CreateTopics message")?;
            }
        }
        // v1 configs[name, value, read_only, config_source, is_sensitive, synonyms[...]];
        // v0 configs[name, value, read_only, is_default, is_sensitive].
        ApiKey::DescribeConfigs => {
            out.put_slice(&take(&mut b, 4, "DescribeConfigs throttle")?);
            let results = take_count(&mut b, "DescribeConfigs results")?;
            out.put_i32(results as i32);
            for _ in 0..results {
                out.put_slice(&take(&mut b, 2, "DescribeConfigs error")?);
                out.put_slice(&take_string(&mut b, "DescribeConfigs message")?);
                out.put_slice(&take(&mut b, 1, "DescribeConfigs resource type")?);
                out.put_slice(&take_string(&mut b, "DescribeConfigs resource")?);
                let configs = take_count(&mut b, "DescribeConfigs configs")?;
                out.put_i32(configs as i32);
                for _ in 0..configs {
                    out.put_slice(&take_string(&mut b, "DescribeConfigs name")?);
                    out.put_slice(&take_string(&mut b, "DescribeConfigs value")?);
                    out.put_slice(&take(&mut b, 1, "DescribeConfigs read_only")?);
                    let source = take(&mut b, 1, "DescribeConfigs source")?[0] as i8;
                    // DEFAULT_CONFIG (5) and STATIC_BROKER_CONFIG (4) were "default" in v0.
                    out.put_u8(u8::from(source == 5 || source == 4));
                    out.put_slice(&take(&mut b, 1, "DescribeConfigs is_sensitive")?);
                    let synonyms = take_count(&mut b, "DescribeConfigs synonyms")?;
                    for _ in 0..synonyms {
                        take_string(&mut b, "DescribeConfigs synonym name")?;
                        take_string(&mut b, "DescribeConfigs synonym value")?;
                        take(&mut b, 1, "DescribeConfigs synonym source")?;
                    }
                }
            }
        }
        // v1: throttle, error, message, resources[type, name, pattern type, acls[principal,
        // host, operation, permission]]; v0 without the pattern type.
        ApiKey::DescribeAcls => {
            out.put_slice(&take(&mut b, 6, "DescribeAcls")?);
            out.put_slice(&take_string(&mut b, "DescribeAcls message")?);
            let resources = take_count(&mut b, "DescribeAcls resources")?;
            out.put_i32(resources as i32);
            for _ in 0..resources {
                acl_resource_v1_to_v0(&mut b, &mut out, "DescribeAcls resource")?;
                let acls = take_count(&mut b, "DescribeAcls acls")?;
                out.put_i32(acls as i32);
                for _ in 0..acls {
                    out.put_slice(&take_string(&mut b, "DescribeAcls principal")?);
                    out.put_slice(&take_string(&mut b, "DescribeAcls host")?);
                    out.put_slice(&take(&mut b, 2, "DescribeAcls operation")?);
                }
            }
        }
        // v1: throttle, filter_results[error, message, matching_acls[error, message, type,
        // name, pattern type, principal, host, operation, permission]]; v0 without the
        // pattern type.
        ApiKey::DeleteAcls => {
            out.put_slice(&take(&mut b, 4, "DeleteAcls throttle")?);
            let results = take_count(&mut b, "DeleteAcls results")?;
            out.put_i32(results as i32);
            for _ in 0..results {
                out.put_slice(&take(&mut b, 2, "DeleteAcls error")?);
                out.put_slice(&take_string(&mut b, "DeleteAcls message")?);
                let acls = take_count(&mut b, "DeleteAcls matching acls")?;
                out.put_i32(acls as i32);
                for _ in 0..acls {
                    out.put_slice(&take(&mut b, 2, "DeleteAcls acl error")?);
                    out.put_slice(&take_string(&mut b, "DeleteAcls acl message")?);
                    acl_resource_v1_to_v0(&mut b, &mut out, "DeleteAcls acl")?;
                    out.put_slice(&take_string(&mut b, "DeleteAcls principal")?);
                    out.put_slice(&take_string(&mut b, "DeleteAcls host")?);
                    out.put_slice(&take(&mut b, 2, "DeleteAcls operation")?);
                }
            }
        }
        // CreateAcls v0 and DescribeLogDirs v0 answer in the next version's layout.
        _ => out.put_slice(&b),
    }
    Ok(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::{
        CreateTopicsResponse, DescribeConfigsResponse, ListOffsetsRequest, OffsetCommitRequest,
    };
    use kafka_protocol::protocol::{Decodable, Encodable};

    #[test]
    fn given_a_list_offsets_v0_request_when_upgraded_should_decode_as_v1() {
        let mut v0 = BytesMut::new();
        v0.put_i32(-1);
        v0.put_i32(1);
        v0.put_i16(3);
        v0.put_slice(b"abc");
        v0.put_i32(1);
        v0.put_i32(2); // partition
        v0.put_i64(-1); // latest
        v0.put_i32(1); // max_num_offsets
        let mut up = upgrade_request(ApiKey::ListOffsets, 0, v0.freeze()).unwrap();
        let req = ListOffsetsRequest::decode(&mut up, 1).unwrap();
        assert_eq!(req.topics[0].name.0.as_str(), "abc");
        assert_eq!(req.topics[0].partitions[0].partition_index, 2);
        assert_eq!(req.topics[0].partitions[0].timestamp, -1);
    }

    #[test]
    fn given_an_offset_commit_v1_request_when_upgraded_should_drop_timestamps() {
        let mut v1 = BytesMut::new();
        v1.put_i16(1);
        v1.put_slice(b"g");
        v1.put_i32(4);
        v1.put_i16(1);
        v1.put_slice(b"m");
        v1.put_i32(1);
        v1.put_i16(1);
        v1.put_slice(b"t");
        v1.put_i32(1);
        v1.put_i32(0);
        v1.put_i64(42);
        v1.put_i64(1_600_000_000_000);
        v1.put_i16(2);
        v1.put_slice(b"md");
        let mut up = upgrade_request(ApiKey::OffsetCommit, 1, v1.freeze()).unwrap();
        let req = OffsetCommitRequest::decode(&mut up, 2).unwrap();
        assert_eq!(req.generation_id_or_member_epoch, 4);
        assert_eq!(req.member_id.as_str(), "m");
        let p = &req.topics[0].partitions[0];
        assert_eq!(
            (p.committed_offset, p.committed_metadata.as_deref()),
            (42, Some("md"))
        );
    }

    #[test]
    fn given_v1_and_v2_responses_when_downgraded_should_have_the_old_layouts() {
        use kafka_protocol::messages::list_offsets_response::*;
        let resp =
            ListOffsetsResponse::default().with_topics(vec![ListOffsetsTopicResponse::default()
                .with_name(kafka_protocol::messages::TopicName("t".into()))
                .with_partitions(vec![ListOffsetsPartitionResponse::default()
                    .with_partition_index(0)
                    .with_timestamp(-1)
                    .with_offset(17)])]);
        let mut buf = BytesMut::new();
        resp.encode(&mut buf, 1).unwrap();
        let mut v0 = downgrade_response(ApiKey::ListOffsets, 0, buf.freeze()).unwrap();
        assert_eq!(v0.get_i32(), 1);
        v0.advance(3);
        assert_eq!((v0.get_i32(), v0.get_i32(), v0.get_i16()), (1, 0, 0));
        assert_eq!((v0.get_i32(), v0.get_i64()), (1, 17));
        assert!(!v0.has_remaining());

        let mut buf = BytesMut::new();
        CreateTopicsResponse::default().encode(&mut buf, 2).unwrap();
        let v0 = downgrade_response(ApiKey::CreateTopics, 0, buf.freeze()).unwrap();
        assert_eq!(&v0[..], &[0, 0, 0, 0]);

        let mut buf = BytesMut::new();
        DescribeConfigsResponse::default()
            .encode(&mut buf, 1)
            .unwrap();
        let v0 = downgrade_response(ApiKey::DescribeConfigs, 0, buf.freeze()).unwrap();
        assert_eq!(&v0[..], &[0, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn given_acl_v0_requests_and_v1_responses_when_rewritten_should_be_literal_v1_and_v0() {
        use kafka_protocol::messages::describe_acls_response::*;
        use kafka_protocol::messages::{CreateAclsRequest, DescribeAclsRequest};
        let binding = |b: &mut BytesMut| {
            b.put_i8(2); // TOPIC
            b.put_i16(1);
            b.put_slice(b"t");
            b.put_i16(6);
            b.put_slice(b"User:a");
            b.put_i16(1);
            b.put_slice(b"*");
            b.put_i8(3); // READ
            b.put_i8(3); // ALLOW
        };
        let mut v0 = BytesMut::new();
        v0.put_i32(1);
        binding(&mut v0);
        let mut up = upgrade_request(ApiKey::CreateAcls, 0, v0.freeze()).unwrap();
        let req = CreateAclsRequest::decode(&mut up, 1).unwrap();
        let c = &req.creations[0];
        assert_eq!(
            (c.resource_name.as_str(), c.resource_pattern_type),
            ("t", 3)
        );
        assert_eq!(
            (c.principal.as_str(), c.operation, c.permission_type),
            ("User:a", 3, 3)
        );
        let mut v0 = BytesMut::new();
        binding(&mut v0);
        let mut up = upgrade_request(ApiKey::DescribeAcls, 0, v0.freeze()).unwrap();
        let req = DescribeAclsRequest::decode(&mut up, 1).unwrap();
        assert_eq!(req.pattern_type_filter, 3);

        let resp =
            DescribeAclsResponse::default().with_resources(vec![DescribeAclsResource::default()
                .with_resource_type(2)
                .with_resource_name("t".into())
                .with_pattern_type(3)
                .with_acls(vec![AclDescription::default()
                    .with_principal("User:a".into())
                    .with_host("*".into())
                    .with_operation(3)
                    .with_permission_type(3)])]);
        let mut buf = BytesMut::new();
        resp.encode(&mut buf, 1).unwrap();
        let mut expected = BytesMut::new();
        expected.put_i32(0); // throttle
        expected.put_i16(0); // error
        expected.put_i16(0); // message: empty
        expected.put_i32(1);
        expected.put_i8(2);
        expected.put_i16(1);
        expected.put_slice(b"t");
        expected.put_i32(1);
        expected.put_i16(6);
        expected.put_slice(b"User:a");
        expected.put_i16(1);
        expected.put_slice(b"*");
        expected.put_i8(3);
        expected.put_i8(3);
        let v0 = downgrade_response(ApiKey::DescribeAcls, 0, buf.freeze()).unwrap();
        assert_eq!(&v0[..], &expected[..]);
    }

    #[test]
    fn given_truncated_bodies_when_upgraded_should_refuse_them() {
        for api in [ApiKey::ListOffsets, ApiKey::Fetch] {
            assert!(upgrade_request(api, 0, Bytes::from_static(&[0, 0, 0])).is_err());
        }
        let mut huge = BytesMut::new();
        huge.put_i32(-1);
        huge.put_i32(i32::MAX);
        assert!(upgrade_request(ApiKey::ListOffsets, 0, huge.freeze()).is_err());
    }
}
