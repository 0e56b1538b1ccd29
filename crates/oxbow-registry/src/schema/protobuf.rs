//! Protobuf schemas: compiled with `protox` (imports resolved from the schema's references, the
//! well-known `google/protobuf/*` types built in), given as `.proto` text or — as confluent-kafka's
//! Python serializer sends them — as a base64 `FileDescriptorProto`. Either way the stored text is
//! printed back from the compiled descriptor (one canonical text, so both forms get one id), and
//! `format=serialized` answers the descriptor in base64.

use std::collections::HashMap;

use base64::Engine as _;
use prost::Message as _;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{
    DescriptorProto, EnumDescriptorProto, FieldDescriptorProto, FileDescriptorProto,
};
use protox::file::{File, FileResolver, GoogleFileResolver};

/// The main file's name while compiling (references keep their own names).
const MAIN: &str = "__schema__.proto";

#[derive(Debug, Clone)]
pub struct ProtoSchema {
    pub file: FileDescriptorProto,
    /// Every compiled file, the main one's imports included, by name.
    pub files: HashMap<String, FileDescriptorProto>,
    pub canonical: String,
}

struct Resolver {
    files: HashMap<String, File>,
    google: GoogleFileResolver,
}

impl FileResolver for Resolver {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        match self.files.get(name) {
            Some(f) => Ok(f.clone()),
            None => self.google.open_file(name),
        }
    }
}

/// A file from `.proto` text, or from a base64 descriptor when the text does not parse.
fn open(name: &str, text: &str) -> Result<File, String> {
    match File::from_source(name, text) {
        Ok(f) => Ok(f),
        Err(text_error) => {
            let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(text.trim()) else {
                return Err(text_error.to_string());
            };
            let mut proto = FileDescriptorProto::decode(bytes.as_slice())
                .map_err(|_| text_error.to_string())?;
            proto.name = Some(name.to_string());
            Ok(File::from_file_descriptor_proto(proto))
        }
    }
}

/// Compiles `text` with its references (`(import name, text)`).
pub fn parse(text: &str, references: &[(String, String)]) -> Result<ProtoSchema, String> {
    let mut files = HashMap::new();
    for (name, t) in references {
        files.insert(
            name.clone(),
            open(name, t).map_err(|e| format!("reference {name}: {e}"))?,
        );
    }
    files.insert(MAIN.to_string(), open(MAIN, text)?);
    let mut compiler = protox::Compiler::with_file_resolver(Resolver {
        files,
        google: GoogleFileResolver::new(),
    });
    compiler.include_imports(true);
    compiler.open_file(MAIN).map_err(|e| e.to_string())?;
    let pool = compiler.descriptor_pool();
    let main = pool
        .get_file_by_name(MAIN)
        .ok_or("the compiled schema is missing")?;
    let file = main.file_descriptor_proto().clone();
    let all = pool
        .files()
        .map(|f| (f.name().to_string(), f.file_descriptor_proto().clone()))
        .collect();
    let canonical = print(&file);
    Ok(ProtoSchema {
        file,
        files: all,
        canonical,
    })
}

/// The main file's descriptor in base64 (`format=serialized`), named as clients expect.
pub fn serialized(schema: &ProtoSchema) -> String {
    let mut f = schema.file.clone();
    f.name = Some("schema.proto".into());
    base64::engine::general_purpose::STANDARD.encode(f.encode_to_vec())
}

fn scalar_name(t: Type) -> &'static str {
    match t {
        Type::Double => "double",
        Type::Float => "float",
        Type::Int64 => "int64",
        Type::Uint64 => "uint64",
        Type::Int32 => "int32",
        Type::Fixed64 => "fixed64",
        Type::Fixed32 => "fixed32",
        Type::Bool => "bool",
        Type::String => "string",
        Type::Bytes => "bytes",
        Type::Uint32 => "uint32",
        Type::Sfixed32 => "sfixed32",
        Type::Sfixed64 => "sfixed64",
        Type::Sint32 => "sint32",
        Type::Sint64 => "sint64",
        Type::Group | Type::Message | Type::Enum => "",
    }
}

/// A field's type as written in `.proto` text.
pub fn type_text(f: &FieldDescriptorProto) -> String {
    match f.r#type() {
        Type::Message | Type::Enum | Type::Group => f.type_name().to_string(),
        t => scalar_name(t).to_string(),
    }
}

/// Prints a file descriptor as `.proto` text.
pub fn print(f: &FileDescriptorProto) -> String {
    let mut out = String::new();
    let syntax = match f.syntax() {
        "" => "proto2",
        s => s,
    };
    out.push_str(&format!("syntax = \"{syntax}\";\n"));
    if !f.package().is_empty() {
        out.push_str(&format!("package {};\n", f.package()));
    }
    for (i, d) in f.dependency.iter().enumerate() {
        let public = f.public_dependency.contains(&(i as i32));
        out.push_str(&format!(
            "import {}\"{d}\";\n",
            if public { "public " } else { "" }
        ));
    }
    if let Some(o) = &f.options {
        let mut opt = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                out.push_str(&format!("option {k} = {v};\n"));
            }
        };
        opt(
            "java_package",
            o.java_package.as_ref().map(|v| format!("{v:?}")),
        );
        opt(
            "java_outer_classname",
            o.java_outer_classname.as_ref().map(|v| format!("{v:?}")),
        );
        opt(
            "java_multiple_files",
            o.java_multiple_files.map(|v| v.to_string()),
        );
        opt(
            "go_package",
            o.go_package.as_ref().map(|v| format!("{v:?}")),
        );
        opt(
            "csharp_namespace",
            o.csharp_namespace.as_ref().map(|v| format!("{v:?}")),
        );
    }
    for m in &f.message_type {
        out.push('\n');
        print_message(&mut out, m, 0, syntax);
    }
    for e in &f.enum_type {
        out.push('\n');
        print_enum(&mut out, e, 0);
    }
    out
}

fn indent(n: usize) -> String {
    "  ".repeat(n)
}

fn print_enum(out: &mut String, e: &EnumDescriptorProto, depth: usize) {
    let pad = indent(depth);
    out.push_str(&format!("{pad}enum {} {{\n", e.name()));
    for v in &e.value {
        out.push_str(&format!("{pad}  {} = {};\n", v.name(), v.number()));
    }
    out.push_str(&format!("{pad}}}\n"));
}

fn print_message(out: &mut String, m: &DescriptorProto, depth: usize, syntax: &str) {
    let pad = indent(depth);
    out.push_str(&format!("{pad}message {} {{\n", m.name()));
    let map_entries: HashMap<&str, &DescriptorProto> = m
        .nested_type
        .iter()
        .filter(|n| n.options.as_ref().is_some_and(|o| o.map_entry()))
        .map(|n| (n.name(), n))
        .collect();
    let field_line = |f: &FieldDescriptorProto, in_oneof: bool| -> String {
        let short = f.type_name().rsplit('.').next().unwrap_or_default();
        let mut opts = Vec::new();
        if let Some(o) = &f.options {
            if o.deprecated() {
                opts.push("deprecated = true".to_string());
            }
            if let Some(p) = o.packed {
                opts.push(format!("packed = {p}"));
            }
        }
        if let Some(d) = &f.default_value {
            let quoted = matches!(f.r#type(), Type::String | Type::Bytes);
            opts.push(if quoted {
                format!("default = {d:?}")
            } else {
                format!("default = {d}")
            });
        }
        let opts = if opts.is_empty() {
            String::new()
        } else {
            format!(" [{}]", opts.join(", "))
        };
        if f.r#type() == Type::Message && f.label() == Label::Repeated {
            if let Some(entry) = map_entries.get(short) {
                let k = entry
                    .field
                    .iter()
                    .find(|x| x.number() == 1)
                    .map(type_text)
                    .unwrap_or_default();
                let v = entry
                    .field
                    .iter()
                    .find(|x| x.number() == 2)
                    .map(type_text)
                    .unwrap_or_default();
                return format!("map<{k}, {v}> {} = {}{opts};", f.name(), f.number());
            }
        }
        let label = match f.label() {
            _ if in_oneof => "",
            Label::Repeated => "repeated ",
            Label::Required => "required ",
            Label::Optional if syntax == "proto2" || f.proto3_optional() => "optional ",
            Label::Optional => "",
        };
        format!(
            "{label}{} {} = {}{opts};",
            type_text(f),
            f.name(),
            f.number()
        )
    };
    let real_oneof = |f: &FieldDescriptorProto| f.oneof_index.is_some() && !f.proto3_optional();
    // Fields in declaration order; a oneof printed whole where its first member stands.
    let mut printed_oneofs = Vec::new();
    for f in &m.field {
        if !real_oneof(f) {
            out.push_str(&format!("{pad}  {}\n", field_line(f, false)));
            continue;
        }
        let i = f.oneof_index.unwrap_or_default();
        if printed_oneofs.contains(&i) {
            continue;
        }
        printed_oneofs.push(i);
        let name = m
            .oneof_decl
            .get(i as usize)
            .map(|o| o.name())
            .unwrap_or("oneof");
        out.push_str(&format!("{pad}  oneof {name} {{\n"));
        for member in m
            .field
            .iter()
            .filter(|x| real_oneof(x) && x.oneof_index == Some(i))
        {
            out.push_str(&format!("{pad}    {}\n", field_line(member, true)));
        }
        out.push_str(&format!("{pad}  }}\n"));
    }
    for r in &m.reserved_range {
        let (s, e) = (r.start(), r.end() - 1);
        if s == e {
            out.push_str(&format!("{pad}  reserved {s};\n"));
        } else {
            out.push_str(&format!("{pad}  reserved {s} to {e};\n"));
        }
    }
    if !m.reserved_name.is_empty() {
        let names: Vec<String> = m.reserved_name.iter().map(|n| format!("{n:?}")).collect();
        out.push_str(&format!("{pad}  reserved {};\n", names.join(", ")));
    }
    for n in m
        .nested_type
        .iter()
        .filter(|n| !map_entries.contains_key(n.name()))
    {
        print_message(out, n, depth + 1, syntax);
    }
    for e in &m.enum_type {
        print_enum(out, e, depth + 1);
    }
    out.push_str(&format!("{pad}}}\n"));
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORDER: &str = r#"
        syntax = "proto3";
        package shop;
        import "google/protobuf/timestamp.proto";
        message Order {
          string id = 1;
          repeated Line lines = 2;
          map<string, int64> totals = 3;
          google.protobuf.Timestamp at = 4;
          oneof payment { string card = 5; string iban = 6; }
          optional string note = 7;
          message Line { string sku = 1; int32 qty = 2; }
          enum State { NEW = 0; PAID = 1; }
          State state = 8;
          reserved 20 to 25;
        }"#;

    #[test]
    fn given_proto_text_when_compiling_should_print_a_canonical_text_that_compiles_the_same() {
        let s = parse(ORDER, &[]).unwrap();
        assert_eq!(s.file.package(), "shop");
        let again = parse(&s.canonical, &[]).unwrap();
        assert_eq!(again.canonical, s.canonical, "printing is stable");
        assert_eq!(again.file.message_type, s.file.message_type);
        // The base64 descriptor form (confluent-kafka's Python serializer) gives the same text.
        let b64 = serialized(&s);
        assert_eq!(parse(&b64, &[]).unwrap().canonical, s.canonical);
        assert!(
            s.canonical.contains("map<string, int64> totals = 3;"),
            "{}",
            s.canonical
        );
        assert!(s.canonical.contains("oneof payment"));
        assert!(s.canonical.contains("optional string note = 7;"));
    }

    #[test]
    fn given_references_when_compiling_should_resolve_imports_and_refuse_unknown_ones() {
        let address = "syntax = \"proto3\"; package shop; message Address { string city = 1; }";
        let customer = "syntax = \"proto3\"; package shop; import \"common/address.proto\"; message Customer { Address home = 1; }";
        let refs = vec![("common/address.proto".to_string(), address.to_string())];
        let s = parse(customer, &refs).unwrap();
        assert_eq!(s.file.message_type[0].field[0].type_name(), ".shop.Address");
        assert!(parse(customer, &[]).is_err());
        assert!(parse("syntax = \"proto3\"; message M { Nope x = 1; }", &[]).is_err());
    }
}
