//! Any bytes as a Produce v0–v2 message set (magic 0/1, possibly gzip/snappy/lz4 wrappers) must
//! decode to records or an error: no panic, no abort, no unbounded allocation; what decodes
//! must encode and decode back to the same records.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxbow_protocol::message_set::{decode, encode};

#[global_allocator]
static GLOBAL: oxbow_protocol::alloc::GuardedAlloc = oxbow_protocol::alloc::GuardedAlloc;

fuzz_target!(|data: &[u8]| {
    let bytes = bytes::Bytes::copy_from_slice(data);
    if let Ok((records, info)) = decode(&bytes) {
        let again = encode(&records, info.magic);
        if let Ok((back, _)) = decode(&again) {
            if info.magic == 1 {
                assert_eq!(back, records);
            }
        }
    }
});
