//! SCRAM credentials (RFC 5802): per user and mechanism the salt, iteration count, StoredKey and
//! ServerKey — never the password. Kept in `<data>/meta/scram-credentials.json`, written
//! crash-safely before AlterUserScramCredentials answers, effective at once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use super::Mechanism;
use crate::producer_ids::write_atomically;

/// Kafka's bounds on iterations (`ScramMechanism`): at least 4096, at most 16384.
pub const MIN_ITERATIONS: i32 = 4096;
pub const MAX_ITERATIONS: i32 = 16384;

/// One user's credential for one mechanism.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScramCredential {
    /// base64
    pub salt: String,
    pub iterations: i32,
    /// base64 of H(HMAC(SaltedPassword, "Client Key"))
    pub stored_key: String,
    /// base64 of HMAC(SaltedPassword, "Server Key")
    pub server_key: String,
}

impl ScramCredential {
    /// From a salted password (what AlterUserScramCredentials carries, KIP-554).
    pub fn from_salted_password(
        mechanism: Mechanism,
        salt: &[u8],
        iterations: i32,
        salted_password: &[u8],
    ) -> Self {
        let client_key = mechanism.hmac(salted_password, b"Client Key");
        let stored_key = mechanism.hash(&client_key);
        let server_key = mechanism.hmac(salted_password, b"Server Key");
        Self {
            salt: B64.encode(salt),
            iterations,
            stored_key: B64.encode(stored_key),
            server_key: B64.encode(server_key),
        }
    }

    /// From a password (tests and `oxbow user add`, which salt on the client as Kafka's tools do).
    pub fn from_password(
        mechanism: Mechanism,
        password: &str,
        salt: &[u8],
        iterations: i32,
    ) -> Self {
        let salted = mechanism.salted_password(password.as_bytes(), salt, iterations);
        Self::from_salted_password(mechanism, salt, iterations, &salted)
    }

    pub fn salt_bytes(&self) -> Vec<u8> {
        B64.decode(&self.salt).unwrap_or_default()
    }
    pub fn stored_key_bytes(&self) -> Vec<u8> {
        B64.decode(&self.stored_key).unwrap_or_default()
    }
    pub fn server_key_bytes(&self) -> Vec<u8> {
        B64.decode(&self.server_key).unwrap_or_default()
    }
}

type Users = BTreeMap<String, BTreeMap<String, ScramCredential>>;

/// Every SCRAM credential: user -> mechanism name -> credential.
pub struct CredentialStore {
    path: PathBuf,
    users: RwLock<Users>,
}

impl CredentialStore {
    pub fn open(meta_dir: &Path) -> std::io::Result<Self> {
        let path = meta_dir.join("scram-credentials.json");
        let users: Users = crate::producer_ids::read_json_or_default(&path)?;
        Ok(Self {
            path,
            users: RwLock::new(users),
        })
    }

    pub fn get(&self, user: &str, mechanism: Mechanism) -> Option<ScramCredential> {
        self.users.read().get(user)?.get(mechanism.name()).cloned()
    }

    /// User -> (mechanism, iterations) of each credential.
    pub fn describe(&self) -> BTreeMap<String, Vec<(Mechanism, i32)>> {
        self.users
            .read()
            .iter()
            .map(|(u, m)| {
                let creds = m
                    .iter()
                    .filter_map(|(name, c)| Mechanism::from_name(name).map(|m| (m, c.iterations)))
                    .collect();
                (u.clone(), creds)
            })
            .filter(|(_, v): &(String, Vec<_>)| !v.is_empty())
            .collect()
    }

    /// Applies upserts and deletions at once; durable before it returns.
    pub fn alter(
        &self,
        upserts: Vec<(String, Mechanism, ScramCredential)>,
        deletions: Vec<(String, Mechanism)>,
    ) -> std::io::Result<()> {
        let mut users = self.users.write();
        let mut next = users.clone();
        for (user, mechanism) in deletions {
            if let Some(m) = next.get_mut(&user) {
                m.remove(mechanism.name());
                if m.is_empty() {
                    next.remove(&user);
                }
            }
        }
        for (user, mechanism, cred) in upserts {
            next.entry(user)
                .or_default()
                .insert(mechanism.name().into(), cred);
        }
        let bytes = serde_json::to_vec_pretty(&next).map_err(std::io::Error::other)?;
        write_atomically(&self.path, &bytes)?;
        *users = next;
        Ok(())
    }
}
