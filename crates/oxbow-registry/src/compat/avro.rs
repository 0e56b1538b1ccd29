//! Avro's schema resolution rules (the specification's "Schema Resolution"), as a check of whether
//! data written with one schema can be read with another, with every incompatibility described:
//! its kind (Confluent's error types), the path in the reader schema, and what changed.

use std::collections::HashSet;

use crate::schema::avro::{Avro, AvroSchema, NamedType};

pub use super::Incompatibility;

/// Which schema is the new one, for the messages.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Direction {
    /// The new schema reads data of the old one (BACKWARD).
    NewReadsOld,
    /// The old schema reads data of the new one (FORWARD).
    OldReadsNew,
}

impl Direction {
    fn reader(self) -> &'static str {
        match self {
            Direction::NewReadsOld => "new",
            Direction::OldReadsNew => "old",
        }
    }

    fn writer(self) -> &'static str {
        match self {
            Direction::NewReadsOld => "old",
            Direction::OldReadsNew => "new",
        }
    }
}

/// Every reason `reader` cannot read data written with `writer` (empty: it can).
pub fn check(reader: &AvroSchema, writer: &AvroSchema, dir: Direction) -> Vec<Incompatibility> {
    let mut c = Checker {
        reader,
        writer,
        dir,
        seen: HashSet::new(),
        out: Vec::new(),
    };
    c.check(&reader.root, &writer.root, "", None);
    c.out
}

struct Checker<'a> {
    reader: &'a AvroSchema,
    writer: &'a AvroSchema,
    dir: Direction,
    /// (reader name, writer name) pairs being checked: recursive types end here.
    seen: HashSet<(String, String)>,
    out: Vec<Incompatibility>,
}

fn promotable(writer: &Avro, reader: &Avro) -> bool {
    use Avro::*;
    matches!(
        (writer, reader),
        (Int, Long | Float | Double)
            | (Long, Float | Double)
            | (Float, Double)
            | (String, Bytes)
            | (Bytes, String)
    )
}

fn short(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}

impl Checker<'_> {
    fn fail(&mut self, kind: &'static str, path: &str, description: String) {
        self.out.push(Incompatibility {
            kind,
            path: if path.is_empty() {
                "/".into()
            } else {
                path.to_string()
            },
            description,
        });
    }

    /// Whether `reader` reads `writer` without recording anything (for union branch search).
    fn quietly(&mut self, reader: &Avro, writer: &Avro, path: &str) -> bool {
        let before = self.out.len();
        let seen = self.seen.clone();
        self.check(reader, writer, path, None);
        let ok = self.out.len() == before;
        self.out.truncate(before);
        self.seen = seen;
        ok
    }

    fn check(&mut self, reader: &Avro, writer: &Avro, path: &str, field: Option<&str>) {
        let what = |f: Option<&str>| match f {
            Some(f) => format!("field '{f}'"),
            None => "the schema".to_string(),
        };
        if let Avro::Union(branches) = writer {
            for (i, b) in branches.iter().enumerate() {
                if let Avro::Union(rb) = reader {
                    if !rb.iter().any(|r| self.quietly(r, b, path)) {
                        let d = format!(
                            "{}: the {} schema's union branch {} ({}) is not readable by any branch of the {} schema's {}",
                            what(field), self.dir.writer(), i, b.describe(), self.dir.reader(), reader.describe()
                        );
                        self.fail("MISSING_UNION_BRANCH", path, d);
                    }
                } else if !self.quietly(reader, b, path) {
                    let d = format!(
                        "{}: the {} schema's {} cannot read the {} schema's union branch {} ({})",
                        what(field),
                        self.dir.reader(),
                        reader.describe(),
                        self.dir.writer(),
                        i,
                        b.describe()
                    );
                    self.fail("MISSING_UNION_BRANCH", path, d);
                }
            }
            return;
        }
        if let Avro::Union(rb) = reader {
            // The first branch of the same kind decides, as Avro's resolution picks it.
            if !rb.iter().any(|r| self.quietly(r, writer, path)) {
                let d = format!(
                    "{}: the {} schema's {} is not in the {} schema's {}",
                    what(field),
                    self.dir.writer(),
                    writer.describe(),
                    self.dir.reader(),
                    reader.describe()
                );
                self.fail("MISSING_UNION_BRANCH", path, d);
            }
            return;
        }
        match (reader, writer) {
            (Avro::Array(r), Avro::Array(w)) => self.check(r, w, &format!("{path}/items"), field),
            (Avro::Map(r), Avro::Map(w)) => self.check(r, w, &format!("{path}/values"), field),
            (Avro::Named(r), Avro::Named(w)) => self.named(r, w, path, field),
            (r, w) if r == w => {}
            (r, w) if promotable(w, r) => {}
            (r, w) => {
                let d = format!(
                    "{} changed from {} to {}",
                    what(field),
                    if self.dir == Direction::NewReadsOld {
                        w.describe()
                    } else {
                        r.describe()
                    },
                    if self.dir == Direction::NewReadsOld {
                        r.describe()
                    } else {
                        w.describe()
                    },
                );
                self.fail(
                    "TYPE_MISMATCH",
                    path,
                    format!(
                        "{d} (the {} schema's {} cannot read {})",
                        self.dir.reader(),
                        r.describe(),
                        w.describe()
                    ),
                );
            }
        }
    }

    fn named(&mut self, r: &str, w: &str, path: &str, field: Option<&str>) {
        let (Some(rt), Some(wt)) = (self.reader.named.get(r), self.writer.named.get(w)) else {
            return;
        };
        let names_match =
            short(r) == short(w) || rt.aliases().iter().any(|a| a == w || short(a) == short(w));
        if rt.kind() != wt.kind() {
            self.fail(
                "TYPE_MISMATCH",
                path,
                format!(
                    "{} changed from {} {} to {} {}",
                    field.map_or("the type".to_string(), |f| format!("field '{f}'")),
                    wt.kind(),
                    w,
                    rt.kind(),
                    r
                ),
            );
            return;
        }
        if !names_match {
            self.fail(
                "NAME_MISMATCH",
                path,
                format!(
                    "the {} schema's {} {} does not match the {} schema's {} (name or aliases)",
                    self.dir.reader(),
                    rt.kind(),
                    r,
                    self.dir.writer(),
                    w
                ),
            );
            return;
        }
        if !self.seen.insert((r.to_string(), w.to_string())) {
            return;
        }
        match (rt, wt) {
            (NamedType::Fixed { size: rs, .. }, NamedType::Fixed { size: ws, .. }) => {
                if rs != ws {
                    self.fail(
                        "FIXED_SIZE_MISMATCH",
                        &format!("{path}/size"),
                        format!(
                            "fixed {r}: size {ws} in the {} schema, {rs} in the {} schema",
                            self.dir.writer(),
                            self.dir.reader()
                        ),
                    );
                }
            }
            (
                NamedType::Enum {
                    symbols: rs,
                    default,
                    ..
                },
                NamedType::Enum { symbols: ws, .. },
            ) => {
                let missing: Vec<&String> = ws.iter().filter(|s| !rs.contains(s)).collect();
                if !missing.is_empty() && default.is_none() {
                    self.fail(
                        "MISSING_ENUM_SYMBOLS",
                        &format!("{path}/symbols"),
                        format!("enum {r}: the {} schema lacks the symbols {:?} of the {} schema and has no default", self.dir.reader(), missing, self.dir.writer()),
                    );
                }
            }
            (NamedType::Record { fields: rf, .. }, NamedType::Record { fields: wf, .. }) => {
                let (rf, wf) = (rf.clone(), wf.clone());
                for (i, f) in rf.iter().enumerate() {
                    let fpath = format!("{path}/fields/{i}");
                    let found = wf
                        .iter()
                        .find(|x| x.name == f.name)
                        .or_else(|| wf.iter().find(|x| f.aliases.contains(&x.name)));
                    match found {
                        Some(wfield) => self.check(
                            &f.schema,
                            &wfield.schema,
                            &format!("{fpath}/type"),
                            Some(&f.name),
                        ),
                        None if f.default.is_some() => {}
                        None => {
                            let d = match self.dir {
                                Direction::NewReadsOld => format!(
                                    "field '{}' added without a default (record {r}: the field at '{fpath}' in the new schema has no default value and is missing in the old schema)",
                                    f.name
                                ),
                                Direction::OldReadsNew => format!(
                                    "field '{}' removed while the old schema has no default for it (record {r}: the field at '{fpath}' in the old schema has no default value and is missing in the new schema)",
                                    f.name
                                ),
                            };
                            self.fail("READER_FIELD_MISSING_DEFAULT_VALUE", &fpath, d);
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::avro::parse;

    fn s(text: &str) -> AvroSchema {
        parse(text, &[], false).unwrap()
    }

    fn backward(new: &str, old: &str) -> Vec<Incompatibility> {
        check(&s(new), &s(old), Direction::NewReadsOld)
    }

    const V1: &str = r#"{"type":"record","name":"Payment","fields":[{"name":"id","type":"string"},{"name":"amount","type":"long"}]}"#;

    #[test]
    fn given_added_field_when_checking_backward_should_need_a_default() {
        let with_default = r#"{"type":"record","name":"Payment","fields":[{"name":"id","type":"string"},{"name":"amount","type":"long"},{"name":"branch","type":"string","default":"main"}]}"#;
        assert!(backward(with_default, V1).is_empty());
        let without = r#"{"type":"record","name":"Payment","fields":[{"name":"id","type":"string"},{"name":"amount","type":"long"},{"name":"branch","type":"string"}]}"#;
        let e = backward(without, V1);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].kind, "READER_FIELD_MISSING_DEFAULT_VALUE");
        assert!(
            e[0].description
                .contains("field 'branch' added without a default"),
            "{e:?}"
        );
        assert_eq!(e[0].path, "/fields/2");
    }

    #[test]
    fn given_changed_type_when_checking_should_name_field_and_types() {
        let changed = r#"{"type":"record","name":"Payment","fields":[{"name":"id","type":"string"},{"name":"amount","type":"string"}]}"#;
        let e = backward(changed, V1);
        assert_eq!(e[0].kind, "TYPE_MISMATCH");
        assert!(
            e[0].description
                .starts_with("field 'amount' changed from long to string"),
            "{e:?}"
        );
        assert_eq!(e[0].path, "/fields/1/type");
        // int → long is a promotion; long → int is not.
        let int = V1.replace("\"long\"", "\"int\"");
        assert!(backward(V1, &int).is_empty());
        assert!(!backward(&int, V1).is_empty());
    }

    #[test]
    fn given_enums_unions_and_recursion_when_checking_should_follow_avro_resolution() {
        let e2 = r#"{"type":"enum","name":"E","symbols":["A","B"]}"#;
        let e3 = r#"{"type":"enum","name":"E","symbols":["A","B","C"]}"#;
        let e2d = r#"{"type":"enum","name":"E","symbols":["A","B"],"default":"A"}"#;
        assert!(backward(e3, e2).is_empty());
        assert_eq!(backward(e2, e3)[0].kind, "MISSING_ENUM_SYMBOLS");
        assert!(backward(e2d, e3).is_empty());
        assert!(backward(r#"["null","string"]"#, r#""string""#).is_empty());
        assert_eq!(
            backward(r#""string""#, r#"["null","string"]"#)[0].kind,
            "MISSING_UNION_BRANCH"
        );
        let list = r#"{"type":"record","name":"L","fields":[{"name":"v","type":"int"},{"name":"next","type":["null","L"]}]}"#;
        assert!(backward(list, list).is_empty());
        let renamed =
            r#"{"type":"record","name":"M","aliases":["L"],"fields":[{"name":"v","type":"int"}]}"#;
        assert!(backward(renamed, list).is_empty());
        let other = r#"{"type":"record","name":"M","fields":[{"name":"v","type":"int"}]}"#;
        assert_eq!(backward(other, list)[0].kind, "NAME_MISMATCH");
    }
}
