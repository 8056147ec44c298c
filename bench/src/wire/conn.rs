//! The load generator's view of `vltava-wire`: frames built once and patched, responses read
//! whole, and one blocking-style exchange for the set-up requests (CreateTopics, Metadata,
//! ListOffsets). Everything here connects to the first address of a bootstrap list.

use anyhow::{Context, Result};
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::{Decodable, Encodable};
use tokio::io::AsyncRead;
use tokio::net::TcpStream;
use vltava_wire::frame::{self, RequestId};
use vltava_wire::nonblocking;

/// Largest response frame accepted: a fetch answer is at most its max_bytes plus headers.
pub const RESPONSE_BYTES_MAX: usize = 256 * 1024 * 1024;
const CLIENT_ID: &str = "vltava-bench-wire";

pub use vltava_wire::frame::set_correlation_id;

/// The first address of a bootstrap list `HOST:PORT[,HOST:PORT]`.
pub fn first_address(bootstrap: &str) -> &str {
    bootstrap.split(',').next().unwrap_or(bootstrap).trim()
}

pub async fn connect(bootstrap: &str) -> Result<TcpStream> {
    Ok(nonblocking::connect(first_address(bootstrap)).await?)
}

/// A whole request frame: length, header, body.
pub fn request_frame(
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &impl Encodable,
) -> Result<BytesMut> {
    let id = RequestId {
        key,
        version,
        correlation_id,
        client_id: CLIENT_ID,
    };
    Ok(frame::request(id, body)?)
}

/// Reads one response frame, without its length prefix.
pub async fn read_frame<R: AsyncRead + Unpin>(reader: &mut R) -> Result<Bytes> {
    Ok(nonblocking::read_frame(reader, RESPONSE_BYTES_MAX).await?)
}

/// Decodes a response frame, checking its correlation id and that nothing trails the body.
pub fn decode_response<T: Decodable>(
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    frame: Bytes,
) -> Result<T> {
    Ok(frame::decode_response(key, version, correlation_id, frame)?)
}

/// One request at a time, for setting up and inspecting topics.
pub struct Control(nonblocking::Connection);

impl Control {
    pub async fn connect(bootstrap: &str) -> Result<Control> {
        let address = first_address(bootstrap);
        let connection = nonblocking::Connection::connect(address, CLIENT_ID, RESPONSE_BYTES_MAX)
            .await
            .with_context(|| format!("connect to {address}"))?;
        Ok(Control(connection))
    }

    pub async fn exchange<T: Decodable>(
        &mut self,
        key: ApiKey,
        version: i16,
        request: &impl Encodable,
    ) -> Result<T> {
        Ok(self.0.exchange(key, version, request).await?)
    }
}
