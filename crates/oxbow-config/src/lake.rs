//! `[lake]`: topics landed in Delta tables (`[[lake.tables]]`).

use serde::{Deserialize, Serialize};

use crate::ConfigError;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LakeConfig {
    /// Where tables live (`<root>/<topic>` unless a table gives `path`): a directory, or
    /// `s3://bucket/prefix` on S3 or S3-compatible storage, reached with the AWS environment
    /// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT_URL`,
    /// `AWS_ALLOW_HTTP`). Default empty: `<storage.data_dir>/lake`.
    pub root: String,
    /// A table commit at least this often while records arrive (ms). Default 60000;
    /// 100..=86400000.
    pub flush_interval_ms: u64,
    /// A table commit as soon as this many records wait, whatever the interval. Default
    /// 100000; 1..=10000000.
    pub flush_max_records: usize,
    /// A partition's small files (under half the target size) are merged once it holds this
    /// many. Default 16; 0 never compacts, else 2..=10000.
    pub compaction_min_files: usize,
    /// The size compaction writes files up to. Default 134217728 (128 MiB); 1 MiB..=4 GiB.
    pub target_file_size_bytes: u64,
    /// Files no longer referenced by the table are deleted this long after their removal
    /// (readers of older versions need them until then). Default 604800000 (7 days, Delta's
    /// default); >= 0.
    pub vacuum_retention_ms: u64,
    /// The tables, one per topic.
    pub tables: Vec<LakeTableConfig>,
}

impl Default for LakeConfig {
    fn default() -> Self {
        Self {
            root: String::new(),
            flush_interval_ms: 60_000,
            flush_max_records: 100_000,
            compaction_min_files: 16,
            target_file_size_bytes: 128 << 20,
            vacuum_retention_ms: 7 * 24 * 3600 * 1000,
            tables: Vec::new(),
        }
    }
}

/// One `[[lake.tables]]` entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LakeTableConfig {
    /// The topic landed in the table (required); also the table's SQL name.
    pub topic: String,
    /// The table's directory or `s3://` location. Default empty: `<lake.root>/<topic>`.
    pub path: String,
    /// `append` (default): every record is a row; `upsert`: one row per key (`key`), changes
    /// applied through MERGE, deletes and tombstones remove the row.
    pub mode: String,
    /// Upsert tables: the primary key columns (required there, refused on append tables).
    pub key: Vec<String>,
    /// Upsert tables: how a record carries its change: `none` (default: the value is the row,
    /// a null value deletes the key), `debezium` (with or without the `schema`/`payload`
    /// wrapper; op c, r, u, d), `maxwell` or `canal` (JSON).
    pub envelope: String,
    /// How record values become columns: `json` (default: one column per top-level field,
    /// types inferred, new fields become new nullable columns; JSON Schema payloads in the
    /// registry's framing are read too), `avro` or `protobuf` (Confluent's framing, the
    /// writer's schema looked up by id in the schema registry, then columns as for JSON), or
    /// `raw` (the value as a `value` binary column; append tables only).
    pub value_format: String,
    /// Partition columns: `day` or `hour` of the record timestamp (UTC, `YYYY-MM-DD` /
    /// `YYYY-MM-DD-HH`), or a top-level value field (its value as text; missing: a null
    /// partition). Default none.
    pub partition_by: Vec<String>,
    /// What a record that cannot become a row does (not JSON/Avro/Protobuf, an unknown schema
    /// id, a field whose type conflicts with its column): `stop` (default: the table stops with
    /// the reason and resumes once fixed, nothing skipped) or `dead-letter` (the record goes,
    /// durably, to `dead_letter_topic` with the reason in its headers, and the table goes on).
    pub on_error: String,
    /// The dead-letter topic (created with one partition when first needed). Default empty:
    /// `<topic>.dead-letter`.
    pub dead_letter_topic: String,
}

impl Default for LakeTableConfig {
    fn default() -> Self {
        Self {
            topic: String::new(),
            path: String::new(),
            mode: "append".into(),
            key: Vec::new(),
            envelope: "none".into(),
            value_format: "json".into(),
            partition_by: Vec::new(),
            on_error: "stop".into(),
            dead_letter_topic: String::new(),
        }
    }
}

impl LakeTableConfig {
    /// Where bad records go (None: the table stops on them instead).
    pub fn dead_letter(&self) -> Option<String> {
        (self.on_error == "dead-letter").then(|| {
            if self.dead_letter_topic.is_empty() {
                format!("{}.dead-letter", self.topic)
            } else {
                self.dead_letter_topic.clone()
            }
        })
    }
}

impl LakeConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key, value: String, reason| Err(ConfigError::Bounds { key, value, reason });
        if !(100..=86_400_000).contains(&self.flush_interval_ms) {
            return bad(
                "lake.flush_interval_ms",
                self.flush_interval_ms.to_string(),
                "must be 100..=86400000",
            );
        }
        if !(1..=10_000_000).contains(&self.flush_max_records) {
            return bad(
                "lake.flush_max_records",
                self.flush_max_records.to_string(),
                "must be 1..=10000000",
            );
        }
        if self.compaction_min_files == 1 || self.compaction_min_files > 10_000 {
            return bad(
                "lake.compaction_min_files",
                self.compaction_min_files.to_string(),
                "must be 0 (never compact) or 2..=10000",
            );
        }
        if !((1 << 20)..=(4 << 30)).contains(&self.target_file_size_bytes) {
            return bad(
                "lake.target_file_size_bytes",
                self.target_file_size_bytes.to_string(),
                "must be 1048576..=4294967296",
            );
        }
        if let Some(bad_location) = std::iter::once(&self.root)
            .chain(self.tables.iter().map(|t| &t.path))
            .find(|l| !location_supported(l))
        {
            return bad(
                "lake.root",
                bad_location.clone(),
                "must be a local directory or s3://bucket/prefix (S3-compatible object storage)",
            );
        }
        let mut topics = std::collections::HashSet::new();
        for t in &self.tables {
            if t.topic.is_empty() {
                return bad(
                    "lake.tables.topic",
                    String::new(),
                    "every table needs a topic",
                );
            }
            if !topics.insert(&t.topic) {
                return bad(
                    "lake.tables.topic",
                    t.topic.clone(),
                    "a topic may be landed in one table only",
                );
            }
            match t.mode.as_str() {
                "append" => {
                    if !t.key.is_empty() {
                        return bad(
                            "lake.tables.key",
                            t.key.join(","),
                            "only upsert tables have a key",
                        );
                    }
                    if t.envelope != "none" {
                        return bad(
                            "lake.tables.envelope",
                            t.envelope.clone(),
                            "only upsert tables read change envelopes (mode = \"upsert\")",
                        );
                    }
                }
                "upsert" => {
                    if t.key.is_empty() || t.key.iter().any(|k| k.is_empty()) {
                        return bad(
                            "lake.tables.key",
                            t.key.join(","),
                            "an upsert table needs its key columns (key = [\"id\"])",
                        );
                    }
                    if let Some(k) = t.key.iter().find(|k| k.starts_with('_')) {
                        return bad(
                            "lake.tables.key",
                            k.clone(),
                            "key columns come from the record value (names starting with _ are Kafka's metadata columns)",
                        );
                    }
                    if !matches!(
                        t.envelope.as_str(),
                        "none" | "debezium" | "maxwell" | "canal"
                    ) {
                        return bad(
                            "lake.tables.envelope",
                            t.envelope.clone(),
                            "must be none, debezium, maxwell or canal",
                        );
                    }
                    if t.value_format == "raw" {
                        return bad(
                            "lake.tables.value_format",
                            t.value_format.clone(),
                            "upsert tables need columns: json, avro or protobuf",
                        );
                    }
                }
                other => {
                    return bad(
                        "lake.tables.mode",
                        other.to_string(),
                        "must be append or upsert",
                    )
                }
            }
            if !matches!(
                t.value_format.as_str(),
                "json" | "avro" | "protobuf" | "raw"
            ) {
                return bad(
                    "lake.tables.value_format",
                    t.value_format.clone(),
                    "must be json, avro, protobuf or raw",
                );
            }
            if !matches!(t.on_error.as_str(), "stop" | "dead-letter") {
                return bad(
                    "lake.tables.on_error",
                    t.on_error.clone(),
                    "must be stop or dead-letter",
                );
            }
            if !t.dead_letter_topic.is_empty() && t.on_error != "dead-letter" {
                return bad(
                    "lake.tables.dead_letter_topic",
                    t.dead_letter_topic.clone(),
                    "only with on_error = \"dead-letter\"",
                );
            }
            if t.dead_letter().as_deref() == Some(t.topic.as_str()) {
                return bad(
                    "lake.tables.dead_letter_topic",
                    t.dead_letter_topic.clone(),
                    "must not be the table's own topic",
                );
            }
            if let Some(p) = t
                .partition_by
                .iter()
                .find(|p| p.is_empty() || p.starts_with('_'))
            {
                return bad(
                    "lake.tables.partition_by",
                    p.clone(),
                    "must be day or hour (of the record timestamp) or a value field's name (names starting with _ are Kafka's metadata columns)",
                );
            }
        }
        Ok(())
    }
}

/// The URL schemes of object storage a lake location may name.
pub const OBJECT_STORE_SCHEMES: [&str; 2] = ["s3", "s3a"];

/// Whether `location` names object storage (`s3://...`) rather than a local directory.
pub fn is_object_store_location(location: &str) -> bool {
    location
        .split_once("://")
        .is_some_and(|(scheme, _)| OBJECT_STORE_SCHEMES.contains(&scheme))
}

/// A table location is a local path, or `s3://bucket[/prefix]` (also `s3a://`).
fn location_supported(location: &str) -> bool {
    match location.split_once("://") {
        None => true,
        Some((scheme, rest)) => {
            OBJECT_STORE_SCHEMES.contains(&scheme)
                && rest
                    .split('/')
                    .next()
                    .is_some_and(|bucket| !bucket.is_empty())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::location_supported;

    #[test]
    fn given_lake_locations_when_validated_should_take_directories_and_s3_buckets_only() {
        assert!(location_supported(""));
        assert!(location_supported("/var/lib/oxbow/lake"));
        assert!(location_supported("s3://lake/prefix"));
        assert!(location_supported("s3a://lake"));
        assert!(!location_supported("s3:///no-bucket"));
        assert!(!location_supported("gs://lake/prefix"));
        assert!(!location_supported("hdfs://nn/lake"));
    }
}
