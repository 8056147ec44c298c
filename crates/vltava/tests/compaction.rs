//! Log compaction as a consumer sees it: after the broker's background cleaner ran, a consumer
//! reading a compacted topic from offset 0 gets exactly the latest value of each live key,
//! deleted keys vanish after delete.retention.ms (and not before), and kill -9 while the
//! cleaner runs leaves a log with the same latest values. Guards against a cleaner that drops
//! live keys, resurrects old values, removes tombstones early, stalls consumers on offset gaps,
//! or corrupts the log when killed mid-clean.
//!
//! Timing: a tombstone's delete horizon is set when the cleaner first keeps it (KIP-534), so
//! it is at least `delete.retention.ms` after the test started producing. A view read wholly
//! before that instant must still hold every tombstone; a later one may not, and is not held
//! to it (a loaded machine can take that long to produce and clean).

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
/// Long enough that the cleaned view is normally read before any tombstone's horizon.
const DELETE_RETENTION: Duration = Duration::from_secs(15);
const CLEAN_DEADLINE: Duration = Duration::from_secs(60);
const READ_DEADLINE: Duration = Duration::from_secs(60);

/// Key → latest value (`None`: a tombstone) as read from offset 0, and how often each key
/// appeared.
type View = (BTreeMap<String, Option<String>>, BTreeMap<String, usize>);

async fn create_topic(bootstrap: &str) -> TestResult {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let delete_retention_ms = DELETE_RETENTION.as_millis().to_string();
    let topic = NewTopic::new(TOPIC, 1, TopicReplication::Fixed(1))
        .set("cleanup.policy", "compact")
        .set("internal.segment.bytes", "65536")
        .set("segment.ms", "1000")
        .set("delete.retention.ms", &delete_retention_ms)
        .set("min.cleanable.dirty.ratio", "0.1")
        // The last segment of a round can be too small for the dirty ratio: the lag still
        // gets it cleaned, so "every key once" is reached.
        .set("max.compaction.lag.ms", "1000");
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

/// Checks what a consumer read from offset 0 against the latest write of each key. Before the
/// earliest tombstone horizon the view must equal `want` exactly; after it, a deleted key may
/// also be gone altogether, but never show an older value.
fn assert_latest(
    latest: &BTreeMap<String, Option<String>>,
    want: &BTreeMap<String, Option<String>>,
    horizons_may_have_passed: bool,
    what: &str,
) {
    if !horizons_may_have_passed {
        assert_eq!(
            latest, want,
            "{what}: tombstones must stay until delete.retention.ms"
        );
        return;
    }
    let kept: BTreeMap<_, _> = want
        .iter()
        .filter(|(key, value)| value.is_some() || latest.contains_key(*key))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    assert_eq!(
        latest, &kept,
        "{what}: latest values (deleted keys may be gone)"
    );
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

#[tokio::test(flavor = "multi_thread")]
async fn a_compacted_topic_keeps_the_latest_value_per_key_and_forgets_deleted_keys() -> TestResult {
    let broker = start_broker(&["--log-retention-check-interval-ms", "100"])?;
    create_topic(broker.bootstrap()).await?;
    let producer = producer(
        broker.bootstrap(),
        &[
            ("linger.ms", "5"),
            ("acks", "all"),
            ("queue.buffering.max.messages", "200000"),
        ],
    )?;
    let started = Instant::now();
    produce_rounds(&producer, "a", true).await?;
    let want = expected("a", true);

    // Cleaned: every key appears once, with its latest value (deleted keys as tombstones).
    let (latest, _) = wait_for(broker.bootstrap(), "compacted", |(_, counts)| {
        counts.values().all(|c| *c == 1)
    })
    .await?;
    let horizons_may_have_passed = started.elapsed() >= DELETE_RETENTION;
    assert_latest(&latest, &want, horizons_may_have_passed, "compacted");

    // After delete.retention.ms the tombstones themselves are gone, and not before.
    let (latest, _) = wait_for(broker.bootstrap(), "tombstones removed", |(latest, _)| {
        latest.values().all(Option::is_some)
    })
    .await?;
    assert!(
        started.elapsed() >= DELETE_RETENTION,
        "tombstones removed {:?} after the first write, before delete.retention.ms",
        started.elapsed()
    );
    let live: BTreeMap<_, _> = want.into_iter().filter(|(_, v)| v.is_some()).collect();
    assert_eq!(latest, live);
    assert_eq!(latest.len(), KEYS - KEYS / DELETED_EVERY + 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_while_cleaning_recovers_the_same_latest_values() -> TestResult {
    let mut broker = start_broker(&["--log-retention-check-interval-ms", "100"])?;
    create_topic(broker.bootstrap()).await?;
    let started = Instant::now();
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
        let horizons_may_have_passed = started.elapsed() >= DELETE_RETENTION;
        let what = format!("round {round}: latest values after kill -9");
        assert_latest(&latest, &want, horizons_may_have_passed, &what);
    }
    // And the cleaner still finishes after the restarts.
    let (latest, _) = wait_for(broker.bootstrap(), "compacted after restarts", |(_, c)| {
        c.values().all(|n| *n == 1)
    })
    .await?;
    assert_eq!(latest, want);
    Ok(())
}

/// Records in `topic`/0 from offset 0 to the high watermark: (offset, value).
fn read_partition(bootstrap: &str, topic: &str) -> Result<Vec<(i64, Vec<u8>)>, common::BoxError> {
    use rdkafka::Message;
    let reader = consumer(bootstrap, &[])?;
    let (_, high) = reader.fetch_watermarks(topic, 0, CLIENT_TIMEOUT)?;
    let mut records = Vec::new();
    if high == 0 {
        return Ok(records);
    }
    assign(&reader, topic, 1, Offset::Offset(0))?;
    let deadline = Instant::now() + READ_DEADLINE;
    while records.last().is_none_or(|(offset, _)| *offset < high - 1) {
        if Instant::now() > deadline {
            return Err(format!("{topic}: did not reach offset {high}").into());
        }
        if let Some(message) = reader.poll(Duration::from_millis(500)) {
            let message = message?;
            let value = message.payload().unwrap_or_default().to_vec();
            records.push((message.offset(), value));
        }
    }
    Ok(records)
}

/// The committed offset in an OffsetCommit value record (value version 3: version i16, then
/// the offset i64; docs/storage-format.md).
fn committed_in(value: &[u8]) -> Option<i64> {
    Some(i64::from_be_bytes(value.get(2..10)?.try_into().ok()?))
}

#[tokio::test(flavor = "multi_thread")]
async fn consumer_offsets_are_compacted_to_the_last_commit_which_survives_kill_9() -> TestResult {
    use rdkafka::TopicPartitionList;
    use rdkafka::admin::{AlterConfig, ResourceSpecifier};
    use rdkafka::consumer::CommitMode;

    const OFFSETS: &str = "__consumer_offsets";
    const COMMITS: i64 = 300;
    let mut broker = start_broker(&[
        "--log-retention-check-interval-ms",
        "100",
        "--offsets-topic-num-partitions",
        "1",
    ])?;
    common::create_topics(broker.bootstrap(), &[("orders", 1)]).await?;
    let committer = consumer(broker.bootstrap(), &[("group.id", "compacted-group")])?;
    let commit = |offset: i64| -> TestResult {
        let mut offsets = TopicPartitionList::new();
        offsets.add_partition_offset("orders", 0, Offset::Offset(offset))?;
        committer.commit(&offsets, CommitMode::Sync)?;
        Ok(())
    };
    // The first commit creates __consumer_offsets; then roll its segments quickly so the
    // cleaner gets to them (AlterConfigs replaces the whole set: keep cleanup.policy).
    commit(0)?;
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .create()?;
    let alter = AlterConfig::new(ResourceSpecifier::Topic(OFFSETS))
        .set("cleanup.policy", "compact")
        .set("segment.ms", "300")
        .set("max.compaction.lag.ms", "300");
    let altered = admin.alter_configs([&alter], &AdminOptions::new()).await?;
    assert!(altered.iter().all(|r| r.is_ok()), "{altered:?}");
    for offset in 1..=COMMITS {
        commit(offset)?;
    }

    // Cleaned down to the one latest commit of the one key (group, topic, partition).
    let deadline = Instant::now() + CLEAN_DEADLINE;
    let records = loop {
        let records = read_partition(broker.bootstrap(), OFFSETS)?;
        if records.len() == 1 {
            break records;
        }
        if Instant::now() > deadline {
            return Err(format!("{} records left after {CLEAN_DEADLINE:?}", records.len()).into());
        }
        tokio::time::sleep(Duration::from_millis(300)).await; // poll interval, bounded above
    };
    assert_eq!(committed_in(&records[0].1), Some(COMMITS));
    assert_eq!(records[0].0, COMMITS, "the last commit keeps its offset");

    // Replaying the compacted log on start gives the same committed offset.
    broker.kill9()?;
    broker.restart()?;
    let reader = consumer(broker.bootstrap(), &[("group.id", "compacted-group")])?;
    let mut wanted = TopicPartitionList::new();
    wanted.add_partition("orders", 0);
    let stored = reader.committed_offsets(wanted, CLIENT_TIMEOUT)?;
    let offset = stored.elements().first().map(|e| e.offset());
    assert_eq!(offset, Some(Offset::Offset(COMMITS)));
    Ok(())
}
