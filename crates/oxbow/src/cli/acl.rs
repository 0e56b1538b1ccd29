//! `oxbow acl add|list|remove`: ACLs as Kafka's `kafka-acls.sh` manages them (CreateAcls,
//! DescribeAcls, DeleteAcls), e.g.
//! `oxbow acl add --allow-principal User:sales --operation read --topic sales- --resource-pattern-type prefixed`.

use anyhow::{bail, Context as _};
use clap::{Args, Subcommand, ValueEnum};
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::{CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest};
use kafka_protocol::protocol::StrBytes;

use super::common::ConnArgs;
use super::kafka_raw::RawClient;

#[derive(Subcommand, Debug)]
pub enum AclCmd {
    /// Add ACLs: each principal × host × operation on the resource.
    Add(AclArgs),
    /// List ACLs (all, or those matching the resource and principal given).
    List(AclArgs),
    /// Remove the ACLs matching the options (an option left out matches anything).
    Remove(AclArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PatternType {
    Literal,
    Prefixed,
    /// list/remove: every pattern that applies to the named resource.
    Match,
    Any,
}

#[derive(Args, Debug)]
pub struct AclArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[arg(long, conflicts_with_all = ["group", "cluster", "transactional_id"])]
    pub topic: Option<String>,
    #[arg(long, conflicts_with_all = ["cluster", "transactional_id"])]
    pub group: Option<String>,
    #[arg(long, conflicts_with = "transactional_id")]
    pub cluster: bool,
    #[arg(long)]
    pub transactional_id: Option<String>,
    /// How the resource name matches (add: literal or prefixed).
    #[arg(long, value_enum, default_value = "literal")]
    pub resource_pattern_type: PatternType,
    /// `User:name` (or `User:*`) to allow (repeatable).
    #[arg(long)]
    pub allow_principal: Vec<String>,
    /// `User:name` (or `User:*`) to deny (repeatable).
    #[arg(long)]
    pub deny_principal: Vec<String>,
    /// Host (client IP) the ACL applies to; default every host (`*`).
    #[arg(long)]
    pub host: Option<String>,
    /// read, write, create, delete, alter, describe, cluster-action, describe-configs,
    /// alter-configs, idempotent-write or all (repeatable).
    #[arg(long)]
    pub operation: Vec<String>,
}

const OPERATIONS: [(&str, i8); 11] = [
    ("all", 2),
    ("read", 3),
    ("write", 4),
    ("create", 5),
    ("delete", 6),
    ("alter", 7),
    ("describe", 8),
    ("cluster-action", 9),
    ("describe-configs", 10),
    ("alter-configs", 11),
    ("idempotent-write", 12),
];

fn operation_code(name: &str) -> anyhow::Result<i8> {
    let n = name.to_ascii_lowercase().replace('_', "-");
    OPERATIONS
        .iter()
        .find(|(o, _)| *o == n)
        .map(|(_, c)| *c)
        .with_context(|| format!("unknown operation {name}"))
}

fn operation_name(code: i8) -> String {
    OPERATIONS
        .iter()
        .find(|(_, c)| *c == code)
        .map_or(code.to_string(), |(n, _)| n.to_string())
}

fn resource_type_name(code: i8) -> &'static str {
    match code {
        2 => "topic",
        3 => "group",
        4 => "cluster",
        5 => "transactional-id",
        _ => "?",
    }
}

fn s(x: &str) -> StrBytes {
    StrBytes::from_string(x.to_string())
}

impl AclArgs {
    /// (resource type, name) — None when no resource was named.
    fn resource(&self) -> Option<(i8, String)> {
        if let Some(t) = &self.topic {
            return Some((2, t.clone()));
        }
        if let Some(g) = &self.group {
            return Some((3, g.clone()));
        }
        if self.cluster {
            return Some((4, "kafka-cluster".into()));
        }
        self.transactional_id.clone().map(|t| (5, t))
    }

    fn pattern(&self, default_for_filters: i8) -> i8 {
        match self.resource_pattern_type {
            PatternType::Literal if self.resource().is_none() => default_for_filters,
            PatternType::Literal => 3,
            PatternType::Prefixed => 4,
            PatternType::Match => 2,
            PatternType::Any => 1,
        }
    }

    /// (principal, permission) pairs given.
    fn principals(&self) -> Vec<(String, i8)> {
        self.allow_principal
            .iter()
            .map(|p| (p.clone(), 3))
            .chain(self.deny_principal.iter().map(|p| (p.clone(), 2)))
            .collect()
    }
}

pub async fn run(cmd: AclCmd) -> anyhow::Result<()> {
    match cmd {
        AclCmd::Add(a) => add(a).await,
        AclCmd::List(a) => list(a).await,
        AclCmd::Remove(a) => remove(a).await,
    }
}

async fn add(a: AclArgs) -> anyhow::Result<()> {
    let Some((resource_type, name)) = a.resource() else {
        bail!("name a resource: --topic, --group, --cluster or --transactional-id");
    };
    if a.principals().is_empty() || a.operation.is_empty() {
        bail!("give --allow-principal or --deny-principal, and --operation");
    }
    let mut creations = Vec::new();
    for (principal, permission) in a.principals() {
        for op in &a.operation {
            creations.push(
                AclCreation::default()
                    .with_resource_type(resource_type)
                    .with_resource_name(s(&name))
                    .with_resource_pattern_type(a.pattern(3))
                    .with_principal(s(&principal))
                    .with_host(s(a.host.as_deref().unwrap_or("*")))
                    .with_operation(operation_code(op)?)
                    .with_permission_type(permission),
            );
        }
    }
    let mut c = RawClient::open(&a.conn).await?;
    let resp = c
        .send(3, &CreateAclsRequest::default().with_creations(creations))
        .await?;
    for r in &resp.results {
        if r.error_code != 0 {
            bail!(
                "CreateAcls failed with error code {}: {}",
                r.error_code,
                r.error_message.as_deref().unwrap_or("")
            );
        }
    }
    println!("added {} ACL(s)", resp.results.len());
    Ok(())
}

/// The filter fields of the options (anything not given matches everything).
fn filter(a: &AclArgs) -> anyhow::Result<(i8, Option<String>, i8, Option<String>, i8, i8)> {
    let (rt, name) = match a.resource() {
        Some((t, n)) => (t, Some(n)),
        None => (1, None),
    };
    let principals = a.principals();
    if principals.len() > 1 || a.operation.len() > 1 {
        bail!("list and remove take at most one principal and one operation");
    }
    let (principal, permission) = match principals.into_iter().next() {
        Some((p, perm)) => (Some(p), perm),
        None => (None, 1),
    };
    let op = match a.operation.first() {
        Some(o) => operation_code(o)?,
        None => 1,
    };
    Ok((rt, name, a.pattern(1), principal, op, permission))
}

async fn list(a: AclArgs) -> anyhow::Result<()> {
    let (rt, name, pattern, principal, op, permission) = filter(&a)?;
    let req = DescribeAclsRequest::default()
        .with_resource_type_filter(rt)
        .with_resource_name_filter(name.as_deref().map(s))
        .with_pattern_type_filter(pattern)
        .with_principal_filter(principal.as_deref().map(s))
        .with_host_filter(a.host.as_deref().map(s))
        .with_operation(op)
        .with_permission_type(permission);
    let mut c = RawClient::open(&a.conn).await?;
    let resp = c.send(3, &req).await?;
    if resp.error_code != 0 {
        bail!("DescribeAcls failed with error code {}", resp.error_code);
    }
    println!(
        "{:<18} {:<30} {:<9} {:<24} {:<16} {:<17} PERMISSION",
        "RESOURCE-TYPE", "NAME", "PATTERN", "PRINCIPAL", "HOST", "OPERATION"
    );
    for r in resp.resources {
        for acl in r.acls {
            println!(
                "{:<18} {:<30} {:<9} {:<24} {:<16} {:<17} {}",
                resource_type_name(r.resource_type),
                r.resource_name.as_str(),
                if r.pattern_type == 4 {
                    "prefixed"
                } else {
                    "literal"
                },
                acl.principal.as_str(),
                acl.host.as_str(),
                operation_name(acl.operation),
                if acl.permission_type == 2 {
                    "deny"
                } else {
                    "allow"
                }
            );
        }
    }
    Ok(())
}

async fn remove(a: AclArgs) -> anyhow::Result<()> {
    let (rt, name, pattern, principal, op, permission) = filter(&a)?;
    let f = DeleteAclsFilter::default()
        .with_resource_type_filter(rt)
        .with_resource_name_filter(name.as_deref().map(s))
        .with_pattern_type_filter(pattern)
        .with_principal_filter(principal.as_deref().map(s))
        .with_host_filter(a.host.as_deref().map(s))
        .with_operation(op)
        .with_permission_type(permission);
    let mut c = RawClient::open(&a.conn).await?;
    let resp = c
        .send(3, &DeleteAclsRequest::default().with_filters(vec![f]))
        .await?;
    let r = resp
        .filter_results
        .into_iter()
        .next()
        .context("empty DeleteAcls answer")?;
    if r.error_code != 0 {
        bail!("DeleteAcls failed with error code {}", r.error_code);
    }
    println!("removed {} ACL(s)", r.matching_acls.len());
    Ok(())
}
