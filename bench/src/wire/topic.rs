//! Topic set-up and inspection on the wire: CreateTopics, Metadata until every partition has a
//! leader, ListOffsets for the end of each partition.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, BrokerId, CreateTopicsRequest, CreateTopicsResponse, ListOffsetsRequest,
    ListOffsetsResponse, MetadataRequest, MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::conn::Control;
use super::{CREATE_TOPICS_VERSION, LIST_OFFSETS_VERSION, METADATA_VERSION};

const TOPIC_ALREADY_EXISTS: i16 = 36;
/// UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE, NOT_LEADER_OR_FOLLOWER: a partition not
/// served yet.
const RETRIABLE: [i16; 3] = [3, 5, 6];
/// ListOffsets timestamp meaning "the end of the log".
const LATEST: i64 = -1;
/// How long a new topic may take to have a leader for every partition, and how often to ask.
const LEADERS_WAIT: Duration = Duration::from_secs(30);
const LEADERS_POLL: Duration = Duration::from_millis(20);

fn topic_name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_owned()))
}

/// Creates `topic` with `partitions` partitions and `configs` (KEY=VALUE) unless it exists, then
/// waits until Metadata shows a leader for each of its partitions. Returns the partition count.
pub async fn ensure(
    control: &mut Control,
    topic: &str,
    partitions: i32,
    configs: &[String],
) -> Result<i32> {
    let configs = configs
        .iter()
        .map(|kv| {
            let (key, value) = kv
                .split_once('=')
                .with_context(|| format!("topic config {kv:?} is not KEY=VALUE"))?;
            Ok(CreatableTopicConfig::default()
                .with_name(StrBytes::from_string(key.to_owned()))
                .with_value(Some(StrBytes::from_string(value.to_owned()))))
        })
        .collect::<Result<Vec<_>>>()?;
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(30_000)
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(topic_name(topic))
                .with_num_partitions(partitions)
                .with_replication_factor(1)
                .with_configs(configs),
        ]);
    let response: CreateTopicsResponse = control
        .exchange(ApiKey::CreateTopics, CREATE_TOPICS_VERSION, &request)
        .await?;
    for result in &response.topics {
        if result.error_code != 0 && result.error_code != TOPIC_ALREADY_EXISTS {
            bail!(
                "CreateTopics {topic}: error {} {}",
                result.error_code,
                result.error_message.as_deref().unwrap_or("")
            );
        }
    }
    wait_for_leaders(control, topic).await
}

/// Waits until every partition of `topic` has a leader in Metadata and that leader serves it
/// (ListOffsets answers without error); returns the partition count. Kafka shows a new
/// partition's leader in Metadata before its replica manager has the partition, and answers
/// NOT_LEADER_OR_FOLLOWER to produce requests meanwhile.
pub async fn wait_for_leaders(control: &mut Control, topic: &str) -> Result<i32> {
    let deadline = Instant::now() + LEADERS_WAIT;
    loop {
        if let Some(count) = leaders_ready(control, topic).await? {
            let answers = list_latest(control, topic, count).await?;
            if answers.iter().all(|&(_, error)| error == 0) {
                return Ok(count);
            }
            let fatal = answers
                .iter()
                .position(|&(_, e)| e != 0 && !RETRIABLE.contains(&e));
            if let Some(p) = fatal {
                bail!("ListOffsets {topic}/{p}: error {}", answers[p].1);
            }
        }
        if Instant::now() > deadline {
            bail!("{topic}: partitions without a serving leader after {LEADERS_WAIT:?}");
        }
        // Nothing announces a new leader to a client that is not a broker: ask again.
        tokio::time::sleep(LEADERS_POLL).await;
    }
}

async fn leaders_ready(control: &mut Control, topic: &str) -> Result<Option<i32>> {
    let request = MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default().with_name(Some(topic_name(topic))),
    ]));
    let response: MetadataResponse = control
        .exchange(ApiKey::Metadata, METADATA_VERSION, &request)
        .await?;
    let Some(found) = response.topics.first() else {
        return Ok(None);
    };
    if found.error_code != 0 || found.partitions.is_empty() {
        return Ok(None);
    }
    let ready = found
        .partitions
        .iter()
        .all(|p| p.error_code == 0 && p.leader_id.0 >= 0);
    Ok(ready.then(|| i32::try_from(found.partitions.len()).unwrap_or(i32::MAX)))
}

/// The end offset (next offset to be written) of partitions 0..partitions of `topic`.
pub async fn end_offsets(control: &mut Control, topic: &str, partitions: i32) -> Result<Vec<i64>> {
    list_latest(control, topic, partitions)
        .await?
        .into_iter()
        .enumerate()
        .map(|(p, (offset, error))| {
            if error != 0 {
                bail!("ListOffsets {topic}/{p}: error {error}");
            }
            Ok(offset)
        })
        .collect()
}

/// ListOffsets (latest) of partitions 0..partitions: (offset, error code) of each.
async fn list_latest(
    control: &mut Control,
    topic: &str,
    partitions: i32,
) -> Result<Vec<(i64, i16)>> {
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![
            ListOffsetsTopic::default()
                .with_name(topic_name(topic))
                .with_partitions(
                    (0..partitions)
                        .map(|p| {
                            ListOffsetsPartition::default()
                                .with_partition_index(p)
                                .with_current_leader_epoch(-1)
                                .with_timestamp(LATEST)
                        })
                        .collect(),
                ),
        ]);
    let response: ListOffsetsResponse = control
        .exchange(ApiKey::ListOffsets, LIST_OFFSETS_VERSION, &request)
        .await?;
    let mut ends = vec![None; usize::try_from(partitions)?];
    for t in &response.topics {
        for p in &t.partitions {
            let slot = usize::try_from(p.partition_index)
                .ok()
                .and_then(|i| ends.get_mut(i))
                .context("ListOffsets answered a partition not asked for")?;
            *slot = Some((p.offset, p.error_code));
        }
    }
    ends.into_iter()
        .enumerate()
        .map(|(i, end)| end.with_context(|| format!("ListOffsets: no answer for partition {i}")))
        .collect()
}
