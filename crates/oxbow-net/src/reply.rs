//! What a request handler gives back to the connection: a reply now or later, encoded by the
//! connection or already encoded (with file ranges to send without copying), or nothing.

use bytes::Bytes;
use futures::future::BoxFuture;
use kafka_protocol::messages::{ApiKey, ResponseKind};
use oxbow_storage::FileSlice;

/// A handler's answer.
pub enum Reply {
    /// Ready now.
    Now(ResponseKind),
    /// Ready later (e.g. after an fsync or when data arrives); answered in request order.
    Later(BoxFuture<'static, ResponseKind>),
    /// No response at all (produce with acks=0).
    None,
    /// No response, and close the connection once earlier replies are written: an `acks=0`
    /// produce that failed somewhere (Kafka closes so the client refreshes its metadata), or a
    /// request that cannot be served.
    Close,
    /// A response already encoded (size prefix and header included) whose records may be file
    /// ranges sent with `sendfile`.
    NowEncoded(Vec<Chunk>),
    /// As `NowEncoded`, ready later.
    LaterEncoded(BoxFuture<'static, Vec<Chunk>>),
}

/// A request frame's answer, with what the connection needs to frame it.
pub struct Answer {
    pub api_key: ApiKey,
    pub api_version: i16,
    pub correlation_id: i32,
    pub reply: Reply,
    /// Close the connection once this reply is written (a failed authentication).
    pub close_after: bool,
}

/// A piece of an encoded response: bytes to write, or a file range to send.
#[derive(Debug, Clone)]
pub enum Chunk {
    Bytes(Bytes),
    File(FileSlice),
}

impl Chunk {
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn len(&self) -> usize {
        match self {
            Chunk::Bytes(b) => b.len(),
            Chunk::File(f) => f.len,
        }
    }
}
