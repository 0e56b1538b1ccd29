//! The frame reader must split any byte stream into frames or a clean error.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[global_allocator]
static GLOBAL: oxbow_protocol::alloc::GuardedAlloc = oxbow_protocol::alloc::GuardedAlloc;

fuzz_target!(|data: &[u8]| {
    let reader = oxbow_protocol::FrameReader::new(1 << 20);
    let mut buf = bytes::BytesMut::from(data);
    while let Ok(Some(frame)) = reader.next_frame(&mut buf) {
        let _ = oxbow_protocol::decode_request(frame, 1 << 20);
    }
});
