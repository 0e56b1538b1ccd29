//! Reading: versions, subjects, schemas by id, look-ups and compatibility checks.

use super::{Registry, SchemaRequest, VersionSpec};
use crate::compat;
use crate::error::RegistryError;
use crate::records::SchemaValue;
use crate::store::Content;
use crate::subject;

/// Which versions a listing includes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Deleted {
    /// Live versions only.
    #[default]
    Exclude,
    /// Live and soft-deleted.
    Include,
    /// Soft-deleted only.
    Only,
}

impl Deleted {
    pub fn from_flags(deleted: bool, deleted_only: bool) -> Self {
        if deleted_only {
            Deleted::Only
        } else if deleted {
            Deleted::Include
        } else {
            Deleted::Exclude
        }
    }

    fn keeps(self, v: &SchemaValue) -> bool {
        match self {
            Deleted::Exclude => !v.deleted,
            Deleted::Include => true,
            Deleted::Only => v.deleted,
        }
    }
}

impl Registry {
    /// GET /subjects.
    pub fn subjects(&self, prefix: &str, deleted: Deleted) -> Vec<String> {
        self.store
            .read()
            .subjects()
            .filter(|(s, _)| subject::matches_prefix(s, prefix))
            .filter(|(_, vs)| vs.values().any(|v| deleted.keeps(v)))
            .map(|(s, _)| s.clone())
            .collect()
    }

    /// GET /subjects/{s}/versions.
    pub fn versions(&self, subject: &str, deleted: Deleted) -> Result<Vec<i32>, RegistryError> {
        let store = self.store.read();
        let out: Vec<i32> = store
            .versions(subject)
            .map(|vs| {
                vs.values()
                    .filter(|v| deleted.keeps(v))
                    .map(|v| v.version)
                    .collect()
            })
            .unwrap_or_default();
        if out.is_empty() {
            return Err(RegistryError::SubjectNotFound(subject.to_string()));
        }
        Ok(out)
    }

    /// GET /subjects/{s}/versions/{v}: `latest` is the newest live version; `deleted` lets a
    /// soft-deleted version be read.
    pub fn version(
        &self,
        subject: &str,
        version: VersionSpec,
        deleted: bool,
    ) -> Result<SchemaValue, RegistryError> {
        let store = self.store.read();
        let filter = if deleted {
            Deleted::Include
        } else {
            Deleted::Exclude
        };
        let versions = store
            .versions(subject)
            .filter(|vs| vs.values().any(|v| filter.keeps(v)))
            .ok_or_else(|| RegistryError::SubjectNotFound(subject.to_string()))?;
        let found = match version {
            VersionSpec::Latest => versions.values().rev().find(|v| filter.keeps(v)),
            VersionSpec::Number(n) => versions.get(&n).filter(|v| filter.keeps(v)),
        };
        found
            .cloned()
            .ok_or_else(|| RegistryError::VersionNotFound(version.describe()))
    }

    /// GET /subjects/{s}/versions/{v}/referencedby: ids of the schemas referring to it.
    pub fn referenced_by(
        &self,
        subject: &str,
        version: VersionSpec,
    ) -> Result<Vec<i32>, RegistryError> {
        let v = self.version(subject, version, true)?;
        let store = self.store.read();
        let mut ids: Vec<i32> = store
            .referenced_by(subject, v.version)
            .into_iter()
            .map(|x| x.id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }

    /// GET /schemas/ids/{id}.
    pub fn schema_by_id(&self, id: i32) -> Result<(Content, SchemaValue), RegistryError> {
        let store = self.store.read();
        let content = store
            .by_id(id)
            .cloned()
            .ok_or_else(|| RegistryError::SchemaNotFound(id.to_string()))?;
        let first = store
            .uses_of(id)
            .into_iter()
            .min_by_key(|v| (v.deleted, v.subject.clone(), v.version))
            .cloned()
            .ok_or_else(|| RegistryError::SchemaNotFound(id.to_string()))?;
        Ok((content, first))
    }

    /// GET /schemas/ids/{id}/versions: (subject, version) pairs using the id.
    pub fn uses_of(&self, id: i32, deleted: bool) -> Result<Vec<(String, i32)>, RegistryError> {
        let store = self.store.read();
        if store.by_id(id).is_none() {
            return Err(RegistryError::SchemaNotFound(id.to_string()));
        }
        let mut out: Vec<(String, i32)> = store
            .uses_of(id)
            .into_iter()
            .filter(|v| deleted || !v.deleted)
            .map(|v| (v.subject.clone(), v.version))
            .collect();
        out.sort();
        Ok(out)
    }

    /// GET /schemas: the versions of subjects under `prefix` (only the latest with
    /// `latest_only`).
    pub fn all_schemas(&self, prefix: &str, deleted: bool, latest_only: bool) -> Vec<SchemaValue> {
        let store = self.store.read();
        let filter = if deleted {
            Deleted::Include
        } else {
            Deleted::Exclude
        };
        let mut out = Vec::new();
        for (s, vs) in store.subjects() {
            if !subject::matches_prefix(s, prefix) {
                continue;
            }
            let kept: Vec<&SchemaValue> = vs.values().filter(|v| filter.keeps(v)).collect();
            if latest_only {
                out.extend(kept.last().map(|v| (*v).clone()));
            } else {
                out.extend(kept.into_iter().cloned());
            }
        }
        out
    }

    /// POST /subjects/{s}: the version of the subject holding this schema.
    pub fn lookup(
        &self,
        subject: &str,
        req: &SchemaRequest,
        normalize: bool,
        deleted: bool,
    ) -> Result<SchemaValue, RegistryError> {
        if self.store.read().versions(subject).is_none() {
            return Err(RegistryError::SubjectNotFound(subject.to_string()));
        }
        let normalize = normalize || self.effective_config(subject).normalize.unwrap_or(false);
        let checked = self.check_request(req, normalize)?;
        let mut references = req.references().to_vec();
        references.sort();
        let content = Content {
            schema_type: req.schema_type(),
            schema: checked.canonical,
            references,
        };
        let store = self.store.read();
        store
            .versions(subject)
            .into_iter()
            .flat_map(|vs| vs.values())
            .filter(|v| deleted || !v.deleted)
            .find(|v| Content::of(v) == content)
            .cloned()
            .ok_or_else(|| RegistryError::SchemaNotFound("".into()))
    }

    /// POST /compatibility/subjects/{s}/versions[/{v}]: `None` checks against the versions the
    /// subject's level names (all live ones for a transitive level, else the latest).
    pub fn check_compatibility(
        &self,
        subject: &str,
        version: Option<VersionSpec>,
        req: &SchemaRequest,
        normalize: bool,
    ) -> Result<(bool, Vec<String>), RegistryError> {
        let level = self.effective_level(subject);
        let against: Vec<SchemaValue> = match version {
            None => {
                let store = self.store.read();
                let live = store.live(subject);
                if level.transitive() {
                    live.into_iter().cloned().collect()
                } else {
                    live.last().map(|v| (*v).clone()).into_iter().collect()
                }
            }
            Some(spec) => match self.version(subject, spec, false) {
                Ok(v) => vec![v],
                Err(RegistryError::SubjectNotFound(_)) if spec == VersionSpec::Latest => Vec::new(),
                Err(RegistryError::SubjectNotFound(_)) => {
                    return Err(RegistryError::VersionNotFound(spec.describe()))
                }
                Err(e) => return Err(e),
            },
        };
        let checked = self.check_request(req, normalize)?;
        let mut olds = Vec::with_capacity(against.len());
        for v in &against {
            olds.push(self.parse_stored(v)?.parsed);
        }
        let mut messages = compat::check(level, &checked.parsed, &olds);
        let ok = messages.is_empty();
        if !ok {
            messages.push(format!(
                "{{validateFields: 'false', compatibility: '{}'}}",
                level.name()
            ));
        }
        Ok((ok, messages))
    }

    /// A version's schema text in the `format` asked: `serialized` gives a PROTOBUF schema as its
    /// base64 `FileDescriptorProto` (what confluent-kafka's Python deserializer asks for); any
    /// other format the stored text.
    pub fn formatted(
        &self,
        v: &SchemaValue,
        format: Option<&str>,
    ) -> Result<String, RegistryError> {
        if format == Some("serialized") && v.schema_type() == "PROTOBUF" {
            if let crate::schema::Parsed::Protobuf(p) = self.parse_stored(v)?.parsed {
                return Ok(crate::schema::protobuf::serialized(&p));
            }
        }
        Ok(v.schema.clone())
    }

    /// The record name of the schema `id` (for the record-name subject strategies): an Avro
    /// schema's named root, a Protobuf schema's first message, a JSON schema's `title`.
    pub fn record_name(&self, id: i32) -> Option<String> {
        let (_, v) = self.schema_by_id(id).ok()?;
        match self.parse_stored(&v).ok()?.parsed {
            crate::schema::Parsed::Avro(a) => match a.root {
                crate::schema::avro::Avro::Named(n) => Some(n),
                _ => None,
            },
            crate::schema::Parsed::Protobuf(p) => {
                let m = p.file.message_type.first()?;
                Some(match p.file.package() {
                    "" => m.name().to_string(),
                    pkg => format!("{pkg}.{}", m.name()),
                })
            }
            crate::schema::Parsed::Json(j) => j.get("title")?.as_str().map(String::from),
        }
    }

    /// The largest id allocated so far.
    pub fn max_id(&self) -> i32 {
        self.store.read().next_id() - 1
    }

    /// GET /contexts.
    pub fn contexts(&self) -> Vec<String> {
        self.store.read().contexts()
    }
}
