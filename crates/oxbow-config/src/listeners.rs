//! `[[server.listeners]]`, `[tls]` and `[security]`: where the broker accepts connections, with
//! which transport, and who may do what.
//!
//! The single-listener form (`server.listen` + `server.advertised_listener`) stays valid: with no
//! `[[server.listeners]]` it is one listener named `PLAINTEXT` (or `SSL` when `[tls]` is present).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::{BrokerConfig, ConfigError};

/// Kafka's `security.protocol` of a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SecurityProtocol {
    /// Plain TCP; fetches are sent with `sendfile`.
    Plaintext,
    /// TLS (rustls) with the certificate in `[tls]`; fetched records are copied through TLS.
    Ssl,
    /// SASL authentication (`security.sasl_mechanisms`) over TCP.
    SaslPlaintext,
    /// SASL authentication over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    pub fn name(self) -> &'static str {
        match self {
            Self::Plaintext => "PLAINTEXT",
            Self::Ssl => "SSL",
            Self::SaslPlaintext => "SASL_PLAINTEXT",
            Self::SaslSsl => "SASL_SSL",
        }
    }

    /// Whether clients on this listener must authenticate with SASL first.
    pub fn uses_sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }

    /// Whether connections on this listener are encrypted with TLS.
    pub fn uses_tls(self) -> bool {
        matches!(self, Self::Ssl | Self::SaslSsl)
    }
}

/// One `[[server.listeners]]` entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// The listener's name (`listener.name` in Kafka), e.g. `INTERNAL`; unique. Required.
    pub name: String,
    /// HOST:PORT to bind. Required.
    pub listen: String,
    /// HOST:PORT given to clients that connected here. Default: the bound address.
    #[serde(default)]
    pub advertised: String,
    /// PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL (SASL needs `security.sasl_mechanisms`).
    /// Default PLAINTEXT.
    #[serde(default = "default_protocol")]
    pub protocol: SecurityProtocol,
}

fn default_protocol() -> SecurityProtocol {
    SecurityProtocol::Plaintext
}

/// `[tls]`: the server certificate for SSL listeners (PEM files). Present with the single-listener
/// form, it makes that listener SSL.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first. Required for an SSL listener.
    pub cert_file: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1). Required for an SSL listener.
    pub key_file: PathBuf,
    /// PEM CA certificates of client certificates. Set: mutual TLS — TLS listeners require a
    /// client certificate signed by one of them, and on SSL listeners the principal comes from
    /// its subject (`security.ssl_principal_mapping_rules`). Default: none.
    pub client_ca_file: PathBuf,
}

impl TlsConfig {
    pub fn is_set(&self) -> bool {
        !self.cert_file.as_os_str().is_empty() || !self.key_file.as_os_str().is_empty()
    }
}

/// `[security]`: authentication and authorization.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SecurityConfig {
    /// SASL mechanisms offered: `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512` (SCRAM users are
    /// managed with AlterUserScramCredentials). Non-empty with the single-listener form: that
    /// listener requires SASL (SASL_PLAINTEXT, or SASL_SSL with `[tls]`). Default: none.
    pub sasl_mechanisms: Vec<String>,
    /// PLAIN credentials, user name to password (`[security.plain_users]`). Default: none.
    pub plain_users: std::collections::BTreeMap<String, String>,
    /// Which authorizer every request asks: `acl` (ACLs managed with CreateAcls/DeleteAcls,
    /// persisted in `<data>/meta/acls.json`), `allow_all` (no access control) or `deny_all`
    /// (every operation that needs a permission is refused; for locking a broker down).
    /// Default: `acl` when `super_users` is set, else `allow_all`.
    pub authorizer: String,
    /// Principals allowed everything whatever the ACLs (`super.users`): `User:name`, or a bare
    /// name meaning `User:name`. Default: none.
    pub super_users: Vec<String>,
    /// `allow.everyone.if.no.acl.found`: with the ACL authorizer, a resource no ACL matches is
    /// open to everyone (for migrating to ACLs). Default false.
    pub allow_everyone_if_no_acl_found: bool,
    /// The audit log (JSON lines: authentications, authorization denials, ACL, credential and
    /// topic changes): a path, `none` to disable. Default: `<data_dir>/audit.log`.
    pub audit_log: String,
    /// Size at which the audit log is rotated. Default 104857600; >= 4096.
    pub audit_log_max_bytes: u64,
    /// Rotated audit files kept (`audit.log.1`, ...). Default 5; 0..=100.
    pub audit_log_files: usize,
    /// A topic the audit lines are also appended to (one record per line, keyed by principal;
    /// created on first use, 1 partition, `cleanup.policy=delete`; clients may read it with READ
    /// on the topic but not write it). Default empty: the file only.
    pub audit_topic: String,
    /// How long the answer to a failed authentication waits
    /// (`connection.failed.authentication.delay.ms`). Default 100; 0..=10000.
    pub failed_authentication_delay_ms: u64,
    /// `connections.max.reauth.ms` (KIP-368): a SASL session lasts this long; the client must
    /// re-authenticate on the connection before it ends, or the connection is closed at its
    /// next request. Default 0 (sessions do not end).
    pub connections_max_reauth_ms: u64,
    /// `ssl.principal.mapping.rules`: how a client certificate's subject (RFC 2253, e.g.
    /// `CN=alice,OU=ops,O=Acme`) becomes the principal's name: rules `RULE:regex/replacement/`
    /// (optional `L` or `U` after the last `/` for lower or upper case), tried in order, the first
    /// whose regex matches the whole subject wins; `DEFAULT` is the subject itself.
    /// Default `DEFAULT`.
    pub ssl_principal_mapping_rules: String,
    /// Failed authentications an address may make in a minute before its attempts are refused
    /// unchecked until the minute is over. Default 10; 0 = no limit.
    pub max_failed_authentications_per_minute: u32,
}

impl SecurityConfig {
    /// The authorizer in effect: the configured one, or by default `acl` when super users are
    /// named (the issue-10 contract) and `allow_all` otherwise.
    pub fn effective_authorizer(&self) -> &str {
        match self.authorizer.as_str() {
            "" if !self.super_users.is_empty() => "acl",
            "" => "allow_all",
            other => other,
        }
    }

    /// The super users as full principals (`User:admin`).
    pub fn super_principals(&self) -> Vec<String> {
        self.super_users
            .iter()
            .map(|u| {
                if u.contains(':') {
                    u.clone()
                } else {
                    format!("User:{u}")
                }
            })
            .collect()
    }
}

impl Default for SecurityConfig {
    fn default() -> Self {
        Self {
            authorizer: String::new(),
            sasl_mechanisms: Vec::new(),
            plain_users: Default::default(),
            super_users: Vec::new(),
            allow_everyone_if_no_acl_found: false,
            audit_log: String::new(),
            audit_log_max_bytes: 100 << 20,
            audit_log_files: 5,
            audit_topic: String::new(),
            failed_authentication_delay_ms: 100,
            connections_max_reauth_ms: 0,
            ssl_principal_mapping_rules: "DEFAULT".into(),
            max_failed_authentications_per_minute: 10,
        }
    }
}

impl BrokerConfig {
    /// The listeners to bind: `[[server.listeners]]`, or the single-listener form.
    pub fn listeners(&self) -> Vec<ListenerConfig> {
        if !self.server.listeners.is_empty() {
            return self.server.listeners.clone();
        }
        let sasl = !self.security.sasl_mechanisms.is_empty();
        let protocol = match (self.tls.is_set(), sasl) {
            (true, true) => SecurityProtocol::SaslSsl,
            (true, false) => SecurityProtocol::Ssl,
            (false, true) => SecurityProtocol::SaslPlaintext,
            (false, false) => SecurityProtocol::Plaintext,
        };
        vec![ListenerConfig {
            name: protocol.name().to_string(),
            listen: self.server.listen.clone(),
            advertised: self.server.advertised_listener.clone(),
            protocol,
        }]
    }

    pub(crate) fn validate_listeners(&self) -> Result<(), ConfigError> {
        let bad = |key: &'static str, value: String, reason: &'static str| {
            Err(ConfigError::Bounds { key, value, reason })
        };
        let listeners = self.listeners();
        let mut names = std::collections::BTreeSet::new();
        for l in &listeners {
            if l.name.is_empty()
                || !l
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return bad(
                    "server.listeners.name",
                    l.name.clone(),
                    "must be non-empty letters, digits, '_' or '-'",
                );
            }
            if !names.insert(l.name.to_ascii_uppercase()) {
                return bad("server.listeners.name", l.name.clone(), "must be unique");
            }
            if !l.listen.contains(':') {
                return bad(
                    "server.listeners.listen",
                    l.listen.clone(),
                    "must be HOST:PORT",
                );
            }
            if !l.advertised.is_empty() && !l.advertised.contains(':') {
                return bad(
                    "server.listeners.advertised",
                    l.advertised.clone(),
                    "must be HOST:PORT",
                );
            }
            if l.protocol.uses_sasl() && self.security.sasl_mechanisms.is_empty() {
                return bad(
                    "server.listeners.protocol",
                    l.protocol.name().to_string(),
                    "a SASL listener needs security.sasl_mechanisms",
                );
            }
            if l.protocol.uses_tls()
                && (self.tls.cert_file.as_os_str().is_empty()
                    || self.tls.key_file.as_os_str().is_empty())
            {
                return bad(
                    "tls.cert_file",
                    self.tls.cert_file.display().to_string(),
                    "an SSL listener needs tls.cert_file and tls.key_file",
                );
            }
        }
        for m in &self.security.sasl_mechanisms {
            if !matches!(m.as_str(), "PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512") {
                return bad(
                    "security.sasl_mechanisms",
                    m.clone(),
                    "must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
                );
            }
        }
        if self.security.audit_log_max_bytes < 4096 {
            return bad(
                "security.audit_log_max_bytes",
                self.security.audit_log_max_bytes.to_string(),
                "must be >= 4096",
            );
        }
        if self.security.failed_authentication_delay_ms > 10_000 {
            return bad(
                "security.failed_authentication_delay_ms",
                self.security.failed_authentication_delay_ms.to_string(),
                "must be 0..=10000",
            );
        }
        let t = &self.security.audit_topic;
        if t.len() > 249
            || t.chars()
                .any(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
            || t == "."
            || t == ".."
        {
            return bad(
                "security.audit_topic",
                t.clone(),
                "must be a valid topic name (ASCII letters, digits, '.', '_', '-'; at most 249)",
            );
        }
        if self.security.audit_log_files > 100 {
            return bad(
                "security.audit_log_files",
                self.security.audit_log_files.to_string(),
                "must be 0..=100",
            );
        }
        if !matches!(
            self.security.authorizer.as_str(),
            "" | "acl" | "allow_all" | "deny_all"
        ) {
            return bad(
                "security.authorizer",
                self.security.authorizer.clone(),
                "must be acl, allow_all or deny_all",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::BrokerConfig;

    use super::*;

    fn load(text: &str) -> Result<BrokerConfig, ConfigError> {
        let dir = tempfile::tempdir().map_err(|source| ConfigError::Read {
            path: PathBuf::new(),
            source,
        })?;
        let path = dir.path().join("oxbow.toml");
        std::fs::write(&path, text).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        BrokerConfig::load_with_env(Some(&path), Vec::new())
    }

    #[test]
    fn given_single_listen_when_no_listener_list_should_be_one_plaintext_listener() {
        let c = load("[server]\nlisten = \"127.0.0.1:9999\"\n").unwrap();
        let l = c.listeners();
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].name, "PLAINTEXT");
        assert_eq!(l[0].protocol, SecurityProtocol::Plaintext);
        assert_eq!(l[0].listen, "127.0.0.1:9999");
    }

    #[test]
    fn given_tls_section_when_single_listen_should_be_ssl() {
        let c = load("[tls]\ncert_file = \"a.pem\"\nkey_file = \"a.key\"\n").unwrap();
        assert_eq!(c.listeners()[0].protocol, SecurityProtocol::Ssl);
        assert_eq!(c.listeners()[0].name, "SSL");
    }

    #[test]
    fn given_listener_list_when_loaded_should_keep_each_protocol() {
        let c = load(
            "[[server.listeners]]\nname = \"LOCAL\"\nlisten = \"127.0.0.1:9092\"\n\
             [[server.listeners]]\nname = \"EXTERNAL\"\nlisten = \"0.0.0.0:9093\"\n\
             advertised = \"bus.example.com:9093\"\nprotocol = \"SSL\"\n\
             [tls]\ncert_file = \"a.pem\"\nkey_file = \"a.key\"\n",
        )
        .unwrap();
        let l = c.listeners();
        assert_eq!(l.len(), 2);
        assert_eq!(l[1].protocol, SecurityProtocol::Ssl);
        assert_eq!(l[1].advertised, "bus.example.com:9093");
    }

    #[test]
    fn given_bad_listeners_when_loaded_should_name_the_key() {
        let dup = "[[server.listeners]]\nname = \"A\"\nlisten = \"127.0.0.1:1\"\n\
                   [[server.listeners]]\nname = \"a\"\nlisten = \"127.0.0.1:2\"\n";
        assert!(load(dup)
            .unwrap_err()
            .to_string()
            .contains("server.listeners.name"));
        let ssl =
            "[[server.listeners]]\nname = \"S\"\nlisten = \"127.0.0.1:1\"\nprotocol = \"SSL\"\n";
        assert!(load(ssl).unwrap_err().to_string().contains("tls.cert_file"));
        let sasl =
            "[[server.listeners]]\nname = \"S\"\nlisten = \"127.0.0.1:1\"\nprotocol = \"SASL_PLAINTEXT\"\n";
        assert!(load(sasl)
            .unwrap_err()
            .to_string()
            .contains("sasl_mechanisms"));
        assert!(load("[security]\nsasl_mechanisms = [\"GSSAPI\"]\n").is_err());
        let ok = load(
            "[security]\nsasl_mechanisms = [\"PLAIN\"]\n[security.plain_users]\nalice = \"pw\"\n",
        )
        .unwrap();
        assert_eq!(ok.listeners()[0].protocol, SecurityProtocol::SaslPlaintext);
        let unknown = "[[server.listeners]]\nname = \"S\"\nlisten = \"127.0.0.1:1\"\nport = 3\n";
        assert!(load(unknown).is_err());
        assert!(load("[security]\nauthorizer = \"acl\"\n").is_ok());
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("pw");
        std::fs::write(&secret, "from-file\n").unwrap();
        let mut c: BrokerConfig = toml::from_str(&format!(
            "[security.plain_users]\na = \"${{env:OXBOW_TEST_PW}}\"\nb = \"${{file:{}}}\"\nc = \"plain\"\n",
            secret.display()
        ))
        .unwrap();
        c.resolve_secrets(|n| (n == "OXBOW_TEST_PW").then(|| "from-env".to_string()))
            .unwrap();
        assert_eq!(c.security.plain_users["a"], "from-env");
        assert_eq!(c.security.plain_users["b"], "from-file");
        assert_eq!(c.security.plain_users["c"], "plain");
        let mut missing: BrokerConfig =
            toml::from_str("[security.plain_users]\na = \"${env:NOPE}\"\n").unwrap();
        assert!(missing
            .resolve_secrets(|_| None)
            .unwrap_err()
            .to_string()
            .contains("security.plain_users.a"));
        let contract = load("[security]\nsuper_users = [\"admin\"]\n").unwrap();
        assert_eq!(contract.security.effective_authorizer(), "acl");
        assert_eq!(
            contract.security.super_principals(),
            vec!["User:admin".to_string()]
        );
        assert!(load("[security]\nauthorizer = \"bogus\"\n")
            .unwrap_err()
            .to_string()
            .contains("security.authorizer"));
    }
}
