//! Passwords checked against the bus's own users, for the services that take a user name and
//! password rather than a SASL exchange (the schema registry's HTTP Basic, SQL's password
//! method): `[security.plain_users]` compared in constant time, SCRAM users by salting and
//! iterating the password as SCRAM would and comparing the result with the StoredKey. A verified
//! password is remembered for a minute so each request does not pay the iterations again.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::scram::{constant_time_eq, Mechanism};
use crate::Broker;

const REMEMBER: Duration = Duration::from_secs(60);

pub struct PasswordCheck {
    broker: Arc<Broker>,
    /// (user, SHA-256 of the password) → when it was verified.
    verified: Mutex<HashMap<(String, Vec<u8>), Instant>>,
}

impl PasswordCheck {
    pub fn new(broker: Arc<Broker>) -> Self {
        PasswordCheck {
            broker,
            verified: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `password` is `user`'s.
    pub fn verify(&self, user: &str, password: &str) -> bool {
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
