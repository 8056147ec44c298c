//! `vltava group` as an operator runs it against a real broker, with rdkafka consumers in the
//! group: list and describe report exactly the offsets committed and the lag behind what was
//! produced, and the member with its partitions; reset-offsets commits only with --execute and
//! is refused while the group has an active member. Guards against a tool that shows wrong
//! numbers or silently rewinds a running group.

mod common;

use std::collections::BTreeMap;
use std::process::Output;
use std::time::{Duration, Instant};

use common::{BoxError, CLIENT_TIMEOUT, TestResult};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::FutureRecord;
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;

fn start_broker() -> std::io::Result<vltava_testkit::Broker> {
    vltava_testkit::start_broker(&["--group-initial-rebalance-delay-ms", "0"])
}

/// Runs `vltava group ARGS` against `bootstrap`.
fn group_cli(bootstrap: &str, args: &[&str]) -> Result<Output, BoxError> {
    common::cli(bootstrap, "group", args)
}

/// Runs a `vltava group` command that must succeed and print JSON.
fn group_json(bootstrap: &str, args: &[&str]) -> Result<Value, BoxError> {
    common::cli_json(bootstrap, "group", args)
}

/// Produces `counts[p]` records to partition `p` of `topic`.
async fn produce(bootstrap: &str, topic: &str, counts: &[i64]) -> TestResult {
    let producer = common::producer(bootstrap, &[])?;
    for (partition, count) in (0..).zip(counts) {
        for i in 0..*count {
            let value = format!("record-{i}");
            let record = FutureRecord::<(), _>::to(topic)
                .partition(partition)
                .payload(&value);
            producer
                .send(record, CLIENT_TIMEOUT)
                .await
                .map_err(|(e, _)| format!("producing to {topic}-{partition}: {e}"))?;
        }
    }
    Ok(())
}

/// A subscribed group member with manual commits.
fn member(
    bootstrap: &str,
    group: &str,
    topic: &str,
    extra: &[(&str, &str)],
) -> Result<BaseConsumer, BoxError> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "500")
        .set("log_level", "3");
    for (key, value) in extra {
        config.set(*key, *value);
    }
    let consumer: BaseConsumer = config.create()?;
    consumer.subscribe(&[topic])?;
    Ok(consumer)
}

/// Polls `consumer` (which serves its rebalance) until it owns `partitions` partitions.
fn await_assignment(consumer: &BaseConsumer, partitions: usize) -> TestResult {
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    while consumer.assignment()?.count() != partitions {
        if Instant::now() >= deadline {
            return Err(format!("no assignment of {partitions} within {CLIENT_TIMEOUT:?}").into());
        }
        if let Some(Err(error)) = consumer.poll(Duration::from_millis(100)) {
            return Err(format!("consumer error: {error}").into());
        }
    }
    Ok(())
}

fn commit(consumer: &BaseConsumer, topic: &str, offsets: &[(i32, i64)]) -> TestResult {
    let mut list = TopicPartitionList::new();
    for (partition, offset) in offsets {
        list.add_partition_offset(topic, *partition, Offset::Offset(*offset))?;
    }
    consumer.commit(&list, CommitMode::Sync)?;
    Ok(())
}

/// The group's committed offsets of `partitions` of `topic`, as rdkafka fetches them.
fn committed(
    bootstrap: &str,
    group: &str,
    topic: &str,
    partitions: i32,
) -> Result<Vec<Option<i64>>, BoxError> {
    let consumer = common::consumer(bootstrap, &[("group.id", group)])?;
    let mut wanted = TopicPartitionList::new();
    for partition in 0..partitions {
        wanted.add_partition(topic, partition);
    }
    let stored = consumer.committed_offsets(wanted, CLIENT_TIMEOUT)?;
    Ok(stored
        .elements()
        .iter()
        .map(|e| e.offset().to_raw())
        .collect())
}

/// `(partition → (committed, log end, lag, member))` from `describe --json`.
type Lags = BTreeMap<i64, (Value, Value, Value, Value)>;

fn lags(described: &Value, topic: &str) -> Result<Lags, BoxError> {
    let offsets = described["offsets"].as_array().ok_or("no offsets array")?;
    let mut by_partition = BTreeMap::new();
    for o in offsets.iter().filter(|o| o["topic"] == topic) {
        let partition = o["partition"].as_i64().ok_or("no partition")?;
        let row = (
            o["committed_offset"].clone(),
            o["log_end_offset"].clone(),
            o["lag"].clone(),
            o["member_id"].clone(),
        );
        by_partition.insert(partition, row);
    }
    Ok(by_partition)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_and_describe_show_the_member_its_partitions_and_the_lag() -> TestResult {
    let broker = start_broker()?;
    let bootstrap = broker.bootstrap();
    let topic = "orders";
    common::create_topics(bootstrap, &[(topic, 3)]).await?;
    produce(bootstrap, topic, &[10, 20, 30]).await?;
    let extra = [
        ("group.instance.id", "billing-1"),
        ("client.id", "billing-app"),
    ];
    let consumer = member(bootstrap, "billing", topic, &extra)?;
    await_assignment(&consumer, 3)?;
    commit(&consumer, topic, &[(0, 4), (1, 20)])?;

    let listed = group_json(bootstrap, &["list"])?;
    let billing = listed["groups"]
        .as_array()
        .ok_or("no groups array")?
        .iter()
        .find(|g| g["group"] == "billing")
        .ok_or(format!("billing not listed: {listed}"))?;
    assert_eq!(billing["state"], "Stable", "{listed}");
    assert_eq!(billing["protocol_type"], "consumer", "{listed}");
    let stable = group_json(bootstrap, &["list", "--state", "Stable"])?;
    assert_eq!(
        stable["groups"].as_array().map(Vec::len),
        Some(1),
        "{stable}"
    );
    let empty = group_json(bootstrap, &["list", "--state", "Empty"])?;
    assert_eq!(empty["groups"], serde_json::json!([]), "{empty}");

    let described = group_json(bootstrap, &["describe", "billing"])?;
    assert_eq!(described["state"], "Stable", "{described}");
    assert_eq!(described["protocol_type"], "consumer", "{described}");
    let members = described["members"].as_array().ok_or("no members array")?;
    assert_eq!(members.len(), 1, "{described}");
    let m = &members[0];
    let member_id = m["member_id"].as_str().ok_or("no member id")?;
    assert!(!member_id.is_empty());
    assert_eq!(m["group_instance_id"], "billing-1", "{described}");
    assert_eq!(m["client_id"], "billing-app", "{described}");
    assert!(m["host"].as_str().is_some_and(|h| h.contains("127.0.0.1")));
    let assigned = serde_json::json!([
        {"topic": topic, "partition": 0},
        {"topic": topic, "partition": 1},
        {"topic": topic, "partition": 2},
    ]);
    assert_eq!(m["assignment"], assigned, "{described}");
    let id = Value::from(member_id);
    let expected: Lags = BTreeMap::from([
        (0, (4.into(), 10.into(), 6.into(), id.clone())),
        (1, (20.into(), 20.into(), 0.into(), id.clone())),
        // Assigned but never committed: no offset, no lag.
        (2, (Value::Null, 30.into(), Value::Null, id.clone())),
    ]);
    assert_eq!(lags(&described, topic)?, expected, "{described}");

    // The table a person reads carries the same numbers.
    let table = group_cli(bootstrap, &["describe", "billing"])?;
    assert!(table.status.success());
    let text = String::from_utf8(table.stdout)?;
    let row: Vec<&str> = text
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|cells| cells.first() == Some(&topic) && cells.get(1) == Some(&"0"))
        .ok_or(format!("no row for {topic}-0 in:\n{text}"))?;
    assert_eq!(row, [topic, "0", "4", "10", "6", member_id], "{text}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_offsets_is_refused_while_a_member_is_active_and_commits_once_empty() -> TestResult {
    let broker = start_broker()?;
    let bootstrap = broker.bootstrap();
    let (topic, group) = ("payments", "ledger");
    common::create_topics(bootstrap, &[(topic, 2)]).await?;
    produce(bootstrap, topic, &[5, 8]).await?;
    let consumer = member(bootstrap, group, topic, &[])?;
    await_assignment(&consumer, 2)?;
    commit(&consumer, topic, &[(0, 5), (1, 8)])?;
    let reset = ["reset-offsets", group, "--topic", topic, "--to-earliest"];

    // A dry run only computes.
    let dry = group_json(bootstrap, &reset)?;
    assert_eq!(dry["executed"], false, "{dry}");
    let zeros = serde_json::json!([
        {"partition": 0, "new_offset": 0},
        {"partition": 1, "new_offset": 0},
    ]);
    assert_eq!(dry["partitions"], zeros, "{dry}");

    // The member is active: the broker refuses a commit from outside the group.
    let mut execute = reset.to_vec();
    execute.push("--execute");
    let refused = group_cli(bootstrap, &execute)?;
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success(),
        "reset of an active group succeeded"
    );
    assert!(stderr.contains("UNKNOWN_MEMBER_ID"), "stderr: {stderr}");
    assert_eq!(committed(bootstrap, group, topic, 2)?, [Some(5), Some(8)]);

    // The member leaves (LeaveGroup on close); once the group is Empty the reset goes through.
    drop(consumer);
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    loop {
        let described = group_json(bootstrap, &["describe", group])?;
        if described["state"] == "Empty" {
            break;
        }
        if Instant::now() >= deadline {
            return Err(format!("group not Empty within {CLIENT_TIMEOUT:?}: {described}").into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let done = group_json(bootstrap, &execute)?;
    assert_eq!(done["executed"], true, "{done}");
    assert_eq!(done["partitions"], zeros, "{done}");
    assert_eq!(committed(bootstrap, group, topic, 2)?, [Some(0), Some(0)]);
    let described = group_json(bootstrap, &["describe", group])?;
    let expected: Lags = BTreeMap::from([
        (0, (0.into(), 5.into(), 5.into(), Value::Null)),
        (1, (0.into(), 8.into(), 8.into(), Value::Null)),
    ]);
    assert_eq!(lags(&described, topic)?, expected, "{described}");
    Ok(())
}
