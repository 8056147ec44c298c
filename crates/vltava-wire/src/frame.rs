//! Request frames (length, header, body) and the checks every response frame passes.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use crate::WireError;

/// Where the correlation id sits in a request frame: after the length (4), api key (2) and
/// api version (2). Fixed for every request header version, so a frame can be patched in place.
pub const CORRELATION_ID_AT: usize = 8;

/// What identifies a request in its header.
#[derive(Debug, Clone, Copy)]
pub struct RequestId {
    pub key: ApiKey,
    pub version: i16,
    pub correlation_id: i32,
    pub client_id: &'static str,
}

/// A frame with its length placeholder and header written; the body goes after it and
/// [`finish`] sets the length. For tests that write a body by hand.
pub fn start(id: RequestId) -> Result<BytesMut, WireError> {
    let mut frame = BytesMut::new();
    frame.put_i32(0);
    RequestHeader::default()
        .with_request_api_key(id.key as i16)
        .with_request_api_version(id.version)
        .with_correlation_id(id.correlation_id)
        .with_client_id(Some(StrBytes::from_static_str(id.client_id)))
        .encode(&mut frame, id.key.request_header_version(id.version))
        .map_err(|source| WireError::Encode {
            key: id.key,
            version: id.version,
            source,
        })?;
    Ok(frame)
}

/// Writes the length prefix of a frame begun by [`start`].
pub fn finish(frame: &mut BytesMut) -> Result<(), WireError> {
    let body = frame.len().saturating_sub(4);
    let length = i32::try_from(body).map_err(|_| WireError::RequestTooLarge(body))?;
    frame[..4].copy_from_slice(&length.to_be_bytes());
    Ok(())
}

/// A whole request frame: length, header, body.
pub fn request(id: RequestId, body: &impl Encodable) -> Result<BytesMut, WireError> {
    let mut frame = start(id)?;
    body.encode(&mut frame, id.version)
        .map_err(|source| WireError::Encode {
            key: id.key,
            version: id.version,
            source,
        })?;
    finish(&mut frame)?;
    Ok(frame)
}

/// Overwrites the correlation id of a frame built by [`request`] or [`start`].
pub fn set_correlation_id(frame: &mut [u8], correlation_id: i32) {
    frame[CORRELATION_ID_AT..CORRELATION_ID_AT + 4].copy_from_slice(&correlation_id.to_be_bytes());
}

/// The length a response frame announces, checked against `limit` before anything is
/// allocated for it.
pub fn response_length(prefix: [u8; 4], limit: usize) -> Result<usize, WireError> {
    let length = i32::from_be_bytes(prefix);
    usize::try_from(length)
        .ok()
        .filter(|l| *l <= limit)
        .ok_or(WireError::ResponseLength {
            length: i64::from(length),
            limit,
        })
}

/// Decodes a response frame (without its length prefix) into `T`, checking the correlation id
/// and that nothing trails the body.
pub fn decode_response<T: Decodable>(
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    frame: Bytes,
) -> Result<T, WireError> {
    decode_with(key, version, correlation_id, frame, |body| {
        T::decode(body, version)
    })
}

/// [`decode_response`] for a key known only at run time.
pub fn decode_response_kind(
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    frame: Bytes,
) -> Result<ResponseKind, WireError> {
    decode_with(key, version, correlation_id, frame, |body| {
        ResponseKind::decode(key, body, version)
    })
}

fn decode_with<T>(
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    mut frame: Bytes,
    decode_body: impl FnOnce(&mut Bytes) -> anyhow::Result<T>,
) -> Result<T, WireError> {
    let decode_error = |source| WireError::Decode {
        key,
        version,
        source,
    };
    let header = ResponseHeader::decode(&mut frame, key.response_header_version(version))
        .map_err(decode_error)?;
    if header.correlation_id != correlation_id {
        return Err(WireError::CorrelationId {
            key,
            expected: correlation_id,
            got: header.correlation_id,
        });
    }
    let body = decode_body(&mut frame).map_err(decode_error)?;
    if !frame.is_empty() {
        return Err(WireError::Trailing {
            key,
            version,
            bytes: frame.len(),
        });
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};

    fn id(correlation_id: i32) -> RequestId {
        RequestId {
            key: ApiKey::ApiVersions,
            version: 3,
            correlation_id,
            client_id: "t",
        }
    }

    #[test]
    fn frame_length_counts_everything_after_the_prefix() -> Result<(), WireError> {
        let frame = request(id(7), &ApiVersionsRequest::default())?;
        let length = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
        assert_eq!(usize::try_from(length).ok(), Some(frame.len() - 4));
        assert_eq!(
            &frame[CORRELATION_ID_AT..CORRELATION_ID_AT + 4],
            &7i32.to_be_bytes()
        );
        Ok(())
    }

    #[test]
    fn patched_correlation_id_is_the_one_sent() -> Result<(), WireError> {
        let mut frame = request(id(1), &ApiVersionsRequest::default())?;
        set_correlation_id(&mut frame, 99);
        assert_eq!(
            &frame[CORRELATION_ID_AT..CORRELATION_ID_AT + 4],
            &99i32.to_be_bytes()
        );
        Ok(())
    }

    #[test]
    fn lengths_out_of_range_are_refused_before_allocating() {
        assert!(response_length((-1i32).to_be_bytes(), 100).is_err());
        assert!(response_length(101i32.to_be_bytes(), 100).is_err());
        assert!(matches!(
            response_length(100i32.to_be_bytes(), 100),
            Ok(100)
        ));
    }

    fn response_frame(correlation_id: i32, extra: &[u8]) -> Bytes {
        let mut frame = BytesMut::new();
        ResponseHeader::default()
            .with_correlation_id(correlation_id)
            .encode(&mut frame, ApiKey::ApiVersions.response_header_version(3))
            .expect("header");
        ApiVersionsResponse::default()
            .encode(&mut frame, 3)
            .expect("body");
        frame.extend_from_slice(extra);
        frame.freeze()
    }

    #[test]
    fn a_response_for_another_request_or_with_trailing_bytes_is_an_error() {
        let ok = decode_response::<ApiVersionsResponse>(
            ApiKey::ApiVersions,
            3,
            5,
            response_frame(5, &[]),
        );
        assert!(ok.is_ok());
        let wrong = decode_response::<ApiVersionsResponse>(
            ApiKey::ApiVersions,
            3,
            5,
            response_frame(6, &[]),
        );
        assert!(matches!(
            wrong,
            Err(WireError::CorrelationId { got: 6, .. })
        ));
        let trailing = decode_response_kind(ApiKey::ApiVersions, 3, 5, response_frame(5, &[0]));
        assert!(matches!(
            trailing,
            Err(WireError::Trailing { bytes: 1, .. })
        ));
    }
}
