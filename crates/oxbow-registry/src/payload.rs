//! Reading payloads that Confluent's serializers framed: magic byte 0, the 4-byte big-endian
//! schema id, then (Protobuf) the message indexes, then the Avro datum or Protobuf message —
//! decoded with the writer's schema looked up by id and turned into JSON, which is how the
//! lake lands Avro and Protobuf topics (the same columns as JSON topics). Compiled schemas are
//! cached by id (ids never change their schema).

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use parking_lot::Mutex;
use prost_reflect::{DescriptorPool, DynamicMessage, MapKey, MessageDescriptor, ReflectMessage};
use serde_json::{Map, Number, Value};

use crate::registry::Registry;
use crate::schema::Parsed;

/// Why a payload could not be read.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PayloadError {
    #[error("not in the schema registry's framing (magic byte 0 and a 4-byte schema id)")]
    NotFramed,
    #[error("schema id {0} is not registered")]
    UnknownId(i32),
    #[error("schema id {id}: {reason}")]
    Schema { id: i32, reason: String },
    #[error("payload does not match schema id {id} ({kind}): {reason}")]
    Decode {
        id: i32,
        kind: &'static str,
        reason: String,
    },
}

enum Compiled {
    Avro {
        schema: apache_avro::Schema,
        references: Vec<apache_avro::Schema>,
    },
    Protobuf {
        /// Top-level messages of the schema's file, in declaration order.
        messages: Vec<MessageDescriptor>,
    },
    Json,
}

/// Decodes framed payloads with the registry's schemas.
pub struct PayloadDecoder {
    registry: Arc<Registry>,
    compiled: Mutex<HashMap<i32, Arc<Compiled>>>,
}

/// The schema id of a framed payload and what follows it.
pub fn frame(payload: &[u8]) -> Result<(i32, &[u8]), PayloadError> {
    match payload {
        [0, a, b, c, d, rest @ ..] => Ok((i32::from_be_bytes([*a, *b, *c, *d]), rest)),
        _ => Err(PayloadError::NotFramed),
    }
}

impl PayloadDecoder {
    pub fn new(registry: Arc<Registry>) -> Self {
        PayloadDecoder {
            registry,
            compiled: Mutex::new(HashMap::new()),
        }
    }

    /// The payload as JSON.
    pub fn to_json(&self, payload: &[u8]) -> Result<Value, PayloadError> {
        let (id, body) = frame(payload)?;
        let compiled = self.compiled(id)?;
        match compiled.as_ref() {
            Compiled::Avro { schema, references } => {
                let mut reader = body;
                let value = apache_avro::from_avro_datum_schemata(
                    schema,
                    references.iter().collect(),
                    &mut reader,
                    None,
                )
                .map_err(|e| PayloadError::Decode {
                    id,
                    kind: "AVRO",
                    reason: e.to_string(),
                })?;
                Ok(avro_json(value))
            }
            Compiled::Protobuf { messages } => {
                let decode_err = |reason: String| PayloadError::Decode {
                    id,
                    kind: "PROTOBUF",
                    reason,
                };
                let (indexes, rest) = message_indexes(body).map_err(decode_err)?;
                let descriptor = message_at(messages, &indexes)
                    .ok_or_else(|| decode_err(format!("no message at index path {indexes:?}")))?;
                let message = DynamicMessage::decode(descriptor, rest)
                    .map_err(|e| decode_err(e.to_string()))?;
                Ok(proto_json(&message))
            }
            Compiled::Json => serde_json::from_slice(body).map_err(|e| PayloadError::Decode {
                id,
                kind: "JSON",
                reason: e.to_string(),
            }),
        }
    }

    fn compiled(&self, id: i32) -> Result<Arc<Compiled>, PayloadError> {
        if let Some(c) = self.compiled.lock().get(&id) {
            return Ok(c.clone());
        }
        let (_, stored) = self
            .registry
            .schema_by_id(id)
            .map_err(|_| PayloadError::UnknownId(id))?;
        let schema_err = |reason: String| PayloadError::Schema { id, reason };
        let checked = self
            .registry
            .parse_stored(&stored)
            .map_err(|e| schema_err(e.to_string()))?;
        let compiled = match checked.parsed {
            Parsed::Avro(_) => {
                let texts = self
                    .registry
                    .reference_texts(&stored)
                    .map_err(|e| schema_err(e.to_string()))?;
                let (schema, references) = if texts.is_empty() {
                    let s = apache_avro::Schema::parse_str(&stored.schema)
                        .map_err(|e| schema_err(e.to_string()))?;
                    (s, Vec::new())
                } else {
                    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                    apache_avro::Schema::parse_str_with_list(&stored.schema, &refs)
                        .map_err(|e| schema_err(e.to_string()))?
                };
                Compiled::Avro { schema, references }
            }
            Parsed::Protobuf(p) => {
                let mut pool = DescriptorPool::new();
                pool.add_file_descriptor_protos(p.files.into_values())
                    .map_err(|e| schema_err(e.to_string()))?;
                let name = p.file.name.clone().unwrap_or_default();
                let file = pool
                    .get_file_by_name(&name)
                    .ok_or_else(|| schema_err("the compiled schema is missing".into()))?;
                Compiled::Protobuf {
                    messages: file.messages().collect(),
                }
            }
            Parsed::Json(_) => Compiled::Json,
        };
        let compiled = Arc::new(compiled);
        self.compiled.lock().insert(id, compiled.clone());
        Ok(compiled)
    }
}

/// Confluent's message indexes: a zigzag varint count and as many zigzag varint indexes (a
/// single 0 byte stands for `[0]`, the first message).
fn message_indexes(body: &[u8]) -> Result<(Vec<i32>, &[u8]), String> {
    let (count, mut rest) = zigzag(body)?;
    if count == 0 {
        return Ok((vec![0], rest));
    }
    if !(0..=64).contains(&count) {
        return Err(format!("message index count {count} out of range"));
    }
    let mut out = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let (i, r) = zigzag(rest)?;
        out.push(i as i32);
        rest = r;
    }
    Ok((out, rest))
}

fn zigzag(bytes: &[u8]) -> Result<(i64, &[u8]), String> {
    let mut value: u64 = 0;
    for (i, b) in bytes.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            let v = ((value >> 1) as i64) ^ -((value & 1) as i64);
            return Ok((v, &bytes[i + 1..]));
        }
    }
    Err("truncated message index".into())
}

fn message_at(top: &[MessageDescriptor], path: &[i32]) -> Option<MessageDescriptor> {
    let (first, nested) = path.split_first()?;
    let mut m = top.get(usize::try_from(*first).ok()?)?.clone();
    for i in nested {
        let child = m.child_messages().nth(usize::try_from(*i).ok()?)?;
        m = child;
    }
    Some(m)
}

fn base64(bytes: &[u8]) -> Value {
    Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
}

fn float(f: f64) -> Value {
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

/// An Avro datum as JSON: records and maps as objects, unions as their branch, enums as their
/// symbol, bytes and fixed as base64, decimals as their unscaled bytes in base64, logical
/// dates and times as their numbers.
fn avro_json(v: apache_avro::types::Value) -> Value {
    use apache_avro::types::Value as A;
    match v {
        A::Null => Value::Null,
        A::Boolean(b) => Value::Bool(b),
        A::Int(i) | A::Date(i) | A::TimeMillis(i) => Value::from(i),
        A::Long(l)
        | A::TimeMicros(l)
        | A::TimestampMillis(l)
        | A::TimestampMicros(l)
        | A::TimestampNanos(l)
        | A::LocalTimestampMillis(l)
        | A::LocalTimestampMicros(l)
        | A::LocalTimestampNanos(l) => Value::from(l),
        A::Float(f) => float(f64::from(f)),
        A::Double(d) => float(d),
        A::Bytes(b) | A::Fixed(_, b) => base64(&b),
        A::String(s) | A::Enum(_, s) => Value::String(s),
        A::Uuid(u) => Value::String(u.to_string()),
        A::Union(_, b) => avro_json(*b),
        A::Array(items) => Value::Array(items.into_iter().map(avro_json).collect()),
        A::Map(items) => Value::Object(items.into_iter().map(|(k, v)| (k, avro_json(v))).collect()),
        A::Record(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(k, v)| (k, avro_json(v)))
                .collect::<Map<_, _>>(),
        ),
        A::Decimal(d) => match <Vec<u8>>::try_from(&d) {
            Ok(bytes) => base64(&bytes),
            Err(_) => Value::Null,
        },
        A::BigDecimal(d) => Value::String(d.to_string()),
        A::Duration(d) => Value::String(format!("{d:?}")),
    }
}

/// A Protobuf message as JSON: every field of the message (proto3 defaults included), enums as
/// their names, bytes as base64, 64-bit integers as numbers.
fn proto_json(m: &DynamicMessage) -> Value {
    let mut out = Map::new();
    for field in m.descriptor().fields() {
        let value = m.get_field(&field);
        out.insert(field.name().to_string(), proto_value(&field.kind(), &value));
    }
    Value::Object(out)
}

fn proto_value(kind: &prost_reflect::Kind, v: &prost_reflect::Value) -> Value {
    use prost_reflect::Value as P;
    match v {
        P::Bool(b) => Value::Bool(*b),
        P::I32(i) => Value::from(*i),
        P::I64(i) => Value::from(*i),
        P::U32(i) => Value::from(*i),
        P::U64(i) => Value::from(*i),
        P::F32(f) => float(f64::from(*f)),
        P::F64(f) => float(*f),
        P::String(s) => Value::String(s.clone()),
        P::Bytes(b) => base64(b),
        P::EnumNumber(n) => match kind.as_enum().and_then(|e| e.get_value(*n)) {
            Some(value) => Value::String(value.name().to_string()),
            None => Value::from(*n),
        },
        P::Message(m) => proto_json(m),
        P::List(items) => Value::Array(items.iter().map(|i| proto_value(kind, i)).collect()),
        P::Map(entries) => {
            let value_kind = kind
                .as_message()
                .and_then(|entry| entry.get_field_by_name("value"))
                .map(|f| f.kind());
            let mut out = Map::new();
            for (k, v) in entries {
                let key = match k {
                    MapKey::Bool(b) => b.to_string(),
                    MapKey::I32(i) => i.to_string(),
                    MapKey::I64(i) => i.to_string(),
                    MapKey::U32(i) => i.to_string(),
                    MapKey::U64(i) => i.to_string(),
                    MapKey::String(s) => s.clone(),
                };
                let value = match &value_kind {
                    Some(vk) => proto_value(vk, v),
                    None => Value::Null,
                };
                out.insert(key, value);
            }
            Value::Object(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_confluent_framing_should_read_the_id_and_refuse_what_is_not_framed() {
        assert_eq!(frame(&[0, 0, 0, 1, 7, 9]), Ok((263, &[9u8][..])));
        assert_eq!(frame(&[0, 0, 0, 0, 42]), Ok((42, &[][..])));
        assert_eq!(frame(b"{\"a\":1}"), Err(PayloadError::NotFramed));
        assert_eq!(frame(&[0, 0, 1]), Err(PayloadError::NotFramed));
    }

    #[test]
    fn given_message_indexes_should_read_the_short_and_the_long_form() {
        assert_eq!(message_indexes(&[0, 8]), Ok((vec![0], &[8u8][..])));
        // Count 2 (zigzag 4), then 1 (zigzag 2) and 0.
        assert_eq!(message_indexes(&[4, 2, 0, 8]), Ok((vec![1, 0], &[8u8][..])));
        assert!(message_indexes(&[0x80]).is_err());
        assert!(message_indexes(&[0xfe, 0x01]).is_err());
    }

    #[test]
    fn given_avro_values_should_turn_them_into_json() {
        use apache_avro::types::Value as A;
        let v = A::Record(vec![
            ("id".into(), A::Long(7)),
            ("name".into(), A::Union(1, Box::new(A::String("x".into())))),
            ("none".into(), A::Union(0, Box::new(A::Null))),
            ("kind".into(), A::Enum(1, "SELL".into())),
            ("raw".into(), A::Bytes(vec![1, 2, 3])),
        ]);
        assert_eq!(
            avro_json(v),
            serde_json::json!({"id": 7, "name": "x", "none": null, "kind": "SELL", "raw": "AQID"})
        );
    }

    /// A registry holding an Avro schema (id 1) and a Protobuf schema (id 2).
    pub(crate) async fn registry_with_schemas() -> Arc<Registry> {
        use crate::log::MemoryLog;
        use crate::registry::SchemaRequest;
        let r = Registry::open(Arc::new(MemoryLog::default())).unwrap();
        let avro = SchemaRequest {
            schema: AVRO.into(),
            ..SchemaRequest::default()
        };
        assert_eq!(r.register("t-value", &avro, false).await.unwrap().id, 1);
        let proto = SchemaRequest {
            schema: PROTO.into(),
            schema_type: Some("PROTOBUF".into()),
            ..SchemaRequest::default()
        };
        assert_eq!(r.register("p-value", &proto, false).await.unwrap().id, 2);
        Arc::new(r)
    }

    const AVRO: &str = r#"{"type":"record","name":"T","fields":[{"name":"id","type":"long"},{"name":"tags","type":{"type":"array","items":"string"}},{"name":"note","type":["null","string"],"default":null}]}"#;
    const PROTO: &str = "syntax = \"proto3\";\nmessage A { int64 id = 1; }\nmessage B { string name = 1; repeated int32 n = 2; map<string, A> m = 3; enum K { X = 0; Y = 1; } K k = 4; }\n";

    #[tokio::test]
    async fn given_registered_schemas_should_decode_payloads_and_refuse_mutated_ones_without_panicking(
    ) {
        let decoder = PayloadDecoder::new(registry_with_schemas().await);
        // id 7, tags ["a", "b"], note "x": zigzag longs, counted blocks, union branch 1.
        let avro = [0u8, 0, 0, 0, 1, 14, 4, 2, b'a', 2, b'b', 0, 2, 2, b'x'];
        assert_eq!(
            decoder.to_json(&avro).unwrap(),
            serde_json::json!({"id": 7, "tags": ["a", "b"], "note": "x"})
        );
        // Message index [1] (B): name "n", n [3], k Y.
        let proto = [0u8, 0, 0, 0, 2, 2, 2, 10, 1, b'n', 18, 1, 3, 32, 1];
        assert_eq!(
            decoder.to_json(&proto).unwrap(),
            serde_json::json!({"name": "n", "n": [3], "m": {}, "k": "Y"})
        );
        assert_eq!(
            decoder.to_json(&[0, 0, 0, 0, 9, 1]),
            Err(PayloadError::UnknownId(9))
        );
        // Truncations and byte flips: an error or a value, never a panic or a hang.
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for base in [&avro[..], &proto[..]] {
            for cut in 0..base.len() {
                let _ = decoder.to_json(&base[..cut]);
            }
            for _ in 0..2000 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let mut m = base.to_vec();
                let at = 5 + (seed as usize % (m.len() - 5));
                m[at] = (seed >> 32) as u8;
                let _ = decoder.to_json(&m);
            }
        }
    }
}
