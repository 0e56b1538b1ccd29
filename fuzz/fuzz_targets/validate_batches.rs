//! The record batches a producer sends are parsed by our own code before anything is written:
//! any bytes must validate to batches or a clean error, never a panic or an over-read. The
//! transactional scan of a request and the marker decoder (which reads control batches back from
//! the log) must take any bytes too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxbow_storage::batch::{transactional_batches, BatchHeader, TxnMarker};

#[global_allocator]
static GLOBAL: oxbow_protocol::alloc::GuardedAlloc = oxbow_protocol::alloc::GuardedAlloc;

fuzz_target!(|data: &[u8]| {
    let _ = transactional_batches(data);
    if let Some(h) = BatchHeader::parse(data) {
        let _ = TxnMarker::decode(&h, data);
    }
    if let Ok(batches) = oxbow_storage::batch::validate_records(data, 1 << 20) {
        assert!(!batches.is_empty());
    }
});
