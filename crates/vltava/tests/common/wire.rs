//! Raw Kafka protocol over a blocking socket, for tests that must control every byte: frames
//! built with the vendored `kafka-protocol` codec, answers read whole and decoded whole.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use super::BoxError;

/// Largest response these tests accept.
pub const RESPONSE_BYTES_MAX: usize = 16 * 1024 * 1024;

/// A connection whose reads and writes give up after `timeout`.
pub fn connect(bootstrap: &str, timeout: Duration) -> Result<TcpStream, BoxError> {
    let stream = TcpStream::connect(bootstrap)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    Ok(stream)
}

/// A whole request frame: length, header (in the version `key`/`version` call for), body.
pub fn request_frame(
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: impl FnOnce(&mut BytesMut) -> Result<(), BoxError>,
) -> Result<Vec<u8>, BoxError> {
    let mut buffer = BytesMut::new();
    buffer.put_i32(0);
    RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("vltava-wire-test")))
        .encode(&mut buffer, key.request_header_version(version))
        .map_err(|e| format!("encode header: {e}"))?;
    body(&mut buffer)?;
    let length = i32::try_from(buffer.len() - 4)?;
    buffer[..4].copy_from_slice(&length.to_be_bytes());
    Ok(buffer.to_vec())
}

/// Reads one response frame (without its length prefix).
pub fn read_response(stream: &mut TcpStream) -> Result<Bytes, BoxError> {
    let mut length = [0u8; 4];
    stream.read_exact(&mut length)?;
    let length = usize::try_from(i32::from_be_bytes(length))?;
    if length > RESPONSE_BYTES_MAX {
        return Err(format!("response of {length} bytes").into());
    }
    let mut frame = vec![0u8; length];
    stream.read_exact(&mut frame)?;
    Ok(Bytes::from(frame))
}

/// Sends `request` at `version` on `stream` and checks the answer decodes completely, with
/// the right correlation id and no trailing bytes.
pub fn exchange(
    stream: &mut TcpStream,
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    request: &RequestKind,
) -> Result<ResponseKind, BoxError> {
    let frame = request_frame(key, version, correlation_id, |buffer| {
        request
            .encode(buffer, version)
            .map_err(|e| format!("{key:?} v{version}: the codec cannot encode it: {e}").into())
    })?;
    stream.write_all(&frame)?;
    let mut response = read_response(stream)
        .map_err(|e| format!("{key:?}: no response, connection closed? ({e})"))?;
    let header = ResponseHeader::decode(&mut response, key.response_header_version(version))
        .map_err(|e| format!("{key:?} response header: {e}"))?;
    if header.correlation_id != correlation_id {
        return Err(format!(
            "{key:?}: correlation id {} for {correlation_id}",
            header.correlation_id
        )
        .into());
    }
    let body = ResponseKind::decode(key, &mut response, version)
        .map_err(|e| format!("{key:?} response body: {e}"))?;
    if !response.is_empty() {
        return Err(format!("{key:?}: {} trailing bytes after {body:?}", response.len()).into());
    }
    Ok(body)
}
