//! The input layout of `decode_request_structured`: byte 0 picks an API of the dispatch table
//! (modulo its length), byte 1 a version of it that the codec can decode (modulo the span), and
//! the rest is the request body. A well-formed header goes in front, so every input reaches a
//! body decoder instead of dying on an unknown key or version.
//!
//! The seeds under `fuzz/seeds/decode_request_structured/` are written in this layout by the
//! ignored test `write_fuzz_seeds` in `crates/vltava-broker/tests/decode_memory.rs`; keep the
//! two in step.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;
use vltava_broker::dispatch::{ApiRange, SUPPORTED_APIS};

/// Client id of the synthesised header.
const CLIENT_ID: &[u8] = b"fuzz";

/// The versions of `range` that `dispatch::decode_request` hands to the codec.
pub fn decodable_versions(range: &ApiRange) -> (i16, i16) {
    (range.min.max(range.decodable_min), range.max)
}

/// The API and version an input selects, or `None` for inputs shorter than two bytes.
pub fn select(input: &[u8]) -> Option<(ApiKey, i16)> {
    let [api, version, ..] = input else {
        return None;
    };
    let range = &SUPPORTED_APIS[usize::from(*api) % SUPPORTED_APIS.len()];
    let (min, max) = decodable_versions(range);
    let span = max - min + 1;
    if span <= 0 {
        return None; // an API whose advertised versions the codec cannot read at all
    }
    Some((range.key, min + i16::from(*version) % span))
}

/// The whole request frame (no length prefix) for a structured input.
pub fn frame(input: &[u8]) -> Option<Bytes> {
    let (key, version) = select(input)?;
    let body = &input[2..];
    let mut frame = BytesMut::with_capacity(16 + body.len());
    frame.put_i16(key as i16);
    frame.put_i16(version);
    frame.put_i32(0); // correlation id
    // The client id is a classic (i16-length) string in every header version.
    frame.put_i16(CLIENT_ID.len() as i16);
    frame.put_slice(CLIENT_ID);
    if key.request_header_version(version) >= 2 {
        frame.put_u8(0); // no tagged fields
    }
    frame.put_slice(body);
    Some(frame.freeze())
}
