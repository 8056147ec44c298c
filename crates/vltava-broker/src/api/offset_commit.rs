//! OffsetCommit: where a group got to. Checked against the group's member and generation,
//! then appended to `__consumer_offsets` and answered once durable.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};
use vltava_group::{CommitterRef, GenerationId, GroupError};

use super::commit_plan::{CommitPlan, requested_commits};
use super::{authorized_group_id, instance_id, member_id};
use crate::dispatch::{Reply, RequestContext};
use crate::error::{coordinator_write_error_code, group_error_code};
use vltava_cluster::acl::AclOperation;

/// OffsetCommit v9 (KIP-848) answers a commit to a missing group GROUP_ID_NOT_FOUND.
const GROUP_ID_NOT_FOUND_VERSION_MIN: i16 = 9;

pub async fn handle(context: RequestContext, request: OffsetCommitRequest) -> Reply {
    let broker = context.broker.clone();
    let member_id = member_id(&request.member_id);
    let instance_id = instance_id(&request.group_instance_id);
    let committer = CommitterRef {
        member_id: &member_id,
        group_instance_id: instance_id.as_ref(),
        generation_id: GenerationId(request.generation_id_or_member_epoch),
    };
    let group =
        authorized_group_id(&context, &request.group_id, AclOperation::Read).and_then(|group| {
            broker
                .groups
                .validate_offset_commit(&group, &committer)
                .map(|()| group)
                .map_err(|e| commit_error_code(&e, context.api_version))
        });
    let group = match group {
        Ok(group) => group,
        Err(code) => return response(&request, |_, _| code).into(),
    };
    let plan = CommitPlan::new(
        &broker,
        &context.authorization(),
        requested_commits!(request.topics),
    );
    Reply::Later(Box::pin(async move {
        let written = if plan.commits.is_empty() {
            Ok(())
        } else {
            broker.groups.commit(&broker, &group, &plan.commits).await
        };
        let write_code = written
            .err()
            .map_or(0, |e| coordinator_write_error_code(&e));
        response(&request, |topic, partition| {
            plan.code(topic, partition, write_code)
        })
        .into()
    }))
}

/// Kafka answers a generation for a group that does not exist GROUP_ID_NOT_FOUND from v9 on,
/// and ILLEGAL_GENERATION to older clients, which do not expect the newer code.
fn commit_error_code(error: &GroupError, api_version: i16) -> i16 {
    match error {
        GroupError::GroupIdNotFound if api_version < GROUP_ID_NOT_FOUND_VERSION_MIN => {
            ResponseError::IllegalGeneration.code()
        }
        other => group_error_code(other),
    }
}

/// The response naming every requested partition, with `code(topic, partition)` for each.
fn response(
    request: &OffsetCommitRequest,
    code: impl Fn(&str, i32) -> i16,
) -> OffsetCommitResponse {
    let topics = request
        .topics
        .iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code(&topic.name.0, p.partition_index))
                })
                .collect();
            OffsetCommitResponseTopic::default()
                .with_name(topic.name.clone())
                .with_topic_id(topic.topic_id)
                .with_partitions(partitions)
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}
