//! Topic metadata: names, stable topic ids, partition counts and config overrides, persisted one
//! file per topic under `<data>/meta/topics/` (written crash-safely), with in-memory maps by name
//! and by id.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::partition::Partition;
use crate::producer_ids::write_atomically;

/// What is persisted about a topic.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TopicMeta {
    pub name: String,
    pub id: uuid::Uuid,
    pub partitions: i32,
    #[serde(default)]
    pub configs: BTreeMap<String, String>,
    #[serde(default)]
    pub created_ms: i64,
}

/// A live topic: its metadata and its partitions.
pub struct TopicState {
    pub meta: TopicMeta,
    pub partitions: Vec<Arc<Partition>>,
}

impl TopicState {
    pub fn is_internal(&self) -> bool {
        is_internal_name(&self.meta.name)
    }
}

/// Kafka's internal topics (`Topic.INTERNAL_TOPICS`): only these, not every name starting with
/// `__`, are flagged internal in Metadata and closed to clients' Produce requests.
pub fn is_internal_name(name: &str) -> bool {
    matches!(name, "__consumer_offsets" | "__transaction_state")
}

/// Longest topic name Kafka allows.
pub const MAX_NAME_LEN: usize = 249;

/// Checks a topic name the way Kafka does.
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("Topic name is illegal, it can't be empty".into());
    }
    if name == "." || name == ".." {
        return Err("Topic name cannot be \".\" or \"..\"".into());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!(
            "Topic name is illegal, it can't be longer than {MAX_NAME_LEN} characters"
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return Err(format!(
            "Topic name \"{name}\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        ));
    }
    Ok(())
}

/// `a.b` and `a_b` collide in metric names, so Kafka refuses the second.
pub fn collision_key(name: &str) -> String {
    name.replace('.', "_")
}

/// The in-memory topic maps and their files.
pub struct TopicRegistry {
    dir: PathBuf,
    by_name: RwLock<BTreeMap<String, Arc<TopicState>>>,
    by_id: RwLock<HashMap<uuid::Uuid, String>>,
    /// Bumped whenever a topic is created, changed or deleted.
    generation: AtomicU64,
}

impl TopicRegistry {
    /// Reads every persisted topic (without partitions: the broker attaches logs).
    pub fn load_meta(meta_dir: &Path) -> std::io::Result<(PathBuf, Vec<TopicMeta>)> {
        let dir = meta_dir.join("topics");
        std::fs::create_dir_all(&dir)?;
        let mut metas = Vec::new();
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                if path.extension().and_then(|e| e.to_str()) == Some("tmp") {
                    let _ = std::fs::remove_file(&path);
                }
                continue;
            }
            let text = std::fs::read_to_string(&path)?;
            let meta: TopicMeta = serde_json::from_str(&text).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            })?;
            metas.push(meta);
        }
        Ok((dir, metas))
    }

    pub fn new(dir: PathBuf, topics: Vec<TopicState>) -> Self {
        let by_id = topics
            .iter()
            .map(|t| (t.meta.id, t.meta.name.clone()))
            .collect();
        let by_name = topics
            .into_iter()
            .map(|t| (t.meta.name.clone(), Arc::new(t)))
            .collect();
        Self {
            dir,
            by_name: RwLock::new(by_name),
            by_id: RwLock::new(by_id),
            generation: AtomicU64::new(0),
        }
    }

    pub fn get(&self, name: &str) -> Option<Arc<TopicState>> {
        self.by_name.read().get(name).cloned()
    }

    pub fn get_by_id(&self, id: &uuid::Uuid) -> Option<Arc<TopicState>> {
        let name = self.by_id.read().get(id).cloned()?;
        self.get(&name)
    }

    /// Every topic, in name order.
    pub fn all(&self) -> Vec<Arc<TopicState>> {
        self.by_name.read().values().cloned().collect()
    }

    /// Changes whenever a topic is created, changed or deleted (cheap to compare).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The existing topic whose name collides with `name`, if any (other than `name` itself).
    pub fn colliding(&self, name: &str) -> Option<String> {
        let key = collision_key(name);
        self.by_name
            .read()
            .keys()
            .find(|n| n.as_str() != name && collision_key(n) == key)
            .cloned()
    }

    /// Persists `meta` and installs the state (create or replace).
    pub fn put(&self, state: TopicState) -> std::io::Result<Arc<TopicState>> {
        let text = serde_json::to_vec_pretty(&state.meta)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        write_atomically(&self.file(&state.meta.name), &text)?;
        let state = Arc::new(state);
        self.by_id
            .write()
            .insert(state.meta.id, state.meta.name.clone());
        self.by_name
            .write()
            .insert(state.meta.name.clone(), state.clone());
        self.generation.fetch_add(1, Ordering::AcqRel);
        Ok(state)
    }

    /// Forgets a topic and removes its file.
    pub fn remove(&self, name: &str) -> std::io::Result<Option<Arc<TopicState>>> {
        let removed = self.by_name.write().remove(name);
        if let Some(t) = &removed {
            self.generation.fetch_add(1, Ordering::AcqRel);
            self.by_id.write().remove(&t.meta.id);
            match std::fs::remove_file(self.file(name)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            std::fs::File::open(&self.dir)?.sync_all()?;
        }
        Ok(removed)
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_names_when_validating_should_follow_kafka_rules() {
        assert!(validate_name("orders.v1_x-2").is_ok());
        assert!(validate_name("").is_err());
        assert!(validate_name("..").is_err());
        assert!(validate_name("a b").is_err());
        assert!(validate_name(&"x".repeat(250)).is_err());
        assert_eq!(collision_key("a.b"), collision_key("a_b"));
    }
}
