//! Consumer groups with librdkafka (rdkafka) against the real binary: partitions split among
//! the members and move when one leaves, committed offsets survive kill -9, a static member
//! comes back without a rebalance, and a newcomer after two quick departures never waits on
//! the departed. Guards against the bugs that make a group stall or read a record twice.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{BoxError, CLIENT_TIMEOUT, TestResult};
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

/// The broker for these tests: the first rebalance of a group starts at once.
fn start_broker() -> std::io::Result<vltava_testkit::Broker> {
    vltava_testkit::start_broker(&["--group-initial-rebalance-delay-ms", "0"])
}

/// Counts the rebalances a consumer goes through.
#[derive(Clone, Default)]
struct Rebalances {
    assigned: Arc<AtomicUsize>,
    revoked: Arc<AtomicUsize>,
}

impl Rebalances {
    fn count(&self) -> (usize, usize) {
        (
            self.assigned.load(Ordering::SeqCst),
            self.revoked.load(Ordering::SeqCst),
        )
    }
}

impl ClientContext for Rebalances {}

impl ConsumerContext for Rebalances {
    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(_) => self.assigned.fetch_add(1, Ordering::SeqCst),
            Rebalance::Revoke(_) => self.revoked.fetch_add(1, Ordering::SeqCst),
            Rebalance::Error(_) => 0,
        };
    }
}

type GroupConsumer = BaseConsumer<Rebalances>;

/// A subscribed group member with manual commits, reading from the start of each partition
/// that has no committed offset.
fn member(
    bootstrap: &str,
    group: &str,
    topic: &str,
    extra: &[(&str, &str)],
) -> Result<(GroupConsumer, Rebalances), BoxError> {
    let rebalances = Rebalances::default();
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "500")
        .set("socket.timeout.ms", "10000")
        .set("log_level", "3");
    for (key, value) in extra {
        config.set(*key, *value);
    }
    let consumer: GroupConsumer = config.create_with_context(rebalances.clone())?;
    consumer.subscribe(&[topic])?;
    Ok((consumer, rebalances))
}

fn produce(bootstrap: &str, topic: &str, count: usize) -> TestResult {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .set("log_level", "3")
        .create()?;
    for i in 0..count {
        let key = format!("key-{i}");
        let value = format!("value-{i}");
        let mut record = BaseRecord::to(topic).key(&key).payload(&value);
        // Bounded: a full queue is drained by polling, at most a few times per record.
        for _ in 0..100 {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, rejected)) => {
                    record = rejected;
                    producer.poll(Duration::from_millis(10));
                }
            }
        }
    }
    producer.flush(CLIENT_TIMEOUT)?;
    Ok(())
}

/// The partitions a consumer owns now.
fn owned(consumer: &GroupConsumer) -> Result<BTreeSet<i32>, BoxError> {
    Ok(consumer
        .assignment()?
        .elements()
        .iter()
        .map(|e| e.partition())
        .collect())
}

/// Polls every consumer in turn (each must be polled to serve its rebalances) until
/// `done(received, consumers)` holds; returns the `(partition, offset)`s each one received.
fn poll_until(
    consumers: &[&GroupConsumer],
    timeout: Duration,
    received: &mut [Vec<(i32, i64)>],
    mut done: impl FnMut(&[Vec<(i32, i64)>]) -> Result<bool, BoxError>,
) -> TestResult {
    let deadline = Instant::now() + timeout;
    while !done(received)? {
        if Instant::now() >= deadline {
            let counts: Vec<usize> = received.iter().map(Vec::len).collect();
            return Err(format!("not done within {timeout:?}; received {counts:?}").into());
        }
        for (consumer, got) in consumers.iter().zip(received.iter_mut()) {
            // Drain what is ready, then move on so no member starves the others.
            for _ in 0..1000 {
                match consumer.poll(Duration::from_millis(20)) {
                    None => break,
                    Some(Ok(message)) => got.push((message.partition(), message.offset())),
                    Some(Err(error)) => return Err(format!("consumer error: {error}").into()),
                }
            }
        }
    }
    Ok(())
}

/// Polls until every consumer owns partitions and together they own `0..partitions` once.
fn await_assignment(consumers: &[&GroupConsumer], partitions: i32) -> TestResult {
    let mut received = vec![Vec::new(); consumers.len()];
    poll_until(consumers, CLIENT_TIMEOUT, &mut received, |_| {
        let mut all = Vec::new();
        for consumer in consumers {
            let mine = owned(consumer)?;
            if mine.is_empty() {
                return Ok(false);
            }
            all.extend(mine);
        }
        all.sort_unstable();
        Ok(all == (0..partitions).collect::<Vec<_>>())
    })?;
    if received.iter().any(|r| !r.is_empty()) {
        return Err("records arrived before any were produced".into());
    }
    Ok(())
}

fn assert_each_once(received: &[Vec<(i32, i64)>], expected: usize) -> TestResult {
    let all: Vec<(i32, i64)> = received.iter().flatten().copied().collect();
    let distinct: BTreeSet<(i32, i64)> = all.iter().copied().collect();
    if all.len() != expected || distinct.len() != expected {
        return Err(format!(
            "expected {expected} records once each, got {} ({} distinct)",
            all.len(),
            distinct.len()
        )
        .into());
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn three_consumers_split_six_partitions_and_consume_every_record_once() -> TestResult {
    let broker = start_broker()?;
    let bootstrap = broker.bootstrap();
    let topic = "split";
    common::create_topics(bootstrap, &[(topic, 6)]).await?;
    let (a, _) = member(bootstrap, "splitters", topic, &[])?;
    let (b, _) = member(bootstrap, "splitters", topic, &[])?;
    let (c, _) = member(bootstrap, "splitters", topic, &[])?;
    await_assignment(&[&a, &b, &c], 6)?;

    produce(bootstrap, topic, 30_000)?;
    let mut received = vec![Vec::new(); 3];
    poll_until(&[&a, &b, &c], Duration::from_secs(60), &mut received, |r| {
        Ok(r.iter().map(Vec::len).sum::<usize>() >= 30_000)
    })?;
    assert_each_once(&received, 30_000)?;
    let mut read_up_to = BTreeMap::new();
    for (partition, offset) in received.iter().flatten() {
        let last = read_up_to.entry(*partition).or_insert(*offset);
        *last = (*last).max(*offset);
    }
    for consumer in [&a, &b, &c] {
        consumer.commit_consumer_state(CommitMode::Sync)?;
    }

    // One member closes (LeaveGroup): the other two take its partitions over and read on from
    // the committed offsets, so nothing is read twice and nothing is skipped.
    drop(c);
    await_assignment(&[&a, &b], 6)?;
    produce(bootstrap, topic, 3_000)?;
    let mut received = vec![Vec::new(); 2];
    poll_until(&[&a, &b], Duration::from_secs(60), &mut received, |r| {
        Ok(r.iter().map(Vec::len).sum::<usize>() >= 3_000)
    })?;
    assert_each_once(&received, 3_000)?;
    for (partition, offset) in received.iter().flatten() {
        if read_up_to.get(partition).is_some_and(|last| offset <= last) {
            return Err(format!("{partition}@{offset} was read again after the commit").into());
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn committed_offsets_survive_kill_9_and_a_new_member_resumes_there() -> TestResult {
    let mut broker = start_broker()?;
    let topic = "resume";
    common::create_topics(broker.bootstrap(), &[(topic, 2)]).await?;
    produce(broker.bootstrap(), topic, 1_000)?;
    let committed = {
        let (consumer, _) = member(broker.bootstrap(), "resumers", topic, &[])?;
        let mut received = vec![Vec::new()];
        poll_until(&[&consumer], CLIENT_TIMEOUT, &mut received, |r| {
            Ok(r[0].len() >= 400)
        })?;
        // Commit the position after a prefix of each partition: the next record to read.
        let mut next = BTreeMap::new();
        for (partition, offset) in received[0].iter().take(400) {
            next.insert(*partition, offset + 1);
        }
        let mut offsets = TopicPartitionList::new();
        for (partition, offset) in &next {
            offsets.add_partition_offset(topic, *partition, Offset::Offset(*offset))?;
        }
        consumer.commit(&offsets, CommitMode::Sync)?;
        next
    };
    // The commit was acknowledged: it must survive a crash.
    broker.kill9()?;
    broker.restart()?;

    let (consumer, _) = member(broker.bootstrap(), "resumers", topic, &[])?;
    let mut wanted = TopicPartitionList::new();
    for partition in committed.keys() {
        wanted.add_partition(topic, *partition);
    }
    let stored = consumer.committed_offsets(wanted, CLIENT_TIMEOUT)?;
    for element in stored.elements() {
        let expected = committed.get(&element.partition()).copied();
        if element.offset().to_raw() != expected {
            return Err(format!(
                "partition {}: committed {:?}, expected {expected:?}",
                element.partition(),
                element.offset()
            )
            .into());
        }
    }
    let mut received = vec![Vec::new()];
    poll_until(&[&consumer], CLIENT_TIMEOUT, &mut received, |r| {
        let partitions: BTreeSet<i32> = r[0].iter().map(|(p, _)| *p).collect();
        Ok(partitions.len() == 2)
    })?;
    for (partition, first) in committed {
        let resumed = received[0]
            .iter()
            .find(|(p, _)| *p == partition)
            .map(|(_, o)| *o);
        if resumed != Some(first) {
            return Err(
                format!("partition {partition}: resumed at {resumed:?}, not {first}").into(),
            );
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn static_member_restart_keeps_its_partitions_without_a_rebalance() -> TestResult {
    let broker = start_broker()?;
    let bootstrap = broker.bootstrap();
    let topic = "statics";
    common::create_topics(bootstrap, &[(topic, 4)]).await?;
    let (a, a_rebalances) = member(bootstrap, "statics", topic, &[("group.instance.id", "a")])?;
    let (b, _) = member(bootstrap, "statics", topic, &[("group.instance.id", "b")])?;
    await_assignment(&[&a, &b], 4)?;
    let a_partitions = owned(&a)?;
    let b_partitions = owned(&b)?;
    let before = a_rebalances.count();

    // A static member's close sends no LeaveGroup; it comes back within session.timeout.
    drop(b);
    let (b, _) = member(bootstrap, "statics", topic, &[("group.instance.id", "b")])?;
    let mut received = vec![Vec::new(); 2];
    poll_until(&[&a, &b], CLIENT_TIMEOUT, &mut received, |_| {
        Ok(!owned(&b)?.is_empty())
    })?;
    // A rebalance would show in `a` within a few heartbeats: watch it for a while.
    let watch_until = Instant::now() + Duration::from_secs(2);
    poll_until(&[&a, &b], CLIENT_TIMEOUT, &mut received, |_| {
        Ok(Instant::now() >= watch_until)
    })?;
    if owned(&b)? != b_partitions || owned(&a)? != a_partitions {
        return Err("the restarted static member did not get its partitions back".into());
    }
    if a_rebalances.count() != before {
        return Err(format!(
            "the other member rebalanced: {:?} -> {:?}",
            before,
            a_rebalances.count()
        )
        .into());
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_newcomer_after_two_quick_departures_owns_everything_at_once() -> TestResult {
    const ROUNDS: usize = 8;
    const RECORDS_PER_ROUND: usize = 40;
    let broker = start_broker()?;
    let bootstrap = broker.bootstrap();
    let topic = "departures";
    common::create_topics(bootstrap, &[(topic, 4)]).await?;
    let mut consumed = 0usize;
    for round in 0..ROUNDS {
        // Two members share the partitions and commit all they read.
        let (a, _) = member(bootstrap, "departures", topic, &[])?;
        let (b, _) = member(bootstrap, "departures", topic, &[])?;
        await_assignment(&[&a, &b], 4)?;
        produce(bootstrap, topic, RECORDS_PER_ROUND)?;
        let mut received = vec![Vec::new(); 2];
        poll_until(&[&a, &b], CLIENT_TIMEOUT, &mut received, |r| {
            Ok(r.iter().map(Vec::len).sum::<usize>() >= RECORDS_PER_ROUND)
        })?;
        assert_each_once(&received, RECORDS_PER_ROUND)?;
        a.commit_consumer_state(CommitMode::Sync)?;
        b.commit_consumer_state(CommitMode::Sync)?;
        consumed += RECORDS_PER_ROUND;
        // Both leave one after the other; a newcomer joins at once. The session timeout is
        // 10 s, so waiting on a departed member would blow the 5 s budget below.
        drop(a);
        drop(b);
        let (c, _) = member(bootstrap, "departures", topic, &[])?;
        let started = Instant::now();
        let mut received = vec![Vec::new()];
        poll_until(&[&c], Duration::from_secs(5), &mut received, |_| {
            Ok(owned(&c)?.len() == 4)
        })
        .map_err(|e| format!("round {round}: newcomer not assigned: {e}"))?;
        // It resumes at the committed offsets: nothing of this round is read again.
        produce(bootstrap, topic, 4)?;
        poll_until(
            &[&c],
            CLIENT_TIMEOUT,
            &mut received,
            |r| Ok(r[0].len() >= 4),
        )?;
        if received[0].len() != 4 {
            return Err(format!(
                "round {round}: newcomer read {} records, expected only the 4 new ones",
                received[0].len()
            )
            .into());
        }
        c.commit_consumer_state(CommitMode::Sync)?;
        consumed += 4;
        eprintln!(
            "round {round}: newcomer assigned in {:?}",
            started.elapsed()
        );
    }
    assert_eq!(consumed, ROUNDS * (RECORDS_PER_ROUND + 4));
    Ok(())
}
