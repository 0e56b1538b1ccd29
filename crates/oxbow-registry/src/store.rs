//! The in-memory index of the `_schemas` topic, rebuilt by replaying it at start and updated by
//! every record the registry writes (after it is durable): versions per subject (soft-deleted
//! ones kept), schemas by id, ids by content, configs and modes.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::records::{ConfigValue, Key, Record, Reference, SchemaValue};

/// What an id stands for: the schema text, its type and references.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Content {
    pub schema_type: String,
    pub schema: String,
    pub references: Vec<Reference>,
}

impl Content {
    pub fn of(v: &SchemaValue) -> Self {
        Self {
            schema_type: v.schema_type().to_string(),
            schema: v.schema.clone(),
            references: v.references.clone(),
        }
    }
}

#[derive(Default)]
pub struct Store {
    /// subject → version → the version (soft-deleted ones included).
    subjects: BTreeMap<String, BTreeMap<i32, SchemaValue>>,
    by_id: HashMap<i32, Content>,
    by_content: HashMap<Content, i32>,
    /// id → the (subject, version) pairs using it.
    uses: HashMap<i32, BTreeSet<(String, i32)>>,
    /// `None`: global; `Some(":.ctx:")`: a context; `Some(subject)`.
    configs: HashMap<Option<String>, ConfigValue>,
    modes: HashMap<Option<String>, String>,
    max_id: i32,
}

impl Store {
    /// Applies one record of the topic (replay, or a write that is durable).
    pub fn apply(&mut self, record: Record) {
        match record {
            Record::Schema(Key::Schema { subject, version }, value) => {
                match value {
                    Some(v) => {
                        let content = Content::of(&v);
                        if let Some(existing) = self.by_id.get(&v.id) {
                            if *existing != content {
                                tracing::warn!(id = v.id, subject, version, "_schemas: a record reuses an id for a different schema; ignored");
                                return;
                            }
                        }
                        self.max_id = self.max_id.max(v.id);
                        self.by_id.insert(v.id, content.clone());
                        self.by_content.entry(content).or_insert(v.id);
                        let id = v.id;
                        self.uses
                            .entry(id)
                            .or_default()
                            .insert((subject.clone(), version));
                        let replaced = self
                            .subjects
                            .entry(subject.clone())
                            .or_default()
                            .insert(version, v);
                        // A version re-written with another id no longer uses the old one.
                        if let Some(old) = replaced.filter(|o| o.id != id) {
                            if let Some(u) = self.uses.get_mut(&old.id) {
                                u.remove(&(subject.clone(), version));
                            }
                            self.forget_id_if_unused(old.id);
                        }
                    }
                    None => {
                        let removed = self
                            .subjects
                            .get_mut(&subject)
                            .and_then(|vs| vs.remove(&version));
                        if self.subjects.get(&subject).is_some_and(BTreeMap::is_empty) {
                            self.subjects.remove(&subject);
                        }
                        if let Some(v) = removed {
                            if let Some(u) = self.uses.get_mut(&v.id) {
                                u.remove(&(subject.clone(), version));
                            }
                            self.forget_id_if_unused(v.id);
                        }
                    }
                }
            }
            Record::Schema(..) => {}
            Record::Config(subject, value) => match value {
                Some(v) => {
                    self.configs.insert(subject, v);
                }
                None => {
                    self.configs.remove(&subject);
                }
            },
            Record::Mode(subject, value) => match value {
                Some(v) => {
                    self.modes.insert(subject, v.mode.to_ascii_uppercase());
                }
                None => {
                    self.modes.remove(&subject);
                }
            },
            Record::DeleteSubject(Some(d)) => {
                if let Some(vs) = self.subjects.get_mut(&d.subject) {
                    for (_, v) in vs.range_mut(..=d.version) {
                        v.deleted = true;
                    }
                }
            }
            Record::ClearSubject(Some(c)) => {
                let doomed: Vec<(String, i32)> = self
                    .subjects
                    .iter()
                    .filter(|(s, _)| s.starts_with(&c.subject))
                    .flat_map(|(s, vs)| {
                        vs.iter()
                            .filter(|(_, v)| v.deleted)
                            .map(move |(n, _)| (s.clone(), *n))
                    })
                    .collect();
                for (subject, version) in doomed {
                    self.apply(Record::Schema(Key::Schema { subject, version }, None));
                }
            }
            Record::DeleteSubject(None) | Record::ClearSubject(None) | Record::Ignored => {}
        }
    }

    fn forget_id_if_unused(&mut self, id: i32) {
        if self.uses.get(&id).is_some_and(|u| !u.is_empty()) {
            return;
        }
        self.uses.remove(&id);
        if let Some(content) = self.by_id.remove(&id) {
            if self.by_content.get(&content) == Some(&id) {
                self.by_content.remove(&content);
            }
        }
    }

    /// The next id to allocate (max seen + 1, as Confluent's id generator).
    pub fn next_id(&self) -> i32 {
        self.max_id.saturating_add(1)
    }

    pub fn id_of(&self, content: &Content) -> Option<i32> {
        self.by_content.get(content).copied()
    }

    pub fn by_id(&self, id: i32) -> Option<&Content> {
        self.by_id.get(&id)
    }

    /// The versions of a subject, soft-deleted ones included.
    pub fn versions(&self, subject: &str) -> Option<&BTreeMap<i32, SchemaValue>> {
        self.subjects.get(subject)
    }

    /// The live (not soft-deleted) versions of a subject, oldest first.
    pub fn live(&self, subject: &str) -> Vec<&SchemaValue> {
        self.subjects
            .get(subject)
            .map(|vs| vs.values().filter(|v| !v.deleted).collect())
            .unwrap_or_default()
    }

    pub fn subjects(&self) -> impl Iterator<Item = (&String, &BTreeMap<i32, SchemaValue>)> {
        self.subjects.iter()
    }

    /// Every version that refers to `subject` at `version`.
    pub fn referenced_by(&self, subject: &str, version: i32) -> Vec<&SchemaValue> {
        self.subjects
            .values()
            .flat_map(|vs| vs.values())
            .filter(|v| {
                v.references
                    .iter()
                    .any(|r| r.subject == subject && r.version == version)
            })
            .collect()
    }

    /// Every (subject, version) using `id`.
    pub fn uses_of(&self, id: i32) -> Vec<&SchemaValue> {
        self.uses
            .get(&id)
            .into_iter()
            .flatten()
            .filter_map(|(s, v)| self.subjects.get(s).and_then(|vs| vs.get(v)))
            .collect()
    }

    pub fn config(&self, scope: Option<&str>) -> Option<&ConfigValue> {
        self.configs.get(&scope.map(str::to_string))
    }

    pub fn mode(&self, scope: Option<&str>) -> Option<&str> {
        self.modes
            .get(&scope.map(str::to_string))
            .map(String::as_str)
    }

    /// Contexts in use: `.` first, then each `.ctx` of a qualified subject.
    pub fn contexts(&self) -> Vec<String> {
        let mut out = vec![".".to_string()];
        for s in self.subjects.keys() {
            if let Some(c) = crate::subject::context_of(s) {
                let name = c.trim_matches(':').to_string();
                if !out.contains(&name) {
                    out.push(name);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::DeleteSubjectValue;

    fn schema(subject: &str, version: i32, id: i32, text: &str) -> Record {
        Record::Schema(
            Key::Schema {
                subject: subject.into(),
                version,
            },
            Some(SchemaValue {
                subject: subject.into(),
                version,
                id,
                schema_type: None,
                references: vec![],
                metadata: None,
                rule_set: None,
                schema: text.into(),
                deleted: false,
            }),
        )
    }

    #[test]
    fn given_records_when_replaying_should_index_ids_versions_and_deletes() {
        let mut s = Store::default();
        s.apply(schema("a", 1, 1, "\"string\""));
        s.apply(schema("b", 1, 1, "\"string\""));
        s.apply(schema("a", 2, 2, "\"long\""));
        assert_eq!(s.next_id(), 3);
        assert_eq!(s.uses_of(1).len(), 2);
        // A record reusing id 2 for another schema is refused.
        s.apply(schema("c", 1, 2, "\"int\""));
        assert!(s.versions("c").is_none());
        s.apply(Record::DeleteSubject(Some(DeleteSubjectValue {
            subject: "a".into(),
            version: 2,
        })));
        assert!(s.live("a").is_empty());
        assert_eq!(s.versions("a").map(|v| v.len()), Some(2));
        // Permanent delete of a/2: id 2 is gone; id 1 stays (b uses it).
        s.apply(Record::Schema(
            Key::Schema {
                subject: "a".into(),
                version: 2,
            },
            None,
        ));
        assert!(s.by_id(2).is_none());
        s.apply(Record::Schema(
            Key::Schema {
                subject: "a".into(),
                version: 1,
            },
            None,
        ));
        assert!(s.by_id(1).is_some());
        assert!(s.versions("a").is_none());
    }
}
