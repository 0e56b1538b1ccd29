//! Any request body, for any API key and version, must decode to a value or an error: no panic,
//! no abort, no unbounded allocation. Runs with the broker's own allocator guard.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[global_allocator]
static GLOBAL: oxbow_protocol::alloc::GuardedAlloc = oxbow_protocol::alloc::GuardedAlloc;

fuzz_target!(|data: &[u8]| {
    // The first four bytes pick the API key and version within the known range so the fuzzer
    // spends its time in the body decoders rather than on unknown keys.
    if data.len() < 4 {
        return;
    }
    let mut frame = data.to_vec();
    let key = i16::from_be_bytes([frame[0], frame[1]]).rem_euclid(80);
    let version = i16::from_be_bytes([frame[2], frame[3]]).rem_euclid(20);
    frame[0..2].copy_from_slice(&key.to_be_bytes());
    frame[2..4].copy_from_slice(&version.to_be_bytes());
    let _ = oxbow_protocol::decode_request(bytes::Bytes::from(frame), 1 << 20);
});
