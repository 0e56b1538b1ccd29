//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) on the server side: the two rounds of a
//! SaslAuthenticate exchange, checked against the salted, iterated credentials of
//! [`credentials::CredentialStore`]. Parsers take any bytes from the wire and answer an error
//! (for the log; the client only learns that authentication failed), never panic.

pub mod credentials;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ring::{digest, hmac, pbkdf2};

use credentials::{CredentialStore, ScramCredential};

/// Kafka's `ScramMechanism` (codes of DescribeUserScramCredentials/AlterUserScramCredentials).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mechanism {
    Sha256 = 1,
    Sha512 = 2,
}

impl Mechanism {
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "SCRAM-SHA-256" => Some(Self::Sha256),
            "SCRAM-SHA-512" => Some(Self::Sha512),
            _ => None,
        }
    }
    pub fn from_code(code: i8) -> Option<Self> {
        match code {
            1 => Some(Self::Sha256),
            2 => Some(Self::Sha512),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "SCRAM-SHA-256",
            Self::Sha512 => "SCRAM-SHA-512",
        }
    }
    fn hmac_alg(self) -> hmac::Algorithm {
        match self {
            Self::Sha256 => hmac::HMAC_SHA256,
            Self::Sha512 => hmac::HMAC_SHA512,
        }
    }
    pub fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        hmac::sign(&hmac::Key::new(self.hmac_alg(), key), data)
            .as_ref()
            .to_vec()
    }
    pub fn hash(self, data: &[u8]) -> Vec<u8> {
        let alg = match self {
            Self::Sha256 => &digest::SHA256,
            Self::Sha512 => &digest::SHA512,
        };
        digest::digest(alg, data).as_ref().to_vec()
    }
    /// Hi(password, salt, i) of RFC 5802: PBKDF2 with HMAC of the mechanism's hash.
    pub fn salted_password(self, password: &[u8], salt: &[u8], iterations: i32) -> Vec<u8> {
        let (alg, len) = match self {
            Self::Sha256 => (pbkdf2::PBKDF2_HMAC_SHA256, 32),
            Self::Sha512 => (pbkdf2::PBKDF2_HMAC_SHA512, 64),
        };
        let mut out = vec![0u8; len];
        let rounds = std::num::NonZeroU32::new(iterations.max(1) as u32)
            .unwrap_or(std::num::NonZeroU32::MIN);
        pbkdf2::derive(alg, rounds, salt, password, &mut out);
        out
    }
}

/// `key=value` attributes of a SCRAM message, in order.
fn attributes(message: &str) -> Vec<(char, &str)> {
    message
        .split(',')
        .filter_map(|part| {
            let mut chars = part.chars();
            let key = chars.next()?;
            part.get(1..)?.strip_prefix('=').map(|v| (key, v))
        })
        .collect()
}

/// A saslname with `=2C` and `=3D` decoded; None if another `=` escape appears.
fn decode_saslname(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        match rest.get(i + 1..i + 3)? {
            "2C" => out.push(','),
            "3D" => out.push('='),
            _ => return None,
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Some(out)
}

/// What is kept between the two rounds (in the connection's session).
struct State {
    user: String,
    gs2_header: String,
    client_first_bare: String,
    server_first: String,
    nonce: String,
}

impl State {
    fn encode(&self) -> String {
        [
            &self.user,
            &self.gs2_header,
            &self.client_first_bare,
            &self.server_first,
            &self.nonce,
        ]
        .map(|s| s.as_str())
        .join("\n")
    }
    fn decode(s: &str) -> Option<Self> {
        let mut parts = s.split('\n');
        let mut next = || parts.next().map(str::to_string);
        Some(Self {
            user: next()?,
            gs2_header: next()?,
            client_first_bare: next()?,
            server_first: next()?,
            nonce: next()?,
        })
    }
}

/// Round 1: the client-first message. Returns the server-first message and the state to keep.
pub fn server_first(
    store: &CredentialStore,
    mechanism: Mechanism,
    client_first: &[u8],
    server_nonce: &str,
) -> Result<(Vec<u8>, String), String> {
    let msg = std::str::from_utf8(client_first).map_err(|_| "client-first is not UTF-8")?;
    if msg.contains('\n') || msg.contains('\0') {
        return Err("client-first holds control characters".into());
    }
    // gs2-header: cbind flag, optional authzid, then the bare message.
    let mut it = msg.splitn(3, ',');
    let (Some(cbind), Some(authzid), Some(bare)) = (it.next(), it.next(), it.next()) else {
        return Err("client-first has no GS2 header".into());
    };
    match cbind {
        "n" | "y" => {}
        _ => return Err("channel binding is not supported".into()),
    }
    let attrs = attributes(bare);
    let (Some(('n', name)), Some(('r', nonce))) = (attrs.first().copied(), attrs.get(1).copied())
    else {
        return Err("client-first needs n= and r=".into());
    };
    if attrs.iter().any(|(k, _)| *k == 'm') {
        return Err("mandatory extensions are not supported".into());
    }
    let user = decode_saslname(name).ok_or("bad escape in the user name")?;
    if user.is_empty() || nonce.is_empty() {
        return Err("empty user name or nonce".into());
    }
    if let Some(a) = authzid.strip_prefix("a=") {
        if decode_saslname(a).as_deref() != Some(user.as_str()) {
            return Err(format!("user {user} asked to act as another identity"));
        }
    } else if !authzid.is_empty() {
        return Err("malformed authzid".into());
    }
    let cred = store
        .get(&user, mechanism)
        .ok_or_else(|| format!("no {} credential for user {user}", mechanism.name()))?;
    let nonce = format!("{nonce}{server_nonce}");
    let server_first = format!("r={nonce},s={},i={}", cred.salt, cred.iterations);
    let state = State {
        user,
        gs2_header: format!("{cbind},{authzid},"),
        client_first_bare: bare.to_string(),
        server_first: server_first.clone(),
        nonce,
    };
    Ok((server_first.into_bytes(), state.encode()))
}

/// Round 2: the client-final message. Returns the authenticated user and the server-final
/// message (the server's signature, which the client checks).
pub fn server_final(
    store: &CredentialStore,
    mechanism: Mechanism,
    state: &str,
    client_final: &[u8],
) -> Result<(String, Vec<u8>), String> {
    let state = State::decode(state).ok_or("lost SCRAM state")?;
    let msg = std::str::from_utf8(client_final).map_err(|_| "client-final is not UTF-8")?;
    let (without_proof, proof) = msg.rsplit_once(",p=").ok_or("client-final has no proof")?;
    let attrs = attributes(without_proof);
    let (Some(('c', cbind)), Some(('r', nonce))) = (attrs.first().copied(), attrs.get(1).copied())
    else {
        return Err("client-final needs c= and r=".into());
    };
    if B64.decode(cbind).ok().as_deref() != Some(state.gs2_header.as_bytes()) {
        return Err("channel binding does not match the GS2 header".into());
    }
    if nonce != state.nonce {
        return Err("nonce does not match".into());
    }
    let proof = B64.decode(proof).map_err(|_| "proof is not base64")?;
    let cred: ScramCredential = store
        .get(&state.user, mechanism)
        .ok_or("the credential was removed during authentication")?;
    let auth_message = format!(
        "{},{},{}",
        state.client_first_bare, state.server_first, without_proof
    );
    let stored_key = cred.stored_key_bytes();
    let signature = mechanism.hmac(&stored_key, auth_message.as_bytes());
    if proof.len() != signature.len() {
        return Err("proof has the wrong length".into());
    }
    let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(p, s)| p ^ s).collect();
    let computed = mechanism.hash(&client_key);
    let matches = computed.len() == stored_key.len()
        && computed
            .iter()
            .zip(&stored_key)
            .fold(0u8, |a, (x, y)| a | (x ^ y))
            == 0;
    if !matches {
        return Err(format!("wrong password for user {}", state.user));
    }
    let server_signature = mechanism.hmac(&cred.server_key_bytes(), auth_message.as_bytes());
    Ok((
        state.user,
        format!("v={}", B64.encode(server_signature)).into_bytes(),
    ))
}

/// A fresh server nonce (printable, from the system's random source).
pub fn new_nonce() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 18];
    let _ = ring::rand::SystemRandom::new().fill(&mut bytes);
    B64.encode(bytes)
}

/// Compares secrets without an early exit on the first differing byte (PLAIN passwords,
/// SCRAM keys, the registry's HTTP Basic check).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A client side of RFC 5802, to drive the server.
    fn client_final(
        mechanism: Mechanism,
        password: &str,
        client_first_bare: &str,
        server_first: &str,
    ) -> String {
        let attrs = attributes(server_first);
        let nonce = attrs[0].1;
        let salt = B64.decode(attrs[1].1).unwrap();
        let iterations: i32 = attrs[2].1.parse().unwrap();
        let salted = mechanism.salted_password(password.as_bytes(), &salt, iterations);
        let client_key = mechanism.hmac(&salted, b"Client Key");
        let stored_key = mechanism.hash(&client_key);
        let without_proof = format!("c=biws,r={nonce}");
        let auth = format!("{client_first_bare},{server_first},{without_proof}");
        let sig = mechanism.hmac(&stored_key, auth.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(&sig).map(|(a, b)| a ^ b).collect();
        format!("{without_proof},p={}", B64.encode(proof))
    }

    fn store(dir: &std::path::Path) -> CredentialStore {
        let store = CredentialStore::open(dir).unwrap();
        let mut upserts = Vec::new();
        for m in [Mechanism::Sha256, Mechanism::Sha512] {
            upserts.push((
                "alice".to_string(),
                m,
                ScramCredential::from_password(m, "secret", b"salty", 4096),
            ));
        }
        store.alter(upserts, vec![]).unwrap();
        store
    }

    #[test]
    fn given_rfc_client_when_exchanging_should_authenticate_only_the_right_password() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        for m in [Mechanism::Sha256, Mechanism::Sha512] {
            let bare = "n=alice,r=cnonce";
            let (first, state) =
                server_first(&store, m, format!("n,,{bare}").as_bytes(), "snonce").unwrap();
            let first = String::from_utf8(first).unwrap();
            let good = client_final(m, "secret", bare, &first);
            let (user, fin) = server_final(&store, m, &state, good.as_bytes()).unwrap();
            assert_eq!(user, "alice");
            assert!(fin.starts_with(b"v="));
            let bad = client_final(m, "Secret", bare, &first);
            assert!(server_final(&store, m, &state, bad.as_bytes()).is_err());
        }
        assert!(server_first(&store, Mechanism::Sha256, b"n,,n=bob,r=x", "s").is_err());
        assert!(server_first(&store, Mechanism::Sha256, b"p=tls,,n=alice,r=x", "s").is_err());
        assert!(server_first(&store, Mechanism::Sha256, b"n,a=bob,n=alice,r=x", "s").is_err());
        // Persisted: a reopened store authenticates the same user.
        let reopened = CredentialStore::open(dir.path()).unwrap();
        assert!(reopened.get("alice", Mechanism::Sha512).is_some());
        assert_eq!(decode_saslname("a=2Cb=3Dc").as_deref(), Some("a,b=c"));
        assert_eq!(decode_saslname("a=4"), None);
    }

    #[test]
    fn given_rfc_7677_example_when_exchanging_should_produce_its_server_signature() {
        let dir = tempfile::tempdir().unwrap();
        let store = CredentialStore::open(dir.path()).unwrap();
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let cred = ScramCredential::from_password(Mechanism::Sha256, "pencil", &salt, 4096);
        store
            .alter(vec![("user".into(), Mechanism::Sha256, cred)], vec![])
            .unwrap();
        let (first, state) = server_first(
            &store,
            Mechanism::Sha256,
            b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
            "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
        )
        .unwrap();
        assert_eq!(
            first,
            b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        );
        let (user, fin) = server_final(
            &store,
            Mechanism::Sha256,
            &state,
            b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
        )
        .unwrap();
        assert_eq!(user, "user");
        assert_eq!(fin, b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
    }

    proptest! {
        #[test]
        fn given_any_bytes_when_parsed_as_scram_messages_should_never_panic_or_accept(
            first in proptest::collection::vec(any::<u8>(), 0..80),
            last in proptest::collection::vec(any::<u8>(), 0..120),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let store = store(dir.path());
            let _ = server_first(&store, Mechanism::Sha256, &first, "snonce");
            let (_, state) = server_first(&store, Mechanism::Sha256, b"n,,n=alice,r=c", "s").unwrap();
            prop_assert!(server_final(&store, Mechanism::Sha256, &state, &last).is_err());
            let _ = server_final(&store, Mechanism::Sha256, &String::from_utf8_lossy(&first), &last);
        }
    }
}
