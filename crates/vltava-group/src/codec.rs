//! Kafka's primitive encodings as the internal topics' records use them: big-endian integers,
//! non-flexible strings (i16 length, then UTF-8) and flexible ones (unsigned varint of the
//! length plus one). Shared by the `__consumer_offsets` records here and the
//! `__transaction_state` records of the broker. Every read is bounded by the bytes there are.

use bytes::{Buf, BufMut, BytesMut};

/// Why bytes could not be read as what was expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CodecError(pub &'static str);

pub fn put_string(buf: &mut BytesMut, s: &str) {
    // Callers bound their strings (topic names, ids, offset.metadata.max.bytes) far below
    // i16::MAX.
    let len = i16::try_from(s.len()).unwrap_or(i16::MAX);
    buf.put_i16(len);
    buf.put_slice(&s.as_bytes()[..len as usize]);
}

pub fn get_i8(buf: &mut &[u8]) -> Result<i8, CodecError> {
    buf.try_get_i8().map_err(|_| CodecError("truncated"))
}

pub fn get_i16(buf: &mut &[u8]) -> Result<i16, CodecError> {
    buf.try_get_i16().map_err(|_| CodecError("truncated"))
}

pub fn get_i32(buf: &mut &[u8]) -> Result<i32, CodecError> {
    buf.try_get_i32().map_err(|_| CodecError("truncated"))
}

pub fn get_i64(buf: &mut &[u8]) -> Result<i64, CodecError> {
    buf.try_get_i64().map_err(|_| CodecError("truncated"))
}

pub fn get_string(buf: &mut &[u8]) -> Result<String, CodecError> {
    let len = usize::try_from(get_i16(buf)?).map_err(|_| CodecError("null string"))?;
    take_string(buf, len)
}

/// A flexible version's string: unsigned varint of length + 1 (0 is null), then UTF-8.
pub fn get_compact_string(buf: &mut &[u8]) -> Result<String, CodecError> {
    let len_plus_one = get_uvarint(buf)?;
    let len = len_plus_one
        .checked_sub(1)
        .ok_or(CodecError("null string"))?;
    // Bounded like the non-flexible strings, so that whatever is read can be written back.
    let len = usize::try_from(len)
        .ok()
        .filter(|&len| len <= i16::MAX as usize)
        .ok_or(CodecError("string too long"))?;
    take_string(buf, len)
}

/// Kafka's unsigned varint: at most 5 bytes for a 32-bit value.
pub fn get_uvarint(buf: &mut &[u8]) -> Result<u32, CodecError> {
    const UVARINT32_BYTES_MAX: u32 = 5;
    let mut value = 0u32;
    for shift in 0..UVARINT32_BYTES_MAX {
        let byte = buf.try_get_u8().map_err(|_| CodecError("truncated"))?;
        value |= u32::from(byte & 0x7f) << (7 * shift);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(CodecError("varint longer than 5 bytes"))
}

fn take_string(buf: &mut &[u8], len: usize) -> Result<String, CodecError> {
    if buf.len() < len {
        return Err(CodecError("truncated string"));
    }
    let (text, rest) = buf.split_at(len);
    *buf = rest;
    String::from_utf8(text.to_vec()).map_err(|_| CodecError("string is not UTF-8"))
}
