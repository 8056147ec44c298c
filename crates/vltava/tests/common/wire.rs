//! Raw Kafka protocol over a blocking socket, for tests that must control every byte. Framing
//! and response checks come from `vltava-wire`; this adds the shapes the tests want (frames
//! whose body a test writes by hand, a socket it can also misuse).

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};
use vltava_wire::frame::{self, RequestId};

use super::BoxError;

/// Largest response these tests accept.
pub const RESPONSE_BYTES_MAX: usize = 16 * 1024 * 1024;
const CLIENT_ID: &str = "vltava-wire-test";

/// One connection to a broker, numbering its requests.
pub struct Client {
    stream: TcpStream,
    correlation_id: i32,
}

impl Client {
    /// Connects; reads and writes give up after `timeout`.
    pub fn connect(bootstrap: &str, timeout: Duration) -> Result<Self, BoxError> {
        Ok(Client {
            stream: connect(bootstrap, timeout)?,
            correlation_id: 0,
        })
    }

    /// Sends `request` at `version` and decodes the whole answer ([`exchange`]).
    pub fn exchange(
        &mut self,
        key: ApiKey,
        version: i16,
        request: &RequestKind,
    ) -> Result<ResponseKind, BoxError> {
        self.correlation_id += 1;
        exchange(&mut self.stream, key, version, self.correlation_id, request)
    }
}

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
    let mut buffer = frame::start(RequestId {
        key,
        version,
        correlation_id,
        client_id: CLIENT_ID,
    })?;
    body(&mut buffer)?;
    frame::finish(&mut buffer)?;
    Ok(buffer.to_vec())
}

/// Reads one response frame (without its length prefix).
pub fn read_response(stream: &mut TcpStream) -> Result<Bytes, BoxError> {
    Ok(vltava_wire::blocking::read_frame(
        stream,
        RESPONSE_BYTES_MAX,
    )?)
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
    let response = read_response(stream)
        .map_err(|e| format!("{key:?}: no response, connection closed? ({e})"))?;
    Ok(frame::decode_response_kind(
        key,
        version,
        correlation_id,
        response,
    )?)
}

/// Metadata v12 about `topic` as the node at `bootstrap` itself answers it. Asked over the
/// wire: a client library may send its metadata requests to any broker it knows.
pub fn metadata(
    bootstrap: &str,
    topic: &str,
) -> Result<kafka_protocol::messages::MetadataResponse, BoxError> {
    use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
    use kafka_protocol::messages::{MetadataRequest, TopicName};
    use kafka_protocol::protocol::StrBytes;
    let mut stream = connect(bootstrap, Duration::from_secs(10))?;
    let request = MetadataRequest::default()
        .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(
            TopicName(StrBytes::from_string(topic.to_string())),
        ))]));
    let ResponseKind::Metadata(response) = exchange(
        &mut stream,
        ApiKey::Metadata,
        12,
        1,
        &RequestKind::Metadata(request),
    )?
    else {
        return Err("not a Metadata response".into());
    };
    Ok(response)
}

/// `topic` as the node at `bootstrap` itself answers Metadata v12.
pub fn topic_metadata(
    bootstrap: &str,
    topic: &str,
) -> Result<kafka_protocol::messages::metadata_response::MetadataResponseTopic, BoxError> {
    metadata(bootstrap, topic)?
        .topics
        .into_iter()
        .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == topic))
        .ok_or_else(|| "topic missing from metadata".into())
}

/// The broker the node at `bootstrap` names as the group's coordinator (FindCoordinator v4,
/// which creates `__consumer_offsets` on first use, as clients' first group request does).
pub fn coordinator_of(bootstrap: &str, group: &str, timeout: Duration) -> Result<i32, BoxError> {
    use kafka_protocol::messages::FindCoordinatorRequest;
    use kafka_protocol::protocol::StrBytes;
    let mut stream = connect(bootstrap, timeout)?;
    let request = FindCoordinatorRequest::default()
        .with_key_type(0)
        .with_coordinator_keys(vec![StrBytes::from_string(group.to_string())]);
    let ResponseKind::FindCoordinator(response) = exchange(
        &mut stream,
        ApiKey::FindCoordinator,
        4,
        1,
        &RequestKind::FindCoordinator(request),
    )?
    else {
        return Err("not a FindCoordinator response".into());
    };
    let found = response.coordinators.first().ok_or("no coordinator")?;
    match found.error_code {
        0 => Ok(found.node_id.0),
        code => Err(format!("FindCoordinator: error {code}").into()),
    }
}
