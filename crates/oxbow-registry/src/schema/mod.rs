//! Schema types: parsing a schema (with its references, already resolved by the registry) into
//! what the compatibility rules work on, and the text stored for it. AVRO and JSON are served;
//! PROTOBUF is refused with a clear error until it lands.

pub mod avro;
pub mod json;
pub mod protobuf;

use crate::error::RegistryError;

/// The schema types served, as `/schemas/types` lists them.
pub const TYPES: &[&str] = &["JSON", "PROTOBUF", "AVRO"];

/// A parsed schema.
#[derive(Debug, Clone)]
pub enum Parsed {
    Avro(avro::AvroSchema),
    Json(serde_json::Value),
    Protobuf(protobuf::ProtoSchema),
}

impl Parsed {
    pub fn type_name(&self) -> &'static str {
        match self {
            Parsed::Avro(_) => "AVRO",
            Parsed::Json(_) => "JSON",
            Parsed::Protobuf(_) => "PROTOBUF",
        }
    }
}

/// A parsed schema and the text stored for it.
pub struct Checked {
    pub parsed: Parsed,
    pub canonical: String,
}

/// Parses `text` as `schema_type` (`AVRO` when absent). `references` are the referenced
/// schemas as (name, text), in dependency order (a reference's own references first).
pub fn parse(
    schema_type: &str,
    text: &str,
    references: &[(String, String)],
    normalize: bool,
) -> Result<Checked, RegistryError> {
    if text.trim().is_empty() {
        return Err(RegistryError::InvalidSchema("Empty schema".into()));
    }
    match schema_type {
        "AVRO" => {
            let texts: Vec<String> = references.iter().map(|(_, t)| t.clone()).collect();
            let s = avro::parse(text, &texts, normalize)
                .map_err(|e| RegistryError::InvalidSchema(format!("Invalid AVRO schema: {e}")))?;
            let canonical = s.canonical.clone();
            Ok(Checked {
                parsed: Parsed::Avro(s),
                canonical,
            })
        }
        "JSON" => {
            let (value, canonical) = json::parse(text, normalize)
                .map_err(|e| RegistryError::InvalidSchema(format!("Invalid JSON schema: {e}")))?;
            Ok(Checked {
                parsed: Parsed::Json(value),
                canonical,
            })
        }
        "PROTOBUF" => {
            let s = protobuf::parse(text, references).map_err(|e| {
                RegistryError::InvalidSchema(format!("Invalid PROTOBUF schema: {e}"))
            })?;
            let canonical = s.canonical.clone();
            Ok(Checked {
                parsed: Parsed::Protobuf(s),
                canonical,
            })
        }
        other => Err(RegistryError::InvalidSchema(format!(
            "Invalid schema type {other}"
        ))),
    }
}
