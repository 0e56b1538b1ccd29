//! SQL's access control answered by the bus: passwords checked against its users
//! ([`oxbow_broker::passwords`]), a table read only with READ on its topic from the broker's
//! authorizer (the permission a consumer of that topic needs), refusals and failed logins in
//! the audit log with the principal and address.

use std::net::SocketAddr;
use std::sync::Arc;

use oxbow_broker::authorizer::{Operation, ResourceType};
use oxbow_broker::passwords::PasswordCheck;
use oxbow_broker::Broker;
use oxbow_config::SecurityProtocol;
use oxbow_net::{AuthState, Listener, Principal, Session};
use oxbow_sql::access::ANONYMOUS;
use oxbow_sql::{Caller, SqlAccess};

pub struct BrokerSqlAccess {
    broker: Arc<Broker>,
    listener: Arc<Listener>,
    passwords: PasswordCheck,
}

impl BrokerSqlAccess {
    pub fn new(broker: Arc<Broker>, listen: &str) -> Self {
        let (host, port) = match listen.parse::<SocketAddr>() {
            Ok(a) => (a.ip().to_string(), i32::from(a.port())),
            Err(_) => (listen.to_string(), 0),
        };
        BrokerSqlAccess {
            listener: Listener::new("SQL".into(), SecurityProtocol::Plaintext, host, port),
            passwords: PasswordCheck::new(broker.clone()),
            broker,
        }
    }

    fn session(&self, caller: &Caller) -> Session {
        let mut s = Session::new(self.listener.clone(), caller.peer);
        if caller.user != ANONYMOUS {
            s.principal = Principal::user(&caller.user);
            s.auth = AuthState::Authenticated {
                mechanism: "PASSWORD".into(),
            };
        }
        s.client_id = "sql".into();
        s
    }
}

impl SqlAccess for BrokerSqlAccess {
    fn authenticate(&self, user: &str, password: &str) -> bool {
        self.passwords.verify(user, password)
    }

    fn may_read(&self, caller: &Caller, topic: &str) -> bool {
        self.broker.authorizer.authorize(
            &self.session(caller),
            Operation::Read,
            ResourceType::Topic,
            topic,
        )
    }

    fn audit(&self, event: &str, caller: &Caller, outcome: &str, detail: serde_json::Value) {
        self.broker
            .audit
            .record(event, &self.session(caller), outcome, detail);
    }
}
