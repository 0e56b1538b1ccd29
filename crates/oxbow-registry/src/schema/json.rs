//! JSON Schema (draft-04 to 2020-12, by its `$schema`; draft-07 when absent): the schema must be
//! valid against its meta-schema (the `jsonschema` crate). Stored as compact JSON in the order
//! written, or with `normalize` with every object's keys sorted.

use serde_json::Value;

/// Parses and validates a JSON Schema; returns it and its stored text.
pub fn parse(text: &str, normalize: bool) -> Result<(Value, String), String> {
    let value: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if !value.is_object() && !value.is_boolean() {
        return Err("a JSON Schema is an object or a boolean".into());
    }
    if let Err(e) = jsonschema::meta::validate(&value) {
        return Err(e.to_string());
    }
    let canonical = if normalize {
        let mut v = value.clone();
        sort_keys(&mut v);
        v.to_string()
    } else {
        value.to_string()
    };
    Ok((value, canonical))
}

fn sort_keys(v: &mut Value) {
    match v {
        Value::Object(o) => {
            let mut entries: Vec<(String, Value)> = std::mem::take(o).into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            for (k, mut x) in entries {
                sort_keys(&mut x);
                o.insert(k, x);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(sort_keys),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_json_schemas_when_parsing_should_validate_against_the_meta_schema() {
        assert!(parse(
            r#"{"type":"object","properties":{"a":{"type":"string"}}}"#,
            false
        )
        .is_ok());
        assert!(parse(r#"{"type":"strnig"}"#, false).is_err());
        assert!(parse(r#"[1]"#, false).is_err());
        let (_, a) = parse(r#"{"type":"object","title":"x"}"#, true).unwrap();
        let (_, b) = parse(r#"{"title":"x","type":"object"}"#, true).unwrap();
        assert_eq!(a, b);
    }
}
