//! Registering and deleting schemas.

use tracing::info;

use super::{Registry, SchemaRequest, VersionSpec};
use crate::compat;
use crate::error::RegistryError;
use crate::records::{encode_value, DeleteSubjectValue, Key, SchemaValue};
use crate::store::Content;
use crate::subject;

/// What registering answered: the id (and the version, for callers that want it).
#[derive(Debug, Clone, PartialEq)]
pub struct Registered {
    pub id: i32,
    pub version: i32,
    /// False when the schema was already registered under the subject (nothing written).
    pub created: bool,
}

impl Registry {
    /// POST /subjects/{s}/versions.
    pub async fn register(
        &self,
        subject: &str,
        req: &SchemaRequest,
        normalize: bool,
    ) -> Result<Registered, RegistryError> {
        subject::validate(subject)?;
        let mode = self.effective_mode(subject);
        let import = mode == "IMPORT";
        if mode == "READONLY" || mode == "READONLY_OVERRIDE" {
            return Err(RegistryError::OperationNotPermitted(format!(
                "Subject {subject} is in read-only mode"
            )));
        }
        let given_id = req.id.filter(|id| *id >= 0);
        if given_id.is_some() && !import {
            return Err(RegistryError::OperationNotPermitted(format!(
                "Subject {subject} is not in import mode"
            )));
        }
        if given_id.is_none() && mode != "READWRITE" {
            return Err(RegistryError::OperationNotPermitted(format!(
                "Subject {subject} is not in read-write mode"
            )));
        }
        let normalize = normalize || self.effective_config(subject).normalize.unwrap_or(false);
        let checked = self.check_request(req, normalize)?;
        let schema_type = req.schema_type();
        let mut references = req.references().to_vec();
        references.sort();
        let content = Content {
            schema_type: schema_type.clone(),
            schema: checked.canonical.clone(),
            references: references.clone(),
        };

        let _writing = self.writes.lock().await;
        let (id, version, existing_live) = {
            let store = self.store.read();
            // Already registered (live) under this subject: the same id, nothing written.
            if let Some(v) = store
                .live(subject)
                .into_iter()
                .find(|v| Content::of(v) == content)
            {
                if given_id.is_none_or(|id| id == v.id) {
                    return Ok(Registered {
                        id: v.id,
                        version: v.version,
                        created: false,
                    });
                }
            }
            let id = match given_id {
                Some(id) => {
                    if let Some(other) = store.by_id(id) {
                        if *other != content {
                            return Err(RegistryError::OperationNotPermitted(format!(
                                "Overwrite new schema with id {id} is not permitted."
                            )));
                        }
                    }
                    id
                }
                None => store.id_of(&content).unwrap_or_else(|| store.next_id()),
            };
            let max = store
                .versions(subject)
                .and_then(|vs| vs.keys().next_back().copied())
                .unwrap_or(0);
            let version = match req.version.filter(|v| *v > 0) {
                Some(v) if import => v,
                Some(v) if v != max + 1 => {
                    return Err(RegistryError::InvalidSchema(format!(
                        "Version {v} is not one more than previous version {max}"
                    )))
                }
                _ => max + 1,
            };
            if import
                && store
                    .versions(subject)
                    .is_some_and(|vs| vs.contains_key(&version))
            {
                return Err(RegistryError::OperationNotPermitted(format!(
                    "Subject {subject} already has a version {version}"
                )));
            }
            let live: Vec<SchemaValue> = store.live(subject).into_iter().cloned().collect();
            (id, version, live)
        };
        if !import {
            let level = self.effective_level(subject);
            // Only the versions the level compares against are parsed.
            let against: &[SchemaValue] = match level {
                compat::Level::None => &[],
                l if l.transitive() => &existing_live,
                _ => existing_live
                    .last()
                    .map(std::slice::from_ref)
                    .unwrap_or_default(),
            };
            let mut olds = Vec::with_capacity(against.len());
            for v in against {
                olds.push(self.parse_stored(v)?.parsed);
            }
            let messages = compat::check(level, &checked.parsed, &olds);
            if !messages.is_empty() {
                let mut details = messages;
                details.push(format!(
                    "{{validateFields: 'false', compatibility: '{}'}}",
                    level.name()
                ));
                return Err(RegistryError::Incompatible {
                    subject: subject.to_string(),
                    details,
                });
            }
        }
        let value = SchemaValue {
            subject: subject.to_string(),
            version,
            id,
            schema_type: (schema_type != "AVRO").then_some(schema_type),
            references,
            metadata: req.metadata.clone(),
            rule_set: req.rule_set.clone(),
            schema: checked.canonical,
            deleted: false,
        };
        self.commit(vec![(
            Key::Schema {
                subject: subject.to_string(),
                version,
            },
            Some(encode_value(&value)),
        )])
        .await?;
        info!(subject, version, id, "schema registered");
        Ok(Registered {
            id,
            version,
            created: true,
        })
    }

    fn refuse_in_read_only(&self, subject: &str) -> Result<(), RegistryError> {
        let mode = self.effective_mode(subject);
        if mode == "READONLY" || mode == "READONLY_OVERRIDE" {
            return Err(RegistryError::OperationNotPermitted(format!(
                "Subject {subject} is in read-only mode"
            )));
        }
        Ok(())
    }

    /// Refuses deleting (subject, version) while another schema refers to it.
    fn refuse_if_referenced(&self, subject: &str, version: i32) -> Result<(), RegistryError> {
        if !self.store.read().referenced_by(subject, version).is_empty() {
            return Err(RegistryError::ReferenceExists(subject.to_string(), version));
        }
        Ok(())
    }

    /// Tombstones of the subject's config and mode, if set (a deleted subject forgets them).
    fn settings_tombstones(&self, subject: &str) -> Vec<(Key, Option<Vec<u8>>)> {
        let store = self.store.read();
        let mut out = Vec::new();
        if store.config(Some(subject)).is_some() {
            out.push((
                Key::Config {
                    subject: Some(subject.to_string()),
                },
                None,
            ));
        }
        if store.mode(Some(subject)).is_some() {
            out.push((
                Key::Mode {
                    subject: Some(subject.to_string()),
                },
                None,
            ));
        }
        out
    }

    /// DELETE /subjects/{s}: soft (the versions stay readable by id), or `permanent` after a
    /// soft delete. Returns the versions deleted.
    pub async fn delete_subject(
        &self,
        subject: &str,
        permanent: bool,
    ) -> Result<Vec<i32>, RegistryError> {
        self.refuse_in_read_only(subject)?;
        let _writing = self.writes.lock().await;
        let (all, live): (Vec<i32>, Vec<i32>) = {
            let store = self.store.read();
            let versions = store
                .versions(subject)
                .ok_or_else(|| RegistryError::SubjectNotFound(subject.to_string()))?;
            (
                versions.keys().copied().collect(),
                versions
                    .values()
                    .filter(|v| !v.deleted)
                    .map(|v| v.version)
                    .collect(),
            )
        };
        if permanent {
            if !live.is_empty() {
                return Err(RegistryError::SubjectNotSoftDeleted(subject.to_string()));
            }
            for v in &all {
                self.refuse_if_referenced(subject, *v)?;
            }
            let mut records: Vec<(Key, Option<Vec<u8>>)> = all
                .iter()
                .map(|v| {
                    (
                        Key::Schema {
                            subject: subject.to_string(),
                            version: *v,
                        },
                        None,
                    )
                })
                .collect();
            records.extend(self.settings_tombstones(subject));
            self.commit(records).await?;
            info!(subject, versions = ?all, "subject deleted permanently");
            return Ok(all);
        }
        let Some(&max) = live.last() else {
            return Err(RegistryError::SubjectSoftDeleted(subject.to_string()));
        };
        for v in &live {
            self.refuse_if_referenced(subject, *v)?;
        }
        let mut records = vec![(
            Key::DeleteSubject {
                subject: subject.to_string(),
            },
            Some(encode_value(&DeleteSubjectValue {
                subject: subject.to_string(),
                version: max,
            })),
        )];
        records.extend(self.settings_tombstones(subject));
        self.commit(records).await?;
        info!(subject, versions = ?live, "subject soft-deleted");
        Ok(live)
    }

    /// DELETE /subjects/{s}/versions/{v}: soft, or `permanent` after a soft delete.
    pub async fn delete_version(
        &self,
        subject: &str,
        version: VersionSpec,
        permanent: bool,
    ) -> Result<i32, RegistryError> {
        self.refuse_in_read_only(subject)?;
        let _writing = self.writes.lock().await;
        let (value, live_left) = {
            let store = self.store.read();
            let versions = store
                .versions(subject)
                .ok_or_else(|| RegistryError::SubjectNotFound(subject.to_string()))?;
            let v = match version {
                VersionSpec::Number(n) => versions.get(&n),
                VersionSpec::Latest if permanent => versions.values().next_back(),
                VersionSpec::Latest => versions.values().rev().find(|v| !v.deleted),
            }
            .ok_or_else(|| RegistryError::VersionNotFound(version.describe()))?;
            let live_left = versions
                .values()
                .filter(|x| !x.deleted && x.version != v.version)
                .count();
            (v.clone(), live_left)
        };
        self.refuse_if_referenced(subject, value.version)?;
        let key = Key::Schema {
            subject: subject.to_string(),
            version: value.version,
        };
        let mut records = Vec::new();
        if permanent {
            if !value.deleted {
                return Err(RegistryError::VersionNotSoftDeleted(
                    subject.to_string(),
                    value.version,
                ));
            }
            records.push((key, None));
        } else {
            if value.deleted {
                return Err(RegistryError::VersionSoftDeleted(
                    subject.to_string(),
                    value.version,
                ));
            }
            let mut deleted = value.clone();
            deleted.deleted = true;
            records.push((key, Some(encode_value(&deleted))));
            if live_left == 0 {
                records.extend(self.settings_tombstones(subject));
            }
        }
        self.commit(records).await?;
        info!(
            subject,
            version = value.version,
            permanent,
            "schema version deleted"
        );
        Ok(value.version)
    }
}
