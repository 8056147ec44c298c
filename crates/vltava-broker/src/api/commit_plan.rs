//! What OffsetCommit and TxnOffsetCommit share: each requested partition checked (the topic
//! has it, the metadata fits `offset.metadata.max.bytes`) and turned into a commit, or
//! refused with its error; the response's code for each partition afterwards.

use kafka_protocol::error::ResponseError;
use vltava_group::{CommittedOffset, TopicPartition};

use crate::broker::{Broker, now_ms};
use crate::group_coordinator::OffsetCommit;
use crate::security::acl::Authorization;
use vltava_cluster::acl::AclOperation;

/// One partition's commit as a request names it.
#[derive(Debug, Clone, Copy)]
pub struct RequestedCommit<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<&'a str>,
}

/// The [`RequestedCommit`]s of an OffsetCommit or TxnOffsetCommit request's `topics`: the
/// two generated request types name their fields alike but share no type.
macro_rules! requested_commits {
    ($topics:expr) => {
        $topics.iter().flat_map(|topic| {
            topic
                .partitions
                .iter()
                .map(|p| $crate::api::commit_plan::RequestedCommit {
                    topic: &topic.name.0,
                    partition: p.partition_index,
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata: p.committed_metadata.as_deref(),
                })
        })
    };
}
pub(crate) use requested_commits;

#[derive(Debug, Default)]
pub struct CommitPlan {
    pub commits: Vec<OffsetCommit>,
    /// Partitions refused before writing, with their error code.
    refused: Vec<((String, i32), i16)>,
}

impl CommitPlan {
    /// Kafka checks READ on each topic first (TOPIC_AUTHORIZATION_FAILED).
    pub fn new<'a>(
        broker: &Broker,
        authorization: &Authorization,
        requested: impl Iterator<Item = RequestedCommit<'a>>,
    ) -> Self {
        let metadata_bytes_max = broker.groups.offset_metadata_bytes_max();
        let commit_timestamp_ms = now_ms();
        let mut plan = CommitPlan::default();
        for commit in requested {
            let metadata = commit.metadata.unwrap_or("");
            let known = broker
                .topics
                .get(commit.topic)
                .is_some_and(|t| t.has_partition(commit.partition));
            let key = (commit.topic.to_string(), commit.partition);
            let error = if !authorization.allows_topic(AclOperation::Read, commit.topic) {
                Some(ResponseError::TopicAuthorizationFailed)
            } else if !known {
                Some(ResponseError::UnknownTopicOrPartition)
            } else if metadata.len() > metadata_bytes_max {
                Some(ResponseError::OffsetMetadataTooLarge)
            } else {
                None
            };
            if let Some(error) = error {
                plan.refused.push((key, error.code()));
                continue;
            }
            plan.commits.push(OffsetCommit {
                partition: TopicPartition {
                    topic: key.0,
                    partition: key.1,
                },
                committed: CommittedOffset {
                    offset: commit.offset,
                    leader_epoch: commit.leader_epoch,
                    metadata: metadata.to_string(),
                    commit_timestamp_ms,
                },
            });
        }
        plan
    }

    /// The code a partition is answered with: its refusal, or the write's.
    pub fn code(&self, topic: &str, partition: i32, write_code: i16) -> i16 {
        self.refused
            .iter()
            .find(|((t, p), _)| t == topic && *p == partition)
            .map_or(write_code, |(_, code)| *code)
    }
}
