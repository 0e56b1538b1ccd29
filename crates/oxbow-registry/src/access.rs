//! Who may use the registry: the seams the broker fills in. [`Authenticate`] checks HTTP Basic
//! credentials against the bus's own users; [`Authorize`] answers with the bus's ACLs, a subject
//! standing for its topic (`orders-value` and `orders-key` for `orders`, as Confluent's topic ACL
//! authorizer maps them; any other subject for the topic of that name); [`Audit`] records every
//! change and refusal in the bus's audit log.

use std::net::SocketAddr;

/// What a request does to a subject, or to the registry as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Read schemas, versions, look-ups and compatibility checks.
    Read,
    /// Register schemas.
    Write,
    /// Delete versions and subjects.
    Delete,
    /// Read configs and modes.
    DescribeConfigs,
    /// Change configs and modes.
    AlterConfigs,
}

/// The caller of a request, once authenticated.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user name (`ANONYMOUS` without authentication).
    pub user: String,
    pub peer: SocketAddr,
}

pub trait Authenticate: Send + Sync + 'static {
    /// Whether `password` is `user`'s.
    fn authenticate(&self, user: &str, password: &str) -> bool;
}

pub trait Authorize: Send + Sync + 'static {
    /// Whether the caller may do `op` on `subject` (`None`: the global config, mode or listing).
    fn authorize(&self, caller: &Caller, op: Operation, subject: Option<&str>) -> bool;
}

pub trait Audit: Send + Sync + 'static {
    /// Records an event (`registry_change`, `registry_denied`, `registry_authentication`).
    fn record(&self, event: &str, caller: &Caller, outcome: &str, detail: serde_json::Value);
}

/// The registry's access control: authentication (`None`: everyone is `ANONYMOUS`),
/// authorization and the audit log.
pub struct Access {
    pub authenticate: Option<Box<dyn Authenticate>>,
    pub authorize: Box<dyn Authorize>,
    pub audit: Box<dyn Audit>,
}

struct AllowAll;

impl Authorize for AllowAll {
    fn authorize(&self, _: &Caller, _: Operation, _: Option<&str>) -> bool {
        true
    }
}

struct NoAudit;

impl Audit for NoAudit {
    fn record(&self, _: &str, _: &Caller, _: &str, _: serde_json::Value) {}
}

impl Access {
    /// No authentication, everything allowed, nothing audited (tests of the registry alone).
    pub fn open() -> Self {
        Self {
            authenticate: None,
            authorize: Box::new(AllowAll),
            audit: Box::new(NoAudit),
        }
    }
}

/// The topic a subject's permissions come from.
pub fn topic_of(subject: &str) -> &str {
    let bare = match crate::subject::context_of(subject) {
        Some(ctx) => &subject[ctx.len()..],
        None => subject,
    };
    bare.strip_suffix("-value")
        .or_else(|| bare.strip_suffix("-key"))
        .unwrap_or(bare)
}
