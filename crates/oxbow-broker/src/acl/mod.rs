//! Access control lists: the bindings ([`binding`]), their store (persisted in
//! `<data>/meta/acls.json`, written crash-safely before CreateAcls/DeleteAcls answer, effective at
//! once) and the ACL authorizer ([`AclAuthorizer`]) that decides as Kafka's does: super users may
//! do everything; a DENY that matches wins; an ALLOW for the operation, for ALL, or for an
//! operation that implies it (READ/WRITE/DELETE/ALTER imply DESCRIBE, ALTER_CONFIGS implies
//! DESCRIBE_CONFIGS) allows; a resource no ACL covers is open only with
//! `allow_everyone_if_no_acl_found`.

pub mod binding;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::authorizer::{Authorizer, Operation, ResourceType};
use crate::producer_ids::write_atomically;
use binding::{code, AclBinding, AclFilter, WILDCARD};
use oxbow_net::Session;

/// Every ACL of the cluster.
pub struct AclStore {
    path: PathBuf,
    bindings: RwLock<Vec<AclBinding>>,
}

impl AclStore {
    /// Loads `meta/acls.json` (none yet: no ACLs).
    pub fn open(meta_dir: &Path) -> std::io::Result<Self> {
        let path = meta_dir.join("acls.json");
        let bindings: Vec<AclBinding> = crate::producer_ids::read_json_or_default(&path)?;
        Ok(Self {
            path,
            bindings: RwLock::new(bindings),
        })
    }

    /// Adds bindings (an existing one is kept once); durable before it returns.
    pub fn create(&self, new: &[AclBinding]) -> std::io::Result<()> {
        let mut all = self.bindings.write();
        let mut next = all.clone();
        for b in new {
            if !next.contains(b) {
                next.push(b.clone());
            }
        }
        self.persist(&next)?;
        *all = next;
        Ok(())
    }

    /// Removes the bindings each filter matches; returns them per filter. Durable before it returns.
    pub fn delete(&self, filters: &[AclFilter]) -> std::io::Result<Vec<Vec<AclBinding>>> {
        let mut all = self.bindings.write();
        let removed: Vec<Vec<AclBinding>> = filters
            .iter()
            .map(|f| all.iter().filter(|b| f.matches(b)).cloned().collect())
            .collect();
        let next: Vec<AclBinding> = all
            .iter()
            .filter(|b| !filters.iter().any(|f| f.matches(b)))
            .cloned()
            .collect();
        if next.len() != all.len() {
            self.persist(&next)?;
            *all = next;
        }
        Ok(removed)
    }

    pub fn describe(&self, filter: &AclFilter) -> Vec<AclBinding> {
        self.bindings
            .read()
            .iter()
            .filter(|b| filter.matches(b))
            .cloned()
            .collect()
    }

    fn persist(&self, bindings: &[AclBinding]) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(bindings).map_err(std::io::Error::other)?;
        write_atomically(&self.path, &bytes)
    }
}

/// The ACL authorizer (`security.authorizer = "acl"`).
pub struct AclAuthorizer {
    store: Arc<AclStore>,
    super_users: HashSet<String>,
    allow_if_no_acl: bool,
}

impl AclAuthorizer {
    pub fn new(store: Arc<AclStore>, super_users: Vec<String>, allow_if_no_acl: bool) -> Self {
        Self {
            store,
            super_users: super_users.into_iter().collect(),
            allow_if_no_acl,
        }
    }
}

/// The operations whose ALLOW also allows `op` (Kafka's implied operations).
fn allowing(op: Operation) -> &'static [Operation] {
    use Operation::*;
    match op {
        Describe => &[Describe, Read, Write, Delete, Alter],
        DescribeConfigs => &[DescribeConfigs, AlterConfigs],
        Read => &[Read],
        Write => &[Write],
        Create => &[Create],
        Delete => &[Delete],
        Alter => &[Alter],
        ClusterAction => &[ClusterAction],
        AlterConfigs => &[AlterConfigs],
        IdempotentWrite => &[IdempotentWrite],
    }
}

impl Authorizer for AclAuthorizer {
    fn name(&self) -> &'static str {
        "acl"
    }

    fn authorize(
        &self,
        session: &Session,
        operation: Operation,
        resource: ResourceType,
        name: &str,
    ) -> bool {
        let principal = session.principal.to_string();
        if self.super_users.contains(&principal) {
            return true;
        }
        let host = session.peer.ip().to_string();
        let wildcard_principal = format!("{}:{WILDCARD}", session.principal.kind);
        let all = self.store.bindings.read();
        let mut covered = false;
        let mut allowed = false;
        for b in all.iter().filter(|b| b.covers(resource as i8, name)) {
            covered = true;
            let who = b.principal == principal || b.principal == wildcard_principal;
            let from = b.host == WILDCARD || b.host == host;
            if !who || !from {
                continue;
            }
            let op = b.operation;
            if b.permission == code::DENY && (op == code::OP_ALL || op == operation as i8) {
                return false;
            }
            if b.permission == code::ALLOW
                && (op == code::OP_ALL || allowing(operation).iter().any(|o| *o as i8 == op))
            {
                allowed = true;
            }
        }
        allowed || (!covered && self.allow_if_no_acl)
    }
}

/// The authorizer `[security]` names (already validated by the config).
pub fn authorizer_from_config(
    security: &oxbow_config::SecurityConfig,
    acls: &Arc<AclStore>,
) -> Arc<dyn Authorizer> {
    match security.effective_authorizer() {
        "deny_all" => Arc::new(crate::authorizer::DenyAll),
        "acl" => Arc::new(AclAuthorizer::new(
            acls.clone(),
            security.super_principals(),
            security.allow_everyone_if_no_acl_found,
        )),
        _ => Arc::new(crate::authorizer::AllowAll),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxbow_net::{Listener, Principal};

    fn session(user: &str, ip: &str) -> Session {
        let listener = Listener::new(
            "SASL".into(),
            oxbow_config::SecurityProtocol::SaslPlaintext,
            "127.0.0.1".into(),
            9092,
        );
        let mut s = Session::new(listener, format!("{ip}:5555").parse().unwrap());
        s.principal = Principal::user(user);
        s
    }

    fn acl(pattern: i8, name: &str, principal: &str, host: &str, op: i8, perm: i8) -> AclBinding {
        AclBinding {
            resource_type: code::RESOURCE_TOPIC,
            resource_name: name.into(),
            pattern_type: pattern,
            principal: principal.into(),
            host: host.into(),
            operation: op,
            permission: perm,
        }
    }

    #[test]
    fn given_acls_when_authorizing_should_apply_deny_wins_implication_hosts_and_super_users() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(AclStore::open(dir.path()).unwrap());
        store
            .create(&[
                acl(
                    code::PATTERN_PREFIXED,
                    "sales-",
                    "User:alice",
                    "*",
                    code::OP_READ,
                    code::ALLOW,
                ),
                acl(
                    code::PATTERN_LITERAL,
                    "sales-secret",
                    "User:alice",
                    "10.0.0.9",
                    2,
                    code::DENY,
                ),
                acl(code::PATTERN_LITERAL, "*", "User:*", "*", 8, code::ALLOW),
            ])
            .unwrap();
        let a = AclAuthorizer::new(store.clone(), vec!["User:admin".into()], false);
        let alice = session("alice", "10.0.0.1");
        let alice_far = session("alice", "10.0.0.9");
        let topic = ResourceType::Topic;
        assert!(a.authorize(&alice, Operation::Read, topic, "sales-eu"));
        assert!(
            a.authorize(&alice, Operation::Describe, topic, "sales-eu"),
            "READ implies DESCRIBE"
        );
        assert!(!a.authorize(&alice, Operation::Write, topic, "sales-eu"));
        assert!(a.authorize(&alice, Operation::Read, topic, "sales-secret"));
        assert!(
            !a.authorize(&alice_far, Operation::Read, topic, "sales-secret"),
            "host DENY wins"
        );
        assert!(
            a.authorize(&session("bob", "1.1.1.1"), Operation::Describe, topic, "x"),
            "wildcard"
        );
        assert!(!a.authorize(&session("bob", "1.1.1.1"), Operation::Read, topic, "x"));
        assert!(a.authorize(&session("admin", "1.1.1.1"), Operation::Delete, topic, "x"));
        // No ACL covers groups: closed, unless allow_everyone_if_no_acl_found.
        assert!(!a.authorize(&alice, Operation::Read, ResourceType::Group, "g"));
        let open = AclAuthorizer::new(store.clone(), vec![], true);
        assert!(open.authorize(&alice, Operation::Read, ResourceType::Group, "g"));
        // Persisted.
        let reloaded = AclStore::open(dir.path()).unwrap();
        assert_eq!(reloaded.bindings.read().len(), 3);
    }
}
