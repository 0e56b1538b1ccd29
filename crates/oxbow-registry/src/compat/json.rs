//! JSON Schema compatibility as Confluent decides it: the reader schema must accept every
//! document the writer schema accepts. Checked keyword by keyword — types (an integer is a
//! number), enums and consts, numeric and string bounds, patterns, object properties under open
//! and closed content models (`additionalProperties`), newly required properties, array items and
//! bounds, and `anyOf`/`oneOf` branches — through local `$ref`s.

use serde_json::{Map, Value};

pub use super::Incompatibility;

/// Every reason `reader` does not accept all documents of `writer` (`backward`: the reader is
/// the new schema).
pub fn check(reader: &Value, writer: &Value, backward: bool) -> Vec<Incompatibility> {
    let mut c = Checker {
        reader_root: reader,
        writer_root: writer,
        new_is_reader: backward,
        out: Vec::new(),
        depth: 0,
    };
    c.check(reader, writer, "#");
    c.out
}

struct Checker<'a> {
    reader_root: &'a Value,
    writer_root: &'a Value,
    new_is_reader: bool,
    out: Vec<Incompatibility>,
    depth: usize,
}

fn resolve<'a>(root: &'a Value, v: &'a Value) -> &'a Value {
    let mut cur = v;
    for _ in 0..32 {
        let Some(r) = cur.get("$ref").and_then(Value::as_str) else {
            return cur;
        };
        let Some(ptr) = r.strip_prefix('#') else {
            return cur;
        };
        match root.pointer(ptr) {
            Some(next) => cur = next,
            None => return cur,
        }
    }
    cur
}

fn types(v: &Value) -> Option<Vec<String>> {
    match v.get("type")? {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(a) => Some(
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect(),
        ),
        _ => None,
    }
}

fn accepts_anything(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Object(o) => o.keys().all(|k| {
            matches!(
                k.as_str(),
                "$schema" | "$id" | "title" | "description" | "default" | "examples" | "$comment"
            )
        }),
        _ => false,
    }
}

fn num(o: &Map<String, Value>, k: &str) -> Option<f64> {
    o.get(k).and_then(Value::as_f64)
}

impl Checker<'_> {
    fn fail(&mut self, kind: &'static str, path: &str, description: String) {
        self.out.push(Incompatibility {
            kind,
            path: path.to_string(),
            description,
        });
    }

    fn who(&self, reader: bool) -> &'static str {
        if reader == self.new_is_reader {
            "new"
        } else {
            "old"
        }
    }

    fn check(&mut self, reader: &Value, writer: &Value, path: &str) {
        self.depth += 1;
        if self.depth > 64 {
            self.depth -= 1;
            return;
        }
        let r = resolve(self.reader_root, reader);
        let w = resolve(self.writer_root, writer);
        self.check_resolved(r, w, path);
        self.depth -= 1;
    }

    fn check_resolved(&mut self, r: &Value, w: &Value, path: &str) {
        if accepts_anything(r) || w == &Value::Bool(false) || r == w {
            return;
        }
        let (Some(ro), wo) = (r.as_object(), w.as_object()) else {
            if r == &Value::Bool(false) {
                self.fail(
                    "TYPE_NARROWED",
                    path,
                    format!("the {} schema accepts nothing at {path}", self.who(true)),
                );
            }
            return;
        };
        let empty = Map::new();
        let wo = wo.unwrap_or(&empty);
        // A writer sum type read by a plain reader: each branch on its own.
        if !ro.contains_key("oneOf") && !ro.contains_key("anyOf") {
            if let Some(wb) = wo
                .get("oneOf")
                .or_else(|| wo.get("anyOf"))
                .and_then(Value::as_array)
            {
                for b in wb {
                    self.check(r, b, path);
                }
                return;
            }
        }
        // Sum types: every writer branch must be accepted by some reader branch.
        for key in ["oneOf", "anyOf"] {
            if let Some(rb) = ro.get(key).and_then(Value::as_array) {
                let wb: Vec<&Value> = match wo
                    .get("oneOf")
                    .or_else(|| wo.get("anyOf"))
                    .and_then(Value::as_array)
                {
                    Some(b) => b.iter().collect(),
                    None => vec![w],
                };
                for (i, b) in wb.iter().enumerate() {
                    let ok = rb.iter().any(|x| {
                        let mut sub = Checker {
                            reader_root: self.reader_root,
                            writer_root: self.writer_root,
                            new_is_reader: self.new_is_reader,
                            out: Vec::new(),
                            depth: self.depth,
                        };
                        sub.check(x, b, path);
                        sub.out.is_empty()
                    });
                    if !ok {
                        self.fail("SUM_TYPE_NARROWED", &format!("{path}/{key}"), format!("branch {i} of the {} schema at {path} is not accepted by any branch of the {} schema's {key}", self.who(false), self.who(true)));
                    }
                }
                return;
            }
        }
        // Types.
        if let Some(rt) = types(r) {
            match types(w) {
                None => self.fail("TYPE_NARROWED", &format!("{path}/type"), format!("the {} schema restricts {path} to {rt:?}; the {} schema does not restrict its type", self.who(true), self.who(false))),
                Some(wt) => {
                    for t in &wt {
                        let covered = rt.contains(t) || (t == "integer" && rt.iter().any(|x| x == "number"));
                        if !covered {
                            let (from, to) = if self.new_is_reader { (wt.join("|"), rt.join("|")) } else { (rt.join("|"), wt.join("|")) };
                            self.fail("TYPE_CHANGED", &format!("{path}/type"), format!("type at {path} changed from {from} to {to}"));
                        }
                    }
                }
            }
        }
        // Enums and consts.
        if let Some(re) = ro.get("enum").and_then(Value::as_array) {
            match wo.get("enum").and_then(Value::as_array) {
                Some(we) => {
                    let missing: Vec<&Value> = we.iter().filter(|x| !re.contains(x)).collect();
                    if !missing.is_empty() {
                        self.fail(
                            "ENUM_ARRAY_NARROWED",
                            &format!("{path}/enum"),
                            format!(
                                "enum at {path} lost the values {} in the {} schema",
                                Value::Array(missing.into_iter().cloned().collect()),
                                self.who(true)
                            ),
                        );
                    }
                }
                None => self.fail(
                    "ENUM_ARRAY_ADDED",
                    &format!("{path}/enum"),
                    format!(
                        "the {} schema restricts {path} to an enum the {} schema does not have",
                        self.who(true),
                        self.who(false)
                    ),
                ),
            }
        }
        if let Some(rc) = ro.get("const") {
            if wo.get("const") != Some(rc) {
                self.fail(
                    "CONST_CHANGED",
                    &format!("{path}/const"),
                    format!("the {} schema requires {path} to be {rc}", self.who(true)),
                );
            }
        }
        // Bounds: the reader may not be narrower than the writer.
        self.lower_bound(ro, wo, "minimum", path);
        self.lower_bound(ro, wo, "exclusiveMinimum", path);
        self.lower_bound(ro, wo, "minLength", path);
        self.lower_bound(ro, wo, "minItems", path);
        self.lower_bound(ro, wo, "minProperties", path);
        self.upper_bound(ro, wo, "maximum", path);
        self.upper_bound(ro, wo, "exclusiveMaximum", path);
        self.upper_bound(ro, wo, "maxLength", path);
        self.upper_bound(ro, wo, "maxItems", path);
        self.upper_bound(ro, wo, "maxProperties", path);
        for key in ["pattern", "multipleOf"] {
            if let Some(rv) = ro.get(key) {
                if wo.get(key) != Some(rv) {
                    self.fail(
                        if key == "pattern" {
                            "PATTERN_CHANGED"
                        } else {
                            "MULTIPLE_OF_CHANGED"
                        },
                        &format!("{path}/{key}"),
                        format!(
                            "{key} at {path} added or changed to {rv} in the {} schema",
                            self.who(true)
                        ),
                    );
                }
            }
        }
        if ro.get("uniqueItems") == Some(&Value::Bool(true))
            && wo.get("uniqueItems") != Some(&Value::Bool(true))
        {
            self.fail(
                "UNIQUE_ITEMS_ADDED",
                &format!("{path}/uniqueItems"),
                format!(
                    "the {} schema requires unique items at {path}",
                    self.who(true)
                ),
            );
        }
        self.objects(ro, wo, path);
        // Arrays.
        match (ro.get("items"), wo.get("items")) {
            (Some(ri), Some(wi)) if ri.is_object() || ri.is_boolean() => {
                self.check(ri, wi, &format!("{path}/items"))
            }
            (Some(ri), None) if !accepts_anything(ri) => self.fail(
                "ITEMS_ADDED",
                &format!("{path}/items"),
                format!(
                    "the {} schema restricts the items at {path}",
                    self.who(true)
                ),
            ),
            _ => {}
        }
    }

    fn lower_bound(
        &mut self,
        ro: &Map<String, Value>,
        wo: &Map<String, Value>,
        key: &str,
        path: &str,
    ) {
        if let Some(rv) = num(ro, key) {
            match num(wo, key) {
                Some(wv) if wv >= rv => {}
                Some(wv) => self.fail(
                    "BOUND_NARROWED",
                    &format!("{path}/{key}"),
                    format!("{key} at {path} increased from {wv} to {rv}{}", self.note()),
                ),
                None => self.fail(
                    "BOUND_ADDED",
                    &format!("{path}/{key}"),
                    format!(
                        "{key} {rv} added at {path} in the {} schema",
                        self.who(true)
                    ),
                ),
            }
        }
    }

    fn upper_bound(
        &mut self,
        ro: &Map<String, Value>,
        wo: &Map<String, Value>,
        key: &str,
        path: &str,
    ) {
        if let Some(rv) = num(ro, key) {
            match num(wo, key) {
                Some(wv) if wv <= rv => {}
                Some(wv) => self.fail(
                    "BOUND_NARROWED",
                    &format!("{path}/{key}"),
                    format!("{key} at {path} decreased from {wv} to {rv}{}", self.note()),
                ),
                None => self.fail(
                    "BOUND_ADDED",
                    &format!("{path}/{key}"),
                    format!(
                        "{key} {rv} added at {path} in the {} schema",
                        self.who(true)
                    ),
                ),
            }
        }
    }

    fn note(&self) -> &'static str {
        if self.new_is_reader {
            ""
        } else {
            " (read by the old schema)"
        }
    }

    fn objects(&mut self, ro: &Map<String, Value>, wo: &Map<String, Value>, path: &str) {
        let empty = Map::new();
        let rp = ro
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let wp = wo
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let w_closed = wo.get("additionalProperties") == Some(&Value::Bool(false));
        let r_additional = ro.get("additionalProperties");
        for (name, rs) in rp {
            let ppath = format!("{path}/properties/{name}");
            match wp.get(name) {
                Some(ws) => self.check(rs, ws, &ppath),
                None if w_closed || accepts_anything(rs) => {}
                None => {
                    // The writer's open content model may carry this property with any value.
                    match wo.get("additionalProperties") {
                        Some(wa) if wa.is_object() => self.check(rs, wa, &ppath),
                        _ => self.fail("PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", &ppath, format!("property '{name}' added to an open content model in the {} schema: documents of the {} schema may carry '{name}' with any value", self.who(true), self.who(false))),
                    }
                }
            }
        }
        for (name, ws) in wp {
            if rp.contains_key(name) {
                continue;
            }
            let ppath = format!("{path}/properties/{name}");
            match r_additional {
                Some(Value::Bool(false)) => self.fail("PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", &ppath, format!("property '{name}' of the {} schema is not allowed by the closed content model of the {} schema", self.who(false), self.who(true))),
                Some(ra) if ra.is_object() => self.check(ra, ws, &ppath),
                _ => {}
            }
        }
        if r_additional == Some(&Value::Bool(false)) && !w_closed {
            self.fail("ADDITIONAL_PROPERTIES_REMOVED", &format!("{path}/additionalProperties"), format!("the {} schema closes the content model at {path} (additionalProperties false); the {} schema is open", self.who(true), self.who(false)));
        }
        let req = |o: &Map<String, Value>| -> Vec<String> {
            o.get("required")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default()
        };
        let wr = req(wo);
        for name in req(ro) {
            if wr.contains(&name) {
                continue;
            }
            let has_default = rp.get(&name).and_then(|p| p.get("default")).is_some();
            if !has_default {
                self.fail("REQUIRED_ATTRIBUTE_ADDED", &format!("{path}/required"), format!("property '{name}' is required in the {} schema but not in the {} schema, and has no default", self.who(true), self.who(false)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn backward(new: Value, old: Value) -> Vec<Incompatibility> {
        check(&new, &old, true)
    }

    #[test]
    fn given_json_changes_when_checking_backward_should_follow_confluents_rules() {
        let open = json!({"type":"object","properties":{"a":{"type":"string"}}});
        let closed = json!({"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false});
        // Adding a property to an open model: old documents may carry it with any value.
        let open_b =
            json!({"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}}});
        assert_eq!(
            backward(open_b.clone(), open.clone())[0].kind,
            "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL"
        );
        // ... to a closed old model is fine.
        assert!(backward(open_b, closed.clone()).is_empty());
        // Removing a property from a closed model is not.
        let closed_none = json!({"type":"object","properties":{},"additionalProperties":false});
        assert_eq!(
            backward(closed_none, closed.clone())[0].kind,
            "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL"
        );
        // Closing an open model is not.
        assert_eq!(
            backward(closed, open.clone())[0].kind,
            "ADDITIONAL_PROPERTIES_REMOVED"
        );
        // integer → number widens; number → integer narrows.
        assert!(backward(json!({"type":"number"}), json!({"type":"integer"})).is_empty());
        assert_eq!(
            backward(json!({"type":"integer"}), json!({"type":"number"}))[0].kind,
            "TYPE_CHANGED"
        );
        // A new required property without a default.
        let req = json!({"type":"object","properties":{"a":{"type":"string"}},"required":["a"]});
        assert_eq!(
            backward(req, open.clone())[0].kind,
            "REQUIRED_ATTRIBUTE_ADDED"
        );
        // Bounds and enums.
        assert_eq!(
            backward(
                json!({"type":"string","maxLength":5}),
                json!({"type":"string","maxLength":10})
            )[0]
            .kind,
            "BOUND_NARROWED"
        );
        assert!(backward(
            json!({"type":"string","maxLength":10}),
            json!({"type":"string","maxLength":5})
        )
        .is_empty());
        assert_eq!(
            backward(json!({"enum":["a"]}), json!({"enum":["a","b"]}))[0].kind,
            "ENUM_ARRAY_NARROWED"
        );
        assert!(backward(json!({"enum":["a","b","c"]}), json!({"enum":["a","b"]})).is_empty());
        // Sum types.
        assert!(backward(
            json!({"oneOf":[{"type":"string"},{"type":"integer"}]}),
            json!({"type":"string"})
        )
        .is_empty());
        assert_eq!(
            backward(
                json!({"type":"string"}),
                json!({"oneOf":[{"type":"string"},{"type":"integer"}]})
            )[0]
            .kind,
            "TYPE_CHANGED"
        );
    }
}
