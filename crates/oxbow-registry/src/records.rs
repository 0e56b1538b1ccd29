//! The records of the `_schemas` topic, in Confluent's JSON layout so that a topic copied from a
//! Confluent registry loads as is: keys `{"keytype":"SCHEMA","subject":..,"version":..,"magic":1}`,
//! `{"keytype":"CONFIG"[,"subject":..],"magic":0}`, `MODE`, `DELETE_SUBJECT`, `CLEAR_SUBJECT`,
//! `NOOP` (field order as written by Confluent: the topic is compacted by key bytes); values as
//! below, fields empty or null left out, `schemaType` left out for AVRO. A null value is a
//! tombstone.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A `_schemas` key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    Schema {
        subject: String,
        version: i32,
    },
    /// `None`: the global config.
    Config {
        subject: Option<String>,
    },
    Mode {
        subject: Option<String>,
    },
    DeleteSubject {
        subject: String,
    },
    ClearSubject {
        subject: String,
    },
    Noop,
    /// A key type this registry does not use (CONTEXT, associations): kept, ignored.
    Other,
}

#[derive(Serialize)]
struct SchemaKeyJson<'a> {
    keytype: &'static str,
    subject: &'a str,
    version: i32,
    magic: i32,
}

#[derive(Serialize)]
struct SubjectKeyJson<'a> {
    keytype: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<&'a str>,
    magic: i32,
}

#[derive(Deserialize)]
struct AnyKey {
    keytype: String,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    version: Option<i32>,
}

impl Key {
    pub fn encode(&self) -> Vec<u8> {
        let json = match self {
            Key::Schema { subject, version } => serde_json::to_vec(&SchemaKeyJson {
                keytype: "SCHEMA",
                subject,
                version: *version,
                magic: 1,
            }),
            Key::Config { subject } => serde_json::to_vec(&SubjectKeyJson {
                keytype: "CONFIG",
                subject: subject.as_deref(),
                magic: 0,
            }),
            Key::Mode { subject } => serde_json::to_vec(&SubjectKeyJson {
                keytype: "MODE",
                subject: subject.as_deref(),
                magic: 0,
            }),
            Key::DeleteSubject { subject } => serde_json::to_vec(&SubjectKeyJson {
                keytype: "DELETE_SUBJECT",
                subject: Some(subject),
                magic: 0,
            }),
            Key::ClearSubject { subject } => serde_json::to_vec(&SubjectKeyJson {
                keytype: "CLEAR_SUBJECT",
                subject: Some(subject),
                magic: 0,
            }),
            Key::Noop | Key::Other => serde_json::to_vec(&SubjectKeyJson {
                keytype: "NOOP",
                subject: None,
                magic: 0,
            }),
        };
        json.unwrap_or_default()
    }

    /// Decodes a key; `None` if it is not a registry key at all.
    pub fn decode(bytes: &[u8]) -> Option<Key> {
        let k: AnyKey = serde_json::from_slice(bytes).ok()?;
        Some(match k.keytype.as_str() {
            "SCHEMA" => Key::Schema {
                subject: k.subject?,
                version: k.version?,
            },
            "CONFIG" => Key::Config { subject: k.subject },
            "MODE" => Key::Mode { subject: k.subject },
            "DELETE_SUBJECT" => Key::DeleteSubject {
                subject: k.subject?,
            },
            "CLEAR_SUBJECT" => Key::ClearSubject {
                subject: k.subject?,
            },
            "NOOP" => Key::Noop,
            _ => Key::Other,
        })
    }
}

/// A schema reference: `name` as the schema imports it, resolved to `subject` at `version`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Reference {
    pub name: String,
    pub subject: String,
    pub version: i32,
}

fn is_avro(t: &Option<String>) -> bool {
    t.as_deref().is_none_or(|t| t == "AVRO")
}

fn is_empty_value(v: &Option<Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Object(m)) => m.is_empty(),
        _ => false,
    }
}

/// A SCHEMA value: one version of a subject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaValue {
    pub subject: String,
    pub version: i32,
    pub id: i32,
    #[serde(default, skip_serializing_if = "is_avro")]
    pub schema_type: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<Reference>,
    #[serde(default, skip_serializing_if = "is_empty_value")]
    pub metadata: Option<Value>,
    #[serde(default, skip_serializing_if = "is_empty_value")]
    pub rule_set: Option<Value>,
    pub schema: String,
    #[serde(default)]
    pub deleted: bool,
}

impl SchemaValue {
    /// `AVRO`, `JSON` or `PROTOBUF`.
    pub fn schema_type(&self) -> &str {
        self.schema_type.as_deref().unwrap_or("AVRO")
    }
}

/// A CONFIG value (only the keys this registry acts on are typed; the rest is kept).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigValue {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalize: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validate_fields: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compatibility_level: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compatibility_group: Option<String>,
    #[serde(default, skip_serializing_if = "is_empty_value")]
    pub default_metadata: Option<Value>,
    #[serde(default, skip_serializing_if = "is_empty_value")]
    pub override_metadata: Option<Value>,
    #[serde(default, skip_serializing_if = "is_empty_value")]
    pub default_rule_set: Option<Value>,
    #[serde(default, skip_serializing_if = "is_empty_value")]
    pub override_rule_set: Option<Value>,
}

/// A MODE value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModeValue {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub mode: String,
}

/// A DELETE_SUBJECT value: versions up to `version` are soft-deleted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeleteSubjectValue {
    pub subject: String,
    pub version: i32,
}

/// A CLEAR_SUBJECT value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClearSubjectValue {
    pub subject: String,
}

/// One `_schemas` record, decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Schema(Key, Option<SchemaValue>),
    Config(Option<String>, Option<ConfigValue>),
    Mode(Option<String>, Option<ModeValue>),
    DeleteSubject(Option<DeleteSubjectValue>),
    ClearSubject(Option<ClearSubjectValue>),
    Ignored,
}

impl Record {
    /// Decodes a record; values that do not parse are reported (`Err`) so replay can warn.
    pub fn decode(key: &[u8], value: Option<&[u8]>) -> Result<Record, String> {
        let Some(k) = Key::decode(key) else {
            return Ok(Record::Ignored);
        };
        fn parse<T: serde::de::DeserializeOwned>(v: Option<&[u8]>) -> Result<Option<T>, String> {
            v.map(|b| serde_json::from_slice(b).map_err(|e| e.to_string()))
                .transpose()
        }
        Ok(match k {
            Key::Schema { .. } => Record::Schema(k, parse(value)?),
            Key::Config { subject } => Record::Config(subject, parse(value)?),
            Key::Mode { subject } => Record::Mode(subject, parse(value)?),
            Key::DeleteSubject { .. } => Record::DeleteSubject(parse(value)?),
            Key::ClearSubject { .. } => Record::ClearSubject(parse(value)?),
            Key::Noop | Key::Other => Record::Ignored,
        })
    }
}

/// Encodes a value as compact JSON.
pub fn encode_value<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_keys_when_encoding_should_match_confluents_bytes() {
        let k = Key::Schema {
            subject: "orders-value".into(),
            version: 1,
        };
        assert_eq!(
            String::from_utf8(k.encode()).unwrap(),
            r#"{"keytype":"SCHEMA","subject":"orders-value","version":1,"magic":1}"#
        );
        assert_eq!(
            String::from_utf8(Key::Config { subject: None }.encode()).unwrap(),
            r#"{"keytype":"CONFIG","magic":0}"#
        );
        assert_eq!(Key::decode(&k.encode()), Some(k));
        assert_eq!(
            Key::decode(br#"{"keytype":"CONFIG","subject":null,"magic":0}"#),
            Some(Key::Config { subject: None })
        );
    }

    #[test]
    fn given_confluent_schema_value_when_decoding_should_round_trip_without_avro_type() {
        let raw =
            br#"{"subject":"t-value","version":1,"id":1,"schema":"\"string\"","deleted":false}"#;
        let v: SchemaValue = serde_json::from_slice(raw).unwrap();
        assert_eq!(v.schema_type(), "AVRO");
        assert_eq!(encode_value(&v), raw.to_vec());
        let p = br#"{"subject":"p","version":2,"id":7,"schemaType":"PROTOBUF","references":[{"name":"a.proto","subject":"a.proto","version":1}],"schema":"syntax = \"proto3\";","deleted":true}"#;
        let v: SchemaValue = serde_json::from_slice(p).unwrap();
        assert_eq!(encode_value(&v), p.to_vec());
    }
}
