//! Records come back exactly as they were produced, with every compression codec.
//!
//! Guards against: batches re-encoded or corrupted on the way to disk or back (CRC, compression
//! attributes, record framing), base offsets written in the wrong place, per-partition order
//! lost, null values turned into empty ones (or the reverse), header values (including null
//! ones) dropped, timestamps rewritten, a batch near `max.message.bytes` refused or truncated by
//! a fetch size limit, and idempotent producer batches (producer id, epoch, sequence) rejected.

mod common;

use std::collections::VecDeque;
use std::time::Duration;

use common::{BoxError, CLIENT_TIMEOUT, TestResult, XorShift};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset};

const PARTITIONS: i32 = 3;
/// Kafka's default `max.message.bytes` (1048588) counts the whole batch, so the value leaves
/// room for the batch and record overhead.
const LARGE_VALUE_BYTES: usize = 1024 * 1024 - 1024;
/// Producer limit matching the broker's default `max.message.bytes`.
const MESSAGE_BYTES_MAX: &str = "1048588";
const BASE_TIMESTAMP_MS: i64 = 1_700_000_000_000;
const TEST_TIMEOUT: Duration = Duration::from_secs(90);

/// What record `i` of a run is made of; every field is a function of `i`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Expected {
    partition: i32,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
    timestamp: i64,
}

fn expected(i: usize, large_at: usize, rng: &mut XorShift) -> Result<Expected, BoxError> {
    let partition = i32::try_from(i % 3)?;
    let key = (!i.is_multiple_of(11)).then(|| format!("key-{i}").into_bytes());
    let value = if i == large_at {
        Some(rng.bytes(LARGE_VALUE_BYTES))
    } else {
        match i % 13 {
            0 => None,
            1 => Some(Vec::new()),
            n => {
                // Half compressible text, half random bytes, of varying length.
                let mut v = format!("value-{i}-").repeat(n).into_bytes();
                v.extend(rng.bytes(i % 97));
                Some(v)
            }
        }
    };
    let headers = match i % 5 {
        0 => Vec::new(),
        1 => vec![("null-header".to_string(), None)],
        2 => vec![("empty".to_string(), Some(Vec::new()))],
        _ => vec![
            ("index".to_string(), Some(i.to_string().into_bytes())),
            ("trace".to_string(), Some(rng.bytes(16))),
            (
                "index".to_string(),
                Some(b"duplicate keys are allowed".to_vec()),
            ),
        ],
    };
    Ok(Expected {
        partition,
        key,
        value,
        headers,
        timestamp: BASE_TIMESTAMP_MS + i64::try_from(i)?,
    })
}

fn owned_headers(headers: &[(String, Option<Vec<u8>>)]) -> Option<OwnedHeaders> {
    if headers.is_empty() {
        return None;
    }
    let mut owned = OwnedHeaders::new_with_capacity(headers.len());
    for (key, value) in headers {
        owned = owned.insert(Header {
            key: key.as_str(),
            value: value.as_deref(),
        });
    }
    Some(owned)
}

/// Produces every record, waiting for its delivery report, and checks it landed at the next
/// offset of its partition (the topic is fresh, so offset = index within the partition).
async fn produce_all(producer: &FutureProducer, topic: &str, records: &[Expected]) -> TestResult {
    let mut next_offset = [0i64; PARTITIONS as usize];
    let mut pending = VecDeque::new();
    for (i, record) in records.iter().enumerate() {
        let partition = usize::try_from(record.partition)?;
        let want = (record.partition, next_offset[partition]);
        next_offset[partition] += 1;
        let mut future_record = FutureRecord::<[u8], [u8]>::to(topic)
            .partition(record.partition)
            .timestamp(record.timestamp);
        if let Some(key) = &record.key {
            future_record = future_record.key(key.as_slice());
        }
        if let Some(value) = &record.value {
            future_record = future_record.payload(value.as_slice());
        }
        if let Some(headers) = owned_headers(&record.headers) {
            future_record = future_record.headers(headers);
        }
        loop {
            match producer.send_result(future_record) {
                Ok(delivery) => {
                    pending.push_back((i, want, delivery));
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    future_record = back;
                    // The queue drains as deliveries complete: wait for the oldest one.
                    let Some(oldest) = pending.pop_front() else {
                        return Err("queue full with nothing in flight".into());
                    };
                    check_delivery(oldest).await?;
                }
                Err((error, _)) => return Err(format!("enqueue record {i}: {error}").into()),
            }
        }
    }
    while let Some(oldest) = pending.pop_front() {
        check_delivery(oldest).await?;
    }
    Ok(())
}

async fn check_delivery(
    (i, want, delivery): (usize, (i32, i64), rdkafka::producer::DeliveryFuture),
) -> TestResult {
    match delivery.await? {
        Ok(delivered) => {
            let got = (delivered.partition, delivered.offset);
            if got != want {
                return Err(format!("record {i} delivered at {got:?}, expected {want:?}").into());
            }
            Ok(())
        }
        Err((error, _)) => Err(format!("record {i} not delivered: {error}").into()),
    }
}

/// Reads the topic from the beginning and compares every record, partition by partition.
fn check_consumed(bootstrap: &str, topic: &str, records: &[Expected]) -> TestResult {
    let consumer = common::consumer(
        bootstrap,
        &[
            ("fetch.message.max.bytes", "1048576"),
            ("fetch.max.bytes", "52428800"),
        ],
    )?;
    common::assign(&consumer, topic, PARTITIONS, Offset::Beginning)?;
    let received = common::consume(&consumer, records.len(), Duration::from_secs(60))?;
    let mut next = [0usize; PARTITIONS as usize];
    let by_partition: Vec<Vec<&Expected>> = (0..PARTITIONS)
        .map(|p| records.iter().filter(|r| r.partition == p).collect())
        .collect();
    for record in &received {
        let partition = usize::try_from(record.partition)?;
        let index = next[partition];
        next[partition] += 1;
        let want = by_partition[partition]
            .get(index)
            .ok_or_else(|| format!("extra record {record:?}"))?;
        let at = format!("{topic}-{partition} offset {}", record.offset);
        assert_eq!(record.offset, i64::try_from(index)?, "{at}: offset");
        assert_eq!(record.key, want.key, "{at}: key");
        assert!(
            record.value == want.value,
            "{at}: value differs (got {:?} bytes, expected {:?} bytes)",
            record.value.as_ref().map(Vec::len),
            want.value.as_ref().map(Vec::len)
        );
        assert_eq!(record.headers, want.headers, "{at}: headers");
        assert_eq!(record.timestamp, Some(want.timestamp), "{at}: timestamp");
    }
    for (partition, want) in by_partition.iter().enumerate() {
        assert_eq!(
            next[partition],
            want.len(),
            "records of partition {partition}"
        );
    }
    // Nothing beyond what was produced.
    if let Some(Ok(extra)) = consumer.poll(Duration::from_millis(200)) {
        return Err(format!("unexpected extra record at offset {}", extra.offset()).into());
    }
    Ok(())
}

/// Produces `count` records (one of them ~1 MiB) with `settings` and reads them all back.
async fn round_trip(count: usize, seed: u64, settings: &[(&str, &str)]) -> TestResult {
    let broker = vltava_testkit::start_broker(&[])?;
    let topic = format!("round-trip-{seed}");
    common::create_topics(broker.bootstrap(), &[(&topic, PARTITIONS)]).await?;
    let mut rng = XorShift(seed);
    let records = (0..count)
        .map(|i| expected(i, count / 2, &mut rng))
        .collect::<Result<Vec<_>, _>>()?;
    let mut config = vec![
        ("message.max.bytes", MESSAGE_BYTES_MAX),
        ("linger.ms", "5"),
        ("queue.buffering.max.messages", "200000"),
    ];
    config.extend_from_slice(settings);
    let producer = common::producer(broker.bootstrap(), &config)?;
    tokio::time::timeout(TEST_TIMEOUT, produce_all(&producer, &topic, &records))
        .await
        .map_err(|_| format!("producing {count} records took over {TEST_TIMEOUT:?}"))??;
    let bootstrap = broker.bootstrap().to_string();
    tokio::task::spawn_blocking(move || {
        check_consumed(&bootstrap, &topic, &records).map_err(|e| e.to_string())
    })
    .await??;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uncompressed_records_round_trip_exactly() -> TestResult {
    round_trip(100_000, 0x5eed_0001, &[("compression.type", "none")]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_records_round_trip_exactly() -> TestResult {
    round_trip(10_000, 0x5eed_0002, &[("compression.type", "gzip")]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snappy_records_round_trip_exactly() -> TestResult {
    round_trip(10_000, 0x5eed_0003, &[("compression.type", "snappy")]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lz4_records_round_trip_exactly() -> TestResult {
    round_trip(10_000, 0x5eed_0004, &[("compression.type", "lz4")]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zstd_records_round_trip_exactly() -> TestResult {
    round_trip(10_000, 0x5eed_0005, &[("compression.type", "zstd")]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_acks_all_records_round_trip_exactly() -> TestResult {
    round_trip(
        10_000,
        0x5eed_0006,
        &[
            ("enable.idempotence", "true"),
            ("acks", "all"),
            ("max.in.flight.requests.per.connection", "5"),
            ("compression.type", "lz4"),
        ],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_above_max_message_bytes_is_refused_as_too_large() -> TestResult {
    // The other side of the ~1 MiB case: a batch just above Kafka's default limit must get
    // MESSAGE_TOO_LARGE, not be stored.
    let broker = vltava_testkit::start_broker(&[])?;
    common::create_topics(broker.bootstrap(), &[("too-large", 1)]).await?;
    let producer = common::producer(
        broker.bootstrap(),
        &[
            ("message.max.bytes", "2000000"),
            ("compression.type", "none"),
        ],
    )?;
    let value = XorShift(7).bytes(1_048_588);
    // Enqueued locally (below the producer's own limit), so the refusal is the broker's.
    let delivery = producer
        .send_result(FutureRecord::<[u8], [u8]>::to("too-large").payload(&value))
        .map_err(|(error, _)| format!("refused locally: {error}"))?;
    let result = tokio::time::timeout(CLIENT_TIMEOUT, delivery).await??;
    match result {
        Err((KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge), _)) => Ok(()),
        Err((error, _)) => Err(format!("expected MESSAGE_TOO_LARGE, got {error}").into()),
        Ok(delivery) => Err(format!("a 1048588-byte value was accepted: {delivery:?}").into()),
    }
}
