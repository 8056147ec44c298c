//! Log compaction as a consumer sees it: after the broker's background cleaner ran, a consumer
//! reading a compacted topic from offset 0 gets exactly the latest value of each live key,
//! deleted keys vanish after delete.retention.ms, and kill -9 while the cleaner runs leaves a
//! log with the same latest values. Guards against a cleaner that drops live keys, resurrects
//! old values, stalls consumers on offset gaps, or corrupts the log when killed mid-clean.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::Offset;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::Consumer;
use rdkafka::producer::{FutureProducer, FutureRecord};
use vltava_testkit::start_broker;

use common::{CLIENT_TIMEOUT, TestResult, assign, consumer, producer};

const TOPIC: &str = "changelog";
const KEYS: usize = 1000;
const RECORDS: usize = 100_000;
/// Every tenth key is deleted by the last round.
const DELETED_EVERY: usize = 10;
const DELETE_RETENTION_MS: &str = "3000";
const CLEAN_DEADLINE: Duration = Duration::from_secs(60);
const READ_DEADLINE: Duration = Duration::from_secs(60);

/// Key → latest value (`None`: a tombstone) as read from offset 0, and how often each key
/// appeared.
type View = (BTreeMap<String, Option<String>>, BTreeMap<String, usize>);

async fn create_topic(bootstrap: &str) -> TestResult {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let topic = NewTopic::new(TOPIC, 1, TopicReplication::Fixed(1))
        .set("cleanup.policy", "compact")
        .set("internal.segment.bytes", "65536")
        .set("segment.ms", "1000")
        .set("delete.retention.ms", DELETE_RETENTION_MS)
        .set("min.cleanable.dirty.ratio", "0.1");
    let created = admin.create_topics([&topic], &AdminOptions::new()).await?;
    assert!(created.iter().all(|r| r.is_ok()), "{created:?}");
    Ok(())
}

/// Writes `RECORDS` records over `KEYS` keys, values tagged with `tag`; with `delete`, the
/// last round deletes every tenth key. Ends with an `end` marker record.
async fn produce_rounds(producer: &FutureProducer, tag: &str, delete: bool) -> TestResult {
    let mut pending = Vec::with_capacity(RECORDS);
    for i in 0..RECORDS {
        let key = format!("key-{}", i % KEYS);
        let last_round = i >= RECORDS - KEYS;
        let value = format!("{tag}-{i}");
        let record = FutureRecord::to(TOPIC).key(&key);
        let record = match delete && last_round && (i % KEYS).is_multiple_of(DELETED_EVERY) {
            true => record,
            false => record.payload(&value),
        };
        pending.push(producer.send_result(record).map_err(|(e, _)| e)?);
    }
    for delivery in pending {
        delivery.await?.map_err(|(e, _)| e)?;
    }
    let marker = FutureRecord::to(TOPIC).key("end").payload(tag);
    producer
        .send(marker, CLIENT_TIMEOUT)
        .await
        .map_err(|(e, _)| e)?;
    Ok(())
}

fn expected(tag: &str, deleted: bool) -> BTreeMap<String, Option<String>> {
    let mut out: BTreeMap<String, Option<String>> = (RECORDS - KEYS..RECORDS)
        .map(|i| {
            let dead = deleted && (i % KEYS).is_multiple_of(DELETED_EVERY);
            (
                format!("key-{}", i % KEYS),
                (!dead).then(|| format!("{tag}-{i}")),
            )
        })
        .collect();
    out.insert("end".into(), Some(tag.into()));
    out
}

/// Reads the topic from offset 0 up to its high watermark.
fn read_view(bootstrap: &str) -> Result<View, common::BoxError> {
    let reader = consumer(bootstrap, &[("auto.offset.reset", "earliest")])?;
    let (_, high) = reader.fetch_watermarks(TOPIC, 0, CLIENT_TIMEOUT)?;
    assign(&reader, TOPIC, 1, Offset::Offset(0))?;
    let (mut latest, mut counts) = (BTreeMap::new(), BTreeMap::new());
    let deadline = Instant::now() + READ_DEADLINE;
    loop {
        if Instant::now() > deadline {
            return Err(format!("did not reach offset {high} within {READ_DEADLINE:?}").into());
        }
        let Some(message) = reader.poll(Duration::from_millis(500)) else {
            continue;
        };
        let message = message?;
        use rdkafka::Message;
        let key = String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned();
        let value = message
            .payload()
            .map(|v| String::from_utf8_lossy(v).into_owned());
        *counts.entry(key.clone()).or_insert(0) += 1;
        latest.insert(key, value);
        if message.offset() >= high - 1 {
            return Ok((latest, counts));
        }
    }
}

/// Polls until `done` holds for what a consumer reads from offset 0, or the deadline.
async fn wait_for(
    bootstrap: &str,
    what: &str,
    done: impl Fn(&View) -> bool,
) -> Result<View, common::BoxError> {
    let deadline = Instant::now() + CLEAN_DEADLINE;
    loop {
        let view = read_view(bootstrap)?;
        if done(&view) {
            return Ok(view);
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{what} within {CLEAN_DEADLINE:?}: {:?} keys seen",
                view.1.len()
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(500)).await; // poll interval, bounded above
    }
}

// Known intermittent failure, kept as a reproduction for issue 7: in a full `scripts/test` run on
// 2026-11-29 the tombstones of key-0 … key-190 (the first ones of the last round) were missing
// right after compaction, long before delete.retention.ms; the later ones were there. The
// broker's cleaner is off by default (`--log-cleaner-enable`) until this passes reliably.
#[ignore = "intermittent: early tombstones vanish after compaction (issue 7)"]
#[tokio::test(flavor = "multi_thread")]
async fn a_compacted_topic_keeps_the_latest_value_per_key_and_forgets_deleted_keys() -> TestResult {
    let broker = start_broker(&[
        "--log-retention-check-interval-ms",
        "100",
        "--log-cleaner-enable",
        "true",
    ])?;
    create_topic(broker.bootstrap()).await?;
    let producer = producer(
        broker.bootstrap(),
        &[
            ("linger.ms", "5"),
            ("acks", "all"),
            ("queue.buffering.max.messages", "200000"),
        ],
    )?;
    produce_rounds(&producer, "a", true).await?;
    let want = expected("a", true);

    // Cleaned: every key appears once, with its latest value (deleted keys as tombstones).
    let (latest, _) = wait_for(broker.bootstrap(), "compacted", |(_, counts)| {
        counts.values().all(|c| *c == 1)
    })
    .await?;
    assert_eq!(latest, want);

    // After delete.retention.ms the tombstones themselves are gone.
    let (latest, _) = wait_for(broker.bootstrap(), "tombstones removed", |(latest, _)| {
        latest.values().all(Option::is_some)
    })
    .await?;
    let live: BTreeMap<_, _> = want.into_iter().filter(|(_, v)| v.is_some()).collect();
    assert_eq!(latest, live);
    assert_eq!(latest.len(), KEYS - KEYS / DELETED_EVERY + 1);
    Ok(())
}

// Known failure, kept as the reproduction for issue 7: in 2 of 3 runs on 2026-11-29 the
// tombstones of round 0 were gone right after the first kill -9 (well before
// delete.retention.ms), and once the cleaner did not finish within 60 s after the restarts.
// Until this passes reliably the broker's cleaner is off by default (`--log-cleaner-enable`).
#[ignore = "fails 2 of 3 runs: tombstones vanish early after kill -9 during cleaning (issue 7)"]
#[tokio::test(flavor = "multi_thread")]
async fn kill_9_while_cleaning_recovers_the_same_latest_values() -> TestResult {
    let mut broker = start_broker(&[
        "--log-retention-check-interval-ms",
        "100",
        "--log-cleaner-enable",
        "true",
    ])?;
    create_topic(broker.bootstrap()).await?;
    let mut want = BTreeMap::new();
    for (round, kill_after_ms) in [(0u32, 900u64), (1, 1300), (2, 1700)] {
        let tag = format!("r{round}");
        {
            let producer = producer(
                broker.bootstrap(),
                &[
                    ("linger.ms", "5"),
                    ("acks", "all"),
                    ("queue.buffering.max.messages", "200000"),
                ],
            )?;
            produce_rounds(&producer, &tag, round == 0).await?;
        }
        want = expected(&tag, round == 0);
        // segment.ms (1 s) rolls the last segment, then the cleaner runs every 100 ms: kill
        // somewhere in there.
        tokio::time::sleep(Duration::from_millis(kill_after_ms)).await; // the crash point
        broker.kill9()?;
        broker.restart()?;
        let (latest, _) = read_view(broker.bootstrap())?;
        assert_eq!(latest, want, "round {round}: latest values after kill -9");
    }
    // And the cleaner still finishes after the restarts.
    let (latest, _) = wait_for(broker.bootstrap(), "compacted after restarts", |(_, c)| {
        c.values().all(|n| *n == 1)
    })
    .await?;
    assert_eq!(latest, want);
    Ok(())
}
