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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Schema-ish text: fragments of the three languages, shuffled and cut anywhere.
    fn schemaish() -> impl Strategy<Value = String> {
        let pieces = prop::sample::select(vec![
            "{",
            "}",
            "[",
            "]",
            "\"",
            ":",
            ",",
            "\"type\"",
            "\"record\"",
            "\"name\"",
            "\"fields\"",
            "\"enum\"",
            "\"symbols\"",
            "\"array\"",
            "\"items\"",
            "\"map\"",
            "\"values\"",
            "\"fixed\"",
            "\"size\"",
            "\"default\"",
            "null",
            "\"null\"",
            "\"int\"",
            "\"R\"",
            "\"$ref\"",
            "\"#/a\"",
            "\"properties\"",
            "\"oneOf\"",
            "\"additionalProperties\"",
            "false",
            "true",
            "1e308",
            "-1",
            "syntax = \"proto3\";",
            "message M {",
            "int32 a = 1;",
            "oneof o {",
            "map<string, M> m = 2;",
            "import \"x.proto\";",
            "package p;",
            "enum E { A = 0; }",
            "repeated M r = 3;",
            "\u{0}",
        ]);
        prop::collection::vec(pieces, 0..40).prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn given_arbitrary_text_when_parsing_and_checking_should_never_panic(old in schemaish(), new in schemaish(), ty in 0usize..3) {
            let ty = ["AVRO", "JSON", "PROTOBUF"][ty];
            let a = parse(ty, &old, &[], false);
            let b = parse(ty, &new, &[], true);
            if let (Ok(a), Ok(b)) = (a, b) {
                let _ = crate::compat::check(crate::compat::Level::FullTransitive, &b.parsed, &[a.parsed]);
            }
        }
    }
}
