//! What a table is ([`TableSpec`]: its topic, directory, value format, partitioning and mode)
//! and how its records become rows — the one decoding the sink writes and SQL's live tail shows.
//! Append tables: every record is a row. Upsert tables: every record's changes (see [`cdc`]),
//! reduced to the last change per key, each row marked as a write or a delete.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{BooleanArray, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use indexmap::IndexMap;
use oxbow_config::LakeConfig;
use serde_json::Value;

use crate::cdc::{self, Change, Envelope};
use crate::decode::{self, DecodeError, RegisteredValues, Row, ValueFormat, ValueReader};
use crate::source::SourceRecord;

/// The column that marks a change as a delete in the rows an upsert table merges (never stored).
pub const DELETED: &str = "__oxbow_deleted";

#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    Append,
    Upsert {
        key: Vec<String>,
        envelope: Envelope,
    },
}

/// One `[[lake.tables]]` entry, resolved.
#[derive(Debug, Clone)]
pub struct TableSpec {
    pub topic: String,
    pub path: PathBuf,
    pub values: ValueReader,
    pub partition_by: Vec<String>,
    pub mode: Mode,
    /// Where records that cannot become rows go (None: the table stops on them).
    pub dead_letter: Option<String>,
}

/// Where tables live: `lake.root`, or `<data_dir>/lake`.
pub fn root(config: &LakeConfig, data_dir: &Path) -> PathBuf {
    if config.root.is_empty() {
        data_dir.join("lake")
    } else {
        PathBuf::from(&config.root)
    }
}

/// Every configured table; `registry` reads values framed by the schema registry (None: the
/// registry is off, and avro/protobuf tables stop with that reason).
pub fn specs(
    config: &LakeConfig,
    data_dir: &Path,
    registry: Option<Arc<dyn RegisteredValues>>,
) -> Vec<TableSpec> {
    let root = root(config, data_dir);
    config
        .tables
        .iter()
        .map(|t| TableSpec {
            topic: t.topic.clone(),
            path: if t.path.is_empty() {
                root.join(&t.topic)
            } else {
                PathBuf::from(&t.path)
            },
            values: ValueReader {
                format: ValueFormat::parse(&t.value_format),
                registry: registry.clone(),
            },
            partition_by: t.partition_by.clone(),
            dead_letter: t.dead_letter(),
            mode: match t.mode.as_str() {
                "upsert" => Mode::Upsert {
                    key: t.key.clone(),
                    envelope: Envelope::parse(&t.envelope),
                },
                _ => Mode::Append,
            },
        })
        .collect()
}

/// Records decoded into rows.
pub struct Decoded<'a> {
    pub rows: Vec<Row<'a>>,
    /// The rows' JSON objects (None for raw tables).
    pub values: Option<Vec<Value>>,
    /// Upsert tables: whether each row deletes its key.
    pub deleted: Option<Vec<bool>>,
}

impl TableSpec {
    /// The columns a new table starts with.
    pub fn base_fields(&self) -> Vec<Field> {
        decode::base_fields(self.values.format, &self.partition_by)
    }

    pub fn key(&self) -> &[String] {
        match &self.mode {
            Mode::Upsert { key, .. } => key,
            Mode::Append => &[],
        }
    }

    /// The rows `records` make: all of them (append), or the last change of each key (upsert).
    pub fn decode<'a>(
        &self,
        records: &'a [(i32, SourceRecord)],
    ) -> Result<Decoded<'a>, DecodeError> {
        match &self.mode {
            Mode::Append => {
                let rows: Vec<Row<'a>> = records.iter().map(|(p, r)| (*p, r)).collect();
                let values = match self.values.format {
                    ValueFormat::Raw => None,
                    _ => Some(decode::json_values(&self.values, &rows)?),
                };
                Ok(Decoded {
                    rows,
                    values,
                    deleted: None,
                })
            }
            Mode::Upsert { key, envelope } => {
                let mut last: IndexMap<String, (Row<'a>, Change)> = IndexMap::new();
                for (p, r) in records {
                    let value = self.values.object(*p, r)?;
                    for change in cdc::changes(*envelope, key, *p, r, value)? {
                        let Some(id) = cdc::key_identity(key, change.row()) else {
                            return Err(DecodeError::NotAnObject {
                                partition: *p,
                                offset: r.offset,
                                reason: format!(
                                    "a change without key column(s) {}",
                                    key.join(", ")
                                ),
                            });
                        };
                        last.insert(id, ((*p, r), change));
                    }
                }
                let mut rows = Vec::with_capacity(last.len());
                let mut values = Vec::with_capacity(last.len());
                let mut deleted = Vec::with_capacity(last.len());
                for (_, (row, change)) in last {
                    rows.push(row);
                    deleted.push(matches!(change, Change::Delete(_)));
                    values.push(match change {
                        Change::Upsert(o) => Value::Object(o),
                        Change::Delete(o) => Value::Object(
                            key.iter()
                                .filter_map(|k| o.get(k).map(|v| (k.clone(), v.clone())))
                                .collect(),
                        ),
                    });
                }
                Ok(Decoded {
                    rows,
                    values: Some(values),
                    deleted: Some(deleted),
                })
            }
        }
    }

    /// Columns the decoded rows bring that `schema` lacks (nullable, types inferred).
    pub fn new_fields(&self, schema: &Schema, d: &Decoded<'_>) -> Result<Vec<Field>, DecodeError> {
        match &d.values {
            Some(values) => decode::new_fields(schema, values, &self.partition_by),
            None => Ok(Vec::new()),
        }
    }

    /// The decoded rows as a batch of `schema` (the table's columns); upsert tables' rows also
    /// carry [`DELETED`] as the last column.
    pub fn batch(&self, schema: &SchemaRef, d: &Decoded<'_>) -> Result<RecordBatch, DecodeError> {
        let batch = decode::to_batch(
            schema,
            &self.topic,
            &d.rows,
            d.values.as_deref(),
            &self.partition_by,
        )?;
        let Some(deleted) = &d.deleted else {
            return Ok(batch);
        };
        let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.push(Field::new(DELETED, DataType::Boolean, false));
        let mut columns = batch.columns().to_vec();
        columns.push(Arc::new(BooleanArray::from(deleted.clone())));
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
            .map_err(|e| DecodeError::Columns(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn rec(offset: i64, key: &str, value: Option<&str>) -> (i32, SourceRecord) {
        (
            0,
            SourceRecord {
                offset,
                timestamp: 0,
                key: Some(Bytes::from(key.to_string())),
                value: value.map(|v| Bytes::from(v.to_string())),
            },
        )
    }

    #[test]
    fn given_many_changes_per_key_when_decoded_should_keep_the_last_of_each() {
        let spec = TableSpec {
            topic: "accounts".into(),
            path: PathBuf::new(),
            values: ValueReader::json(),
            partition_by: Vec::new(),
            dead_letter: None,
            mode: Mode::Upsert {
                key: vec!["id".into()],
                envelope: Envelope::None,
            },
        };
        let records = [
            rec(0, "1", Some(r#"{"id":1,"v":"a"}"#)),
            rec(1, "2", Some(r#"{"id":2,"v":"b"}"#)),
            rec(2, "1", Some(r#"{"id":1,"v":"c"}"#)),
            rec(3, "2", None),
        ];
        let d = spec.decode(&records).unwrap();
        assert_eq!(d.rows.len(), 2);
        assert_eq!(d.deleted, Some(vec![false, true]));
        let values = d.values.as_ref().unwrap();
        assert_eq!(values[0]["v"], "c");
        assert_eq!(d.rows[0].1.offset, 2);
        assert_eq!(values[1], serde_json::json!({"id": 2}));
        let mut fields = spec.base_fields();
        fields.extend(spec.new_fields(&Schema::new(fields.clone()), &d).unwrap());
        let batch = spec.batch(&Arc::new(Schema::new(fields)), &d).unwrap();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(batch.schema().fields().last().unwrap().name(), DELETED);
        let bad = [rec(0, "", Some(r#"{"v":1}"#))];
        let spec2 = TableSpec {
            mode: Mode::Upsert {
                key: vec!["id".into(), "other".into()],
                envelope: Envelope::None,
            },
            ..spec
        };
        assert!(spec2.decode(&bad).is_err());
    }
}
