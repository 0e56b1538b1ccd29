//! The client quotas set with AlterClientQuotas, persisted in `<data>/meta/client-quotas.json`
//! (written crash-safely before the answer) and effective at once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use super::entity::{EntityName, QuotaEntity};
use crate::producer_ids::write_atomically;

/// The values set for one entity (`producer_byte_rate` → 1048576, ...).
pub type QuotaValues = BTreeMap<String, f64>;

#[derive(Serialize, Deserialize)]
struct StoredEntry {
    entity: QuotaEntity,
    values: QuotaValues,
}

/// One change of AlterClientQuotas: set `key` to `Some(value)`, or remove it.
pub type QuotaOp = (String, Option<f64>);

/// How DescribeClientQuotas matches one entity type.
#[derive(Debug, Clone, PartialEq)]
pub enum Match {
    /// The entity's name for the type is this one (match type 0).
    Exact(String),
    /// The entity is the type's default (match type 1).
    Default,
    /// Any name or the default, as long as the type is part of the entity (match type 2).
    Any,
}

/// Every client quota of the cluster.
pub struct QuotaStore {
    path: PathBuf,
    quotas: RwLock<BTreeMap<QuotaEntity, QuotaValues>>,
}

impl QuotaStore {
    /// Loads `meta/client-quotas.json` (none yet: no quotas).
    pub fn open(meta_dir: &Path) -> std::io::Result<Self> {
        let path = meta_dir.join("client-quotas.json");
        let entries: Vec<StoredEntry> = crate::producer_ids::read_json_or_default(&path)?;
        let quotas = entries
            .into_iter()
            .filter(|e| !e.values.is_empty())
            .map(|e| (e.entity, e.values))
            .collect();
        Ok(Self {
            path,
            quotas: RwLock::new(quotas),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.quotas.read().is_empty()
    }

    /// The value of `key` set for exactly `entity`.
    pub fn get(&self, entity: &QuotaEntity, key: &str) -> Option<f64> {
        self.quotas
            .read()
            .get(entity)
            .and_then(|v| v.get(key).copied())
    }

    /// Applies the changes of several entities at once; durable before it returns. Returns the
    /// values of each entity after the change.
    pub fn alter(
        &self,
        changes: &[(QuotaEntity, Vec<QuotaOp>)],
    ) -> std::io::Result<Vec<QuotaValues>> {
        let mut all = self.quotas.write();
        let mut next = all.clone();
        let mut after = Vec::with_capacity(changes.len());
        for (entity, ops) in changes {
            let values = next.entry(entity.clone()).or_default();
            for (key, value) in ops {
                match value {
                    Some(v) => {
                        values.insert(key.clone(), *v);
                    }
                    None => {
                        values.remove(key);
                    }
                }
            }
            after.push(values.clone());
            if values.is_empty() {
                next.remove(entity);
            }
        }
        if next != *all {
            self.persist(&next)?;
            *all = next;
        }
        Ok(after)
    }

    /// The entities DescribeClientQuotas asks for, with their values. `strict`: the entity has
    /// no types beyond those matched.
    pub fn describe(
        &self,
        user: Option<&Match>,
        client_id: Option<&Match>,
        strict: bool,
    ) -> Vec<(QuotaEntity, QuotaValues)> {
        fn fits(name: Option<&EntityName>, m: Option<&Match>, strict: bool) -> bool {
            match (m, name) {
                (None, None) => true,
                (None, Some(_)) => !strict,
                (Some(_), None) => false,
                (Some(Match::Any), Some(_)) => true,
                (Some(Match::Default), Some(n)) => *n == EntityName::Default,
                (Some(Match::Exact(want)), Some(n)) => *n == EntityName::Name(want.clone()),
            }
        }
        self.quotas
            .read()
            .iter()
            .filter(|(e, _)| {
                fits(e.user.as_ref(), user, strict) && fits(e.client_id.as_ref(), client_id, strict)
            })
            .map(|(e, v)| (e.clone(), v.clone()))
            .collect()
    }

    fn persist(&self, quotas: &BTreeMap<QuotaEntity, QuotaValues>) -> std::io::Result<()> {
        let entries: Vec<StoredEntry> = quotas
            .iter()
            .map(|(entity, values)| StoredEntry {
                entity: entity.clone(),
                values: values.clone(),
            })
            .collect();
        let json = serde_json::to_vec_pretty(&entries).map_err(std::io::Error::other)?;
        write_atomically(&self.path, &json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> QuotaEntity {
        QuotaEntity {
            user: Some(EntityName::Name(name.into())),
            client_id: None,
        }
    }

    #[test]
    fn given_quotas_when_reopening_should_keep_them_and_drop_emptied_entities() {
        let dir = tempfile::tempdir().unwrap();
        let store = QuotaStore::open(dir.path()).unwrap();
        let both = QuotaEntity {
            user: Some(EntityName::Default),
            client_id: Some(EntityName::Name("app".into())),
        };
        store
            .alter(&[
                (
                    user("alice"),
                    vec![("producer_byte_rate".into(), Some(1024.0))],
                ),
                (
                    both.clone(),
                    vec![("request_percentage".into(), Some(50.0))],
                ),
            ])
            .unwrap();
        store
            .alter(&[(both.clone(), vec![("request_percentage".into(), None)])])
            .unwrap();
        let again = QuotaStore::open(dir.path()).unwrap();
        assert_eq!(
            again.get(&user("alice"), "producer_byte_rate"),
            Some(1024.0)
        );
        assert_eq!(again.describe(None, None, false).len(), 1);
        assert!(again
            .describe(Some(&Match::Default), None, false)
            .is_empty());
        assert_eq!(
            again
                .describe(Some(&Match::Exact("alice".into())), None, true)
                .len(),
            1
        );
    }
}
