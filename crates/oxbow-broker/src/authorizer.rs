//! The one authorization seam: every handler asks the broker's [`Authorizer`] through
//! [`RequestContext`](crate::handlers::RequestContext) before it touches a resource, as Kafka's
//! `KafkaApis` asks its `Authorizer`. Operations and resource types carry Kafka's codes, so ACLs
//! and `authorized_operations` bit fields map one to one.
//!
//! Three authorizers: [`AllowAll`] (no access control), [`DenyAll`] (`security.authorizer =
//! "deny_all"`) and the ACL authorizer (`crate::acl`, `"acl"`, the default when super users are
//! named; `crate::acl::authorizer_from_config` picks one).

use oxbow_net::Session;

/// Kafka's `AclOperation`, with its wire codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i8)]
pub enum Operation {
    Read = 3,
    Write = 4,
    Create = 5,
    Delete = 6,
    Alter = 7,
    Describe = 8,
    ClusterAction = 9,
    DescribeConfigs = 10,
    AlterConfigs = 11,
    IdempotentWrite = 12,
}

/// Kafka's `ResourceType`, with its wire codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i8)]
pub enum ResourceType {
    Topic = 2,
    Group = 3,
    Cluster = 4,
    TransactionalId = 5,
}

/// The name of the single cluster resource (`kafka-cluster`).
pub const CLUSTER_NAME: &str = "kafka-cluster";

impl ResourceType {
    /// The operations Kafka defines for this resource type (for `authorized_operations`).
    pub fn operations(self) -> &'static [Operation] {
        use Operation::*;
        match self {
            Self::Topic => &[
                Read,
                Write,
                Create,
                Delete,
                Alter,
                Describe,
                DescribeConfigs,
                AlterConfigs,
            ],
            Self::Group => &[Read, Describe, Delete],
            Self::Cluster => &[
                Create,
                Alter,
                Describe,
                ClusterAction,
                DescribeConfigs,
                AlterConfigs,
                IdempotentWrite,
            ],
            Self::TransactionalId => &[Describe, Write],
        }
    }
}

/// Decides whether a session may perform an operation on a resource.
pub trait Authorizer: Send + Sync + 'static {
    /// A short name for logs (`allow_all`, `deny_all`, `acl`).
    fn name(&self) -> &'static str;
    fn authorize(
        &self,
        session: &Session,
        operation: Operation,
        resource: ResourceType,
        name: &str,
    ) -> bool;
}

/// Allows everything (no access control): the default.
pub struct AllowAll;

impl Authorizer for AllowAll {
    fn name(&self) -> &'static str {
        "allow_all"
    }
    fn authorize(&self, _: &Session, _: Operation, _: ResourceType, _: &str) -> bool {
        true
    }
}

/// Refuses every operation.
pub struct DenyAll;

impl Authorizer for DenyAll {
    fn name(&self) -> &'static str {
        "deny_all"
    }
    fn authorize(&self, _: &Session, _: Operation, _: ResourceType, _: &str) -> bool {
        false
    }
}

/// The `authorized_operations` bit field of a resource: bit `op` set for each allowed operation.
pub fn authorized_operations(
    authorizer: &dyn Authorizer,
    session: &Session,
    resource: ResourceType,
    name: &str,
) -> i32 {
    resource
        .operations()
        .iter()
        .filter(|op| authorizer.authorize(session, **op, resource, name))
        .fold(0, |bits, op| bits | (1 << (*op as i8)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxbow_net::Listener;

    fn session() -> Session {
        let listener = Listener::new(
            "PLAINTEXT".into(),
            oxbow_config::SecurityProtocol::Plaintext,
            "127.0.0.1".into(),
            9092,
        );
        Session::new(listener, "127.0.0.1:5555".parse().unwrap())
    }

    #[test]
    fn given_allow_all_when_asking_operations_should_match_kafkas_bit_fields() {
        let s = session();
        assert_eq!(
            authorized_operations(&AllowAll, &s, ResourceType::Topic, "t"),
            0b1101_1111_1000
        );
        assert_eq!(
            authorized_operations(&AllowAll, &s, ResourceType::Cluster, CLUSTER_NAME),
            (1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12)
        );
        assert_eq!(
            authorized_operations(&AllowAll, &s, ResourceType::Group, "g"),
            (1 << 3) | (1 << 6) | (1 << 8)
        );
        assert_eq!(
            authorized_operations(&DenyAll, &s, ResourceType::Topic, "t"),
            0
        );
    }
}
