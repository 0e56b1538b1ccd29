//! The schema registry's access control, answered by the bus itself: HTTP Basic credentials
//! checked against `[security.plain_users]` and the SCRAM credentials (the password is salted
//! and iterated as SCRAM would, and the result compared with the StoredKey; a verified password is
//! remembered for a minute so each request does not pay the iterations), permissions from the
//! broker's authorizer with a subject standing for its topic, and the audit log.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use oxbow_config::SecurityProtocol;
use oxbow_net::{AuthState, Listener, Principal, Session};
use oxbow_registry::access::{self, Access, Caller};
use parking_lot::Mutex;

use crate::authorizer::{Operation, ResourceType, CLUSTER_NAME};
use crate::scram::{constant_time_eq, Mechanism};
use crate::Broker;

const REMEMBER: Duration = Duration::from_secs(60);

/// The registry's access control over `broker`; `authenticate`: require HTTP Basic.
pub fn access(broker: &Arc<Broker>, authenticate: bool, listen: SocketAddr) -> Access {
    let listener = Listener::new(
        "SCHEMA_REGISTRY".into(),
        SecurityProtocol::Plaintext,
        listen.ip().to_string(),
        i32::from(listen.port()),
    );
    Access {
        authenticate: authenticate.then(|| {
            Box::new(Users {
                broker: broker.clone(),
                verified: Mutex::new(HashMap::new()),
            }) as Box<dyn access::Authenticate>
        }),
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

struct Users {
    broker: Arc<Broker>,
    /// (user, SHA-256 of the password) → when it was verified.
    verified: Mutex<HashMap<(String, Vec<u8>), Instant>>,
}

impl access::Authenticate for Users {
    fn authenticate(&self, user: &str, password: &str) -> bool {
        if let Some(expected) = self.broker.config.security.plain_users.get(user) {
            return constant_time_eq(expected.as_bytes(), password.as_bytes());
        }
        let key = (
            user.to_string(),
            Mechanism::Sha256.hash(password.as_bytes()),
        );
        {
            let mut seen = self.verified.lock();
            seen.retain(|_, at| at.elapsed() < REMEMBER);
            if seen.contains_key(&key) {
                return true;
            }
        }
        for m in [Mechanism::Sha512, Mechanism::Sha256] {
            let Some(cred) = self.broker.scram.get(user, m) else {
                continue;
            };
            let salted =
                m.salted_password(password.as_bytes(), &cred.salt_bytes(), cred.iterations);
            let stored = m.hash(&m.hmac(&salted, b"Client Key"));
            if constant_time_eq(&stored, &cred.stored_key_bytes()) {
                self.verified.lock().insert(key, Instant::now());
                return true;
            }
        }
        false
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
