//! The consumer-group scenarios: three members sharing six partitions, and the group admin calls.

use std::time::Instant;

use rdkafka::admin::AdminOptions;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;

use crate::{admin, block_on, check, config, create_topic, produce, Args, Outcome, Record, WAIT};

const PARTITIONS: i32 = 6;

fn member(args: &Args, group: &str, topic: &str) -> Result<BaseConsumer, String> {
    let consumer: BaseConsumer = config(args)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .map_err(|e| e.to_string())?;
    consumer.subscribe(&[topic]).map_err(|e| e.to_string())?;
    Ok(consumer)
}

fn partitions_of(member: &BaseConsumer) -> Vec<i32> {
    let mut owned: Vec<i32> = member
        .assignment()
        .map(|list| list.elements().iter().map(|e| e.partition()).collect())
        .unwrap_or_default();
    owned.sort_unstable();
    owned
}

/// Polls every member in turn (librdkafka joins and fetches in the background, so one thread
/// can drive them all), collecting the values read, until `done` or the deadline.
fn poll_until(
    members: &[BaseConsumer],
    seen: &mut Vec<i64>,
    done: impl Fn(&[BaseConsumer], &[i64]) -> bool,
) -> bool {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        for member in members {
            if let Some(Ok(message)) = member.poll(std::time::Duration::from_millis(20)) {
                if let Some(value) = message
                    .payload()
                    .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
                {
                    seen.push(value);
                }
            }
        }
        if done(members, seen) {
            return true;
        }
    }
    false
}

fn owned_by_all(members: &[BaseConsumer]) -> bool {
    let mut owned: Vec<i32> = members.iter().flat_map(partitions_of).collect();
    owned.sort_unstable();
    owned == (0..PARTITIONS).collect::<Vec<i32>>()
        && members.iter().all(|m| !partitions_of(m).is_empty())
}

fn produce_range(args: &Args, topic: &str, range: std::ops::Range<i64>) -> Result<(), String> {
    let owned: Vec<(Vec<u8>, Vec<u8>)> = range
        .map(|i| (format!("k{i}").into_bytes(), i.to_string().into_bytes()))
        .collect();
    let records: Vec<Record<'_>> = owned
        .iter()
        .map(|(k, v)| (Some(k.as_slice()), Some(v.as_slice())))
        .collect();
    produce(args, topic, &records, &[], None).map(|_| ())
}

pub(crate) fn consumer_group(args: &Args) -> Result<Outcome, String> {
    let topic = format!("{}-group", args.prefix);
    create_topic(args, &topic, PARTITIONS, &[])?;
    let mut members = vec![
        member(args, &topic, &topic)?,
        member(args, &topic, &topic)?,
        member(args, &topic, &topic)?,
    ];
    let mut seen = Vec::new();
    let assigned = poll_until(&members, &mut seen, |m, _| owned_by_all(m));
    check(assigned, || {
        format!(
            "assignment {:?}",
            members.iter().map(partitions_of).collect::<Vec<_>>()
        )
    })?;
    produce_range(args, &topic, 0..600)?;
    poll_until(&members, &mut seen, |_, s| s.len() >= 600);
    seen.sort_unstable();
    check(seen == (0..600).collect::<Vec<i64>>(), || {
        format!("{} read of 600", seen.len())
    })?;
    for member in &members {
        member
            .commit_consumer_state(CommitMode::Sync)
            .map_err(|e| e.to_string())?;
    }
    members.pop(); // dropping a consumer closes it: it leaves the group
    seen.clear();
    let reassigned = poll_until(&members, &mut seen, |m, _| owned_by_all(m));
    check(reassigned, || {
        format!(
            "after leave: {:?}",
            members.iter().map(partitions_of).collect::<Vec<_>>()
        )
    })?;
    produce_range(args, &topic, 600..660)?;
    poll_until(&members, &mut seen, |_, s| s.len() >= 60);
    seen.sort_unstable();
    check(seen == (600..660).collect::<Vec<i64>>(), || {
        format!("after leave: read {} records", seen.len())
    })?;
    Ok(Outcome::Pass(
        "600 once across 3; after a leave 2 members own 6 partitions and read 60 new".into(),
    ))
}

pub(crate) fn admin_groups(args: &Args) -> Result<Outcome, String> {
    let topic = format!("{}-admin-groups", args.prefix);
    create_topic(args, &topic, 1, &[])?;
    let consumer = member(args, &topic, &topic)?;
    let mut seen = Vec::new();
    let members = [consumer];
    check(
        poll_until(&members, &mut seen, |m, _| owned_by_all_one(m)),
        || "member got no assignment".into(),
    )?;
    let client = admin(args)?;
    let listed = client
        .inner()
        .fetch_group_list(None, WAIT)
        .map_err(|e| e.to_string())?;
    check(listed.groups().iter().any(|g| g.name() == topic), || {
        format!("{topic} not listed")
    })?;
    let described = client
        .inner()
        .fetch_group_list(Some(&topic), WAIT)
        .map_err(|e| e.to_string())?;
    let group = described.groups().first().ok_or("group not described")?;
    check(group.members().len() == 1, || {
        format!("{} members described", group.members().len())
    })?;
    let state = group.state().to_string();
    drop(members);
    let results = block_on(client.delete_groups(&[&topic], &AdminOptions::new()))
        .map_err(|e| e.to_string())?;
    for result in results {
        result.map_err(|(name, code)| format!("delete {name}: {code:?}"))?;
    }
    let listed = client
        .inner()
        .fetch_group_list(None, WAIT)
        .map_err(|e| e.to_string())?;
    check(!listed.groups().iter().any(|g| g.name() == topic), || {
        format!("{topic} listed after delete")
    })?;
    Ok(Outcome::Pass(format!(
        "listed, described ({state}, 1 member), deleted when empty"
    )))
}

fn owned_by_all_one(members: &[BaseConsumer]) -> bool {
    members.iter().all(|m| !partitions_of(m).is_empty())
}
