//! The schema registry's access control, answered by the bus itself: HTTP Basic credentials
//! checked against the bus's users ([`crate::passwords`]), permissions from the broker's
//! authorizer with a subject standing for its topic, and the audit log.

use std::net::SocketAddr;
use std::sync::Arc;

use oxbow_config::SecurityProtocol;
use oxbow_net::{AuthState, Listener, Principal, Session};
use oxbow_registry::access::{self, Access, Caller};

use crate::authorizer::{Operation, ResourceType, CLUSTER_NAME};
use crate::passwords::PasswordCheck;
use crate::Broker;

/// The registry's access control over `broker`; `authenticate`: require HTTP Basic.
pub fn access(broker: &Arc<Broker>, authenticate: bool, listen: SocketAddr) -> Access {
    let listener = Listener::new(
        "SCHEMA_REGISTRY".into(),
        SecurityProtocol::Plaintext,
        listen.ip().to_string(),
        i32::from(listen.port()),
    );
    Access {
        authenticate: authenticate
            .then(|| Box::new(PasswordCheck::new(broker.clone())) as Box<dyn access::Authenticate>),
        authorize: Box::new(Permissions {
            broker: broker.clone(),
            listener: listener.clone(),
        }),
        audit: Box::new(AuditTrail {
            broker: broker.clone(),
            listener,
        }),
    }
}

fn session(listener: &Arc<Listener>, caller: &Caller) -> Session {
    let mut s = Session::new(listener.clone(), caller.peer);
    s.principal = Principal::user(&caller.user);
    s.auth = AuthState::Authenticated {
        mechanism: "HTTP_BASIC".into(),
    };
    s.client_id = "schema-registry".into();
    s
}

impl access::Authenticate for PasswordCheck {
    fn authenticate(&self, user: &str, password: &str) -> bool {
        self.verify(user, password)
    }
}

struct Permissions {
    broker: Arc<Broker>,
    listener: Arc<Listener>,
}

impl access::Authorize for Permissions {
    fn authorize(&self, caller: &Caller, op: access::Operation, subject: Option<&str>) -> bool {
        let s = session(&self.listener, caller);
        let operation = match op {
            access::Operation::Read => Operation::Read,
            access::Operation::Write => Operation::Write,
            access::Operation::Delete => Operation::Delete,
            access::Operation::DescribeConfigs => Operation::DescribeConfigs,
            access::Operation::AlterConfigs => Operation::AlterConfigs,
        };
        let auth = &self.broker.authorizer;
        match subject {
            Some(subject) => auth.authorize(
                &s,
                operation,
                ResourceType::Topic,
                access::topic_of(subject),
            ),
            None => {
                let operation = if operation == Operation::Read {
                    Operation::Describe
                } else {
                    operation
                };
                auth.authorize(&s, operation, ResourceType::Cluster, CLUSTER_NAME)
            }
        }
    }
}

struct AuditTrail {
    broker: Arc<Broker>,
    listener: Arc<Listener>,
}

impl access::Audit for AuditTrail {
    fn record(&self, event: &str, caller: &Caller, outcome: &str, detail: serde_json::Value) {
        self.broker
            .audit
            .record(event, &session(&self.listener, caller), outcome, detail);
    }
}
