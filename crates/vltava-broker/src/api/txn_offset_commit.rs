//! TxnOffsetCommit: a group's offsets committed inside a producer's transaction
//! (`sendOffsetsToTransaction`), sent to the group's coordinator. They are written to
//! `__consumer_offsets` as records of the producer's transaction and take effect only when
//! its COMMIT marker reaches that partition; an ABORT drops them.
//!
//! v5+ is transaction version 2 (KIP-890 part 2): the client sent no AddOffsetsToTxn, so the
//! group's `__consumer_offsets` partition is added to the transaction here, before the write.

use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};
use vltava_group::{CommitterRef, GenerationId};

use std::collections::BTreeSet;

use vltava_group::{OFFSETS_TOPIC, offsets_partition_for};

use super::commit_plan::{CommitPlan, requested_commits};
use super::{authorized_group_id, instance_id, member_id};
use crate::broker::Broker;
use crate::dispatch::{Reply, RequestContext};
use crate::error::{BrokerError, coordinator_write_error_code, group_error_code};
use crate::txn_coordinator::implicit;
use crate::txn_coordinator::state::ProducerRef;
use kafka_protocol::error::ResponseError;
use vltava_cluster::acl::AclOperation;

/// The first TxnOffsetCommit version of transaction version 2.
const TXN_V2_VERSION: i16 = 5;

pub async fn handle(context: RequestContext, request: TxnOffsetCommitRequest) -> Reply {
    let broker = context.broker.clone();
    let member_id = member_id(&request.member_id);
    let instance_id = instance_id(&request.group_instance_id);
    // v3+ (KIP-447) names the member and generation, which are checked as OffsetCommit's;
    // older versions carry none (generation -1: not checked).
    let committer = CommitterRef {
        member_id: &member_id,
        group_instance_id: instance_id.as_ref(),
        generation_id: GenerationId(request.generation_id),
    };
    // Kafka: WRITE on the transactional id, then READ on the group (and on each topic).
    let group = match context
        .authorization()
        .allows_transactional_id(AclOperation::Write, &request.transactional_id)
    {
        true => authorized_group_id(&context, &request.group_id, AclOperation::Read),
        false => Err(ResponseError::TransactionalIdAuthorizationFailed.code()),
    };
    let group = group.and_then(|group| {
        broker
            .groups
            .validate_offset_commit(&group, &committer)
            .map(|()| group)
            .map_err(|e| group_error_code(&e))
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
    let producer = (request.producer_id.0, request.producer_epoch);
    let implicit_add = context.api_version >= TXN_V2_VERSION;
    Reply::Later(Box::pin(async move {
        if implicit_add && let Err(error) = add_offsets_partition(&broker, &request, &group).await {
            return response(&request, |_, _| error.code()).into();
        }
        let written = match plan.commits.is_empty() {
            true => Ok(()),
            false => {
                broker
                    .groups
                    .commit_transactional(&broker, &group, producer, &plan.commits)
                    .await
            }
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

/// Adds the group's `__consumer_offsets` partition to the producer's transaction.
async fn add_offsets_partition(
    broker: &Broker,
    request: &TxnOffsetCommitRequest,
    group: &vltava_group::GroupId,
) -> Result<(), BrokerError> {
    let topic = broker.groups.offsets_topic(broker).await?;
    let partition = offsets_partition_for(group, topic.partition_count());
    let partitions = BTreeSet::from([(OFFSETS_TOPIC.to_string(), partition)]);
    let producer = ProducerRef {
        producer_id: request.producer_id.0,
        epoch: request.producer_epoch,
    };
    implicit::add_partitions(broker, &request.transactional_id.0, producer, &partitions).await
}

/// The response naming every requested partition, with `code(topic, partition)` for each.
fn response(
    request: &TxnOffsetCommitRequest,
    code: impl Fn(&str, i32) -> i16,
) -> TxnOffsetCommitResponse {
    let topics = request
        .topics
        .iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    TxnOffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code(&topic.name.0, p.partition_index))
                })
                .collect();
            TxnOffsetCommitResponseTopic::default()
                .with_name(topic.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    TxnOffsetCommitResponse::default().with_topics(topics)
}
