//! What every client subcommand shares: where the cluster is, librdkafka passthrough properties,
//! and small parsing helpers.

use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use clap::Args;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::FromClientConfig;
use rdkafka::ClientConfig;

/// How long admin operations and metadata look-ups may take before the command gives up.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

// Connection options common to `topic`, `produce` and `consume` (a plain comment: a doc comment
// here would become the about text of every command that flattens it).
#[derive(Args, Debug, Clone)]
pub struct ConnArgs {
    /// Bootstrap broker(s), `host:port[,host:port...]`.
    #[arg(long, short = 'b', default_value = "127.0.0.1:9092")]
    pub bootstrap: String,

    /// A librdkafka property, `key=value` (repeatable); applied after the command's own settings,
    /// so it can override them (e.g. `-X security.protocol=SASL_PLAINTEXT`).
    #[arg(short = 'X', value_name = "KEY=VALUE")]
    pub property: Vec<String>,

    /// Client properties in the Kafka tools' format (`key=value` lines, `#` comments), e.g.
    /// `security.protocol`, `sasl.mechanism` and `sasl.jaas.config` with PlainLoginModule's
    /// `username`/`password`; applied before `-X`.
    #[arg(long, value_name = "FILE")]
    pub command_config: Option<std::path::PathBuf>,
}

/// How raw admin requests authenticate (from `--command-config` and `-X`).
pub enum RawAuth {
    None,
    Plain { username: String, password: String },
}

impl ConnArgs {
    /// A client configuration with `bootstrap.servers`, the command's own `settings`, then
    /// `--command-config`, then `-X`.
    pub fn client_config(&self, settings: &[(&str, String)]) -> anyhow::Result<ClientConfig> {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap);
        config.set("client.id", "oxbow-cli");
        for (k, v) in settings {
            config.set(*k, v);
        }
        for (k, v) in self.properties()? {
            config.set(k, v);
        }
        Ok(config)
    }

    /// `--command-config` (Java's `sasl.jaas.config` turned into librdkafka's `sasl.username` and
    /// `sasl.password`), then `-X`.
    pub fn properties(&self) -> anyhow::Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        if let Some(path) = &self.command_config {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading --command-config {}", path.display()))?;
            for line in text.lines().map(str::trim) {
                if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
                    continue;
                }
                let (k, v) =
                    parse_key_value(line).with_context(|| format!("{}: {line}", path.display()))?;
                let (k, v) = (k.trim(), v.trim());
                if k == "sasl.jaas.config" {
                    for field in ["username", "password"] {
                        if let Some(value) = jaas_field(v, field) {
                            out.push((format!("sasl.{field}"), value));
                        }
                    }
                    continue;
                }
                out.push((k.to_string(), v.to_string()));
            }
        }
        for prop in &self.property {
            let (k, v) = parse_key_value(prop).with_context(|| format!("-X {prop}"))?;
            out.push((k.to_string(), v.to_string()));
        }
        Ok(out)
    }

    /// How the raw admin requests (`group`, `txn`, `acl`) authenticate.
    pub fn raw_auth(&self) -> anyhow::Result<RawAuth> {
        let props = self.properties()?;
        let get = |key: &str| {
            props
                .iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        let protocol = get("security.protocol")
            .unwrap_or_default()
            .to_ascii_uppercase();
        match protocol.as_str() {
            "" | "PLAINTEXT" => Ok(RawAuth::None),
            "SASL_PLAINTEXT" => {
                let mechanism = get("sasl.mechanism").unwrap_or_else(|| "PLAIN".into());
                if !mechanism.eq_ignore_ascii_case("PLAIN") {
                    bail!("this command authenticates with SASL PLAIN only (sasl.mechanism={mechanism})");
                }
                Ok(RawAuth::Plain {
                    username: get("sasl.username").context("sasl.username is not set")?,
                    password: get("sasl.password").context("sasl.password is not set")?,
                })
            }
            other => bail!("this command speaks PLAINTEXT or SASL_PLAINTEXT, not {other}"),
        }
    }

    /// An admin client for this cluster.
    pub fn admin(&self) -> anyhow::Result<AdminClient<DefaultClientContext>> {
        // Admin handles are producer-type in librdkafka, whose metadata requests would otherwise
        // ask the broker to auto-create the topic being described.
        let config = self.client_config(&[("allow.auto.create.topics", "false".to_string())])?;
        AdminClient::from_config(&config).context("creating admin client")
    }
}

/// `field="value"` out of a JAAS line (`... PlainLoginModule required username="a" password="b";`).
fn jaas_field(jaas: &str, field: &str) -> Option<String> {
    let start = jaas.find(&format!("{field}=\""))? + field.len() + 2;
    let rest = &jaas[start..];
    Some(rest[..rest.find('"')?].to_string())
}

/// Admin options with the CLI's request/operation timeouts.
pub fn admin_options() -> AdminOptions {
    AdminOptions::new()
        .request_timeout(Some(DEFAULT_TIMEOUT))
        .operation_timeout(Some(DEFAULT_TIMEOUT))
}

#[cfg(test)]
mod command_config_tests {
    use super::*;

    #[test]
    fn given_kafka_command_config_when_read_should_turn_jaas_into_librdkafka_properties() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("admin.properties");
        std::fs::write(
            &path,
            "# admin\nsecurity.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n\
             sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required \
             username=\"admin\" password=\"s3cret\";\n",
        )
        .unwrap();
        let conn = ConnArgs {
            bootstrap: "b:1".into(),
            property: vec!["client.id=x".into()],
            command_config: Some(path),
        };
        let props = conn.properties().unwrap();
        assert!(props.contains(&("sasl.username".into(), "admin".into())));
        assert!(props.contains(&("sasl.password".into(), "s3cret".into())));
        assert_eq!(props.last(), Some(&("client.id".into(), "x".into())));
        assert!(matches!(conn.raw_auth().unwrap(), RawAuth::Plain { .. }));
    }
}

/// Splits `key=value` at the first `=`; the key must not be empty.
pub fn parse_key_value(s: &str) -> anyhow::Result<(&str, &str)> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k, v)),
        _ => bail!("expected KEY=VALUE, got {s:?}"),
    }
}

/// Parses every `key=value` of a repeated option into owned pairs.
pub fn parse_key_values(items: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    items
        .iter()
        .map(|s| parse_key_value(s).map(|(k, v)| (k.to_string(), v.to_string())))
        .collect()
}

/// Interprets `\n`, `\t`, `\r`, `\0` and `\\` in a user-given separator or format string.
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('0') => out.push('\0'),
            Some('\\') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Lossy UTF-8 text of optional bytes.
pub fn text(bytes: Option<&[u8]>) -> Option<String> {
    bytes.map(|b| String::from_utf8_lossy(b).into_owned())
}

/// The partition ids of `topic` from cluster metadata, failing if the topic does not exist.
pub fn topic_partitions<C: rdkafka::ClientContext>(
    client: &rdkafka::client::Client<C>,
    topic: &str,
) -> anyhow::Result<Vec<i32>> {
    let metadata = client
        .fetch_metadata(Some(topic), DEFAULT_TIMEOUT)
        .with_context(|| format!("fetching metadata for topic {topic}"))?;
    let t = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .ok_or_else(|| anyhow!("topic {topic} not found in metadata"))?;
    if let Some(err) = t.error() {
        let code = rdkafka::types::RDKafkaErrorCode::from(err);
        bail!("topic {topic}: {code}");
    }
    let mut ids: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
    ids.sort_unstable();
    if ids.is_empty() {
        bail!("topic {topic} has no partitions");
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_key_value_when_parsing_should_split_at_first_equals() {
        assert_eq!(parse_key_value("a=b=c").unwrap(), ("a", "b=c"));
        assert_eq!(parse_key_value("a=").unwrap(), ("a", ""));
        assert!(parse_key_value("=b").is_err());
        assert!(parse_key_value("ab").is_err());
    }

    #[test]
    fn given_escapes_when_unescaping_should_translate_them() {
        assert_eq!(unescape(r"%k\t%v\n"), "%k\t%v\n");
        assert_eq!(unescape(r"a\\b\q"), "a\\b\\q");
    }
}

/// The HTTP client of the commands that speak to the broker's HTTP APIs (registry, lake status):
/// every status answered as a response (the caller reads Confluent's or our error body), 30 s
/// for the whole call.
pub fn http_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(30)))
        .build()
        .into()
}
