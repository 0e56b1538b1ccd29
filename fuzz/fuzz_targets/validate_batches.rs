//! The record batches a producer sends are parsed by our own code before anything is written:
//! any bytes must validate to batches or a clean error, never a panic or an over-read.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[global_allocator]
static GLOBAL: oxbow_protocol::alloc::GuardedAlloc = oxbow_protocol::alloc::GuardedAlloc;

fuzz_target!(|data: &[u8]| {
    if let Ok(batches) = oxbow_storage::batch::validate_records(data, 1 << 20) {
        assert!(!batches.is_empty());
    }
});
