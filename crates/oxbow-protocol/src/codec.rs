//! Request decoding and response encoding.
//!
//! Decoding happens in two steps so the broker can consult its handler registry in between:
//! [`peek_header`] reads the API key, version and correlation id without trusting anything else, and
//! [`decode_request`] decodes the header and body once the version is known to be served. Each API
//! has a frame cap ([`frame_cap`]): only Produce may carry megabytes, so the element expansion of any
//! other request stays bounded. Decoding runs under `catch_unwind` so a decoder bug answers with an
//! error instead of taking the broker down.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable};

/// The fixed fields at the start of every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestPeek {
    pub api_key: i16,
    pub api_version: i16,
    pub correlation_id: i32,
}

/// A fully decoded request.
#[derive(Debug)]
pub struct DecodedRequest {
    pub api_key: ApiKey,
    pub header: RequestHeader,
    pub body: RequestKind,
}

/// Why a request could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("frame of {0} bytes is too short for a request header")]
    TooShort(usize),
    #[error("unknown API key {0}")]
    UnknownApiKey(i16),
    #[error("{api:?} request of {size} bytes exceeds the {cap}-byte limit for that API")]
    TooLarge {
        api: ApiKey,
        size: usize,
        cap: usize,
    },
    #[error("malformed {api:?} v{version} request: {reason}")]
    Malformed {
        api: ApiKey,
        version: i16,
        reason: String,
    },
}

/// Reads the API key, version and correlation id.
pub fn peek_header(frame: &[u8]) -> Result<RequestPeek, DecodeError> {
    if frame.len() < 8 {
        return Err(DecodeError::TooShort(frame.len()));
    }
    Ok(RequestPeek {
        api_key: i16::from_be_bytes([frame[0], frame[1]]),
        api_version: i16::from_be_bytes([frame[2], frame[3]]),
        correlation_id: i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]),
    })
}

/// The client id of a request header (v1+: after key, version and correlation id), read without
/// decoding the rest, for logging requests that are refused before they are decoded; empty if
/// absent or unreadable.
pub fn peek_client_id(frame: &[u8]) -> String {
    let Some(len) = frame.get(8..10).map(|b| i16::from_be_bytes([b[0], b[1]])) else {
        return String::new();
    };
    usize::try_from(len)
        .ok()
        .and_then(|len| frame.get(10..10 + len))
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default()
}

/// The largest frame accepted for an API. `max_request_bytes` is `socket.request.max.bytes`.
pub fn frame_cap(api: ApiKey, max_request_bytes: usize) -> usize {
    const SMALL: usize = 1 << 20;
    const MEDIUM: usize = 8 << 20;
    let cap = match api {
        ApiKey::Produce => return max_request_bytes,
        ApiKey::ApiVersions
        | ApiKey::Heartbeat
        | ApiKey::FindCoordinator
        | ApiKey::InitProducerId
        | ApiKey::SaslHandshake
        | ApiKey::SaslAuthenticate
        | ApiKey::DescribeCluster
        | ApiKey::EndTxn
        | ApiKey::ListGroups => SMALL,
        _ => MEDIUM,
    };
    cap.min(max_request_bytes)
}

/// Decodes a request whose version the caller has checked is served.
pub fn decode_request(
    frame: Bytes,
    max_request_bytes: usize,
) -> Result<DecodedRequest, DecodeError> {
    let peek = peek_header(&frame)?;
    let api_key =
        ApiKey::try_from(peek.api_key).map_err(|_| DecodeError::UnknownApiKey(peek.api_key))?;
    let cap = frame_cap(api_key, max_request_bytes);
    if frame.len() > cap {
        return Err(DecodeError::TooLarge {
            api: api_key,
            size: frame.len(),
            cap,
        });
    }
    let version = peek.api_version;
    let malformed = |reason: String| DecodeError::Malformed {
        api: api_key,
        version,
        reason,
    };
    let outcome = std::panic::catch_unwind(move || {
        let mut buf = frame;
        let header_version = api_key.request_header_version(version);
        let header = RequestHeader::decode(&mut buf, header_version)?;
        // Versions older than the crate's are rewritten into its oldest layout (`legacy`).
        let mut buf = crate::legacy::upgrade_request(api_key, version, buf)
            .map_err(|e| anyhow::anyhow!(e))?;
        let body = RequestKind::decode(
            api_key,
            &mut buf,
            crate::legacy::decode_version(api_key, version),
        )?;
        Ok::<_, anyhow::Error>((header, body))
    });
    match outcome {
        Ok(Ok((header, body))) => Ok(DecodedRequest {
            api_key,
            header,
            body,
        }),
        Ok(Err(e)) => Err(malformed(e.to_string())),
        Err(_) => Err(malformed("decoder panicked".into())),
    }
}

/// Encodes a response frame (length prefix, header, body) for `api_key` at `version`.
pub fn encode_response(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &ResponseKind,
) -> Result<Bytes, String> {
    let header_version = api_key.response_header_version(version);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let mut buf = BytesMut::with_capacity(256);
    buf.extend_from_slice(&[0, 0, 0, 0]);
    header
        .encode(&mut buf, header_version)
        .map_err(|e| format!("encoding {api_key:?} v{version} response header: {e}"))?;
    let at = crate::legacy::decode_version(api_key, version);
    if at == version {
        body.encode(&mut buf, version)
            .map_err(|e| format!("encoding {api_key:?} v{version} response: {e}"))?;
    } else {
        let mut encoded = BytesMut::with_capacity(256);
        body.encode(&mut encoded, at)
            .map_err(|e| format!("encoding {api_key:?} v{version} response (as v{at}): {e}"))?;
        let old = crate::legacy::downgrade_response(api_key, version, encoded.freeze())
            .map_err(|e| format!("rewriting {api_key:?} v{at} response as v{version}: {e}"))?;
        buf.extend_from_slice(&old);
    }
    let size = (buf.len() - 4) as u32;
    buf[0..4].copy_from_slice(&size.to_be_bytes());
    Ok(buf.freeze())
}

#[cfg(test)]
mod peek_tests {
    use super::peek_client_id;

    #[test]
    fn given_header_bytes_when_reading_client_id_should_not_panic_on_short_frames() {
        let mut f = vec![0, 8, 0, 1, 0, 0, 0, 7, 0, 6];
        f.extend_from_slice(b"sarama");
        assert_eq!(peek_client_id(&f), "sarama");
        assert_eq!(peek_client_id(&f[..12]), "");
        assert_eq!(peek_client_id(&[0, 1]), "");
        assert_eq!(peek_client_id(&[0, 8, 0, 1, 0, 0, 0, 7, 0xff, 0xff]), "");
    }
}
