//! Retention as a consumer sees it: the broker's background task deletes whole old segments,
//! the log start offset moves, and a consumer asking for a deleted offset is reset rather than
//! served a hole. Guards against retention that deletes nothing, deletes the active segment, or
//! leaves the log start offset behind the data.

mod common;

use std::time::{Duration, Instant};

use rdkafka::Offset;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::Consumer;
use rdkafka::producer::FutureRecord;
use vltava_testkit::start_broker;

use common::{CLIENT_TIMEOUT, TestResult, assign, consume, consumer, producer};

const RECORDS: usize = 300;
const VALUE_BYTES: usize = 1000;
/// Small segments so that a few hundred records make many of them (Kafka's testing knob:
/// `segment.bytes` itself must be at least 1 MiB).
const SEGMENT_BYTES: &str = "16384";
const RETENTION_BYTES: &str = "65536";
const RETENTION_DEADLINE: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread")]
async fn retention_by_size_deletes_old_segments_and_moves_the_log_start_offset() -> TestResult {
    let broker = start_broker(&["--log-retention-check-interval-ms", "100"])?;
    let topic = "retained";
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .create()?;
    let new_topic = NewTopic::new(topic, 1, TopicReplication::Fixed(1))
        .set("internal.segment.bytes", SEGMENT_BYTES)
        .set("retention.bytes", RETENTION_BYTES);
    let created = admin
        .create_topics([&new_topic], &AdminOptions::new())
        .await?;
    assert!(created.iter().all(|r| r.is_ok()), "{created:?}");

    // One record per batch (linger 0, each send awaited) so segments fill record by record.
    let producer = producer(broker.bootstrap(), &[("linger.ms", "0"), ("acks", "all")])?;
    let value = vec![b'v'; VALUE_BYTES];
    for i in 0..RECORDS {
        let key = i.to_string();
        producer
            .send(
                FutureRecord::to(topic).key(&key).payload(&value),
                CLIENT_TIMEOUT,
            )
            .await
            .map_err(|(e, _)| e)?;
    }

    let reader = consumer(broker.bootstrap(), &[("auto.offset.reset", "earliest")])?;
    // What retention may keep: the limit, plus the segment it cannot split and the active one.
    let kept_records_max = (65536 + 2 * 16384) / VALUE_BYTES;
    let deadline = Instant::now() + RETENTION_DEADLINE;
    // Done when few enough records are kept and a later retention pass (every 100 ms) moved
    // nothing: a pass that ran before the last appends may still have one more to do.
    let mut previous_low = -1;
    let (low, high) = loop {
        let (low, high) = reader.fetch_watermarks(topic, 0, CLIENT_TIMEOUT)?;
        let kept = usize::try_from(high - low)?;
        let settled = kept <= kept_records_max && low == previous_low;
        if settled || Instant::now() > deadline {
            break (low, high);
        }
        previous_low = low;
        tokio::time::sleep(Duration::from_millis(300)).await; // poll interval, bounded by the deadline
    };
    assert_eq!(high, RECORDS as i64);
    assert!(
        usize::try_from(high - low)? <= kept_records_max,
        "retention kept offsets {low}..{high} after {RETENTION_DEADLINE:?}"
    );
    assert!(low > 0);

    // Offset 0 is gone: the consumer is reset to the log start offset, not served a hole.
    assign(&reader, topic, 1, Offset::Offset(0))?;
    let received = consume(&reader, 1, CLIENT_TIMEOUT)?;
    assert_eq!(received[0].offset, low);
    Ok(())
}
