//! Fetch responses whose records are sent straight from the segment files (sendfile), as
//! librdkafka reads them with CRC checks on.
//!
//! Guards against: records sent from the wrong place of a file or under the wrong length (a
//! batch cut in two, a neighbour's bytes, a batch past the high watermark), fetches that stop
//! at a segment boundary and never go on, and a fetch racing retention that sends the bytes of
//! a deleted segment wrongly (the response holds the file open) or a hole.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::Offset;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use vltava_testkit::start_broker;

use common::{BoxError, CLIENT_TIMEOUT, TestResult, XorShift, assign, consumer, producer};

/// Small segments, so a few thousand records make dozens of them.
const SEGMENT_BYTES: &str = "16384";

async fn create_topic(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) -> TestResult {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let mut new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    for (key, value) in configs {
        new_topic = new_topic.set(key, value);
    }
    let created = admin
        .create_topics([&new_topic], &AdminOptions::new())
        .await?;
    assert!(created.iter().all(|r| r.is_ok()), "{created:?}");
    Ok(())
}

/// The value of the record keyed `key`: its length and bytes follow from the key alone, so a
/// reader can check any record it gets without knowing its offset.
fn value_of(key: u64) -> Vec<u8> {
    let mut rng = XorShift(key.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let len = 1 + (rng.next_u64() % 900) as usize;
    rng.bytes(len)
}

/// Sends keys `from..to` to `partition`, several records a batch (linger), all acknowledged.
async fn send_keys(
    producer: &FutureProducer,
    topic: &str,
    partition: i32,
    keys: std::ops::Range<u64>,
) -> TestResult {
    let mut pending = Vec::new();
    for key in keys {
        let producer = producer.clone();
        let topic = topic.to_string();
        pending.push(tokio::spawn(async move {
            let key_text = key.to_string();
            let value = value_of(key);
            let record = FutureRecord::to(&topic)
                .partition(partition)
                .key(&key_text)
                .payload(&value);
            producer
                .send(record, CLIENT_TIMEOUT)
                .await
                .map(|_| ())
                .map_err(|(e, _)| e.to_string())
        }));
        // Bounded in flight, so batches form without queueing everything at once.
        if pending.len() >= 200 {
            for sent in pending.drain(..) {
                sent.await??;
            }
        }
    }
    for sent in pending {
        sent.await??;
    }
    Ok(())
}

/// Checks one consumed message: its value must be the one its key names.
fn checked(message: &rdkafka::message::BorrowedMessage<'_>) -> Result<(i32, i64, u64), BoxError> {
    use rdkafka::Message;
    let key: u64 = std::str::from_utf8(message.key().ok_or("a record without key")?)?.parse()?;
    let value = message.payload().ok_or("a record without value")?;
    if value != value_of(key).as_slice() {
        return Err(format!(
            "partition {} offset {}: the value is not key {key}'s",
            message.partition(),
            message.offset()
        )
        .into());
    }
    Ok((message.partition(), message.offset(), key))
}

/// Polls until every partition reached `ends`, checking each record; the keys by partition.
fn read_to_ends(
    reader: &BaseConsumer,
    ends: &BTreeMap<i32, i64>,
) -> Result<BTreeMap<i32, Vec<(i64, u64)>>, BoxError> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut got: BTreeMap<i32, Vec<(i64, u64)>> = BTreeMap::new();
    let done = |got: &BTreeMap<i32, Vec<(i64, u64)>>| {
        ends.iter().all(|(p, end)| {
            got.get(p)
                .and_then(|v| v.last())
                .is_some_and(|(o, _)| o + 1 >= *end)
        })
    };
    while !done(&got) {
        if Instant::now() > deadline {
            return Err(format!(
                "not every partition read to its end: {:?}",
                got.iter().map(|(p, v)| (p, v.len())).collect::<Vec<_>>()
            )
            .into());
        }
        match reader.poll(Duration::from_millis(500)) {
            None => {}
            Some(Ok(message)) => {
                let (partition, offset, key) = checked(&message)?;
                got.entry(partition).or_default().push((offset, key));
            }
            Some(Err(error)) => return Err(format!("consumer error: {error}").into()),
        }
    }
    Ok(got)
}

#[tokio::test(flavor = "multi_thread")]
async fn records_read_across_many_small_segments_are_the_records_written() -> TestResult {
    let broker = start_broker(&[])?;
    let topic = "from-files";
    create_topic(
        broker.bootstrap(),
        topic,
        2,
        &[("internal.segment.bytes", SEGMENT_BYTES)],
    )
    .await?;
    let producer = producer(broker.bootstrap(), &[("linger.ms", "5"), ("acks", "all")])?;
    send_keys(&producer, topic, 0, 0..3000).await?;
    send_keys(&producer, topic, 1, 3000..4000).await?;

    // Small fetch limits cut responses at many batch boundaries inside and across segments;
    // the defaults take whole segments at once. Both must read back exactly what was written.
    let limits: [&[(&str, &str)]; 2] = [
        &[
            ("fetch.max.bytes", "20000"),
            ("max.partition.fetch.bytes", "7000"),
            // librdkafka wants fetch.max.bytes at least this (a client-side check only).
            ("message.max.bytes", "10000"),
        ],
        &[],
    ];
    for extra in limits {
        let reader = consumer(broker.bootstrap(), extra)?;
        let mut ends = BTreeMap::new();
        for partition in 0..2 {
            let (low, high) = reader.fetch_watermarks(topic, partition, CLIENT_TIMEOUT)?;
            assert_eq!(low, 0);
            ends.insert(partition, high);
        }
        assign(&reader, topic, 2, Offset::Beginning)?;
        let got = read_to_ends(&reader, &ends)?;
        for (partition, keys) in [(0, 0..3000u64), (1, 3000..4000)] {
            let read = &got[&partition];
            let offsets: Vec<i64> = read.iter().map(|(o, _)| *o).collect();
            let expected: Vec<i64> = (0..keys.end - keys.start).map(|o| o as i64).collect();
            assert_eq!(offsets, expected, "partition {partition}: offsets");
            let mut read_keys: Vec<u64> = read.iter().map(|(_, k)| *k).collect();
            read_keys.sort_unstable();
            assert_eq!(
                read_keys,
                keys.collect::<Vec<_>>(),
                "partition {partition}: keys"
            );
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reader_racing_retention_gets_whole_records_or_a_reset_never_wrong_bytes() -> TestResult {
    let broker = start_broker(&["--log-retention-check-interval-ms", "50"])?;
    let topic = "racing-retention";
    create_topic(
        broker.bootstrap(),
        topic,
        1,
        &[
            ("internal.segment.bytes", SEGMENT_BYTES),
            ("retention.bytes", "32768"),
        ],
    )
    .await?;
    let producer = producer(broker.bootstrap(), &[("linger.ms", "2"), ("acks", "all")])?;
    let bootstrap = broker.bootstrap().to_string();
    // A slow reader from the start: small fetches, so its position stays near the log start
    // while retention deletes the segments under it; it is reset when it falls behind.
    let reading = tokio::task::spawn_blocking(move || -> Result<usize, String> {
        let run = || -> Result<usize, BoxError> {
            let reader = consumer(
                &bootstrap,
                &[
                    ("auto.offset.reset", "earliest"),
                    ("fetch.max.bytes", "4000"),
                    ("max.partition.fetch.bytes", "2000"),
                    ("message.max.bytes", "2000"),
                ],
            )?;
            assign(&reader, topic, 1, Offset::Beginning)?;
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut last = -1i64;
            let mut read = 0usize;
            while last < 11_999 {
                if Instant::now() > deadline {
                    return Err(format!("read up to offset {last} only").into());
                }
                match reader.poll(Duration::from_millis(200)) {
                    None => {}
                    Some(Ok(message)) => {
                        let (_, offset, _) = checked(&message)?;
                        if offset <= last {
                            return Err(format!("offset {offset} after {last}").into());
                        }
                        last = offset;
                        read += 1;
                    }
                    Some(Err(error)) => return Err(format!("consumer error: {error}").into()),
                }
            }
            Ok(read)
        };
        run().map_err(|e| e.to_string())
    });
    for round in 0..12u64 {
        send_keys(&producer, topic, 0, round * 1000..(round + 1) * 1000).await?;
    }
    let read = reading.await??;
    assert!(read > 0);
    let reader = consumer(broker.bootstrap(), &[])?;
    let (low, high) = reader.fetch_watermarks(topic, 0, CLIENT_TIMEOUT)?;
    assert_eq!(high, 12_000);
    assert!(low > 0, "retention deleted nothing: the race was not run");
    Ok(())
}
