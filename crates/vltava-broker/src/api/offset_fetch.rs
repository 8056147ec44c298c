//! OffsetFetch: a group's committed offsets, for the partitions asked or (no topics) all of
//! them. v8+ asks for many groups at once. A partition without a commit answers offset -1.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse, TopicName};
use vltava_group::{CommittedOffset, GroupId, MemberId, TopicPartition};

use super::str_bytes;
use crate::dispatch::{Reply, RequestContext};
use crate::error::group_error_code;
use crate::group_coordinator::GroupCoordinator;
use crate::security::acl::Authorization;
use vltava_cluster::acl::AclOperation;

const NO_OFFSET: i64 = -1;
const NO_LEADER_EPOCH: i32 = -1;

/// One answered partition, before it takes the shape of the request's version.
struct Fetched {
    partition: i32,
    committed: Option<CommittedOffset>,
    /// UNSTABLE_OFFSET_COMMIT: `require_stable` and a transaction's offset is pending here.
    error_code: i16,
}

pub async fn handle(context: RequestContext, request: OffsetFetchRequest) -> Reply {
    let groups = &context.broker.groups;
    let authorization = context.authorization();
    let may_describe = |group: &str| authorization.allows_group(AclOperation::Describe, group);
    let group_denied = ResponseError::GroupAuthorizationFailed.code();
    if context.api_version >= 8 {
        let answered = request
            .groups
            .iter()
            .map(|group| {
                let wanted = group.topics.as_ref().map(|topics| {
                    topics
                        .iter()
                        .map(|t| (t.name.clone(), t.partition_indexes.clone()))
                        .collect()
                });
                if !may_describe(&group.group_id) {
                    return OffsetFetchResponseGroup::default()
                        .with_group_id(group.group_id.clone())
                        .with_error_code(group_denied);
                }
                let all = wanted.is_none();
                let group_id = GroupId::new(group.group_id.0.to_string());
                // KIP-848 members fetch with their epoch; a stale one must learn it.
                let member_id = MemberId::new(
                    group
                        .member_id
                        .as_ref()
                        .map(|m| m.to_string())
                        .unwrap_or_default(),
                );
                if let Err(error) =
                    groups.validate_offset_fetch(&group_id, &member_id, group.member_epoch)
                {
                    return OffsetFetchResponseGroup::default()
                        .with_group_id(group.group_id.clone())
                        .with_error_code(group_error_code(&error));
                }
                let fetched = fetch(groups, &group_id, wanted, request.require_stable);
                let topics = authorized(&authorization, all, fetched)
                    .into_iter()
                    .map(|(name, partitions)| {
                        OffsetFetchResponseTopics::default()
                            .with_name(name)
                            .with_partitions(partitions.into_iter().map(partitions_v8).collect())
                    })
                    .collect();
                OffsetFetchResponseGroup::default()
                    .with_group_id(group.group_id.clone())
                    .with_topics(topics)
            })
            .collect();
        return OffsetFetchResponse::default().with_groups(answered).into();
    }
    if !may_describe(&request.group_id) {
        return OffsetFetchResponse::default()
            .with_error_code(group_denied)
            .into();
    }
    let all = request.topics.is_none();
    let wanted = request.topics.as_ref().map(|topics| {
        topics
            .iter()
            .map(|t| (t.name.clone(), t.partition_indexes.clone()))
            .collect()
    });
    let fetched = fetch(
        groups,
        &GroupId::new(request.group_id.0.to_string()),
        wanted,
        request.require_stable,
    );
    let topics = authorized(&authorization, all, fetched)
        .into_iter()
        .map(|(name, partitions)| {
            OffsetFetchResponseTopic::default()
                .with_name(name)
                .with_partitions(partitions.into_iter().map(partition_v1).collect())
        })
        .collect();
    OffsetFetchResponse::default().with_topics(topics).into()
}

/// The committed offsets of the wanted partitions, or of every partition the group committed.
/// With `require_stable` (KIP-447, v7+) a partition whose offset an open transaction is about
/// to change is UNSTABLE_OFFSET_COMMIT instead: the client retries until it is decided.
/// Kafka's DESCRIBE check on each topic: one asked for is TOPIC_AUTHORIZATION_FAILED, and
/// when all were asked for the undescribable ones are left out.
fn authorized(
    authorization: &Authorization,
    all: bool,
    fetched: Vec<(TopicName, Vec<Fetched>)>,
) -> Vec<(TopicName, Vec<Fetched>)> {
    fetched
        .into_iter()
        .filter_map(|(name, mut partitions)| {
            if authorization.allows_topic(AclOperation::Describe, &name) {
                return Some((name, partitions));
            }
            for fetched in &mut partitions {
                fetched.committed = None;
                fetched.error_code = ResponseError::TopicAuthorizationFailed.code();
            }
            (!all).then_some((name, partitions))
        })
        .collect()
}

fn fetch(
    groups: &GroupCoordinator,
    group_id: &GroupId,
    wanted: Option<Vec<(TopicName, Vec<i32>)>>,
    require_stable: bool,
) -> Vec<(TopicName, Vec<Fetched>)> {
    let mut by_topic = committed(groups, group_id, wanted);
    if require_stable {
        for (name, partitions) in &mut by_topic {
            for fetched in partitions {
                let partition = TopicPartition {
                    topic: name.0.to_string(),
                    partition: fetched.partition,
                };
                if groups.has_pending_transactional_offset(group_id, &partition) {
                    fetched.committed = None;
                    fetched.error_code = ResponseError::UnstableOffsetCommit.code();
                }
            }
        }
    }
    by_topic
}

fn committed(
    groups: &GroupCoordinator,
    group_id: &GroupId,
    wanted: Option<Vec<(TopicName, Vec<i32>)>>,
) -> Vec<(TopicName, Vec<Fetched>)> {
    let Some(wanted) = wanted else {
        let mut by_topic: Vec<(TopicName, Vec<Fetched>)> = Vec::new();
        for (partition, committed) in groups.committed_all(group_id) {
            let fetched = Fetched {
                partition: partition.partition,
                committed: Some(committed),
                error_code: 0,
            };
            match by_topic.last_mut() {
                Some((name, partitions)) if name.0.as_str() == partition.topic => {
                    partitions.push(fetched)
                }
                _ => by_topic.push((TopicName(str_bytes(partition.topic)), vec![fetched])),
            }
        }
        return by_topic;
    };
    wanted
        .into_iter()
        .map(|(name, indexes)| {
            let partitions = indexes
                .into_iter()
                .map(|partition| Fetched {
                    partition,
                    committed: groups.committed(
                        group_id,
                        &TopicPartition {
                            topic: name.0.to_string(),
                            partition,
                        },
                    ),
                    error_code: 0,
                })
                .collect();
            (name, partitions)
        })
        .collect()
}

fn partition_v1(fetched: Fetched) -> OffsetFetchResponsePartition {
    let (offset, epoch, metadata) = fields(fetched.committed);
    OffsetFetchResponsePartition::default()
        .with_partition_index(fetched.partition)
        .with_error_code(fetched.error_code)
        .with_committed_offset(offset)
        .with_committed_leader_epoch(epoch)
        .with_metadata(Some(str_bytes(metadata)))
}

fn partitions_v8(fetched: Fetched) -> OffsetFetchResponsePartitions {
    let (offset, epoch, metadata) = fields(fetched.committed);
    OffsetFetchResponsePartitions::default()
        .with_partition_index(fetched.partition)
        .with_error_code(fetched.error_code)
        .with_committed_offset(offset)
        .with_committed_leader_epoch(epoch)
        .with_metadata(Some(str_bytes(metadata)))
}

fn fields(committed: Option<CommittedOffset>) -> (i64, i32, String) {
    match committed {
        Some(c) => (c.offset, c.leader_epoch, c.metadata),
        None => (NO_OFFSET, NO_LEADER_EPOCH, String::new()),
    }
}
