//! Length-prefixed Kafka frames: a 4-byte big-endian size, then that many bytes.
//!
//! The reader tells "incomplete, read more" (`Ok(None)`) apart from "malformed" (`Err`): a frame
//! whose declared size is negative or above the cap is unreadable, and the connection must close.

use bytes::{Buf, Bytes, BytesMut};

/// Why a frame cannot be read. Either way the connection closes.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("frame size {size} is negative")]
    NegativeSize { size: i32 },
    #[error("frame size {size} exceeds the limit of {max} bytes (socket.request.max.bytes)")]
    TooLarge { size: usize, max: usize },
    #[error("frame of {size} bytes is too short to hold a request header")]
    TooShort { size: usize },
}

/// Smallest request: api key (2) + api version (2) + correlation id (4) + client id length (2).
pub const MIN_REQUEST_SIZE: usize = 10;

/// Splits frames off a read buffer.
#[derive(Debug, Clone, Copy)]
pub struct FrameReader {
    max_size: usize,
}

impl FrameReader {
    pub fn new(max_size: usize) -> Self {
        Self { max_size }
    }

    /// The size of the next frame's body, if its length prefix has arrived.
    pub fn peek_size(&self, buf: &[u8]) -> Result<Option<usize>, FrameError> {
        if buf.len() < 4 {
            return Ok(None);
        }
        let size = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
        if size < 0 {
            return Err(FrameError::NegativeSize { size });
        }
        let size = size as usize;
        if size > self.max_size {
            return Err(FrameError::TooLarge {
                size,
                max: self.max_size,
            });
        }
        if size < MIN_REQUEST_SIZE {
            return Err(FrameError::TooShort { size });
        }
        Ok(Some(size))
    }

    /// Takes one whole frame body off `buf`, or `Ok(None)` if more bytes are needed.
    pub fn next_frame(&self, buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        match self.peek_size(buf)? {
            Some(size) if buf.len() >= 4 + size => {
                buf.advance(4);
                Ok(Some(buf.split_to(size).freeze()))
            }
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_partial_prefix_when_reading_should_ask_for_more() {
        let r = FrameReader::new(100);
        let mut b = BytesMut::from(&[0u8, 0][..]);
        assert_eq!(r.next_frame(&mut b), Ok(None));
        let mut b = BytesMut::from(&[0u8, 0, 0, 12, 1, 2][..]);
        assert_eq!(r.next_frame(&mut b), Ok(None));
    }

    #[test]
    fn given_whole_frames_when_reading_should_split_them() {
        let r = FrameReader::new(100);
        let mut b = BytesMut::new();
        for n in [10u8, 11] {
            b.extend_from_slice(&[0, 0, 0, n]);
            b.extend_from_slice(&vec![n; n as usize]);
        }
        assert_eq!(r.next_frame(&mut b).unwrap().unwrap().len(), 10);
        assert_eq!(r.next_frame(&mut b).unwrap().unwrap().len(), 11);
        assert!(b.is_empty());
    }

    #[test]
    fn given_bad_sizes_when_reading_should_fail() {
        let r = FrameReader::new(100);
        let mut b = BytesMut::from(&(-1i32).to_be_bytes()[..]);
        assert!(matches!(
            r.next_frame(&mut b),
            Err(FrameError::NegativeSize { .. })
        ));
        let mut b = BytesMut::from(&101i32.to_be_bytes()[..]);
        assert!(matches!(
            r.next_frame(&mut b),
            Err(FrameError::TooLarge { .. })
        ));
        let mut b = BytesMut::from(&3i32.to_be_bytes()[..]);
        assert!(matches!(
            r.next_frame(&mut b),
            Err(FrameError::TooShort { .. })
        ));
    }
}
