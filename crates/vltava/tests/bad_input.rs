//! Hostile and malformed bytes on the Kafka port, spoken over raw TCP.
//!
//! Guards against: a frame length trusted before it is checked (a 2 GiB claim allocated, or
//! waited for), the broker dying or hanging on garbage, a truncated frame or an unknown API key
//! taking down more than its own connection, ApiVersions at an unknown version answered with
//! something a client cannot parse (KIP-511 wants a v0 body with UNSUPPORTED_VERSION), and an
//! advertised API/version the broker cannot actually decode or answer (ApiVersions and dispatch
//! drifting apart).

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::{BufMut, BytesMut};
use common::wire::{connect, exchange, read_response, request_frame};
use common::{BoxError, CLIENT_TIMEOUT, TestResult};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestKind, ResponseHeader, ResponseKind,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use rdkafka::Offset;
use rdkafka::producer::FutureRecord;

/// How long the broker may take to close a connection it should refuse.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Succeeds once the broker has closed `stream` (EOF or reset), fails if it stays open past
/// `CLOSE_TIMEOUT`. Bytes the broker sends before closing are ignored.
fn expect_closed(mut stream: TcpStream, what: &str) -> TestResult {
    let deadline = Instant::now() + CLOSE_TIMEOUT;
    let mut buffer = [0u8; 4096];
    loop {
        if Instant::now() > deadline {
            return Err(format!("{what}: connection still open after {CLOSE_TIMEOUT:?}").into());
        }
        match stream.read(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(
                    format!("{what}: connection still open after {CLOSE_TIMEOUT:?}").into(),
                );
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // Reset or aborted: closed, as wanted.
            Err(_) => return Ok(()),
        }
    }
}

/// Sends `bytes` (ignoring a write refused because the broker already closed) and expects
/// the broker to close the connection.
fn send_and_expect_closed(bootstrap: &str, bytes: &[u8], what: &str) -> TestResult {
    let mut stream = connect(bootstrap, CLOSE_TIMEOUT)?;
    match stream.write_all(bytes) {
        Ok(()) => {}
        Err(e) if matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset) => {}
        Err(e) => return Err(e.into()),
    }
    expect_closed(stream, what)
}

/// ApiVersions v3 on a fresh connection: the broker is alive and answering.
fn api_versions(bootstrap: &str) -> Result<ApiVersionsResponse, BoxError> {
    let mut stream = connect(bootstrap, CLOSE_TIMEOUT)?;
    let frame = request_frame(ApiKey::ApiVersions, 3, 7, |buffer| {
        ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("vltava-tests"))
            .with_client_software_version(StrBytes::from_static_str("1"))
            .encode(buffer, 3)
            .map_err(|e| format!("encode: {e}").into())
    })?;
    stream.write_all(&frame)?;
    let mut response = read_response(&mut stream)?;
    let header = ResponseHeader::decode(&mut response, 0).map_err(|e| format!("{e}"))?;
    assert_eq!(header.correlation_id, 7);
    let body = ApiVersionsResponse::decode(&mut response, 3).map_err(|e| format!("{e}"))?;
    assert_eq!(body.error_code, 0, "ApiVersions v3 error");
    assert!(response.is_empty(), "{} trailing bytes", response.len());
    Ok(body)
}

/// A normal client still produces and consumes through the broker.
async fn clients_still_work(bootstrap: &str) -> TestResult {
    let topic = "still-works";
    let producer = common::producer(bootstrap, &[("acks", "all")])?;
    for i in 0..10 {
        let value = format!("value-{i}");
        producer
            .send(
                FutureRecord::<[u8], [u8]>::to(topic)
                    .partition(0)
                    .payload(value.as_bytes()),
                CLIENT_TIMEOUT,
            )
            .await
            .map_err(|(error, _)| format!("produce after bad input: {error}"))?;
    }
    let bootstrap = bootstrap.to_string();
    tokio::task::spawn_blocking(move || -> Result<(), String> {
        let run = || -> TestResult {
            let consumer = common::consumer(&bootstrap, &[])?;
            common::assign(&consumer, topic, 1, Offset::Beginning)?;
            let records = common::consume(&consumer, 10, Duration::from_secs(30))?;
            let values: Vec<Option<Vec<u8>>> = records.into_iter().map(|r| r.value).collect();
            let want: Vec<Option<Vec<u8>>> = (0..10)
                .map(|i| Some(format!("value-{i}").into_bytes()))
                .collect();
            assert_eq!(values, want);
            Ok(())
        };
        run().map_err(|e| e.to_string())
    })
    .await??;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_connections_are_closed_and_the_broker_keeps_serving() -> TestResult {
    let broker = vltava_testkit::start_broker(&[])?;
    let bootstrap = broker.bootstrap();

    // Not Kafka at all: an HTTP request. Its first four bytes claim a ~1.1 GB frame.
    send_and_expect_closed(bootstrap, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP")?;

    // A 2 GiB length prefix: refused on the length alone, before anything is read.
    send_and_expect_closed(bootstrap, &0x7fff_ffff_i32.to_be_bytes(), "2 GiB length")?;
    // A negative length, and one too short for any request header.
    send_and_expect_closed(bootstrap, &(-1_i32).to_be_bytes(), "negative length")?;
    send_and_expect_closed(bootstrap, &[0, 0, 0, 2, 0, 0], "2-byte frame")?;

    // A well-framed body of garbage.
    let mut garbage = 64_i32.to_be_bytes().to_vec();
    garbage.extend((0..64u8).map(|i| i.wrapping_mul(37) ^ 0xde));
    send_and_expect_closed(bootstrap, &garbage, "garbage frame")?;

    // An unknown API key (Kafka closes the connection: there is no response schema to use).
    let mut unknown = 10_i32.to_be_bytes().to_vec();
    unknown.extend([0x27, 0x0f, 0, 0, 0, 0, 0, 1, 0xff, 0xff]); // key 9999, v0, corr 1, null id
    send_and_expect_closed(bootstrap, &unknown, "unknown API key")?;

    // A known key at a version nobody serves.
    let metadata_v99 = request_frame(ApiKey::Metadata, 99, 2, |_| Ok(()))?;
    send_and_expect_closed(bootstrap, &metadata_v99, "Metadata v99")?;

    // A valid Metadata header followed by a body claiming ~2^28 topics: must not be allocated.
    let huge_array = request_frame(ApiKey::Metadata, 12, 3, |buffer| {
        buffer.put_slice(&[0xff, 0xff, 0xff, 0xff, 0x01]);
        Ok(())
    })?;
    send_and_expect_closed(bootstrap, &huge_array, "Metadata with a huge array count")?;

    // A truncated frame and then the client goes away: its half-read frame is dropped.
    let mut stream = connect(bootstrap, CLOSE_TIMEOUT)?;
    stream.write_all(&[0, 0, 0, 100, 0, 3, 0, 12, 0, 0])?;
    stream.shutdown(Shutdown::Write)?;
    expect_closed(stream, "truncated frame then half-close")?;
    let mut stream = connect(bootstrap, CLOSE_TIMEOUT)?;
    stream.write_all(&[0, 0, 0, 100, 0, 3])?;
    drop(stream);

    // A client stalled mid-frame does not block anyone else.
    let mut stalled = connect(bootstrap, CLOSE_TIMEOUT)?;
    stalled.write_all(&[0, 0, 1, 0, 0, 18, 0, 3])?;
    let versions = api_versions(bootstrap)?;
    assert!(!versions.api_keys.is_empty());
    drop(stalled);

    clients_still_work(bootstrap).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_versions_at_an_unknown_version_gets_a_v0_unsupported_version_answer() -> TestResult {
    let broker = vltava_testkit::start_broker(&[])?;
    let mut stream = connect(broker.bootstrap(), CLOSE_TIMEOUT)?;
    // A future client: header v2 (flexible), body in the newest encoding we know.
    let frame = request_frame(ApiKey::ApiVersions, 99, 4242, |buffer| {
        ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("future-client"))
            .with_client_software_version(StrBytes::from_static_str("99.0"))
            .encode(buffer, 4)
            .map_err(|e| format!("encode: {e}").into())
    })?;
    stream.write_all(&frame)?;
    let mut response = read_response(&mut stream)?;
    // ApiVersions responses always use header v0, and the fallback body is v0.
    let header = ResponseHeader::decode(&mut response, 0).map_err(|e| format!("{e}"))?;
    assert_eq!(header.correlation_id, 4242);
    let body = ApiVersionsResponse::decode(&mut response, 0).map_err(|e| format!("{e}"))?;
    assert!(response.is_empty(), "{} trailing bytes", response.len());
    assert_eq!(body.error_code, ResponseError::UnsupportedVersion.code());
    assert_eq!(body.error_code, 35);
    assert!(
        !body.api_keys.is_empty(),
        "the fallback must list the versions we serve"
    );
    let api_versions = body
        .api_keys
        .iter()
        .find(|k| k.api_key == ApiKey::ApiVersions as i16)
        .ok_or("ApiVersions missing from its own answer")?;
    assert!(api_versions.min_version <= 3 && api_versions.max_version >= 3);

    // The connection stays usable: the client retries at a version we serve.
    let frame = request_frame(ApiKey::ApiVersions, 3, 4243, |buffer| {
        ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("future-client"))
            .with_client_software_version(StrBytes::from_static_str("99.0"))
            .encode(buffer, 3)
            .map_err(|e| format!("encode: {e}").into())
    })?;
    stream.write_all(&frame)?;
    let mut response = read_response(&mut stream)?;
    let header = ResponseHeader::decode(&mut response, 0).map_err(|e| format!("{e}"))?;
    assert_eq!(header.correlation_id, 4243);
    let body = ApiVersionsResponse::decode(&mut response, 3).map_err(|e| format!("{e}"))?;
    assert_eq!(body.error_code, 0);
    Ok(())
}

macro_rules! default_requests {
    ($key:expr; $($name:ident),* $(,)?) => {
        match $key {
            $(ApiKey::$name => RequestKind::$name(Default::default()),)*
        }
    };
}

/// A request of `key` with every field at its default.
fn default_request(key: ApiKey) -> RequestKind {
    let mut request = default_requests!(key;
        Produce, Fetch, ListOffsets, Metadata, OffsetCommit, OffsetFetch, FindCoordinator,
        JoinGroup, Heartbeat, LeaveGroup, SyncGroup, DescribeGroups, ListGroups, SaslHandshake,
        ApiVersions, CreateTopics, DeleteTopics, DeleteRecords, InitProducerId,
        OffsetForLeaderEpoch, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, WriteTxnMarkers,
        TxnOffsetCommit, DescribeAcls, CreateAcls, DeleteAcls, DescribeConfigs, AlterConfigs,
        AlterReplicaLogDirs, DescribeLogDirs, SaslAuthenticate, CreatePartitions,
        CreateDelegationToken, RenewDelegationToken, ExpireDelegationToken,
        DescribeDelegationToken, DeleteGroups, ElectLeaders, IncrementalAlterConfigs,
        AlterPartitionReassignments, ListPartitionReassignments, OffsetDelete,
        DescribeClientQuotas, AlterClientQuotas, DescribeUserScramCredentials,
        AlterUserScramCredentials, Vote, BeginQuorumEpoch, EndQuorumEpoch, DescribeQuorum,
        AlterPartition, UpdateFeatures, Envelope, FetchSnapshot, DescribeCluster,
        DescribeProducers, BrokerRegistration, BrokerHeartbeat, UnregisterBroker,
        DescribeTransactions, ListTransactions, AllocateProducerIds, ConsumerGroupHeartbeat,
        ConsumerGroupDescribe, ControllerRegistration, GetTelemetrySubscriptions, PushTelemetry,
        AssignReplicasToDirs, ListConfigResources, DescribeTopicPartitions, ShareGroupHeartbeat,
        ShareGroupDescribe, ShareFetch, ShareAcknowledge, AddRaftVoter, RemoveRaftVoter,
        UpdateRaftVoter, InitializeShareGroupState, ReadShareGroupState, WriteShareGroupState,
        DeleteShareGroupState, ReadShareGroupStateSummary, DescribeShareGroupOffsets,
        AlterShareGroupOffsets, DeleteShareGroupOffsets,
    );
    // acks=0 would get no response at all.
    if let RequestKind::Produce(produce) = &mut request {
        produce.acks = 1;
        produce.timeout_ms = 1000;
    }
    // The one partition DescribeQuorum describes, so that the whole answer is encoded.
    if let RequestKind::DescribeQuorum(quorum) = &mut request {
        use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
        quorum.topics = vec![
            TopicData::default()
                .with_topic_name(kafka_protocol::messages::TopicName(
                    kafka_protocol::protocol::StrBytes::from_static_str("__cluster_metadata"),
                ))
                .with_partitions(vec![PartitionData::default().with_partition_index(0)]),
        ];
    }
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_advertised_api_answers_a_default_request_at_every_advertised_version() -> TestResult
{
    let broker = vltava_testkit::start_broker(&[])?;
    let advertised = api_versions(broker.bootstrap())?;
    assert!(!advertised.api_keys.is_empty());
    let mut stream = connect(broker.bootstrap(), CLOSE_TIMEOUT)?;
    let mut failures = Vec::new();
    for (correlation_id, api) in (100..).zip(advertised.api_keys.iter()) {
        let Ok(key) = ApiKey::try_from(api.api_key) else {
            failures.push(format!("advertised unknown api key {}", api.api_key));
            continue;
        };
        if api.min_version > api.max_version {
            failures.push(format!(
                "{key:?}: empty version range {}..={}",
                api.min_version, api.max_version
            ));
            continue;
        }
        // Produce v0-v2 are advertised for librdkafka's sake but refused, as Kafka 4 does.
        let served_from = if key == ApiKey::Produce {
            3
        } else {
            api.min_version
        };
        for version in served_from..=api.max_version {
            if let Err(error) = exchange(
                &mut stream,
                key,
                version,
                correlation_id,
                &default_request(key),
            ) {
                failures.push(format!("{key:?} v{version}: {error}"));
                // Carry on with the other versions on a fresh connection.
                stream = connect(broker.bootstrap(), CLOSE_TIMEOUT)?;
            }
        }
    }
    assert!(
        failures.is_empty(),
        "advertised but not served:\n{}",
        failures.join("\n")
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_producer_id_is_answered_at_every_advertised_version() -> TestResult {
    let broker = vltava_testkit::start_broker(&[])?;
    let advertised = api_versions(broker.bootstrap())?;
    let range = advertised
        .api_keys
        .iter()
        .find(|k| k.api_key == ApiKey::InitProducerId as i16)
        .ok_or("InitProducerId not advertised")?;
    let mut failures = Vec::new();
    for version in range.min_version..=range.max_version {
        let mut stream = connect(broker.bootstrap(), CLOSE_TIMEOUT)?;
        let correlation_id = 500 + i32::from(version);
        let frame = request_frame(ApiKey::InitProducerId, version, correlation_id, |buffer| {
            init_producer_id_body(buffer, version)
        })?;
        stream.write_all(&frame)?;
        let answer = read_response(&mut stream).and_then(|mut response| {
            let header = ResponseHeader::decode(
                &mut response,
                ApiKey::InitProducerId.response_header_version(version),
            )
            .map_err(|e| format!("{e}"))?;
            let body = ResponseKind::decode(ApiKey::InitProducerId, &mut response, version)
                .map_err(|e| format!("{e}"))?;
            Ok((header.correlation_id, body))
        });
        match answer {
            Ok((id, ResponseKind::InitProducerId(body)))
                if id == correlation_id && body.error_code == 0 && body.producer_id.0 >= 0 => {}
            Ok(other) => failures.push(format!("v{version}: unexpected answer {other:?}")),
            Err(error) => failures.push(format!("v{version}: no answer ({error})")),
        }
    }
    assert!(
        failures.is_empty(),
        "InitProducerId:\n{}",
        failures.join("\n")
    );
    Ok(())
}

/// An idempotent producer's InitProducerId body, written by hand from Kafka's schema
/// (InitProducerIdRequest.json) so that versions the codec lacks can be sent too:
/// transactional id (null), timeout, producer id and epoch (v3+), enable2Pc and
/// keepPreparedTxn (v6+), tagged fields (v2+).
fn init_producer_id_body(buffer: &mut BytesMut, version: i16) -> Result<(), BoxError> {
    if version >= 2 {
        buffer.put_u8(0); // compact nullable string: null
    } else {
        buffer.put_i16(-1);
    }
    buffer.put_i32(60_000);
    if version >= 3 {
        buffer.put_i64(-1);
        buffer.put_i16(-1);
    }
    if version >= 6 {
        buffer.put_u8(0);
        buffer.put_u8(0);
    }
    if version >= 2 {
        buffer.put_u8(0);
    }
    Ok(())
}

/// The broker process's virtual memory size, found by its data directory on the command line.
fn broker_vm_size_kib(data_dir: &Path) -> Result<u64, BoxError> {
    let needle = data_dir.to_string_lossy().into_owned();
    for entry in std::fs::read_dir("/proc")? {
        let path = entry?.path();
        let Ok(cmdline) = std::fs::read(path.join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline);
        if !cmdline.contains("serve") || !cmdline.contains(&needle) {
            continue;
        }
        let status = std::fs::read_to_string(path.join("status"))?;
        let size = status
            .lines()
            .find_map(|line| line.strip_prefix("VmSize:"))
            .and_then(|rest| rest.split_whitespace().next())
            .ok_or("no VmSize")?;
        return Ok(size.parse()?);
    }
    Err("broker process not found in /proc".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claimed_frame_lengths_are_not_allocated_before_the_bytes_arrive() -> TestResult {
    if !Path::new("/proc/self/status").exists() {
        eprintln!("no /proc: skipping");
        return Ok(());
    }
    const CONNECTIONS: usize = 30;
    // Just under the default socket.request.max.bytes (100 MiB), so the length is accepted.
    const CLAIMED_BYTES: i32 = 100 * 1024 * 1024 - 1;
    let broker = vltava_testkit::start_broker(&[])?;
    api_versions(broker.bootstrap())?;
    let before = broker_vm_size_kib(broker.data_dir())?;
    let mut streams = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        let mut stream = connect(broker.bootstrap(), CLOSE_TIMEOUT)?;
        stream.write_all(&CLAIMED_BYTES.to_be_bytes())?;
        stream.write_all(&[0, 3, 0, 12, 0, 0, 0, 1])?;
        streams.push(stream);
    }
    // Every connection's frame is being read once the broker answers a request sent after them.
    api_versions(broker.bootstrap())?;
    let deadline = Instant::now() + Duration::from_millis(500);
    let mut peak = before;
    while Instant::now() < deadline {
        peak = peak.max(broker_vm_size_kib(broker.data_dir())?);
        std::thread::yield_now();
    }
    let claimed_kib = (CONNECTIONS as u64) * (CLAIMED_BYTES as u64) / 1024;
    let grown_kib = peak.saturating_sub(before);
    assert!(
        grown_kib < claimed_kib / 4,
        "broker grew by {grown_kib} KiB for {CONNECTIONS} frames claiming {claimed_kib} KiB \
         in total but sending nothing"
    );
    drop(streams);
    api_versions(broker.bootstrap())?;
    Ok(())
}
