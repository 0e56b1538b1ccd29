//! Hostile requests must decode to an error, not abort or exhaust the process.

use bytes::{BufMut, Bytes, BytesMut};
use oxbow_protocol::alloc::GuardedAlloc;
use oxbow_protocol::messages::ApiKey;
use oxbow_protocol::{decode_request, DecodeError};
use proptest::prelude::*;

#[global_allocator]
static GLOBAL: GuardedAlloc = GuardedAlloc;

fn header(api: i16, version: i16) -> BytesMut {
    let mut b = BytesMut::new();
    b.put_i16(api);
    b.put_i16(version);
    b.put_i32(7); // correlation id
    b.put_i16(-1); // null client id
    b
}

#[test]
fn given_metadata_v1_with_huge_topic_count_when_decoding_should_fail_cleanly() {
    let mut b = header(ApiKey::Metadata as i16, 1);
    b.put_i32(i32::MAX);
    let err = decode_request(b.freeze(), 100 << 20).unwrap_err();
    assert!(matches!(err, DecodeError::Malformed { .. }), "{err}");
}

#[test]
fn given_compact_array_claiming_u32_max_when_decoding_should_fail_cleanly() {
    // Metadata v9 is flexible: header v2 has a tagged-field section, arrays are compact.
    let mut b = header(ApiKey::Metadata as i16, 9);
    b.put_u8(0); // header tagged fields
    b.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]); // varint u32::MAX
    let err = decode_request(b.freeze(), 100 << 20).unwrap_err();
    assert!(matches!(err, DecodeError::Malformed { .. }), "{err}");
}

#[test]
fn given_many_hostile_frames_when_decoding_should_not_grow_memory() {
    for api in [
        ApiKey::Metadata,
        ApiKey::Produce,
        ApiKey::Fetch,
        ApiKey::CreateTopics,
        ApiKey::OffsetCommit,
    ] {
        for version in [1i16, 4, 9, 12] {
            let mut b = header(api as i16, version);
            if version >= 9 {
                b.put_u8(0);
            }
            b.put_i32(i32::MAX);
            b.put_i32(i32::MAX);
            for _ in 0..1000 {
                let _ = decode_request(b.clone().freeze(), 100 << 20);
            }
        }
    }
}

#[test]
fn given_unknown_api_key_when_decoding_should_say_so() {
    let b = header(12345, 0);
    assert!(matches!(
        decode_request(b.freeze(), 1 << 20),
        Err(DecodeError::UnknownApiKey(12345))
    ));
}

#[test]
fn given_oversize_non_produce_frame_when_decoding_should_refuse_before_decoding() {
    let mut b = header(ApiKey::Metadata as i16, 1);
    b.put_bytes(0, 9 << 20);
    assert!(matches!(
        decode_request(b.freeze(), 100 << 20),
        Err(DecodeError::TooLarge { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn given_random_bytes_after_a_valid_header_when_decoding_should_never_panic(
        api in 0i16..80, version in 0i16..18, body in proptest::collection::vec(any::<u8>(), 0..256)
    ) {
        let mut b = header(api, version);
        b.extend_from_slice(&body);
        let _ = decode_request(Bytes::from(b.freeze()), 1 << 20);
    }
}
