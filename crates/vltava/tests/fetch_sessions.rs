//! Incremental fetch sessions (KIP-227) and the response size cap over the raw protocol:
//! clients do not show which partitions an incremental response carried, nor ask for more
//! than their own fetch.max.bytes, so these tests build the requests themselves.
//!
//! Guards against: the session being updated by a long-poll pass whose response was thrown
//! away, so a log start offset moved by DeleteRecords during the poll was "already reported"
//! and never reached the client in any later incremental response; and a Fetch response as
//! large as the request asks (1 GiB), with no broker-side fetch.max.bytes.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use bytes::Bytes;
use common::wire::{connect, exchange, read_response, request_frame};
use common::{BoxError, TestResult};
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{
    ApiKey, DeleteRecordsRequest, FetchRequest, FetchResponse, RequestKind, ResponseHeader,
    ResponseKind, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

const TIMEOUT: Duration = Duration::from_secs(10);
const FETCH_VERSION: i16 = 12;
/// Long enough for DeleteRecords and a produce to happen while the fetch waits.
const LONG_POLL_MS: i32 = 3_000;

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

fn fetch_request(
    topic: &str,
    session_id: i32,
    epoch: i32,
    partitions: &[(i32, i64)],
) -> FetchRequest {
    let partitions = partitions
        .iter()
        .map(|(partition, offset)| {
            FetchPartition::default()
                .with_partition(*partition)
                .with_fetch_offset(*offset)
                .with_partition_max_bytes(1 << 20)
        })
        .collect::<Vec<_>>();
    let topics = if partitions.is_empty() {
        vec![]
    } else {
        vec![
            FetchTopic::default()
                .with_topic(name(topic))
                .with_partitions(partitions),
        ]
    };
    FetchRequest::default()
        .with_max_wait_ms(0)
        .with_max_bytes(1 << 20)
        .with_session_id(session_id)
        .with_session_epoch(epoch)
        .with_topics(topics)
}

fn fetch(stream: &mut TcpStream, request: FetchRequest) -> Result<FetchResponse, BoxError> {
    match exchange(stream, ApiKey::Fetch, FETCH_VERSION, 1, &request.into())? {
        ResponseKind::Fetch(response) => Ok(response),
        other => Err(format!("not a Fetch response: {other:?}").into()),
    }
}

fn decode_fetch(mut frame: Bytes) -> Result<FetchResponse, BoxError> {
    ResponseHeader::decode(
        &mut frame,
        ApiKey::Fetch.response_header_version(FETCH_VERSION),
    )?;
    Ok(FetchResponse::decode(&mut frame, FETCH_VERSION)?)
}

/// The log start offset a response reports for `partition`, if it carries that partition.
fn log_start_offset(response: &FetchResponse, partition: i32) -> Option<i64> {
    response
        .responses
        .iter()
        .flat_map(|t| &t.partitions)
        .find(|p| p.partition_index == partition)
        .map(|p| p.log_start_offset)
}

fn delete_records(stream: &mut TcpStream, partition: i32, offset: i64) -> TestResult {
    let request = DeleteRecordsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![
            DeleteRecordsTopic::default()
                .with_name(name("polled"))
                .with_partitions(vec![
                    DeleteRecordsPartition::default()
                        .with_partition_index(partition)
                        .with_offset(offset),
                ]),
        ]);
    let ResponseKind::DeleteRecords(response) = exchange(
        stream,
        ApiKey::DeleteRecords,
        2,
        1,
        &RequestKind::DeleteRecords(request),
    )?
    else {
        return Err("not a DeleteRecords response".into());
    };
    let result = &response.topics[0].partitions[0];
    assert_eq!((result.error_code, result.low_watermark), (0, offset));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_start_offset_moved_during_a_long_poll_reaches_the_session() -> TestResult {
    let broker = vltava_testkit::start_broker(&[])?;
    common::create_topics(broker.bootstrap(), &[("polled", 2)]).await?;
    let producer = common::producer(broker.bootstrap(), &[("acks", "all")])?;
    common::produce(&producer, "polled", 0, 10).await?;

    // Open a session at the end of both partitions: partition 0 reports log start 0.
    let mut poller = connect(broker.bootstrap(), TIMEOUT)?;
    let full = fetch(
        &mut poller,
        fetch_request("polled", 0, 0, &[(0, 10), (1, 0)]),
    )?;
    assert_eq!(full.error_code, 0);
    assert_ne!(full.session_id, 0, "no session was opened");
    assert_eq!(log_start_offset(&full, 0), Some(0));

    // An incremental long poll that cannot be satisfied by a few bytes. While it waits,
    // DeleteRecords moves partition 0's log start, and a record on partition 1 wakes the poll,
    // whose pass sees both changes but, still short of min_bytes, is not sent.
    let poll = fetch_request("polled", full.session_id, 1, &[])
        .with_max_wait_ms(LONG_POLL_MS)
        .with_min_bytes(1 << 20);
    let frame = request_frame(ApiKey::Fetch, FETCH_VERSION, 1, |buffer| {
        poll.encode(buffer, FETCH_VERSION)
            .map_err(|e| format!("encode Fetch: {e}").into())
    })?;
    poller.write_all(&frame)?;
    let mut admin = connect(broker.bootstrap(), TIMEOUT)?;
    delete_records(&mut admin, 0, 5)?;
    common::produce(&producer, "polled", 1, 1).await?;
    let polled = decode_fetch(read_response(&mut poller)?)?;
    assert_eq!(polled.error_code, 0);

    // The moved log start must be in the response that was sent, or at the latest in the next.
    let next = fetch(
        &mut poller,
        fetch_request("polled", full.session_id, 2, &[]),
    )?;
    assert_eq!(next.error_code, 0);
    let reported = [log_start_offset(&polled, 0), log_start_offset(&next, 0)];
    assert!(
        reported.contains(&Some(5)),
        "the new log start offset 5 never reached the session: long poll {:?}, next {:?}",
        reported[0],
        reported[1]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_asking_for_a_gibibyte_gets_at_most_fetch_max_bytes() -> TestResult {
    const CAP_BYTES: usize = 1024;
    const PARTITIONS: i32 = 8;
    let broker = vltava_testkit::start_broker(&["--fetch-max-bytes", &CAP_BYTES.to_string()])?;
    common::create_topics(broker.bootstrap(), &[("capped", PARTITIONS)]).await?;
    let producer = common::producer(broker.bootstrap(), &[("acks", "all")])?;
    for partition in 0..PARTITIONS {
        common::produce(&producer, "capped", partition, 20).await?;
    }
    let partitions: Vec<(i32, i64)> = (0..PARTITIONS).map(|p| (p, 0)).collect();
    let request = fetch_request("capped", 0, -1, &partitions).with_max_bytes(1 << 30);
    let mut stream = connect(broker.bootstrap(), TIMEOUT)?;
    let response = fetch(&mut stream, request)?;
    assert_eq!(response.error_code, 0);
    let record_bytes: usize = response
        .responses
        .iter()
        .flat_map(|t| &t.partitions)
        .map(|p| p.records.as_ref().map_or(0, Bytes::len))
        .sum();
    // Each batch here is one small record, far below the cap, so the first-batch exception
    // does not apply: the whole response stays within it.
    assert!(
        record_bytes > 0 && record_bytes <= CAP_BYTES,
        "{record_bytes} record bytes with fetch.max.bytes {CAP_BYTES}"
    );
    Ok(())
}
