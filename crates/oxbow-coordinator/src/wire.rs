//! The primitive encodings of Kafka's internal-topic records: classic (int16-length strings,
//! int32-length bytes) as group-metadata and offset-commit records use them, and flexible
//! (unsigned-varint "compact" lengths and tagged fields) as KIP-848 records do. Readers return
//! None on truncated or malformed input; nothing here panics on what the log holds.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use uuid::Uuid;

pub(crate) fn put_str(b: &mut BytesMut, s: &str) {
    let bytes = &s.as_bytes()[..s.len().min(i16::MAX as usize)];
    b.put_i16(bytes.len() as i16);
    b.put_slice(bytes);
}

pub(crate) fn put_nstr(b: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => put_str(b, s),
        None => b.put_i16(-1),
    }
}

pub(crate) fn put_bytes(b: &mut BytesMut, v: &[u8]) {
    b.put_i32(v.len() as i32);
    b.put_slice(v);
}

pub(crate) fn get_i8(b: &mut Bytes) -> Option<i8> {
    (b.remaining() >= 1).then(|| b.get_i8())
}

pub(crate) fn get_i16(b: &mut Bytes) -> Option<i16> {
    (b.remaining() >= 2).then(|| b.get_i16())
}

pub(crate) fn get_i32(b: &mut Bytes) -> Option<i32> {
    (b.remaining() >= 4).then(|| b.get_i32())
}

pub(crate) fn get_i64(b: &mut Bytes) -> Option<i64> {
    (b.remaining() >= 8).then(|| b.get_i64())
}

pub(crate) fn get_nstr(b: &mut Bytes) -> Option<Option<String>> {
    let len = get_i16(b)?;
    if len < 0 {
        return Some(None);
    }
    let len = len as usize;
    if b.remaining() < len {
        return None;
    }
    let s = b.split_to(len);
    Some(Some(String::from_utf8_lossy(&s).into_owned()))
}

pub(crate) fn get_str(b: &mut Bytes) -> Option<String> {
    get_nstr(b).map(Option::unwrap_or_default)
}

pub(crate) fn get_bytes(b: &mut Bytes) -> Option<Bytes> {
    let len = usize::try_from(get_i32(b)?).ok()?;
    (b.remaining() >= len).then(|| b.split_to(len))
}

// Flexible versions.

pub(crate) fn put_uvarint(b: &mut BytesMut, mut v: u32) {
    while v >= 0x80 {
        b.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    b.put_u8(v as u8);
}

pub(crate) fn put_compact_str(b: &mut BytesMut, s: &str) {
    put_uvarint(b, s.len() as u32 + 1);
    b.put_slice(s.as_bytes());
}

pub(crate) fn put_compact_nstr(b: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => put_compact_str(b, s),
        None => put_uvarint(b, 0),
    }
}

/// The length prefix of a compact (non-null) array.
pub(crate) fn put_compact_len(b: &mut BytesMut, n: usize) {
    put_uvarint(b, n as u32 + 1);
}

pub(crate) fn put_uuid(b: &mut BytesMut, id: &Uuid) {
    b.put_slice(id.as_bytes());
}

/// An empty tagged-field section (every flexible struct ends with one).
pub(crate) fn put_no_tags(b: &mut BytesMut) {
    put_uvarint(b, 0);
}

pub(crate) fn get_uvarint(b: &mut Bytes) -> Option<u32> {
    let mut v: u32 = 0;
    for shift in (0..35).step_by(7) {
        let byte = get_i8(b)? as u8;
        if shift == 28 && byte & 0x70 != 0 {
            return None; // more than 32 bits
        }
        v |= u32::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

pub(crate) fn get_compact_nstr(b: &mut Bytes) -> Option<Option<String>> {
    let n = get_uvarint(b)? as usize;
    if n == 0 {
        return Some(None);
    }
    let len = n - 1;
    if b.remaining() < len {
        return None;
    }
    let s = b.split_to(len);
    Some(Some(String::from_utf8_lossy(&s).into_owned()))
}

pub(crate) fn get_compact_str(b: &mut Bytes) -> Option<String> {
    get_compact_nstr(b)?
}

/// The element count of a compact array; None for null or a count the remaining bytes cannot
/// hold (each element takes at least `min_size` bytes), so a hostile count allocates nothing.
pub(crate) fn get_compact_len(b: &mut Bytes, min_size: usize) -> Option<usize> {
    let n = (get_uvarint(b)? as usize).checked_sub(1)?;
    (n.saturating_mul(min_size.max(1)) <= b.remaining()).then_some(n)
}

pub(crate) fn get_uuid(b: &mut Bytes) -> Option<Uuid> {
    if b.remaining() < 16 {
        return None;
    }
    let mut raw = [0u8; 16];
    b.copy_to_slice(&mut raw);
    Some(Uuid::from_bytes(raw))
}

/// Skips a tagged-field section (fields this reader does not know).
pub(crate) fn skip_tags(b: &mut Bytes) -> Option<()> {
    let n = get_uvarint(b)?;
    for _ in 0..n {
        get_uvarint(b)?;
        let size = get_uvarint(b)? as usize;
        if b.remaining() < size {
            return None;
        }
        b.advance(size);
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_varints_and_compact_strings_when_encoded_should_read_back() {
        let mut b = BytesMut::new();
        for v in [0u32, 1, 127, 128, 300, 16_383, 16_384, u32::MAX] {
            put_uvarint(&mut b, v);
        }
        put_compact_nstr(&mut b, None);
        put_compact_str(&mut b, "héllo");
        let mut r = b.freeze();
        for v in [0u32, 1, 127, 128, 300, 16_383, 16_384, u32::MAX] {
            assert_eq!(get_uvarint(&mut r), Some(v));
        }
        assert_eq!(get_compact_nstr(&mut r), Some(None));
        assert_eq!(get_compact_str(&mut r).as_deref(), Some("héllo"));
        assert!(r.is_empty());
    }

    #[test]
    fn given_hostile_lengths_when_read_should_return_none() {
        let mut endless = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(get_uvarint(&mut endless), None);
        let mut huge_array = Bytes::from_static(&[0xff, 0xff, 0xff, 0x0f, 1, 2]);
        assert_eq!(get_compact_len(&mut huge_array, 4), None);
        let mut short_str = Bytes::from_static(&[10, b'a']);
        assert_eq!(get_compact_str(&mut short_str), None);
        let mut bad_tag = Bytes::from_static(&[1, 0, 9, 1]);
        assert_eq!(skip_tags(&mut bad_tag), None);
    }
}
