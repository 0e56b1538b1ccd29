//! Avro schemas: parsed into a model of their own (named types resolved through namespaces and
//! references) for the compatibility rules, checked once more by the `apache-avro` crate, and
//! printed in two forms: the stored form (compact JSON as written, `{"type":"string"}` as
//! `"string"`) and, with `normalize`, a normalized form (full names, no `namespace` keys, object
//! keys sorted) so that schemas differing only in layout get one id.

use std::collections::HashMap;

use serde_json::{Map, Value};

/// A type in a schema.
#[derive(Debug, Clone, PartialEq)]
pub enum Avro {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
    Array(Box<Avro>),
    Map(Box<Avro>),
    Union(Vec<Avro>),
    /// A named type (record, enum, fixed), by full name: its definition is in [`AvroSchema::named`].
    Named(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub aliases: Vec<String>,
    pub schema: Avro,
    pub default: Option<Value>,
}

/// A record, enum or fixed.
#[derive(Debug, Clone, PartialEq)]
pub enum NamedType {
    Record {
        aliases: Vec<String>,
        fields: Vec<Field>,
    },
    Enum {
        aliases: Vec<String>,
        symbols: Vec<String>,
        default: Option<String>,
    },
    Fixed {
        aliases: Vec<String>,
        size: u64,
    },
}

impl NamedType {
    pub fn aliases(&self) -> &[String] {
        match self {
            NamedType::Record { aliases, .. }
            | NamedType::Enum { aliases, .. }
            | NamedType::Fixed { aliases, .. } => aliases,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            NamedType::Record { .. } => "record",
            NamedType::Enum { .. } => "enum",
            NamedType::Fixed { .. } => "fixed",
        }
    }
}

/// A parsed schema with every named type it can reach (its own and its references').
#[derive(Debug, Clone)]
pub struct AvroSchema {
    pub root: Avro,
    pub named: HashMap<String, NamedType>,
    /// The schema as stored (see the module doc).
    pub canonical: String,
}

impl Avro {
    /// The type's name as messages show it.
    pub fn describe(&self) -> String {
        match self {
            Avro::Null => "null".into(),
            Avro::Boolean => "boolean".into(),
            Avro::Int => "int".into(),
            Avro::Long => "long".into(),
            Avro::Float => "float".into(),
            Avro::Double => "double".into(),
            Avro::Bytes => "bytes".into(),
            Avro::String => "string".into(),
            Avro::Array(i) => format!("array<{}>", i.describe()),
            Avro::Map(v) => format!("map<{}>", v.describe()),
            Avro::Union(b) => format!(
                "union[{}]",
                b.iter().map(Avro::describe).collect::<Vec<_>>().join(", ")
            ),
            Avro::Named(n) => n.clone(),
        }
    }
}

fn primitive(name: &str) -> Option<Avro> {
    Some(match name {
        "null" => Avro::Null,
        "boolean" => Avro::Boolean,
        "int" => Avro::Int,
        "long" => Avro::Long,
        "float" => Avro::Float,
        "double" => Avro::Double,
        "bytes" => Avro::Bytes,
        "string" => Avro::String,
        _ => return None,
    })
}

fn full_name(name: &str, namespace: Option<&str>) -> String {
    if name.contains('.') {
        return name.to_string();
    }
    match namespace {
        Some(ns) if !ns.is_empty() => format!("{ns}.{name}"),
        _ => name.to_string(),
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

struct Parser<'a> {
    named: &'a mut HashMap<String, NamedType>,
}

impl Parser<'_> {
    fn parse(&mut self, v: &Value, ns: Option<&str>) -> Result<Avro, String> {
        match v {
            Value::String(s) => self.by_name(s, ns),
            Value::Array(branches) => {
                let mut out = Vec::with_capacity(branches.len());
                for b in branches {
                    let t = self.parse(b, ns)?;
                    if matches!(t, Avro::Union(_)) {
                        return Err("Unions may not immediately contain other unions".into());
                    }
                    let key = union_key(&t);
                    if out.iter().any(|o: &Avro| union_key(o) == key) {
                        return Err(format!("Duplicate in union: {}", t.describe()));
                    }
                    out.push(t);
                }
                Ok(Avro::Union(out))
            }
            Value::Object(o) => self.object(o, ns),
            other => Err(format!("Not a schema: {other}")),
        }
    }

    fn by_name(&mut self, s: &str, ns: Option<&str>) -> Result<Avro, String> {
        if let Some(p) = primitive(s) {
            return Ok(p);
        }
        let full = full_name(s, ns);
        if self.named.contains_key(&full) {
            return Ok(Avro::Named(full));
        }
        if self.named.contains_key(s) {
            return Ok(Avro::Named(s.to_string()));
        }
        Err(format!("Undefined name: \"{s}\""))
    }

    fn object(&mut self, o: &Map<String, Value>, ns: Option<&str>) -> Result<Avro, String> {
        let Some(t) = o.get("type") else {
            return Err(format!("No type: {}", Value::Object(o.clone())));
        };
        let t = match t {
            Value::String(t) => t.as_str(),
            // {"type": {...}} or {"type": [...]}: the inner schema.
            other => return self.parse(other, ns),
        };
        match t {
            "record" | "error" | "enum" | "fixed" => self.named_type(t, o, ns),
            "array" => {
                let items = o.get("items").ok_or("Array has no items")?;
                Ok(Avro::Array(Box::new(self.parse(items, ns)?)))
            }
            "map" => {
                let values = o.get("values").ok_or("Map has no values")?;
                Ok(Avro::Map(Box::new(self.parse(values, ns)?)))
            }
            other => self.by_name(other, ns),
        }
    }

    fn named_type(
        &mut self,
        kind: &str,
        o: &Map<String, Value>,
        ns: Option<&str>,
    ) -> Result<Avro, String> {
        let name = o
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("No name in schema: {}", Value::Object(o.clone())))?;
        let own_ns = o.get("namespace").and_then(Value::as_str).or(ns);
        let full = full_name(name, own_ns);
        let simple = full.rsplit('.').next().unwrap_or(&full);
        if !valid_name(simple) {
            return Err(format!("Illegal name: {name}"));
        }
        if primitive(&full).is_some() {
            return Err(format!("Can't redefine: {full}"));
        }
        if self.named.contains_key(&full) {
            return Err(format!("Can't redefine: {full}"));
        }
        let inner_ns = full.rsplit_once('.').map(|(n, _)| n.to_string());
        let aliases: Vec<String> = o
            .get("aliases")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(|x| full_name(x, inner_ns.as_deref()))
                    .collect()
            })
            .unwrap_or_default();
        match kind {
            "enum" => {
                let symbols: Vec<String> = o
                    .get("symbols")
                    .and_then(Value::as_array)
                    .ok_or("Enum has no symbols")?
                    .iter()
                    .map(|s| {
                        s.as_str()
                            .map(String::from)
                            .ok_or("Enum symbols must be strings")
                    })
                    .collect::<Result<_, _>>()?;
                for (i, s) in symbols.iter().enumerate() {
                    if !valid_name(s) {
                        return Err(format!("Illegal enum symbol: {s}"));
                    }
                    if symbols[..i].contains(s) {
                        return Err(format!("Duplicate enum symbol: {s}"));
                    }
                }
                let default = o.get("default").and_then(Value::as_str).map(String::from);
                if let Some(d) = &default {
                    if !symbols.contains(d) {
                        return Err(format!(
                            "The Enum Default: {d} is not in the enum symbol set: {symbols:?}"
                        ));
                    }
                }
                self.named.insert(
                    full.clone(),
                    NamedType::Enum {
                        aliases,
                        symbols,
                        default,
                    },
                );
            }
            "fixed" => {
                let size = o
                    .get("size")
                    .and_then(Value::as_u64)
                    .ok_or("Fixed has no valid size")?;
                self.named
                    .insert(full.clone(), NamedType::Fixed { aliases, size });
            }
            _ => {
                // Registered before its fields, so a field may refer to the record itself.
                self.named.insert(
                    full.clone(),
                    NamedType::Record {
                        aliases: aliases.clone(),
                        fields: Vec::new(),
                    },
                );
                let raw = o
                    .get("fields")
                    .and_then(Value::as_array)
                    .ok_or("Record has no fields")?;
                let mut fields: Vec<Field> = Vec::with_capacity(raw.len());
                for f in raw {
                    let fo = f.as_object().ok_or("A field is not an object")?;
                    let fname = fo
                        .get("name")
                        .and_then(Value::as_str)
                        .ok_or("A field has no name")?;
                    if !valid_name(fname) {
                        return Err(format!("Illegal field name: {fname}"));
                    }
                    if fields.iter().any(|x| x.name == fname) {
                        return Err(format!("Duplicate field {fname} in record {full}"));
                    }
                    let ftype = fo
                        .get("type")
                        .ok_or_else(|| format!("No field type for {fname}"))?;
                    let schema = self.parse(ftype, inner_ns.as_deref())?;
                    let default = fo.get("default").cloned();
                    if let Some(d) = &default {
                        if !self.default_fits(&schema, d) {
                            return Err(format!(
                                "Invalid default for field {fname}: {d} not a {}",
                                schema.describe()
                            ));
                        }
                    }
                    let faliases = fo
                        .get("aliases")
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .filter_map(Value::as_str)
                                .map(String::from)
                                .collect()
                        })
                        .unwrap_or_default();
                    fields.push(Field {
                        name: fname.to_string(),
                        aliases: faliases,
                        schema,
                        default,
                    });
                }
                self.named
                    .insert(full.clone(), NamedType::Record { aliases, fields });
            }
        }
        Ok(Avro::Named(full))
    }

    /// Whether a default value fits its type (a union's default fits its first branch).
    fn default_fits(&self, t: &Avro, d: &Value) -> bool {
        match (t, d) {
            (Avro::Null, Value::Null) => true,
            (Avro::Boolean, Value::Bool(_)) => true,
            (Avro::Int | Avro::Long, Value::Number(n)) => n.is_i64() || n.is_u64(),
            (Avro::Float | Avro::Double, Value::Number(_)) => true,
            (Avro::Bytes | Avro::String, Value::String(_)) => true,
            (Avro::Array(i), Value::Array(a)) => a.iter().all(|x| self.default_fits(i, x)),
            (Avro::Map(v), Value::Object(m)) => m.values().all(|x| self.default_fits(v, x)),
            (Avro::Union(b), d) => b.first().is_some_and(|f| self.default_fits(f, d)),
            (Avro::Named(n), d) => match (self.named.get(n), d) {
                (Some(NamedType::Enum { symbols, .. }), Value::String(s)) => symbols.contains(s),
                (Some(NamedType::Fixed { .. }), Value::String(_)) => true,
                (Some(NamedType::Record { fields, .. }), Value::Object(m)) => {
                    fields.iter().all(|f| match m.get(&f.name) {
                        Some(x) => self.default_fits(&f.schema, x),
                        None => f.default.is_some(),
                    })
                }
                // A record still being defined (recursive): accept.
                (Some(NamedType::Record { fields, .. }), _) if fields.is_empty() => true,
                _ => false,
            },
            _ => false,
        }
    }
}

/// What makes two union branches the same: their type, or their name for named types.
fn union_key(t: &Avro) -> String {
    match t {
        Avro::Array(_) => "array".into(),
        Avro::Map(_) => "map".into(),
        other => other.describe(),
    }
}

/// Parses `text` with its references (already resolved, in dependency order) and returns the
/// schema in the stored form (or the normalized form with `normalize`).
pub fn parse(text: &str, references: &[String], normalize: bool) -> Result<AvroSchema, String> {
    let mut named = HashMap::new();
    for r in references {
        let v: Value = serde_json::from_str(r).map_err(|e| format!("reference: {e}"))?;
        Parser { named: &mut named }.parse(&v, None)?;
    }
    let value: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let root = Parser { named: &mut named }.parse(&value, None)?;
    // A second opinion from the Avro library itself.
    let checked = if references.is_empty() {
        apache_avro::Schema::parse_str(text).map(|_| ())
    } else {
        let refs: Vec<&str> = references.iter().map(String::as_str).collect();
        apache_avro::Schema::parse_str_with_list(text, refs).map(|_| ())
    };
    if let Err(e) = checked {
        return Err(e.to_string());
    }
    let canonical = if normalize {
        let mut v = value.clone();
        normalize_value(&mut v, None);
        v.to_string()
    } else {
        stored_form(&value)
    };
    Ok(AvroSchema {
        root,
        named,
        canonical,
    })
}

/// Compact JSON; a primitive written as `{"type":"string"}` becomes `"string"`.
fn stored_form(v: &Value) -> String {
    if let Value::Object(o) = v {
        if o.len() == 1 {
            if let Some(Value::String(t)) = o.get("type") {
                if primitive(t).is_some() {
                    return Value::String(t.clone()).to_string();
                }
            }
        }
    }
    v.to_string()
}

/// Full names instead of namespaces, object keys sorted (array order kept: fields, symbols and
/// union branches mean something in their order).
fn normalize_value(v: &mut Value, ns: Option<&str>) {
    match v {
        Value::Array(a) => a.iter_mut().for_each(|x| normalize_value(x, ns)),
        Value::Object(o) => {
            let is_named = matches!(
                o.get("type").and_then(Value::as_str),
                Some("record" | "error" | "enum" | "fixed")
            );
            let mut inner_ns = ns.map(String::from);
            if is_named {
                let own_ns = o
                    .get("namespace")
                    .and_then(Value::as_str)
                    .map(String::from)
                    .or_else(|| ns.map(String::from));
                if let Some(Value::String(name)) = o.get("name").cloned() {
                    let full = full_name(&name, own_ns.as_deref());
                    inner_ns = full.rsplit_once('.').map(|(n, _)| n.to_string());
                    o.insert("name".into(), Value::String(full));
                }
                o.remove("namespace");
            }
            for (k, x) in o.iter_mut() {
                match k.as_str() {
                    "type" | "items" | "values" | "fields" => {
                        normalize_value(x, inner_ns.as_deref())
                    }
                    _ => {}
                }
                if let (true, Value::String(s)) =
                    (k == "type" || k == "items" || k == "values", &*x)
                {
                    if primitive(s).is_none()
                        && !matches!(
                            s.as_str(),
                            "record" | "error" | "enum" | "fixed" | "array" | "map"
                        )
                    {
                        *x = Value::String(full_name(s, inner_ns.as_deref()));
                    }
                }
            }
            let mut sorted: Vec<(String, Value)> = std::mem::take(o).into_iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(&b.0));
            o.extend(sorted);
        }
        Value::String(s) => {
            if primitive(s).is_none() {
                *s = full_name(s, ns);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_schemas_when_parsing_should_resolve_names_and_refuse_bad_ones() {
        let s = parse(
            r#"{"type":"record","name":"Order","namespace":"shop","fields":[
                {"name":"id","type":"long"},
                {"name":"next","type":["null","Order"],"default":null},
                {"name":"state","type":{"type":"enum","name":"State","symbols":["NEW","PAID"]}}]}"#,
            &[],
            false,
        )
        .unwrap();
        assert_eq!(s.root, Avro::Named("shop.Order".into()));
        assert!(s.named.contains_key("shop.State"));
        assert!(parse(
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"Nope"}]}"#,
            &[],
            false
        )
        .is_err());
        assert!(parse(
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":"x"}]}"#,
            &[],
            false
        )
        .is_err());
        assert!(parse(r#"["int","int"]"#, &[], false).is_err());
        assert_eq!(
            parse(r#"{"type": "string"}"#, &[], false)
                .unwrap()
                .canonical,
            r#""string""#
        );
    }

    #[test]
    fn given_layout_differences_when_normalizing_should_print_the_same() {
        let a = parse(
            r#"{"type":"record","name":"R","namespace":"n","fields":[{"name":"a","type":"int"}]}"#,
            &[],
            true,
        )
        .unwrap();
        let b = parse(
            r#"{"fields":[{"type":"int","name":"a"}],"name":"n.R","type":"record"}"#,
            &[],
            true,
        )
        .unwrap();
        assert_eq!(a.canonical, b.canonical);
    }

    #[test]
    fn given_reference_when_parsing_should_resolve_its_named_types() {
        let address = r#"{"type":"record","name":"Address","namespace":"shop","fields":[{"name":"city","type":"string"}]}"#;
        let s = parse(
            r#"{"type":"record","name":"Customer","namespace":"shop","fields":[{"name":"home","type":"Address"}]}"#,
            &[address.to_string()],
            false,
        )
        .unwrap();
        assert!(s.named.contains_key("shop.Address"));
    }
}
