//! The registry's operations over the index and the log: reads answer from the index; writes are
//! serialized, checked, appended to `_schemas`, awaited until durable and then applied to the
//! index, so a client reads its own writes at once and nothing answered is lost.

mod read;
mod settings;
mod write;

use std::sync::Arc;

use parking_lot::RwLock;
use serde::Deserialize;
use serde_json::Value;
use tracing::{info, warn};

use crate::compat::Level;
use crate::error::RegistryError;
use crate::log::SchemaLog;
use crate::records::{Key, Record, Reference, SchemaValue};
use crate::schema::{self, Checked};
use crate::store::Store;

pub use read::Deleted;
pub use settings::ConfigUpdate;
pub use write::Registered;

/// The body of POST /subjects/{s}/versions, POST /subjects/{s} and the compatibility checks.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaRequest {
    #[serde(default)]
    pub schema: String,
    #[serde(default)]
    pub schema_type: Option<String>,
    #[serde(default)]
    pub references: Option<Vec<Reference>>,
    #[serde(default)]
    pub metadata: Option<Value>,
    #[serde(default)]
    pub rule_set: Option<Value>,
    /// IMPORT mode: the id to register with.
    #[serde(default)]
    pub id: Option<i32>,
    /// IMPORT mode: the version to register as.
    #[serde(default)]
    pub version: Option<i32>,
}

impl SchemaRequest {
    pub fn schema_type(&self) -> String {
        self.schema_type
            .as_deref()
            .unwrap_or("AVRO")
            .to_ascii_uppercase()
    }

    pub fn references(&self) -> &[Reference] {
        self.references.as_deref().unwrap_or_default()
    }
}

/// A version in a path: a number or `latest` (also `-1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionSpec {
    Latest,
    Number(i32),
}

impl VersionSpec {
    pub fn parse(s: &str) -> Result<VersionSpec, RegistryError> {
        if s.eq_ignore_ascii_case("latest") || s == "-1" {
            return Ok(VersionSpec::Latest);
        }
        match s.parse::<i32>() {
            Ok(n) if n >= 1 => Ok(VersionSpec::Number(n)),
            _ => Err(RegistryError::InvalidVersion(s.to_string())),
        }
    }

    pub fn describe(self) -> String {
        match self {
            VersionSpec::Latest => "-1".into(),
            VersionSpec::Number(n) => n.to_string(),
        }
    }
}

pub struct Registry {
    store: RwLock<Store>,
    log: Arc<dyn SchemaLog>,
    /// One write at a time: checks, id allocation, append and apply happen together.
    writes: tokio::sync::Mutex<()>,
    default_level: Level,
}

impl Registry {
    /// Opens the registry: replays `_schemas` into the index.
    pub fn open(log: Arc<dyn SchemaLog>) -> Result<Registry, String> {
        let mut store = Store::default();
        let records = log.read_all()?;
        let (mut applied, mut unreadable) = (0usize, 0usize);
        for (key, value) in records {
            match Record::decode(&key, value.as_deref()) {
                Ok(r) => {
                    store.apply(r);
                    applied += 1;
                }
                Err(e) => {
                    unreadable += 1;
                    warn!(key = %String::from_utf8_lossy(&key), error = e, "_schemas: unreadable record skipped");
                }
            }
        }
        info!(
            records = applied,
            unreadable,
            subjects = store.subjects().count(),
            next_id = store.next_id(),
            "schema registry index rebuilt from _schemas"
        );
        Ok(Registry {
            store: RwLock::new(store),
            log,
            writes: tokio::sync::Mutex::new(()),
            default_level: Level::Backward,
        })
    }

    /// Appends records and applies them once durable.
    async fn commit(&self, records: Vec<(Key, Option<Vec<u8>>)>) -> Result<(), RegistryError> {
        let raw: Vec<(Vec<u8>, Option<Vec<u8>>)> = records
            .iter()
            .map(|(k, v)| (k.encode(), v.clone()))
            .collect();
        self.log
            .append(raw.clone())
            .await
            .map_err(RegistryError::Store)?;
        let mut store = self.store.write();
        for (key, value) in raw {
            match Record::decode(&key, value.as_deref()) {
                Ok(r) => store.apply(r),
                Err(e) => warn!(error = e, "a record just written does not decode"),
            }
        }
        Ok(())
    }

    /// The schemas `refs` name as (name, text), each after its own references (dependency
    /// order).
    fn resolve_references(
        &self,
        refs: &[Reference],
    ) -> Result<Vec<(String, String)>, RegistryError> {
        let store = self.store.read();
        let mut out = Vec::new();
        let mut seen = Vec::new();
        collect_references(&store, refs, 0, &mut out, &mut seen)?;
        Ok(out)
    }

    /// Parses a request's schema with its references.
    fn check_request(
        &self,
        req: &SchemaRequest,
        normalize: bool,
    ) -> Result<Checked, RegistryError> {
        let refs = self.resolve_references(req.references())?;
        schema::parse(&req.schema_type(), &req.schema, &refs, normalize)
    }

    /// The texts of the schemas a stored version references, each after its own references.
    pub fn reference_texts(&self, v: &SchemaValue) -> Result<Vec<String>, RegistryError> {
        Ok(self
            .resolve_references(&v.references)?
            .into_iter()
            .map(|(_, text)| text)
            .collect())
    }

    /// Parses a stored version (for the compatibility checks and `format=serialized`).
    pub fn parse_stored(&self, v: &SchemaValue) -> Result<Checked, RegistryError> {
        let refs = self.resolve_references(&v.references)?;
        schema::parse(v.schema_type(), &v.schema, &refs, false)
    }
}

fn collect_references(
    store: &Store,
    refs: &[Reference],
    depth: usize,
    out: &mut Vec<(String, String)>,
    seen: &mut Vec<(String, i32)>,
) -> Result<(), RegistryError> {
    if depth > 32 {
        return Err(RegistryError::InvalidSchema(
            "references nest too deeply".into(),
        ));
    }
    for r in refs {
        let missing = |what: &str| {
            RegistryError::InvalidSchema(format!(
                "reference {} to subject '{}' version {}: {what} not found",
                r.name, r.subject, r.version
            ))
        };
        let versions = store
            .versions(&r.subject)
            .ok_or_else(|| missing("subject"))?;
        let v = if r.version == -1 {
            versions.values().rev().find(|v| !v.deleted)
        } else {
            versions.get(&r.version)
        }
        .ok_or_else(|| missing("version"))?;
        let key = (v.subject.clone(), v.version);
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        collect_references(store, &v.references, depth + 1, out, seen)?;
        out.push((r.name.clone(), v.schema.clone()));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
