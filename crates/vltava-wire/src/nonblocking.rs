//! Frames on a tokio stream, for clients that pipeline requests (the load generator) or run
//! inside the broker's runtime.

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::{Decodable, Encodable};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::WireError;
use crate::frame::{self, RequestId};

/// Connects to `address` (HOST:PORT) with Nagle off: requests are written whole, and Nagle
/// would only delay the last one of a burst.
pub async fn connect(address: &str) -> Result<TcpStream, WireError> {
    let stream = TcpStream::connect(address)
        .await
        .map_err(WireError::io(format!("connecting to {address}")))?;
    stream.set_nodelay(true).map_err(WireError::io(format!(
        "setting up the connection to {address}"
    )))?;
    Ok(stream)
}

/// Reads one response frame, without its length prefix; the length is checked against `limit`
/// before the frame is allocated.
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    limit: usize,
) -> Result<Bytes, WireError> {
    let mut prefix = [0u8; 4];
    reader
        .read_exact(&mut prefix)
        .await
        .map_err(WireError::io("reading a response length"))?;
    let length = frame::response_length(prefix, limit)?;
    let mut body = vec![0u8; length];
    reader
        .read_exact(&mut body)
        .await
        .map_err(WireError::io("reading a response"))?;
    Ok(Bytes::from(body))
}

/// One request at a time on a tokio stream (set-up and inspection requests).
#[derive(Debug)]
pub struct Connection {
    stream: TcpStream,
    client_id: &'static str,
    response_bytes_max: usize,
    correlation_id: i32,
}

impl Connection {
    pub async fn connect(
        address: &str,
        client_id: &'static str,
        response_bytes_max: usize,
    ) -> Result<Connection, WireError> {
        Ok(Connection {
            stream: connect(address).await?,
            client_id,
            response_bytes_max,
            correlation_id: 0,
        })
    }

    /// Sends `request` at `version` and decodes its answer as `T`.
    pub async fn exchange<T: Decodable>(
        &mut self,
        key: ApiKey,
        version: i16,
        request: &impl Encodable,
    ) -> Result<T, WireError> {
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let id = RequestId {
            key,
            version,
            correlation_id: self.correlation_id,
            client_id: self.client_id,
        };
        let request = frame::request(id, request)?;
        self.stream
            .write_all(&request)
            .await
            .map_err(WireError::io(format!("sending {key:?}")))?;
        let answer = read_frame(&mut self.stream, self.response_bytes_max).await?;
        frame::decode_response(key, version, self.correlation_id, answer)
    }
}
