//! The consumer protocol's embedded formats (subscription and assignment bytes inside JoinGroup and
//! SyncGroup), and group summaries for ListGroups and DescribeGroups.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedTopic;
use kafka_protocol::messages::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use super::assignor::Assignment;
use super::{Group, Protocol};

/// One member, as DescribeGroups shows it.
#[derive(Debug, Clone)]
pub struct MemberSummary {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

/// One group, as DescribeGroups shows it.
#[derive(Debug, Clone)]
pub struct GroupSummary {
    pub group_id: String,
    pub state: String,
    pub protocol_type: String,
    pub protocol: String,
    pub group_type: String,
    pub members: Vec<MemberSummary>,
}

impl Group {
    pub fn summary(&self) -> GroupSummary {
        let members = match &self.protocol {
            Protocol::Classic(c) => c
                .members
                .values()
                .map(|m| MemberSummary {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: m.metadata(c.protocol.as_deref()),
                    assignment: m.assignment.clone(),
                })
                .collect(),
            Protocol::Consumer(c) => c
                .members
                .values()
                .map(|m| MemberSummary {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: encode_subscription(&m.subscribed),
                    assignment: encode_assignment(&m.current()),
                })
                .collect(),
        };
        let protocol = match &self.protocol {
            Protocol::Classic(c) => c.protocol.clone().unwrap_or_default(),
            Protocol::Consumer(c) => c.assignor.clone(),
        };
        GroupSummary {
            group_id: self.id.clone(),
            state: self.state_name().to_string(),
            protocol_type: self.protocol_type(),
            protocol,
            group_type: self.group_type().to_string(),
            members,
        }
    }
}

/// Decodes a versioned embedded struct, never panicking on hostile bytes.
fn decode_versioned<T: Decodable>(bytes: &Bytes) -> Option<T> {
    let mut buf = bytes.clone();
    if buf.remaining() < 2 {
        return None;
    }
    let version = buf.get_i16().clamp(0, 3);
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        T::decode(&mut buf, version).ok()
    }))
    .ok()
    .flatten()
}

fn encode_versioned<T: Encodable>(value: &T, version: i16) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(version);
    if value.encode(&mut buf, version).is_err() {
        return Bytes::new();
    }
    buf.freeze()
}

/// Topics named in a consumer-protocol subscription.
pub fn subscription_topics(metadata: &Bytes) -> Vec<String> {
    decode_versioned::<ConsumerProtocolSubscription>(metadata)
        .map(|s| s.topics.iter().map(|t| t.to_string()).collect())
        .unwrap_or_default()
}

/// (topic, partitions) of a consumer-protocol assignment.
pub fn assignment_partitions(assignment: &Bytes) -> Vec<(String, Vec<i32>)> {
    decode_versioned::<ConsumerProtocolAssignment>(assignment)
        .map(|a| {
            a.assigned_partitions
                .into_iter()
                .map(|t| (t.topic.0.to_string(), t.partitions))
                .collect()
        })
        .unwrap_or_default()
}

pub fn encode_subscription(topics: &[String]) -> Bytes {
    let s = ConsumerProtocolSubscription::default().with_topics(
        topics
            .iter()
            .map(|t| StrBytes::from_string(t.clone()))
            .collect(),
    );
    encode_versioned(&s, 0)
}

pub fn encode_assignment(a: &Assignment) -> Bytes {
    let parts = a
        .iter()
        .map(|(t, ps)| {
            AssignedTopic::default()
                .with_topic(TopicName(StrBytes::from_string(t.clone())))
                .with_partitions(ps.iter().copied().collect())
        })
        .collect();
    encode_versioned(
        &ConsumerProtocolAssignment::default().with_assigned_partitions(parts),
        0,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_assignment_when_encoded_should_decode_back() {
        let a: Assignment = [("t".to_string(), [0, 2].into())].into();
        assert_eq!(
            assignment_partitions(&encode_assignment(&a)),
            vec![("t".to_string(), vec![0, 2])]
        );
        assert_eq!(
            subscription_topics(&encode_subscription(&["x".into()])),
            vec!["x".to_string()]
        );
        assert!(assignment_partitions(&Bytes::from_static(&[0, 0, 255, 255, 255])).is_empty());
    }
}
