//! Frames on a TCP connection: building a request frame once, reading a response frame whole,
//! and one blocking-style exchange for the set-up requests (CreateTopics, Metadata, ListOffsets).

use anyhow::{Context, Result, bail, ensure};
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest response frame accepted: a fetch answer is at most its max_bytes plus headers.
pub const RESPONSE_BYTES_MAX: usize = 256 * 1024 * 1024;
/// Where the correlation id sits in a request frame: after the length (4), api key (2) and
/// api version (2). Fixed for every request header version, so a frame can be patched in place.
pub const CORRELATION_ID_AT: usize = 8;
const CLIENT_ID: &str = "vltava-bench-wire";

/// The first address of a bootstrap list `HOST:PORT[,HOST:PORT]`.
pub fn first_address(bootstrap: &str) -> &str {
    bootstrap.split(',').next().unwrap_or(bootstrap).trim()
}

pub async fn connect(bootstrap: &str) -> Result<TcpStream> {
    let address = first_address(bootstrap);
    let stream = TcpStream::connect(address)
        .await
        .with_context(|| format!("connect to {address}"))?;
    // Requests are written whole; Nagle would only delay the last one of a burst.
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// A whole request frame: length, header, body.
pub fn request_frame(
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &impl Encodable,
) -> Result<BytesMut> {
    let mut frame = BytesMut::new();
    frame.put_i32(0);
    RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str(CLIENT_ID)))
        .encode(&mut frame, key.request_header_version(version))?;
    body.encode(&mut frame, version)?;
    let length = i32::try_from(frame.len() - 4)?;
    frame[..4].copy_from_slice(&length.to_be_bytes());
    Ok(frame)
}

/// Overwrites the correlation id of a frame built by [`request_frame`].
pub fn set_correlation_id(frame: &mut [u8], correlation_id: i32) {
    frame[CORRELATION_ID_AT..CORRELATION_ID_AT + 4].copy_from_slice(&correlation_id.to_be_bytes());
}

/// Reads one response frame, without its length prefix. The length is checked before the
/// frame is allocated.
pub async fn read_frame<R: AsyncRead + Unpin>(reader: &mut R) -> Result<Bytes> {
    let length = reader.read_i32().await.context("read a response length")?;
    let length = usize::try_from(length).context("negative response length")?;
    ensure!(
        length <= RESPONSE_BYTES_MAX,
        "response of {length} bytes (limit {RESPONSE_BYTES_MAX})"
    );
    let mut frame = BytesMut::zeroed(length);
    reader
        .read_exact(&mut frame)
        .await
        .context("read a response")?;
    Ok(frame.freeze())
}

/// Decodes a response frame, checking its correlation id and that nothing trails the body.
pub fn decode_response<T: Decodable>(
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    mut frame: Bytes,
) -> Result<T> {
    let header = ResponseHeader::decode(&mut frame, key.response_header_version(version))?;
    if header.correlation_id != correlation_id {
        bail!(
            "{key:?}: correlation id {} where {correlation_id} was expected",
            header.correlation_id
        );
    }
    let body = T::decode(&mut frame, version)?;
    ensure!(
        frame.is_empty(),
        "{key:?}: {} bytes after the response",
        frame.len()
    );
    Ok(body)
}

/// One request at a time, for setting up and inspecting topics.
pub struct Control {
    stream: TcpStream,
    correlation_id: i32,
}

impl Control {
    pub async fn connect(bootstrap: &str) -> Result<Control> {
        Ok(Control {
            stream: connect(bootstrap).await?,
            correlation_id: 0,
        })
    }

    pub async fn exchange<T: Decodable>(
        &mut self,
        key: ApiKey,
        version: i16,
        request: &impl Encodable,
    ) -> Result<T> {
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let frame = request_frame(key, version, self.correlation_id, request)?;
        self.stream.write_all(&frame).await?;
        let answer = read_frame(&mut self.stream)
            .await
            .with_context(|| format!("{key:?}: no answer"))?;
        decode_response(key, version, self.correlation_id, answer)
    }
}
