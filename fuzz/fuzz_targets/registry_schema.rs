//! The schema registry's parsers and compatibility checks on arbitrary schema text (what POST
//! /subjects/{s}/versions hands them): the first byte picks the type, the rest is split into an
//! old and a new schema; nothing may panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let ty = ["AVRO", "JSON", "PROTOBUF"][usize::from(pick) % 3];
    let text = String::from_utf8_lossy(rest);
    let (old, new) = text.split_at(text.char_indices().nth(text.chars().count() / 2).map_or(0, |(i, _)| i));
    let a = oxbow_registry::schema::parse(ty, old, &[], pick & 0x80 != 0);
    let b = oxbow_registry::schema::parse(ty, new, &[], false);
    if let (Ok(a), Ok(b)) = (a, b) {
        let _ = oxbow_registry::compat::check(oxbow_registry::compat::Level::FullTransitive, &b.parsed, &[a.parsed]);
    }
});
