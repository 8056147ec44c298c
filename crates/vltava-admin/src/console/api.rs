//! The console's JSON endpoints: the cluster overview, topics with their partitions, offsets
//! and configs (and a config change), consumer groups with their lag (and an offset reset).
//! Each asks the cluster through `Console::call`; nothing here reads the broker's own state.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use vltava_client::{
    Client, ClusterInfo, ConfigOp, ConfigValue, EARLIEST_TIMESTAMP, GroupListing, GroupWithLag,
    LATEST_TIMESTAMP, NewOffset, ResetTarget, Resource, TopicInfo, TopicPartition, error_name,
};

use super::{ApiError, Console};

/// The longest config name or value accepted (Kafka's are far shorter).
const CONFIG_TEXT_BYTES_MAX: usize = 64 * 1024;

pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such API endpoint")
}

/// A path parameter (a topic or group name), or a 400 saying why not (bad percent-encoding).
pub fn path_param(param: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    param
        .map(|Path(name)| name)
        .map_err(|rejection| ApiError::new(rejection.status(), rejection.body_text()))
}

/// A JSON body, or a 4xx saying why not (too large, not JSON, wrong fields).
pub fn json_body<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let body =
        body.map_err(|rejection| ApiError::new(rejection.status(), rejection.body_text()))?;
    serde_json::from_slice(&body)
        .map_err(|error| ApiError::bad_request(format!("the request body: {error}")))
}

#[derive(Debug, Serialize)]
pub struct Overview {
    cluster: ClusterInfo,
    /// The controller quorum's leader (-1 unknown).
    active_controller: i32,
    topics: usize,
    internal_topics: usize,
    partitions: usize,
    /// Partitions without a leader.
    offline_partitions: usize,
    /// The sum of every partition's log end offset: its change over time is the cluster's
    /// messages-in rate (the page samples it).
    log_end_offsets_total: i64,
}

pub async fn overview(State(console): State<Console>) -> Result<Json<Overview>, ApiError> {
    let overview = console
        .call(|client| {
            let cluster = client.describe_cluster()?;
            // Kafka answers DescribeCluster with any broker as "controller"; the quorum knows.
            let active_controller = client
                .describe_quorum()
                .map_or(cluster.controller_id, |q| q.leader_id);
            let topics = client.topics(None)?;
            let partitions = all_partitions(&topics);
            let ends = end_offsets(client, &partitions)?;
            Ok(Overview {
                active_controller,
                topics: topics.iter().filter(|t| !t.internal).count(),
                internal_topics: topics.iter().filter(|t| t.internal).count(),
                partitions: partitions.len(),
                offline_partitions: topics
                    .iter()
                    .flat_map(|t| &t.partitions)
                    .filter(|p| p.leader < 0)
                    .count(),
                log_end_offsets_total: ends.values().flatten().sum(),
                cluster,
            })
        })
        .await?;
    Ok(Json(overview))
}

fn all_partitions(topics: &[TopicInfo]) -> Vec<TopicPartition> {
    topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| TopicPartition {
                topic: t.name.clone(),
                partition: p.partition,
            })
        })
        .collect()
}

/// Each partition's log end offset, `None` where its leader answered an error.
fn end_offsets(
    client: &mut Client,
    partitions: &[TopicPartition],
) -> anyhow::Result<BTreeMap<TopicPartition, Option<i64>>> {
    offsets_at(client, partitions, LATEST_TIMESTAMP)
}

fn offsets_at(
    client: &mut Client,
    partitions: &[TopicPartition],
    timestamp: i64,
) -> anyhow::Result<BTreeMap<TopicPartition, Option<i64>>> {
    if partitions.is_empty() {
        return Ok(BTreeMap::new());
    }
    Ok(client
        .list_offsets(partitions, timestamp)?
        .into_iter()
        .map(|(p, offset)| (p, offset.ok()))
        .collect())
}

#[derive(Debug, Serialize)]
pub struct TopicSummary {
    name: String,
    internal: bool,
    partitions: usize,
    replication_factor: usize,
    under_replicated: usize,
}

pub async fn topics(State(console): State<Console>) -> Result<Json<Vec<TopicSummary>>, ApiError> {
    let topics = console.call(|client| client.topics(None)).await?;
    Ok(Json(
        topics
            .into_iter()
            .map(|t| TopicSummary {
                internal: t.internal,
                partitions: t.partitions.len(),
                replication_factor: t.partitions.first().map_or(0, |p| p.replicas.len()),
                under_replicated: t
                    .partitions
                    .iter()
                    .filter(|p| p.isr.len() < p.replicas.len())
                    .count(),
                name: t.name,
            })
            .collect(),
    ))
}

#[derive(Debug, Serialize)]
pub struct TopicDetail {
    name: String,
    id: String,
    internal: bool,
    partitions: Vec<PartitionDetail>,
    configs: Vec<ConfigValue>,
}

#[derive(Debug, Serialize)]
struct PartitionDetail {
    partition: i32,
    leader: i32,
    replicas: Vec<i32>,
    isr: Vec<i32>,
    start_offset: Option<i64>,
    end_offset: Option<i64>,
}

pub async fn topic(
    State(console): State<Console>,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<TopicDetail>, ApiError> {
    let name = path_param(name)?;
    let detail = console
        .call(move |client| {
            let topic = client
                .topics(Some(std::slice::from_ref(&name)))?
                .into_iter()
                .next()
                .ok_or_else(|| anyhow::anyhow!("topic {name}: UNKNOWN_TOPIC_OR_PARTITION"))?;
            let partitions = all_partitions(std::slice::from_ref(&topic));
            let starts = offsets_at(client, &partitions, EARLIEST_TIMESTAMP)?;
            let ends = end_offsets(client, &partitions)?;
            let configs = client.describe_configs(Resource::Topic, &name)?;
            let offset = |offsets: &BTreeMap<TopicPartition, Option<i64>>, partition| {
                let key = TopicPartition {
                    topic: name.clone(),
                    partition,
                };
                offsets.get(&key).copied().flatten()
            };
            Ok(TopicDetail {
                partitions: topic
                    .partitions
                    .iter()
                    .map(|p| PartitionDetail {
                        partition: p.partition,
                        leader: p.leader,
                        replicas: p.replicas.clone(),
                        isr: p.isr.clone(),
                        start_offset: offset(&starts, p.partition),
                        end_offset: offset(&ends, p.partition),
                    })
                    .collect(),
                name: topic.name,
                id: topic.id,
                internal: topic.internal,
                configs,
            })
        })
        .await?;
    Ok(Json(detail))
}

/// A topic config change: `value` null deletes the topic's own value (back to the default).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigChange {
    name: String,
    value: Option<String>,
}

pub async fn alter_config(
    State(console): State<Console>,
    topic: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Vec<ConfigValue>>, ApiError> {
    let topic = path_param(topic)?;
    let change: ConfigChange = json_body(body)?;
    if change.name.is_empty() || change.name.len() > CONFIG_TEXT_BYTES_MAX {
        return Err(ApiError::bad_request("a config name is 1 to 65536 bytes"));
    }
    if change
        .value
        .as_ref()
        .is_some_and(|v| v.len() > CONFIG_TEXT_BYTES_MAX)
    {
        return Err(ApiError::bad_request(
            "a config value is at most 65536 bytes",
        ));
    }
    let configs = console
        .call(move |client| {
            let op = match change.value {
                Some(_) => ConfigOp::Set,
                None => ConfigOp::Delete,
            };
            client.alter_configs(Resource::Topic, &topic, &[(change.name, op, change.value)])?;
            client.describe_configs(Resource::Topic, &topic)
        })
        .await?;
    Ok(Json(configs))
}

pub async fn groups(State(console): State<Console>) -> Result<Json<Vec<GroupListing>>, ApiError> {
    Ok(Json(
        console
            .call(|client| client.list_groups_everywhere(&[]))
            .await?,
    ))
}

pub async fn group(
    State(console): State<Console>,
    group: Result<Path<String>, PathRejection>,
) -> Result<Json<GroupWithLag>, ApiError> {
    let group = path_param(group)?;
    Ok(Json(
        console.call(move |client| describe(client, &group)).await?,
    ))
}

fn describe(client: &mut Client, group: &str) -> anyhow::Result<GroupWithLag> {
    // As `vltava group describe` shows it: the same code computes both.
    client
        .describe_group_with_lag(group)?
        .ok_or_else(|| anyhow::anyhow!("group {group}: GROUP_ID_NOT_FOUND"))
}

/// Where an offset reset moves a group's committed offsets on every partition of `topic`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    topic: String,
    to: ResetTo,
    /// For `to: "offset"`: moved into [earliest, latest] of each partition.
    offset: Option<i64>,
    /// Only compute the new offsets (`vltava group reset-offsets` without `--execute`).
    #[serde(default)]
    dry_run: bool,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ResetTo {
    Earliest,
    Latest,
    Offset,
}

#[derive(Debug, Serialize)]
pub struct ResetDone {
    topic: String,
    /// Whether the offsets were only computed, not committed.
    dry_run: bool,
    partitions: Vec<NewOffset>,
}

/// Commits new offsets from outside the group, as `vltava group reset-offsets --execute`:
/// the group's coordinator refuses while the group has members, and that refusal (Kafka's
/// error) is the answer. A dry run only answers the offsets a reset would commit.
pub async fn reset_offsets(
    State(console): State<Console>,
    group: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ResetDone>, ApiError> {
    let group = path_param(group)?;
    let reset: ResetRequest = json_body(body)?;
    let target = match (reset.to, reset.offset) {
        (ResetTo::Earliest, None) => ResetTarget::Earliest,
        (ResetTo::Latest, None) => ResetTarget::Latest,
        (ResetTo::Offset, Some(offset)) if offset >= 0 => ResetTarget::Offset(offset),
        (ResetTo::Offset, Some(_)) => return Err(ApiError::bad_request("an offset is at least 0")),
        (ResetTo::Offset, None) => {
            return Err(ApiError::bad_request("to: \"offset\" needs an offset"));
        }
        (_, Some(_)) => {
            return Err(ApiError::bad_request(
                "an offset goes with to: \"offset\" only",
            ));
        }
    };
    let outcome = console
        .call(move |client| {
            let offsets = client.reset_offsets_of(&reset.topic, target)?;
            if reset.dry_run {
                return Ok(Ok(ResetDone {
                    topic: reset.topic,
                    dry_run: true,
                    partitions: offsets,
                }));
            }
            let commits: Vec<(TopicPartition, i64)> = offsets
                .iter()
                .map(|n| {
                    let p = TopicPartition {
                        topic: reset.topic.clone(),
                        partition: n.partition,
                    };
                    (p, n.new_offset)
                })
                .collect();
            let refused = client
                .coordinator(&group)?
                .commit_offsets(&group, &commits)?;
            Ok(match refused.first() {
                Some((partition, code)) => Err(ApiError::kafka(
                    format!(
                        "group {group} refused the new offset of {partition} (offsets can be \
                         reset only while the group has no members)"
                    ),
                    error_name(*code),
                )),
                None => Ok(ResetDone {
                    topic: reset.topic,
                    dry_run: false,
                    partitions: offsets,
                }),
            })
        })
        .await??;
    Ok(Json(outcome))
}
