//! Protobuf compatibility as Confluent decides it: what matters is the wire. A message of the old
//! schema may not disappear; a field number keeps a wire-compatible type (the varint family
//! int32/int64/uint32/uint64/bool/enum, the zigzag family sint32/sint64, fixed32/sfixed32,
//! fixed64/sfixed64, string/bytes), its message or enum type, and its label; required fields may
//! be neither added nor removed; fields may not be gathered into a oneof; the package stays.
//! Added and removed optional fields are compatible.

use std::collections::HashMap;

use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FieldDescriptorProto};

use crate::schema::protobuf::{type_text, ProtoSchema};

pub use super::Incompatibility;

fn family(t: Type) -> u8 {
    use Type::*;
    match t {
        Int32 | Int64 | Uint32 | Uint64 | Bool | Enum => 1,
        Sint32 | Sint64 => 2,
        Fixed32 | Sfixed32 | Float => 3,
        Fixed64 | Sfixed64 | Double => 4,
        String | Bytes => 5,
        Message => 6,
        Group => 7,
    }
}

/// Messages of a file by full name (nested ones included).
fn messages(s: &ProtoSchema) -> HashMap<String, &DescriptorProto> {
    fn walk<'a>(
        prefix: &str,
        ms: &'a [DescriptorProto],
        out: &mut HashMap<String, &'a DescriptorProto>,
    ) {
        for m in ms {
            let name = if prefix.is_empty() {
                m.name().to_string()
            } else {
                format!("{prefix}.{}", m.name())
            };
            if !m.options.as_ref().is_some_and(|o| o.map_entry()) {
                walk(&name, &m.nested_type, out);
                out.insert(name, m);
            }
        }
    }
    let mut out = HashMap::new();
    walk(s.file.package(), &s.file.message_type, &mut out);
    out
}

/// Every reason `reader` cannot read `writer`'s data (`backward`: the reader is the new schema).
pub fn check(reader: &ProtoSchema, writer: &ProtoSchema, backward: bool) -> Vec<Incompatibility> {
    let (new, old) = if backward {
        ("new", "old")
    } else {
        ("old", "new")
    };
    let mut out = Vec::new();
    let mut fail = |kind, path: String, description: String| {
        out.push(Incompatibility {
            kind,
            path,
            description,
        })
    };
    if reader.file.package() != writer.file.package() {
        fail(
            "PACKAGE_CHANGED",
            "#/package".into(),
            format!(
                "package changed from '{}' to '{}'",
                if backward {
                    writer.file.package()
                } else {
                    reader.file.package()
                },
                if backward {
                    reader.file.package()
                } else {
                    writer.file.package()
                }
            ),
        );
    }
    let rm = messages(reader);
    let wm = messages(writer);
    let mut names: Vec<&String> = wm.keys().collect();
    names.sort();
    for name in names {
        let w = wm[name];
        let path = format!("#/{name}");
        let Some(r) = rm.get(name) else {
            fail(
                "MESSAGE_REMOVED",
                path,
                format!("message {name} of the {old} schema is missing from the {new} schema"),
            );
            continue;
        };
        let rf: HashMap<i32, &FieldDescriptorProto> =
            r.field.iter().map(|f| (f.number(), f)).collect();
        let wf: HashMap<i32, &FieldDescriptorProto> =
            w.field.iter().map(|f| (f.number(), f)).collect();
        let mut numbers: Vec<&i32> = wf.keys().collect();
        numbers.sort();
        for n in numbers {
            let wfield = wf[n];
            let fpath = format!("{path}/{n}");
            let Some(rfield) = rf.get(n) else {
                if wfield.label() == Label::Required {
                    fail("REQUIRED_FIELD_REMOVED", fpath, format!("required field '{}' ({n}) of message {name} is missing from the {new} schema", wfield.name()));
                }
                continue;
            };
            let (rt, wt) = (rfield.r#type(), wfield.r#type());
            if family(rt) != family(wt) {
                let kind = if rt == Type::Message || wt == Type::Message {
                    "FIELD_KIND_CHANGED"
                } else {
                    "FIELD_SCALAR_KIND_CHANGED"
                };
                let (from, to) = if backward {
                    (type_text(wfield), type_text(rfield))
                } else {
                    (type_text(rfield), type_text(wfield))
                };
                fail(kind, fpath.clone(), format!("field '{}' ({n}) of message {name} changed from {from} to {to}, which is not wire-compatible", rfield.name()));
            } else if matches!(rt, Type::Message | Type::Enum)
                && matches!(wt, Type::Message | Type::Enum)
                && rfield.type_name() != wfield.type_name()
            {
                fail(
                    "FIELD_NAMED_TYPE_CHANGED",
                    fpath.clone(),
                    format!(
                        "field '{}' ({n}) of message {name} changed type from {} to {}",
                        rfield.name(),
                        if backward {
                            wfield.type_name()
                        } else {
                            rfield.type_name()
                        },
                        if backward {
                            rfield.type_name()
                        } else {
                            wfield.type_name()
                        }
                    ),
                );
            }
            let repeated = |f: &FieldDescriptorProto| f.label() == Label::Repeated;
            if repeated(rfield) != repeated(wfield) {
                fail(
                    "FIELD_LABEL_CHANGED",
                    fpath.clone(),
                    format!(
                        "field '{}' ({n}) of message {name} changed between repeated and singular",
                        rfield.name()
                    ),
                );
            }
        }
        for (n, rfield) in &rf {
            if rfield.label() == Label::Required && !wf.contains_key(n) {
                fail(
                    "REQUIRED_FIELD_ADDED",
                    format!("{path}/{n}"),
                    format!(
                        "required field '{}' ({n}) added to message {name} in the {new} schema",
                        rfield.name()
                    ),
                );
            }
        }
        // Fields that were apart, gathered into one oneof.
        for (i, o) in r.oneof_decl.iter().enumerate() {
            let moved = r
                .field
                .iter()
                .filter(|f| f.oneof_index == Some(i as i32) && !f.proto3_optional())
                .filter(|f| {
                    wf.get(&f.number())
                        .is_some_and(|w| w.oneof_index.is_none() || w.proto3_optional())
                })
                .count();
            if moved > 1 {
                fail(
                    "MULTIPLE_FIELDS_MOVED_TO_ONEOF",
                    format!("{path}/oneof/{}", o.name()),
                    format!(
                        "{moved} existing fields of message {name} moved into oneof '{}'",
                        o.name()
                    ),
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::protobuf::parse;

    fn p(text: &str) -> ProtoSchema {
        parse(text, &[]).unwrap()
    }

    fn backward(new: &str, old: &str) -> Vec<Incompatibility> {
        check(&p(new), &p(old), true)
    }

    const V1: &str =
        "syntax = \"proto3\"; package bank; message Payment { string id = 1; int64 amount = 2; }";

    #[test]
    fn given_proto_changes_when_checking_should_follow_wire_compatibility() {
        // Added and removed fields are compatible.
        assert!(backward("syntax = \"proto3\"; package bank; message Payment { string id = 1; int64 amount = 2; string note = 3; }", V1).is_empty());
        assert!(backward(
            "syntax = \"proto3\"; package bank; message Payment { string id = 1; }",
            V1
        )
        .is_empty());
        // int64 → int32 shares the varint wire type; int64 → string does not.
        assert!(backward("syntax = \"proto3\"; package bank; message Payment { string id = 1; int32 amount = 2; }", V1).is_empty());
        let e = backward("syntax = \"proto3\"; package bank; message Payment { string id = 1; string amount = 2; }", V1);
        assert_eq!(e[0].kind, "FIELD_SCALAR_KIND_CHANGED");
        assert!(
            e[0].description
                .contains("'amount' (2) of message bank.Payment changed from int64 to string"),
            "{e:?}"
        );
        assert_eq!(
            backward(
                "syntax = \"proto3\"; package bank; message Other { string id = 1; }",
                V1
            )[0]
            .kind,
            "MESSAGE_REMOVED"
        );
        assert_eq!(backward("syntax = \"proto3\"; package fin; message Payment { string id = 1; int64 amount = 2; }", V1)[0].kind, "PACKAGE_CHANGED");
        assert_eq!(backward("syntax = \"proto3\"; package bank; message Payment { oneof x { string id = 1; int64 amount = 2; } }", V1)[0].kind, "MULTIPLE_FIELDS_MOVED_TO_ONEOF");
        assert_eq!(backward("syntax = \"proto3\"; package bank; message Payment { string id = 1; repeated int64 amount = 2; }", V1)[0].kind, "FIELD_LABEL_CHANGED");
        let req1 = "syntax = \"proto2\"; package bank; message P { optional string id = 1; }";
        let req2 = "syntax = \"proto2\"; package bank; message P { optional string id = 1; required int32 n = 2; }";
        assert_eq!(backward(req2, req1)[0].kind, "REQUIRED_FIELD_ADDED");
        assert_eq!(
            check(&p(req1), &p(req2), false)[0].kind,
            "REQUIRED_FIELD_REMOVED"
        );
    }
}
