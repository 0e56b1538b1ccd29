//! `OXBOW_<SECTION>_<KEY>` environment overrides, applied onto the parsed TOML table.

use crate::ConfigError;

const SECTIONS: &[&str] = &[
    "server",
    "storage",
    "log",
    "group",
    "transaction",
    "tls",
    "security",
    "quota",
    "registry",
    "http",
    "alerts",
    "lake",
    "sql",
];

/// Variables under `OXBOW_` that are not config overrides (`OXBOW_REGISTRY_URL` is the CLI's).
const IGNORED: &[&str] = &["OXBOW_BIN", "OXBOW_LOG_LEVEL", "OXBOW_REGISTRY_URL"];
/// A prefix reserved for the test harnesses (`OXBOW_TEST_TIMEOUT_SECS`, ...).
const IGNORED_PREFIX: &str = "OXBOW_TEST_";

pub(crate) fn apply_overrides(
    table: &mut toml::Table,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    for (var, raw) in vars {
        let Some(rest) = var.strip_prefix("OXBOW_") else {
            continue;
        };
        if IGNORED.contains(&var.as_str()) || var.starts_with(IGNORED_PREFIX) {
            continue;
        }
        let lower = rest.to_ascii_lowercase();
        let Some((section, key)) = SECTIONS.iter().find_map(|s| {
            lower
                .strip_prefix(s)
                .and_then(|k| k.strip_prefix('_'))
                .map(|k| (*s, k))
        }) else {
            return Err(ConfigError::Env {
                var,
                reason: format!("unknown section (expected one of {})", SECTIONS.join(", ")),
            });
        };
        let entry = table
            .entry(section.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let toml::Value::Table(section_table) = entry else {
            return Err(ConfigError::Env {
                var,
                reason: format!("[{section}] is not a table"),
            });
        };
        section_table.insert(key.to_string(), parse_scalar(&raw));
    }
    Ok(())
}

/// Environment values are untyped: read them as TOML scalars where they parse, else as strings.
fn parse_scalar(raw: &str) -> toml::Value {
    if let Ok(i) = raw.parse::<i64>() {
        return toml::Value::Integer(i);
    }
    if let Ok(b) = raw.parse::<bool>() {
        return toml::Value::Boolean(b);
    }
    toml::Value::String(raw.to_string())
}
