//! An ACL (Kafka's `AclBinding`: a resource pattern and an access control entry) and the filters
//! of DescribeAcls/DeleteAcls, with Kafka's wire codes and matching rules.

use serde::{Deserialize, Serialize};

/// Kafka's codes (`ResourceType`, `PatternType`, `AclOperation`, `AclPermissionType`).
pub mod code {
    pub const ANY: i8 = 1;
    pub const RESOURCE_TOPIC: i8 = 2;
    pub const RESOURCE_TRANSACTIONAL_ID: i8 = 5;
    pub const PATTERN_MATCH: i8 = 2;
    pub const PATTERN_LITERAL: i8 = 3;
    pub const PATTERN_PREFIXED: i8 = 4;
    pub const OP_ALL: i8 = 2;
    pub const OP_READ: i8 = 3;
    pub const OP_IDEMPOTENT_WRITE: i8 = 12;
    pub const DENY: i8 = 2;
    pub const ALLOW: i8 = 3;
}

/// The wildcard resource name and principal and host.
pub const WILDCARD: &str = "*";

/// One ACL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AclBinding {
    pub resource_type: i8,
    pub resource_name: String,
    pub pattern_type: i8,
    pub principal: String,
    pub host: String,
    pub operation: i8,
    pub permission: i8,
}

impl AclBinding {
    /// Why the binding cannot be created (Kafka's INVALID_REQUEST cases), if it cannot.
    pub fn problem(&self) -> Option<String> {
        if !(2..=5).contains(&self.resource_type) {
            return Some(format!(
                "resource type {} cannot carry ACLs",
                self.resource_type
            ));
        }
        if !matches!(
            self.pattern_type,
            code::PATTERN_LITERAL | code::PATTERN_PREFIXED
        ) {
            return Some(format!(
                "pattern type {} must be LITERAL or PREFIXED",
                self.pattern_type
            ));
        }
        if self.resource_name.is_empty() {
            return Some("the resource name is empty".into());
        }
        if self.resource_type == 4 && self.resource_name != crate::authorizer::CLUSTER_NAME {
            return Some("the cluster resource is named kafka-cluster".into());
        }
        if !self.principal.contains(':') {
            return Some(format!("principal {} is not TYPE:NAME", self.principal));
        }
        if self.host.is_empty() {
            return Some("the host is empty (use * for any)".into());
        }
        if !(code::OP_ALL..=code::OP_IDEMPOTENT_WRITE).contains(&self.operation) {
            return Some(format!(
                "operation {} is not an ACL operation",
                self.operation
            ));
        }
        if !matches!(self.permission, code::DENY | code::ALLOW) {
            return Some(format!(
                "permission {} must be ALLOW or DENY",
                self.permission
            ));
        }
        None
    }

    /// Whether this binding's resource pattern covers the resource `name` of `resource_type`.
    pub fn covers(&self, resource_type: i8, name: &str) -> bool {
        self.resource_type == resource_type
            && match self.pattern_type {
                code::PATTERN_LITERAL => {
                    self.resource_name == name || self.resource_name == WILDCARD
                }
                code::PATTERN_PREFIXED => name.starts_with(&self.resource_name),
                _ => false,
            }
    }
}

/// A DescribeAcls/DeleteAcls filter: `None` (or ANY) fields match everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclFilter {
    pub resource_type: i8,
    pub resource_name: Option<String>,
    pub pattern_type: i8,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: i8,
    pub permission: i8,
}

impl AclFilter {
    /// From the fields of a DescribeAcls request or a DeleteAcls filter (the same seven).
    pub fn from_wire(
        resource_type: i8,
        resource_name: Option<&str>,
        pattern_type: i8,
        principal: Option<&str>,
        host: Option<&str>,
        operation: i8,
        permission: i8,
    ) -> Self {
        Self {
            resource_type,
            resource_name: resource_name.map(String::from),
            pattern_type,
            principal: principal.map(String::from),
            host: host.map(String::from),
            operation,
            permission,
        }
    }

    pub fn matches(&self, b: &AclBinding) -> bool {
        let any = |f: i8, v: i8| f == code::ANY || f == v;
        let name_ok = match (self.pattern_type, &self.resource_name) {
            // MATCH: every pattern that would apply to this name (literal, wildcard, prefixes).
            (code::PATTERN_MATCH, Some(name)) => match b.pattern_type {
                code::PATTERN_LITERAL => &b.resource_name == name || b.resource_name == WILDCARD,
                code::PATTERN_PREFIXED => name.starts_with(&b.resource_name),
                _ => false,
            },
            (code::PATTERN_MATCH, None) => true,
            (p, name) => {
                any(p, b.pattern_type) && name.as_ref().is_none_or(|n| *n == b.resource_name)
            }
        };
        any(self.resource_type, b.resource_type)
            && name_ok
            && self.principal.as_ref().is_none_or(|p| *p == b.principal)
            && self.host.as_ref().is_none_or(|h| *h == b.host)
            && any(self.operation, b.operation)
            && any(self.permission, b.permission)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(pattern: i8, name: &str) -> AclBinding {
        AclBinding {
            resource_type: code::RESOURCE_TOPIC,
            resource_name: name.into(),
            pattern_type: pattern,
            principal: "User:alice".into(),
            host: "*".into(),
            operation: code::OP_READ,
            permission: code::ALLOW,
        }
    }

    #[test]
    fn given_patterns_when_matching_names_should_follow_kafkas_rules() {
        assert!(binding(code::PATTERN_LITERAL, "orders").covers(2, "orders"));
        assert!(!binding(code::PATTERN_LITERAL, "orders").covers(2, "orders-eu"));
        assert!(binding(code::PATTERN_LITERAL, "*").covers(2, "anything"));
        assert!(binding(code::PATTERN_PREFIXED, "sales-").covers(2, "sales-eu"));
        assert!(!binding(code::PATTERN_PREFIXED, "sales-").covers(3, "sales-eu"));
        assert!(
            !binding(code::PATTERN_PREFIXED, "*").covers(2, "x"),
            "no wildcard in prefixes"
        );
    }

    #[test]
    fn given_filters_when_matching_should_honour_any_and_match() {
        let prefixed = binding(code::PATTERN_PREFIXED, "sales-");
        let filter = |pattern: i8, name: Option<&str>| AclFilter {
            resource_type: code::ANY,
            resource_name: name.map(String::from),
            pattern_type: pattern,
            principal: None,
            host: None,
            operation: code::ANY,
            permission: code::ANY,
        };
        assert!(filter(code::ANY, None).matches(&prefixed));
        assert!(filter(code::PATTERN_MATCH, Some("sales-eu")).matches(&prefixed));
        assert!(!filter(code::PATTERN_LITERAL, Some("sales-eu")).matches(&prefixed));
        assert!(filter(code::PATTERN_PREFIXED, Some("sales-")).matches(&prefixed));
        assert!(binding(code::PATTERN_LITERAL, "t").problem().is_none());
        let mut bad = binding(code::PATTERN_LITERAL, "t");
        bad.principal = "alice".into();
        assert!(bad.problem().is_some());
    }
}
