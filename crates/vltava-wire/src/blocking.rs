//! One synchronous connection: each call sends a request and waits for its answer, so a
//! correlation id mismatch can only mean a broken peer.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};
use kafka_protocol::protocol::Request;

use crate::WireError;
use crate::frame::{self, RequestId};

/// How a connection is opened and how long it waits.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Per address the bootstrap resolves to.
    pub connect_timeout: Duration,
    /// For each read and write: a request whose answer takes longer fails.
    pub io_timeout: Duration,
    /// Largest response frame accepted; a longer length means a broken or hostile peer.
    pub response_bytes_max: usize,
    pub client_id: &'static str,
}

#[derive(Debug)]
pub struct Connection {
    stream: TcpStream,
    peer: String,
    options: Options,
    correlation_id: i32,
}

impl Connection {
    /// Connects to `address` (HOST:PORT), trying each address it resolves to.
    pub fn connect(address: &str, options: Options) -> Result<Connection, WireError> {
        let resolved = address
            .to_socket_addrs()
            .map_err(WireError::io(format!("resolving {address}")))?;
        let mut last_error = None;
        for socket_address in resolved {
            match TcpStream::connect_timeout(&socket_address, options.connect_timeout) {
                Ok(stream) => return Connection::over(stream, address, options),
                Err(error) => last_error = Some(error),
            }
        }
        let error = last_error.unwrap_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotFound, "resolves to no address")
        });
        Err(WireError::io(format!("connecting to {address}"))(error))
    }

    fn over(stream: TcpStream, peer: &str, options: Options) -> Result<Connection, WireError> {
        let setup = WireError::io(format!("setting up the connection to {peer}"));
        (|| {
            stream.set_read_timeout(Some(options.io_timeout))?;
            stream.set_write_timeout(Some(options.io_timeout))?;
            // Requests are written whole and strictly alternate with responses.
            stream.set_nodelay(true)
        })()
        .map_err(setup)?;
        Ok(Connection {
            stream,
            peer: peer.to_string(),
            options,
            correlation_id: 0,
        })
    }

    /// Sends `request` at `version` and returns its decoded response.
    pub fn call<R: Request>(
        &mut self,
        version: i16,
        request: &R,
    ) -> Result<R::Response, WireError> {
        let key = ApiKey::try_from(R::KEY).map_err(|_| WireError::UnknownApiKey(R::KEY))?;
        let (correlation_id, answer) =
            self.round_trip(key, version, |frame| request.encode(frame, version))?;
        frame::decode_response(key, version, correlation_id, answer)
    }

    /// [`Connection::call`] for a request whose type is known only at run time.
    pub fn exchange(
        &mut self,
        key: ApiKey,
        version: i16,
        request: &RequestKind,
    ) -> Result<ResponseKind, WireError> {
        let (correlation_id, answer) =
            self.round_trip(key, version, |frame| request.encode(frame, version))?;
        frame::decode_response_kind(key, version, correlation_id, answer)
    }

    fn round_trip(
        &mut self,
        key: ApiKey,
        version: i16,
        body: impl FnOnce(&mut BytesMut) -> anyhow::Result<()>,
    ) -> Result<(i32, Bytes), WireError> {
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let mut request = frame::start(RequestId {
            key,
            version,
            correlation_id: self.correlation_id,
            client_id: self.options.client_id,
        })?;
        body(&mut request).map_err(|source| WireError::Encode {
            key,
            version,
            source,
        })?;
        frame::finish(&mut request)?;
        self.send_frame(&request)?;
        Ok((self.correlation_id, self.read_frame()?))
    }

    /// Writes a whole frame as given (tests use it for frames built by hand).
    pub fn send_frame(&mut self, frame: &[u8]) -> Result<(), WireError> {
        self.stream
            .write_all(frame)
            .map_err(WireError::io(format!("sending to {}", self.peer)))
    }

    /// Reads one response frame, without its length prefix.
    pub fn read_frame(&mut self) -> Result<Bytes, WireError> {
        read_frame(&mut self.stream, self.options.response_bytes_max).map_err(|e| match e {
            WireError::Io { what, source } => WireError::Io {
                what: format!("{what} from {}", self.peer),
                source,
            },
            other => other,
        })
    }

    /// The socket, for tests that half-close it or check that the broker closed it.
    pub fn stream(&mut self) -> &mut TcpStream {
        &mut self.stream
    }
}

/// Reads one response frame from `reader`, without its length prefix; the length is checked
/// against `limit` before the frame is allocated.
pub fn read_frame(reader: &mut impl Read, limit: usize) -> Result<Bytes, WireError> {
    let mut prefix = [0u8; 4];
    reader
        .read_exact(&mut prefix)
        .map_err(WireError::io("reading a response length"))?;
    let length = frame::response_length(prefix, limit)?;
    let mut body = vec![0u8; length];
    reader
        .read_exact(&mut body)
        .map_err(WireError::io("reading a response"))?;
    Ok(Bytes::from(body))
}
