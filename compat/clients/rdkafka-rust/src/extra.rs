//! The larger-record, group-offset, seek and admin scenarios, on the helpers of `main.rs`.

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminOptions, AlterConfig, NewPartitions, ResourceSpecifier};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use crate::{
    admin, block_on, check, config, create_topic, produce, read_topic, Args, Outcome, Record, POLL,
    WAIT,
};

const VALUE_1MIB_BYTES: usize = 1024 * 1024;

fn group_consumer(args: &Args, group: &str) -> Result<BaseConsumer, String> {
    config(args)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .map_err(|e| e.to_string())
}

/// Polls until a record arrives; returns its offset and value.
fn next_record(consumer: &BaseConsumer) -> Result<(i64, Vec<u8>), String> {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        match consumer.poll(POLL) {
            None => {}
            Some(Err(error)) => return Err(error.to_string()),
            Some(Ok(message)) => {
                return Ok((
                    message.offset(),
                    message.payload().unwrap_or_default().to_vec(),
                ))
            }
        }
    }
    Err(format!("no record in {WAIT:?}"))
}

fn numbered(count: usize) -> Vec<Vec<u8>> {
    (0..count).map(|i| format!("v{i}").into_bytes()).collect()
}

fn produce_values(args: &Args, topic: &str, values: &[Vec<u8>]) -> Result<(), String> {
    let records: Vec<Record<'_>> = values.iter().map(|v| (None, Some(v.as_slice()))).collect();
    produce(args, topic, &records, &[], None).map(|_| ())
}

pub(crate) fn value_1mib(args: &Args) -> Result<Outcome, String> {
    let topic = format!("{}-value-1mib", args.prefix);
    create_topic(args, &topic, 1, &[("max.message.bytes", "2097152")])?;
    let value: Vec<u8> = (0..VALUE_1MIB_BYTES).map(|i| (i % 251) as u8).collect();
    let max = (3 * VALUE_1MIB_BYTES).to_string();
    produce(
        args,
        &topic,
        &[(Some(b"big"), Some(&value))],
        &[("message.max.bytes", &max)],
        None,
    )?;
    let read = read_topic(args, &topic, 1, 1)?;
    check(read[0].3.as_deref() == Some(value.as_slice()), || {
        "the 1 MiB value differs".into()
    })?;
    Ok(Outcome::Pass("1 MiB value round-trips".into()))
}

pub(crate) fn error_record_too_large(args: &Args) -> Result<Outcome, String> {
    let topic = format!("{}-too-large", args.prefix);
    create_topic(args, &topic, 1, &[("max.message.bytes", "10000")])?;
    let value = vec![b'x'; 50_000];
    match produce(args, &topic, &[(None, Some(&value))], &[], None) {
        Err(error) if error.contains("MessageSizeTooLarge") || error.contains("too large") => {
            Ok(Outcome::Pass(error))
        }
        Err(error) => Err(format!("failed otherwise: {error}")),
        Ok(_) => Err("a 50 kB record was accepted by a topic with max.message.bytes 10000".into()),
    }
}

pub(crate) fn commit_and_resume(args: &Args) -> Result<Outcome, String> {
    let topic = format!("{}-resume", args.prefix);
    create_topic(args, &topic, 1, &[])?;
    produce_values(args, &topic, &numbered(20))?;
    let first = group_consumer(args, &topic)?;
    first.subscribe(&[&topic]).map_err(|e| e.to_string())?;
    for _ in 0..10 {
        next_record(&first)?;
    }
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset(&topic, 0, Offset::Offset(10))
        .map_err(|e| e.to_string())?;
    first
        .commit(&offsets, CommitMode::Sync)
        .map_err(|e| e.to_string())?;
    drop(first);
    let second = group_consumer(args, &topic)?;
    let mut partition = TopicPartitionList::new();
    partition.add_partition(&topic, 0);
    let committed = second
        .committed_offsets(partition, WAIT)
        .map_err(|e| e.to_string())?;
    let offset = committed.find_partition(&topic, 0).map(|p| p.offset());
    check(offset == Some(Offset::Offset(10)), || {
        format!("committed {offset:?}, want 10")
    })?;
    second.subscribe(&[&topic]).map_err(|e| e.to_string())?;
    let (resumed, _) = next_record(&second)?;
    check(resumed == 10, || format!("resumed at {resumed}, want 10"))?;
    Ok(Outcome::Pass("resumed at committed offset 10".into()))
}

pub(crate) fn seek(args: &Args) -> Result<Outcome, String> {
    let topic = format!("{}-seek", args.prefix);
    create_topic(args, &topic, 1, &[])?;
    produce_values(args, &topic, &numbered(10))?;
    let consumer = group_consumer(args, &format!("{}-unused", args.prefix))?;
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(&topic, 0, Offset::Beginning)
        .map_err(|e| e.to_string())?;
    consumer.assign(&assignment).map_err(|e| e.to_string())?;
    let (first, _) = next_record(&consumer)?;
    check(first == 0, || format!("beginning read {first}"))?;
    let (low, high) = consumer
        .fetch_watermarks(&topic, 0, WAIT)
        .map_err(|e| e.to_string())?;
    check((low, high) == (0, 10), || {
        format!("watermarks ({low}, {high}), want (0, 10)")
    })?;
    // Timestamps: the one of offset 5, as the broker stored it.
    consumer
        .seek(&topic, 0, Offset::Offset(5), WAIT)
        .map_err(|e| e.to_string())?;
    let stamp = timestamp_of_next(&consumer)?;
    let mut query = TopicPartitionList::new();
    query
        .add_partition_offset(&topic, 0, Offset::Offset(stamp))
        .map_err(|e| e.to_string())?;
    let found = consumer
        .offsets_for_times(query, WAIT)
        .map_err(|e| e.to_string())?;
    let by_time = found.find_partition(&topic, 0).map(|p| p.offset());
    let Some(Offset::Offset(target)) = by_time else {
        return Err(format!("offsets_for_times gave {by_time:?}"));
    };
    check(target <= 5, || {
        format!("offsets_for_times({stamp}) gave {target}, after 5")
    })?;
    consumer
        .seek(&topic, 0, Offset::Offset(target), WAIT)
        .map_err(|e| e.to_string())?;
    let (read, _) = next_record(&consumer)?;
    check(read == target, || format!("seek to {target} read {read}"))?;
    consumer
        .seek(&topic, 0, Offset::Beginning, WAIT)
        .map_err(|e| e.to_string())?;
    let (again, _) = next_record(&consumer)?;
    check(again == 0, || format!("seek to beginning read {again}"))?;
    Ok(Outcome::Pass(format!(
        "beginning 0, watermarks (0, 10), timestamp -> {target}"
    )))
}

fn timestamp_of_next(consumer: &BaseConsumer) -> Result<i64, String> {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if let Some(result) = consumer.poll(POLL) {
            let message = result.map_err(|e| e.to_string())?;
            return message
                .timestamp()
                .to_millis()
                .ok_or("record without a timestamp".into());
        }
    }
    Err("no record to read a timestamp from".into())
}

fn topic_config(args: &Args, topic: &str, name: &str) -> Result<Option<String>, String> {
    let client = admin(args)?;
    let results =
        block_on(client.describe_configs([&ResourceSpecifier::Topic(topic)], &AdminOptions::new()))
            .map_err(|e| e.to_string())?;
    let resource = results
        .into_iter()
        .next()
        .ok_or("no describe result")?
        .map_err(|code| format!("{code:?}"))?;
    Ok(resource.get(name).and_then(|entry| entry.value.clone()))
}

pub(crate) fn admin_topics(args: &Args) -> Result<Outcome, String> {
    let topic = format!("{}-admin-topics", args.prefix);
    create_topic(args, &topic, 2, &[("retention.ms", "3600000")])?;
    let retention = topic_config(args, &topic, "retention.ms")?;
    check(retention.as_deref() == Some("3600000"), || {
        format!("retention.ms {retention:?}")
    })?;
    let client = admin(args)?;
    let grown =
        block_on(client.create_partitions([&NewPartitions::new(&topic, 4)], &AdminOptions::new()))
            .map_err(|e| e.to_string())?;
    for result in grown {
        result.map_err(|(name, code)| format!("create_partitions {name}: {code:?}"))?;
    }
    wait_for_partition_count(args, &topic, Some(4))?;
    let deleted = block_on(client.delete_topics(&[&topic], &AdminOptions::new()))
        .map_err(|e| e.to_string())?;
    for result in deleted {
        result.map_err(|(name, code)| format!("delete {name}: {code:?}"))?;
    }
    wait_for_partition_count(args, &topic, None)?;
    Ok(Outcome::Pass(
        "create with config, describe config, 2->4 partitions, delete".into(),
    ))
}

/// Waits until metadata lists the topic with this many partitions (None: not listed at all).
fn wait_for_partition_count(args: &Args, topic: &str, want: Option<usize>) -> Result<(), String> {
    let client = admin(args)?;
    let deadline = Instant::now() + WAIT;
    let mut seen = None;
    while Instant::now() < deadline {
        let metadata = client
            .inner()
            .fetch_metadata(None, WAIT)
            .map_err(|e| e.to_string())?;
        seen = metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .map(|t| t.partitions().len());
        if seen == want {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("{topic}: partitions {seen:?}, want {want:?}"))
}

pub(crate) fn admin_configs(args: &Args) -> Result<Outcome, String> {
    let topic = format!("{}-admin-configs", args.prefix);
    create_topic(args, &topic, 1, &[])?;
    let before = topic_config(args, &topic, "retention.ms")?;
    let client = admin(args)?;
    let change = AlterConfig::new(ResourceSpecifier::Topic(&topic)).set("retention.ms", "123456");
    let results = block_on(client.alter_configs([&change], &AdminOptions::new()))
        .map_err(|e| e.to_string())?;
    for result in results {
        result.map_err(|(_, code)| format!("alter_configs: {code:?}"))?;
    }
    let after = topic_config(args, &topic, "retention.ms")?;
    check(after.as_deref() == Some("123456"), || {
        format!("retention.ms {after:?} after alter")
    })?;
    Ok(Outcome::Pass(format!(
        "retention.ms {} -> 123456 (AlterConfigs)",
        before.unwrap_or_default()
    )))
}

pub(crate) fn admin_delete_records(args: &Args) -> Result<Outcome, String> {
    let topic = format!("{}-delete-records", args.prefix);
    create_topic(args, &topic, 1, &[])?;
    produce_values(args, &topic, &numbered(10))?;
    let client = admin(args)?;
    let mut before = TopicPartitionList::new();
    before
        .add_partition_offset(&topic, 0, Offset::Offset(4))
        .map_err(|e| e.to_string())?;
    let result = block_on(client.delete_records(&before, &AdminOptions::new()))
        .map_err(|e| e.to_string())?;
    let answered = result
        .find_partition(&topic, 0)
        .map(|p| (p.offset(), p.error().is_ok()));
    check(answered == Some((Offset::Offset(4), true)), || {
        format!("delete_records answered {answered:?}")
    })?;
    let consumer = group_consumer(args, &format!("{}-unused", args.prefix))?;
    let watermarks = consumer
        .fetch_watermarks(&topic, 0, WAIT)
        .map_err(|e| e.to_string())?;
    check(watermarks == (4, 10), || {
        format!("watermarks {watermarks:?}, want (4, 10)")
    })?;
    Ok(Outcome::Pass("low watermark 4 of 10".into()))
}
