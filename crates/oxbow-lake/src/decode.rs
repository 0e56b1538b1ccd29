//! Records to Arrow rows: the value's columns (JSON: one per top-level field, types inferred
//! from the records; raw: the value bytes), Kafka's metadata columns (`_topic`, `_partition`,
//! `_offset`, `_timestamp`, `_key`) and the partition columns derived from the timestamp
//! (`day`, `hour`, UTC).

use std::sync::Arc;

use arrow_array::builder::{BinaryBuilder, StringBuilder};
use arrow_array::{
    ArrayRef, Int32Array, Int64Array, RecordBatch, RecordBatchOptions, StringArray,
    TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use serde_json::Value;

use crate::source::SourceRecord;

pub const TOPIC: &str = "_topic";
pub const PARTITION: &str = "_partition";
pub const OFFSET: &str = "_offset";
pub const TIMESTAMP: &str = "_timestamp";
pub const KEY: &str = "_key";
/// The column of a `raw` table.
pub const VALUE: &str = "value";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueFormat {
    /// JSON text, or JSON Schema payloads in the registry's framing.
    Json,
    /// Avro in the registry's framing (schemas by id).
    Avro,
    /// Protobuf in the registry's framing (schemas by id, message indexes).
    Protobuf,
    /// The value bytes as they are.
    Raw,
}

impl ValueFormat {
    pub fn parse(name: &str) -> ValueFormat {
        match name {
            "raw" => ValueFormat::Raw,
            "avro" => ValueFormat::Avro,
            "protobuf" => ValueFormat::Protobuf,
            _ => ValueFormat::Json,
        }
    }
}

/// Values framed by the schema registry (Confluent's serializers: magic byte 0, schema id),
/// read as JSON with their writer's schema. The binary implements it over the registry.
pub trait RegisteredValues: Send + Sync + 'static {
    fn to_json(&self, payload: &[u8]) -> Result<Value, String>;
}

/// How a table reads its records' values: the format and, for framed payloads, the registry.
#[derive(Clone)]
pub struct ValueReader {
    pub format: ValueFormat,
    pub registry: Option<Arc<dyn RegisteredValues>>,
}

impl std::fmt::Debug for ValueReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValueReader")
            .field("format", &self.format)
            .field("registry", &self.registry.is_some())
            .finish()
    }
}

impl ValueReader {
    pub fn json() -> Self {
        ValueReader {
            format: ValueFormat::Json,
            registry: None,
        }
    }

    /// A record's value as a JSON object (None: a tombstone).
    pub fn object(
        &self,
        partition: i32,
        r: &SourceRecord,
    ) -> Result<Option<serde_json::Map<String, Value>>, DecodeError> {
        let Some(bytes) = &r.value else {
            return Ok(None);
        };
        let bad = |reason: String| DecodeError::NotAnObject {
            partition,
            offset: r.offset,
            reason,
        };
        let framed = bytes.first() == Some(&0);
        let value = match (self.format, &self.registry) {
            (ValueFormat::Json, Some(registry)) if framed => {
                registry.to_json(bytes).map_err(bad)?
            }
            (ValueFormat::Json, _) => {
                serde_json::from_slice::<Value>(bytes).map_err(|e| bad(e.to_string()))?
            }
            (ValueFormat::Avro | ValueFormat::Protobuf, Some(registry)) => {
                registry.to_json(bytes).map_err(bad)?
            }
            (ValueFormat::Avro | ValueFormat::Protobuf, None) => {
                return Err(bad(
                    "avro and protobuf values need the schema registry (registry.enabled)".into(),
                ))
            }
            (ValueFormat::Raw, _) => return Err(bad("a raw table has no value columns".into())),
        };
        match value {
            Value::Object(o) => Ok(Some(o)),
            other => Err(bad(format!("found {}", kind(&other)))),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DecodeError {
    #[error(
        "record at partition {partition} offset {offset} does not decode into a row: {reason}"
    )]
    NotAnObject {
        partition: i32,
        offset: i64,
        reason: String,
    },
    #[error("records do not fit the table's columns: {0}")]
    Columns(String),
}

/// One record and the partition it came from.
pub type Row<'a> = (i32, &'a SourceRecord);

/// The columns every table starts with: the metadata columns and the partition columns (and,
/// for raw tables, the value).
pub fn base_fields(format: ValueFormat, partition_by: &[String]) -> Vec<Field> {
    let mut fields = Vec::new();
    if format == ValueFormat::Raw {
        fields.push(Field::new(VALUE, DataType::Binary, true));
    }
    fields.extend([
        Field::new(TOPIC, DataType::Utf8, false),
        Field::new(PARTITION, DataType::Int32, false),
        Field::new(OFFSET, DataType::Int64, false),
        Field::new(
            TIMESTAMP,
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new(KEY, DataType::Utf8, true),
    ]);
    for p in partition_by {
        // day/hour always have a value; a value field's may be missing (a null partition).
        fields.push(Field::new(p, DataType::Utf8, !is_time_bucket(p)));
    }
    fields
}

/// Partition columns taken from the record timestamp rather than from a value field.
pub fn is_time_bucket(name: &str) -> bool {
    matches!(name, "day" | "hour")
}

fn is_reserved(name: &str, partition_by: &[String]) -> bool {
    matches!(name, TOPIC | PARTITION | OFFSET | TIMESTAMP | KEY)
        || partition_by.iter().any(|p| p == name)
}

/// The JSON objects of the rows' values (a null value, a tombstone, is an empty object).
pub fn json_values(reader: &ValueReader, rows: &[Row<'_>]) -> Result<Vec<Value>, DecodeError> {
    rows.iter()
        .map(|(partition, r)| {
            Ok(Value::Object(
                reader.object(*partition, r)?.unwrap_or_default(),
            ))
        })
        .collect()
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Top-level fields of `values` that `schema` lacks, as nullable columns with types inferred
/// from the values (a field only ever null becomes a string column).
pub fn new_fields(
    schema: &Schema,
    values: &[Value],
    partition_by: &[String],
) -> Result<Vec<Field>, DecodeError> {
    let has_new = values.iter().any(|v| {
        v.as_object().is_some_and(|o| {
            o.keys()
                .any(|k| schema.field_with_name(k).is_err() && !is_reserved(k, partition_by))
        })
    });
    if !has_new {
        return Ok(Vec::new());
    }
    let inferred = arrow_json::reader::infer_json_schema_from_iterator(values.iter().map(Ok))
        .map_err(|e| DecodeError::Columns(e.to_string()))?;
    Ok(inferred
        .fields()
        .iter()
        .filter(|f| {
            schema.field_with_name(f.name()).is_err() && !is_reserved(f.name(), partition_by)
        })
        .map(|f| Field::new(f.name(), storable(f.data_type()), true))
        .collect())
}

/// A type Delta can store: Null (a field never seen with a value) becomes Utf8.
fn storable(dt: &DataType) -> DataType {
    match dt {
        DataType::Null => DataType::Utf8,
        DataType::List(f) => DataType::List(Arc::new(Field::new(
            f.name(),
            storable(f.data_type()),
            true,
        ))),
        DataType::Struct(fields) => DataType::Struct(Fields::from(
            fields
                .iter()
                .map(|f| Field::new(f.name(), storable(f.data_type()), true))
                .collect::<Vec<_>>(),
        )),
        other => other.clone(),
    }
}

/// The rows as a batch of `schema` (the table's columns, in the table's order).
pub fn to_batch(
    schema: &SchemaRef,
    topic: &str,
    rows: &[Row<'_>],
    values: Option<&[Value]>,
    partition_by: &[String],
) -> Result<RecordBatch, DecodeError> {
    let raw = values.is_none();
    let user: Vec<Field> = schema
        .fields()
        .iter()
        .filter(|f| !is_reserved(f.name(), partition_by) && !(raw && f.name() == VALUE))
        .map(|f| f.as_ref().clone())
        .collect();
    let user_batch = match values {
        Some(values) if !user.is_empty() => {
            let user_schema = Arc::new(Schema::new(user));
            let mut decoder = arrow_json::ReaderBuilder::new(user_schema)
                .with_batch_size(values.len().max(1))
                .build_decoder()
                .map_err(|e| DecodeError::Columns(e.to_string()))?;
            decoder
                .serialize(values)
                .map_err(|e| DecodeError::Columns(e.to_string()))?;
            decoder
                .flush()
                .map_err(|e| DecodeError::Columns(e.to_string()))?
        }
        _ => None,
    };
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for f in schema.fields() {
        let name = f.name().as_str();
        let partition_column = partition_by.iter().any(|p| p == name);
        let col: ArrayRef = match name {
            TOPIC => Arc::new(StringArray::from(vec![topic; rows.len()])),
            PARTITION => Arc::new(Int32Array::from_iter_values(rows.iter().map(|(p, _)| *p))),
            OFFSET => Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|(_, r)| r.offset),
            )),
            TIMESTAMP => Arc::new(
                TimestampMicrosecondArray::from_iter_values(
                    rows.iter().map(|(_, r)| r.timestamp.saturating_mul(1000)),
                )
                .with_timezone("UTC"),
            ),
            KEY => {
                let mut b = StringBuilder::new();
                for (_, r) in rows {
                    match &r.key {
                        Some(k) => b.append_value(String::from_utf8_lossy(k)),
                        None => b.append_null(),
                    }
                }
                Arc::new(b.finish())
            }
            "day" | "hour" if partition_column => {
                let hour = name == "hour";
                Arc::new(StringArray::from_iter_values(
                    rows.iter().map(|(_, r)| time_bucket(r.timestamp, hour)),
                ))
            }
            _ if partition_column => {
                // A value field as the partition value (strings as they are, other JSON as
                // its text; missing or null: a null partition).
                let mut b = StringBuilder::new();
                for i in 0..rows.len() {
                    match values.and_then(|v| v.get(i)).and_then(|v| v.get(name)) {
                        None | Some(Value::Null) => b.append_null(),
                        Some(Value::String(s)) => b.append_value(s),
                        Some(other) => b.append_value(other.to_string()),
                    }
                }
                Arc::new(b.finish())
            }
            VALUE if raw => {
                let mut b = BinaryBuilder::new();
                for (_, r) in rows {
                    match &r.value {
                        Some(v) => b.append_value(v),
                        None => b.append_null(),
                    }
                }
                Arc::new(b.finish())
            }
            name => match user_batch.as_ref().and_then(|b| b.column_by_name(name)) {
                Some(c) => c.clone(),
                None => arrow_array::new_null_array(f.data_type(), rows.len()),
            },
        };
        columns.push(col);
    }
    let opts = RecordBatchOptions::new().with_row_count(Some(rows.len()));
    RecordBatch::try_new_with_options(schema.clone(), columns, &opts)
        .map_err(|e| DecodeError::Columns(e.to_string()))
}

/// `YYYY-MM-DD` (or `YYYY-MM-DD-HH`) of a timestamp in ms, UTC.
pub fn time_bucket(ts_ms: i64, hour: bool) -> String {
    let t = chrono::DateTime::from_timestamp_millis(ts_ms).unwrap_or_default();
    t.format(if hour { "%Y-%m-%d-%H" } else { "%Y-%m-%d" })
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn rec(offset: i64, value: &str) -> SourceRecord {
        SourceRecord {
            offset,
            timestamp: 1_767_225_600_000 + offset * 3_600_000, // 2026-01-01T00:00Z + offset hours
            key: Some(Bytes::from(format!("k{offset}"))),
            value: Some(Bytes::from(value.to_string())),
        }
    }

    #[test]
    fn given_timestamps_when_bucketed_should_give_utc_days_and_hours() {
        assert_eq!(time_bucket(0, false), "1970-01-01");
        assert_eq!(time_bucket(1_767_225_600_000, true), "2026-01-01-00");
        assert_eq!(time_bucket(1_767_225_600_000 - 1, true), "2025-12-31-23");
        assert_eq!(time_bucket(951_782_400_000, false), "2000-02-29");
    }

    #[test]
    fn given_json_records_when_decoded_should_infer_columns_and_add_metadata() {
        let records = [
            rec(0, r#"{"id":1,"name":"a"}"#),
            rec(1, r#"{"id":2,"amount":2.5,"n":null}"#),
        ];
        let rows: Vec<Row<'_>> = records.iter().map(|r| (3, r)).collect();
        let values = json_values(&ValueReader::json(), &rows).unwrap();
        let day = vec!["day".to_string()];
        let partition_by = day.clone();
        let base = Schema::new(base_fields(ValueFormat::Json, &day));
        let mut fields = base_fields(ValueFormat::Json, &day);
        let added = new_fields(&base, &values, &day).unwrap();
        let names: Vec<&str> = added.iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["id", "name", "amount", "n"]);
        assert_eq!(added[3].data_type(), &DataType::Utf8);
        fields.extend(added);
        let schema = Arc::new(Schema::new(fields));
        let batch = to_batch(&schema, "orders", &rows, Some(&values), &partition_by).unwrap();
        assert_eq!(batch.num_rows(), 2);
        let col = |n: &str| batch.column_by_name(n).unwrap().clone();
        let ids = col("id");
        let ids = ids.as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(ids.values(), &[1, 2]);
        let days = col("day");
        let days = days.as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(days.value(1), "2026-01-01");
        assert_eq!(col("name").null_count(), 1);
        let parts = col(PARTITION);
        assert_eq!(
            parts
                .as_any()
                .downcast_ref::<Int32Array>()
                .unwrap()
                .value(0),
            3
        );
        // Nothing new the second time.
        assert!(new_fields(&schema, &values, &["day".into()])
            .unwrap()
            .is_empty());
    }

    #[test]
    fn given_a_value_that_is_not_an_object_or_not_the_columns_type_should_say_which_record() {
        let records = [rec(0, r#"{"id":1}"#), rec(7, "[1,2]")];
        let rows: Vec<Row<'_>> = records.iter().map(|r| (0, r)).collect();
        let err = json_values(&ValueReader::json(), &rows).unwrap_err();
        assert!(err.to_string().contains("partition 0 offset 7"), "{err}");
        let bad = [rec(0, r#"{"id":"not a number"}"#)];
        let rows: Vec<Row<'_>> = bad.iter().map(|r| (0, r)).collect();
        let values = json_values(&ValueReader::json(), &rows).unwrap();
        let mut fields = base_fields(ValueFormat::Json, &[]);
        fields.push(Field::new("id", DataType::Int64, true));
        let err = to_batch(
            &Arc::new(Schema::new(fields)),
            "t",
            &rows,
            Some(&values),
            &[],
        )
        .unwrap_err();
        assert!(matches!(err, DecodeError::Columns(_)), "{err}");
    }
}
