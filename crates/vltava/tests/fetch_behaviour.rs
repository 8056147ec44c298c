//! What consumers see of fetch and offset lookups, through librdkafka.
//!
//! Guards against: a long-polling fetch that is not woken by new data (every record then
//! arrives up to fetch.wait.max.ms late), wrong low/high watermarks, timestamp lookups that
//! answer at batch instead of record granularity or miss the end of the log, an out-of-range
//! fetch that is silently served (or a fetch at the log end treated as out of range), and
//! topics created on first use when `auto-create-topics` is off.

mod common;

use std::time::{Duration, Instant};

use common::{BoxError, CLIENT_TIMEOUT, TestResult};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::mpsc;

async fn send(
    producer: &FutureProducer,
    topic: &str,
    partition: i32,
    value: &[u8],
    timestamp: Option<i64>,
) -> Result<i64, BoxError> {
    let mut record = FutureRecord::<[u8], [u8]>::to(topic)
        .partition(partition)
        .payload(value);
    if let Some(timestamp) = timestamp {
        record = record.timestamp(timestamp);
    }
    match producer.send(record, CLIENT_TIMEOUT).await {
        Ok(delivered) => Ok(delivered.offset),
        Err((error, _)) => Err(format!("produce to {topic}-{partition}: {error}").into()),
    }
}

/// Runs `f` on a blocking thread (librdkafka consumers block) and flattens its errors.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, BoxError> + Send + 'static,
) -> Result<T, BoxError> {
    tokio::task::spawn_blocking(move || f().map_err(|e| e.to_string()))
        .await?
        .map_err(Into::into)
}

/// Waits for the consumer thread to report `want`, and returns when it arrived.
async fn wait_for(
    arrived: &mut mpsc::UnboundedReceiver<(i64, Instant)>,
    want: i64,
) -> Result<Instant, BoxError> {
    match tokio::time::timeout(Duration::from_secs(30), arrived.recv()).await {
        Ok(Some((offset, at))) if offset == want => Ok(at),
        Ok(Some((offset, _))) => Err(format!("got offset {offset}, expected {want}").into()),
        Ok(None) => Err("consumer stopped".into()),
        Err(_) => Err(format!("offset {want} never arrived").into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_polling_fetch_returns_as_soon_as_data_arrives() -> TestResult {
    const LATE: Duration = Duration::from_secs(1);
    let broker = vltava_testkit::start_broker(&[])?;
    let topic = "long-poll";
    common::create_topics(broker.bootstrap(), &[(topic, 1)]).await?;
    let producer = common::producer(broker.bootstrap(), &[("acks", "1"), ("linger.ms", "0")])?;
    send(&producer, topic, 0, b"warm-up", None).await?;

    // The consumer reports when each offset arrives.
    let (arrivals, mut arrived) = mpsc::unbounded_channel();
    let bootstrap = broker.bootstrap().to_string();
    let consumer_thread = tokio::task::spawn_blocking(move || -> Result<(), String> {
        let run = || -> TestResult {
            let consumer = common::consumer(&bootstrap, &[("fetch.wait.max.ms", "10000")])?;
            common::assign(&consumer, topic, 1, Offset::Beginning)?;
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut received = 0;
            while received < 4 && Instant::now() < deadline {
                match consumer.poll(Duration::from_millis(50)) {
                    None => {}
                    Some(Ok(message)) => {
                        received += 1;
                        let offset = rdkafka::Message::offset(&message);
                        if arrivals.send((offset, Instant::now())).is_err() {
                            return Ok(());
                        }
                    }
                    Some(Err(error)) => return Err(error.into()),
                }
            }
            Ok(())
        };
        run().map_err(|e| e.to_string())
    });

    wait_for(&mut arrived, 0).await?;
    for offset in 1..=3 {
        // Not synchronisation: give librdkafka time to have its next fetch parked at the
        // broker, so that what is measured is the wake-up of a waiting fetch. A fetch sent
        // after the produce would only make the test pass trivially.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let produced_at = Instant::now();
        let acked = send(
            &producer,
            topic,
            0,
            format!("record-{offset}").as_bytes(),
            None,
        )
        .await?;
        assert_eq!(acked, offset);
        let arrived_at = wait_for(&mut arrived, offset).await?;
        let latency = arrived_at.saturating_duration_since(produced_at);
        assert!(
            latency < LATE,
            "offset {offset} reached the waiting consumer {latency:?} after it was produced"
        );
    }
    drop(arrived);
    consumer_thread.await??;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watermarks_follow_what_was_produced() -> TestResult {
    let broker = vltava_testkit::start_broker(&[])?;
    let topic = "watermarks";
    common::create_topics(broker.bootstrap(), &[(topic, 3)]).await?;
    let bootstrap = broker.bootstrap().to_string();
    let before = blocking({
        let bootstrap = bootstrap.clone();
        move || {
            let consumer = common::consumer(&bootstrap, &[])?;
            Ok(consumer.fetch_watermarks(topic, 0, CLIENT_TIMEOUT)?)
        }
    })
    .await?;
    assert_eq!(before, (0, 0), "empty partition");

    let producer = common::producer(&bootstrap, &[("acks", "all"), ("linger.ms", "5")])?;
    for (partition, count) in [(0, 7), (1, 3)] {
        for i in 0..count {
            send(&producer, topic, partition, format!("{i}").as_bytes(), None).await?;
        }
    }
    let after = blocking(move || {
        let consumer = common::consumer(&bootstrap, &[])?;
        (0..3)
            .map(|p| Ok(consumer.fetch_watermarks(topic, p, CLIENT_TIMEOUT)?))
            .collect::<Result<Vec<_>, BoxError>>()
    })
    .await?;
    assert_eq!(after, vec![(0, 7), (0, 3), (0, 0)]);
    Ok(())
}

/// The offset ListOffsets gives for `timestamp`: `None` for "no such offset" (-1).
fn offset_for_time(
    consumer: &BaseConsumer,
    topic: &str,
    timestamp: i64,
) -> Result<Option<i64>, BoxError> {
    let mut query = TopicPartitionList::new();
    query.add_partition_offset(topic, 0, Offset::Offset(timestamp))?;
    let answer = consumer.offsets_for_times(query, CLIENT_TIMEOUT)?;
    let element = answer
        .find_partition(topic, 0)
        .ok_or("partition missing from the answer")?;
    if let Err(error) = element.error() {
        return Err(format!("offsets_for_times({timestamp}): {error}").into());
    }
    match element.offset() {
        Offset::Offset(offset) => Ok(Some(offset)),
        Offset::End => Ok(None),
        other => Err(format!("offsets_for_times({timestamp}) gave {other:?}").into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_for_times_finds_the_first_record_at_or_after_a_timestamp() -> TestResult {
    const T0: i64 = 1_600_000_000_000;
    let broker = vltava_testkit::start_broker(&[])?;
    let topic = "times";
    common::create_topics(broker.bootstrap(), &[(topic, 1)]).await?;
    // Offsets 0..=4: one record per batch (each send awaited), a second apart.
    let producer = common::producer(broker.bootstrap(), &[("linger.ms", "0")])?;
    for i in 0..5 {
        let offset = send(&producer, topic, 0, b"single", Some(T0 + i * 1000)).await?;
        assert_eq!(offset, i);
    }
    // Offsets 5..=9: sent together so they share batches, one millisecond apart, so that a
    // lookup must look inside a batch, not just at its max timestamp.
    let batching = common::producer(broker.bootstrap(), &[("linger.ms", "50")])?;
    let mut deliveries = Vec::new();
    for i in 0..5 {
        let record = FutureRecord::<[u8], [u8]>::to(topic)
            .partition(0)
            .payload(b"batched")
            .timestamp(T0 + 5000 + i);
        deliveries.push(
            batching
                .send_result(record)
                .map_err(|(error, _)| format!("enqueue: {error}"))?,
        );
    }
    for (i, delivery) in (5..).zip(deliveries) {
        let delivered = delivery.await?.map_err(|(e, _)| format!("produce: {e}"))?;
        assert_eq!(delivered.offset, i);
    }

    let bootstrap = broker.bootstrap().to_string();
    let cases: [(i64, Option<i64>); 10] = [
        (T0 - 1, Some(0)),
        (T0, Some(0)),
        (T0 + 1, Some(1)),
        (T0 + 1000, Some(1)),
        (T0 + 3500, Some(4)),
        (T0 + 4001, Some(5)),
        (T0 + 5002, Some(7)),
        (T0 + 5004, Some(9)),
        (T0 + 5005, None),
        (i64::MAX / 2, None),
    ];
    let answers = blocking(move || {
        let consumer = common::consumer(&bootstrap, &[])?;
        cases
            .iter()
            .map(|(timestamp, _)| offset_for_time(&consumer, topic, *timestamp))
            .collect::<Result<Vec<_>, BoxError>>()
    })
    .await?;
    for ((timestamp, want), got) in cases.iter().zip(answers) {
        assert_eq!(got, *want, "offset for timestamp T0{:+}", timestamp - T0);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_past_the_log_end_is_out_of_range_but_at_the_log_end_waits() -> TestResult {
    let broker = vltava_testkit::start_broker(&[])?;
    let topic = "out-of-range";
    common::create_topics(broker.bootstrap(), &[(topic, 1)]).await?;
    let producer = common::producer(broker.bootstrap(), &[("acks", "all")])?;
    for i in 0..3 {
        send(&producer, topic, 0, format!("{i}").as_bytes(), None).await?;
    }
    let bootstrap = broker.bootstrap().to_string();
    let error = blocking({
        let bootstrap = bootstrap.clone();
        move || {
            let consumer = common::consumer(&bootstrap, &[("auto.offset.reset", "error")])?;
            common::assign(&consumer, topic, 1, Offset::Offset(100))?;
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                match consumer.poll(Duration::from_millis(200)) {
                    None => {}
                    Some(Ok(message)) => {
                        let offset = rdkafka::Message::offset(&message);
                        return Err(format!("fetch at 100 returned offset {offset}").into());
                    }
                    Some(Err(error)) => return Ok(error),
                }
            }
            Err("no error for a fetch past the log end".into())
        }
    })
    .await?;
    assert!(
        matches!(
            error,
            KafkaError::MessageConsumption(
                RDKafkaErrorCode::AutoOffsetReset | RDKafkaErrorCode::OffsetOutOfRange
            )
        ),
        "expected an out-of-range error, got {error:?}"
    );

    // At the log end itself the consumer simply waits, then gets the next record.
    let (ready, waiting) = tokio::sync::oneshot::channel();
    let consumer_thread = blocking({
        let bootstrap = bootstrap.clone();
        move || {
            let consumer = common::consumer(&bootstrap, &[("auto.offset.reset", "error")])?;
            common::assign(&consumer, topic, 1, Offset::Offset(3))?;
            // Poll for a while first: nothing and no error must come.
            let quiet_until = Instant::now() + Duration::from_millis(1500);
            while Instant::now() < quiet_until {
                if let Some(result) = consumer.poll(Duration::from_millis(100)) {
                    return Err(format!("at the log end, before any produce: {result:?}").into());
                }
            }
            let _ = ready.send(());
            let records = common::consume(&consumer, 1, Duration::from_secs(30))?;
            Ok(records
                .into_iter()
                .map(|r| (r.offset, r.value))
                .collect::<Vec<_>>())
        }
    });
    let producer_side = async {
        waiting
            .await
            .map_err(|_| "consumer failed before the produce")?;
        send(&producer, topic, 0, b"next", None).await
    };
    let (consumed, produced) = tokio::join!(consumer_thread, producer_side);
    let consumed = consumed?;
    produced?;
    assert_eq!(consumed, vec![(3, Some(b"next".to_vec()))]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producing_to_an_unknown_topic_fails_when_auto_creation_is_off() -> TestResult {
    let broker = vltava_testkit::start_broker(&["--auto-create-topics", "false"])?;
    let producer = common::producer(
        broker.bootstrap(),
        &[
            ("message.timeout.ms", "10000"),
            ("topic.metadata.propagation.max.ms", "1000"),
        ],
    )?;
    let started = Instant::now();
    let result = producer
        .send(
            FutureRecord::<[u8], [u8]>::to("no-such-topic").payload(b"lost"),
            CLIENT_TIMEOUT,
        )
        .await;
    match result {
        Err((
            KafkaError::MessageProduction(
                RDKafkaErrorCode::UnknownTopicOrPartition
                | RDKafkaErrorCode::UnknownTopic
                | RDKafkaErrorCode::UnknownPartition,
            ),
            _,
        )) => {}
        Err((error, _)) => {
            return Err(format!("expected an unknown-topic error, got {error}").into());
        }
        Ok(delivered) => {
            return Err(format!("produced to a topic that does not exist: {delivered:?}").into());
        }
    }
    assert!(started.elapsed() < Duration::from_secs(15));
    assert!(
        !broker.data_dir().join("no-such-topic-0").exists(),
        "the topic's partition directory was created"
    );
    let bootstrap = broker.bootstrap().to_string();
    let error = blocking(move || {
        let consumer = common::consumer(&bootstrap, &[])?;
        let metadata = consumer.fetch_metadata(Some("no-such-topic"), CLIENT_TIMEOUT)?;
        let topic = metadata
            .topics()
            .iter()
            .find(|t| t.name() == "no-such-topic")
            .ok_or("topic missing from the metadata answer")?;
        Ok(topic.error())
    })
    .await?;
    assert_eq!(
        error,
        Some(RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART),
        "metadata for the unknown topic"
    );

    // Explicitly created topics work as usual.
    common::create_topics(broker.bootstrap(), &[("created", 1)]).await?;
    let offset = send(&producer, "created", 0, b"kept", None).await?;
    assert_eq!(offset, 0);
    Ok(())
}
