//! Record values the lake reads with the registry's schemas (Confluent's framing: magic byte,
//! schema id, Protobuf message indexes, then the Avro datum or Protobuf message), from
//! arbitrary bytes: the first byte picks the schema (an Avro record, a Protobuf file); nothing
//! may panic, hang or allocate without bound.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use oxbow_registry::log::MemoryLog;
use oxbow_registry::payload::PayloadDecoder;
use oxbow_registry::registry::{Registry, SchemaRequest};

const AVRO: &str = r#"{"type":"record","name":"T","fields":[{"name":"id","type":"long"},{"name":"tags","type":{"type":"array","items":"string"}},{"name":"m","type":{"type":"map","values":["null","double"]}},{"name":"f","type":{"type":"fixed","name":"F","size":4}}]}"#;
const PROTO: &str = "syntax = \"proto3\";\nmessage A { int64 id = 1; }\nmessage B { string name = 1; repeated int32 n = 2; map<string, A> m = 3; bytes raw = 4; }\n";

fn decoder() -> &'static PayloadDecoder {
    static D: OnceLock<PayloadDecoder> = OnceLock::new();
    D.get_or_init(|| {
        let r = Registry::open(Arc::new(MemoryLog::default())).expect("registry");
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        for (subject, schema, ty) in [("a-value", AVRO, None), ("p-value", PROTO, Some("PROTOBUF"))] {
            let req = SchemaRequest {
                schema: schema.into(),
                schema_type: ty.map(String::from),
                ..SchemaRequest::default()
            };
            rt.block_on(r.register(subject, &req, false)).expect("register");
        }
        PayloadDecoder::new(Arc::new(r))
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let mut payload = vec![0, 0, 0, 0, 1 + (pick & 1)];
    payload.extend_from_slice(rest);
    let _ = decoder().to_json(&payload);
});
