//! Change-data-capture envelopes: what one record of an upsert table's topic changes. A record
//! is a row to write (insert, update, snapshot read) or a key to delete; a record that is no
//! change of a row (a schema change, a truncate, a Maxwell bootstrap marker) changes nothing.
//!
//! - `none`: the value is the row; a null value (a tombstone) deletes the record key's row.
//! - `debezium`: `{"before", "after", "op", ...}`, optionally wrapped as
//!   `{"schema": ..., "payload": {...}}`; op `c`/`r`/`u` write `after`, `d` deletes `before`'s
//!   key (or the record key's); a tombstone deletes the record key's row.
//! - `maxwell`: `{"type": "insert" | "update" | "delete" | "bootstrap-insert", "data": {...}}`.
//! - `canal` (canal-json): `{"type": "INSERT" | "UPDATE" | "DELETE", "data": [{...}],
//!   "isDdl": false, "sqlType": {...}}`; values, sent as strings, are typed by `sqlType`
//!   (JDBC type codes: integers, floating point, booleans; decimals stay strings, exactly).

use serde_json::{Map, Value};

use crate::decode::DecodeError;
use crate::source::SourceRecord;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Envelope {
    None,
    Debezium,
    Maxwell,
    Canal,
}

impl Envelope {
    pub fn parse(name: &str) -> Envelope {
        match name {
            "debezium" => Envelope::Debezium,
            "maxwell" => Envelope::Maxwell,
            "canal" => Envelope::Canal,
            _ => Envelope::None,
        }
    }
}

/// One change to one row.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Write this row (insert or replace the row with its key).
    Upsert(Map<String, Value>),
    /// Delete the row with this key (the object holds at least the key columns).
    Delete(Map<String, Value>),
}

impl Change {
    pub fn row(&self) -> &Map<String, Value> {
        match self {
            Change::Upsert(r) | Change::Delete(r) => r,
        }
    }
}

fn bad(partition: i32, r: &SourceRecord, reason: impl Into<String>) -> DecodeError {
    DecodeError::NotAnObject {
        partition,
        offset: r.offset,
        reason: reason.into(),
    }
}

/// The changes one record makes.
pub fn changes(
    envelope: Envelope,
    key: &[String],
    partition: i32,
    r: &SourceRecord,
    value: Option<Map<String, Value>>,
) -> Result<Vec<Change>, DecodeError> {
    let Some(obj) = value else {
        // A tombstone: delete the record key's row (none without a key).
        return Ok(record_key(key, r).into_iter().map(Change::Delete).collect());
    };
    match envelope {
        Envelope::None => Ok(vec![Change::Upsert(obj)]),
        Envelope::Debezium => debezium(obj, key, partition, r),
        Envelope::Maxwell => maxwell(obj, partition, r),
        Envelope::Canal => canal(obj, partition, r),
    }
}

fn debezium(
    mut obj: Map<String, Value>,
    key: &[String],
    partition: i32,
    r: &SourceRecord,
) -> Result<Vec<Change>, DecodeError> {
    if obj.contains_key("schema") && obj.contains_key("payload") {
        match obj.remove("payload") {
            Some(Value::Object(p)) => obj = p,
            Some(Value::Null) | None => {
                return Ok(record_key(key, r).into_iter().map(Change::Delete).collect())
            }
            Some(_) => return Err(bad(partition, r, "Debezium payload is not an object")),
        }
    }
    let op = match obj.get("op") {
        Some(Value::String(op)) => op.clone(),
        _ => return Err(bad(partition, r, "not a Debezium change event (no \"op\")")),
    };
    let object = |name: &str| match obj.get(name) {
        Some(Value::Object(o)) => Some(o.clone()),
        _ => None,
    };
    match op.as_str() {
        "c" | "r" | "u" => match object("after") {
            Some(after) => Ok(vec![Change::Upsert(after)]),
            None => Err(bad(
                partition,
                r,
                format!("Debezium op {op} without \"after\""),
            )),
        },
        "d" => match object("before").or_else(|| record_key(key, r)) {
            Some(before) => Ok(vec![Change::Delete(before)]),
            None => Err(bad(
                partition,
                r,
                "Debezium delete without \"before\" or a record key",
            )),
        },
        // Truncate and messages (op t, m) change no row by key.
        _ => Ok(Vec::new()),
    }
}

fn maxwell(
    obj: Map<String, Value>,
    partition: i32,
    r: &SourceRecord,
) -> Result<Vec<Change>, DecodeError> {
    let kind = match obj.get("type") {
        Some(Value::String(t)) => t.as_str(),
        _ => return Err(bad(partition, r, "not a Maxwell event (no \"type\")")),
    };
    let data = match obj.get("data") {
        Some(Value::Object(d)) => d.clone(),
        _ if kind.starts_with("bootstrap-") && kind != "bootstrap-insert" => return Ok(Vec::new()),
        _ => {
            return Err(bad(
                partition,
                r,
                format!("Maxwell {kind} without \"data\""),
            ))
        }
    };
    Ok(match kind {
        "insert" | "update" | "bootstrap-insert" => vec![Change::Upsert(data)],
        "delete" => vec![Change::Delete(data)],
        _ => Vec::new(),
    })
}

fn canal(
    obj: Map<String, Value>,
    partition: i32,
    r: &SourceRecord,
) -> Result<Vec<Change>, DecodeError> {
    if obj.get("isDdl").and_then(Value::as_bool) == Some(true) {
        return Ok(Vec::new());
    }
    let kind = match obj.get("type") {
        Some(Value::String(t)) => t.to_ascii_uppercase(),
        _ => return Err(bad(partition, r, "not a Canal event (no \"type\")")),
    };
    let rows = match obj.get("data") {
        Some(Value::Array(rows)) => rows,
        Some(Value::Null) | None => return Ok(Vec::new()),
        Some(_) => return Err(bad(partition, r, "Canal \"data\" is not an array")),
    };
    let types = obj.get("sqlType").and_then(Value::as_object);
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let Value::Object(row) = row else {
            return Err(bad(partition, r, "a Canal row is not an object"));
        };
        let row: Map<String, Value> = row
            .iter()
            .map(|(k, v)| {
                let code = types.and_then(|t| t.get(k)).and_then(Value::as_i64);
                (k.clone(), canal_value(v, code))
            })
            .collect();
        match kind.as_str() {
            "INSERT" | "UPDATE" => out.push(Change::Upsert(row)),
            "DELETE" => out.push(Change::Delete(row)),
            _ => {}
        }
    }
    Ok(out)
}

/// A Canal value (a string) as the JSON type its JDBC type code names.
fn canal_value(v: &Value, jdbc_type: Option<i64>) -> Value {
    let Value::String(s) = v else {
        return v.clone();
    };
    match jdbc_type {
        // TINYINT, SMALLINT, INTEGER, BIGINT
        Some(-6 | 5 | 4 | -5) => s
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| v.clone()),
        // FLOAT, REAL, DOUBLE
        Some(6 | 7 | 8) => s
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or_else(|| v.clone()),
        // BIT, BOOLEAN
        Some(-7 | 16) => match s.as_str() {
            "1" | "true" => Value::Bool(true),
            "0" | "false" => Value::Bool(false),
            _ => v.clone(),
        },
        _ => v.clone(),
    }
}

/// The key columns from the record key: a JSON object (Debezium's, optionally wrapped in
/// `schema`/`payload`) holding them, or, for a one-column key, the key itself (a JSON scalar, or
/// the bytes as a string).
pub fn record_key(key: &[String], r: &SourceRecord) -> Option<Map<String, Value>> {
    let bytes = r.key.as_ref()?;
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(mut o)) => {
            if let Some(Value::Object(p)) = o.remove("payload") {
                o = p;
            }
            let picked: Map<String, Value> = key
                .iter()
                .filter_map(|k| o.get(k).map(|v| (k.clone(), v.clone())))
                .collect();
            (picked.len() == key.len()).then_some(picked)
        }
        Ok(Value::Null) => None,
        Ok(scalar) if key.len() == 1 && !scalar.is_array() => {
            Some(Map::from_iter([(key[0].clone(), scalar)]))
        }
        _ if key.len() == 1 => Some(Map::from_iter([(
            key[0].clone(),
            Value::String(String::from_utf8_lossy(bytes).into_owned()),
        )])),
        _ => None,
    }
}

/// The identity of a row's key, comparable across records (None: a key column is missing or
/// null).
pub fn key_identity(key: &[String], row: &Map<String, Value>) -> Option<String> {
    let mut parts = Vec::with_capacity(key.len());
    for k in key {
        match row.get(k) {
            None | Some(Value::Null) => return None,
            Some(v) => parts.push(v),
        }
    }
    serde_json::to_string(&parts).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn rec(key: Option<&str>, value: Option<&str>) -> SourceRecord {
        SourceRecord {
            offset: 5,
            timestamp: 0,
            key: key.map(|k| Bytes::from(k.to_string())),
            value: value.map(|v| Bytes::from(v.to_string())),
        }
    }

    /// The changes of a record whose value is read as JSON.
    fn changes_of(
        envelope: Envelope,
        key: &[String],
        partition: i32,
        r: &SourceRecord,
    ) -> Result<Vec<Change>, DecodeError> {
        let value = crate::decode::ValueReader::json().object(partition, r)?;
        changes(envelope, key, partition, r, value)
    }

    fn ids(key: &[&str]) -> Vec<String> {
        key.iter().map(|k| k.to_string()).collect()
    }

    #[test]
    fn given_debezium_events_with_and_without_the_wrapper_should_give_upserts_and_deletes() {
        let key = ids(&["id"]);
        let plain = r#"{"before":null,"after":{"id":1,"v":"a"},"op":"c"}"#;
        let wrapped = r#"{"schema":{"type":"struct"},"payload":{"before":{"id":1,"v":"a"},"after":{"id":1,"v":"b"},"op":"u"}}"#;
        let delete = r#"{"before":{"id":1,"v":"b"},"after":null,"op":"d"}"#;
        let c = changes_of(Envelope::Debezium, &key, 0, &rec(None, Some(plain))).unwrap();
        assert!(matches!(&c[..], [Change::Upsert(r)] if r["v"] == "a"));
        let c = changes_of(Envelope::Debezium, &key, 0, &rec(None, Some(wrapped))).unwrap();
        assert!(matches!(&c[..], [Change::Upsert(r)] if r["v"] == "b"));
        let c = changes_of(Envelope::Debezium, &key, 0, &rec(None, Some(delete))).unwrap();
        assert!(matches!(&c[..], [Change::Delete(r)] if r["id"] == 1));
        // A tombstone deletes the record key's row; the key may be wrapped too.
        let k = r#"{"schema":{},"payload":{"id":7}}"#;
        let c = changes_of(Envelope::Debezium, &key, 0, &rec(Some(k), None)).unwrap();
        assert!(matches!(&c[..], [Change::Delete(r)] if r["id"] == 7));
        let err = changes_of(Envelope::Debezium, &key, 3, &rec(None, Some(r#"{"id":1}"#)));
        assert!(err.unwrap_err().to_string().contains("offset 5"));
    }

    #[test]
    fn given_maxwell_and_canal_events_should_give_their_rows_typed() {
        let key = ids(&["id"]);
        let m = r#"{"database":"d","table":"t","type":"delete","data":{"id":3}}"#;
        let c = changes_of(Envelope::Maxwell, &key, 0, &rec(None, Some(m))).unwrap();
        assert!(matches!(&c[..], [Change::Delete(r)] if r["id"] == 3));
        let boot = r#"{"database":"d","table":"t","type":"bootstrap-start","data":{}}"#;
        assert!(
            changes_of(Envelope::Maxwell, &key, 0, &rec(None, Some(boot)))
                .unwrap()
                .is_empty()
        );
        let canal = r#"{"data":[{"id":"1","price":"2.5","ok":"1","amount":"10.10","name":"x"},{"id":"2","price":"3","ok":"0","amount":"1","name":"y"}],
            "isDdl":false,"type":"UPDATE","sqlType":{"id":-5,"price":8,"ok":-7,"amount":3,"name":12}}"#;
        let c = changes_of(Envelope::Canal, &key, 0, &rec(None, Some(canal))).unwrap();
        assert_eq!(c.len(), 2);
        let r = c[0].row();
        assert_eq!(r["id"], 1);
        assert_eq!(r["price"], 2.5);
        assert_eq!(r["ok"], true);
        assert_eq!(r["amount"], "10.10");
        let ddl = r#"{"data":null,"isDdl":true,"type":"ALTER","sql":"alter table t"}"#;
        assert!(changes_of(Envelope::Canal, &key, 0, &rec(None, Some(ddl)))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn given_record_keys_should_find_the_key_columns() {
        let key = ids(&["id"]);
        assert_eq!(record_key(&key, &rec(Some("42"), None)).unwrap()["id"], 42);
        assert_eq!(
            record_key(&key, &rec(Some("abc"), None)).unwrap()["id"],
            "abc"
        );
        let two = ids(&["a", "b"]);
        let r = rec(Some(r#"{"a":1,"b":"x"}"#), None);
        assert_eq!(
            key_identity(&two, &record_key(&two, &r).unwrap()).unwrap(),
            r#"[1,"x"]"#
        );
        assert!(record_key(&two, &rec(Some(r#"{"a":1}"#), None)).is_none());
        assert!(key_identity(&key, &Map::new()).is_none());
    }
}
