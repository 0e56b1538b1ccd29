//! The Kafka wire protocol, as Oxbow uses it.
//!
//! This crate owns everything between the bytes on a socket and a typed request: the length-prefixed
//! frame ([`frame`]), the request header and body decoding with per-API size caps ([`codec`]), the
//! encoding of responses, and the allocator guard ([`alloc`]) that keeps a hostile array length read
//! off the wire from aborting the process. Message types come from the `kafka-protocol` crate and are
//! re-exported as [`messages`], so the rest of Oxbow names one module for the protocol.

pub mod alloc;
pub mod codec;
pub mod frame;
pub mod legacy;
pub mod message_set;

pub use codec::{
    decode_request, encode_response, frame_cap, peek_client_id, peek_header, DecodeError,
    DecodedRequest, RequestPeek,
};
pub use frame::{FrameError, FrameReader};
pub use kafka_protocol::messages;
pub use kafka_protocol::protocol::{StrBytes, VersionRange};
pub use kafka_protocol::records;
pub use kafka_protocol::ResponseError;

/// Kafka error codes as `i16`, for handlers.
pub fn error_code(e: ResponseError) -> i16 {
    e.code()
}
