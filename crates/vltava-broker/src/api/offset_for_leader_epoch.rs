//! OffsetForLeaderEpoch (KIP-101, KIP-320): where a leader epoch ends in the leader's log. A
//! consumer that saw epoch E at offset O asks after a leader change; an end offset below O
//! means the log it read from was truncated (the records past it are gone), and the consumer
//! resets or reports it instead of silently skipping. Brokers with CLUSTER_ACTION may ask
//! about any topic, consumers about those they may DESCRIBE (KIP-320); the others' partitions
//! are TOPIC_AUTHORIZATION_FAILED, as in Kafka.

use kafka_protocol::messages::offset_for_leader_epoch_request::OffsetForLeaderPartition;
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use vltava_cluster::acl::AclOperation;

use crate::dispatch::{Reply, RequestContext};
use crate::error::BrokerError;
use crate::leader_epoch::{check_current_leader_epoch, epoch_unless_none};
use crate::partition::Partition;
use crate::topics::Topic;

pub async fn handle(context: RequestContext, request: OffsetForLeaderEpochRequest) -> Reply {
    let broker = &context.broker;
    let authorization = context.authorization();
    let all = authorization.allows_cluster(AclOperation::ClusterAction);
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let allowed = all || authorization.allows_topic(AclOperation::Describe, &topic.topic);
            let found = broker.topics.get(&topic.topic.0);
            let partitions = topic
                .partitions
                .iter()
                .map(|wanted| match allowed {
                    true => {
                        let partition = Topic::led_in(found.as_ref(), wanted.partition);
                        answer(partition.map(|p| p.as_ref()), wanted)
                    }
                    false => answer(Err(BrokerError::TopicAuthorizationFailed), wanted),
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(topic.topic)
                .with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default()
        .with_topics(topics)
        .into()
}

/// One partition's answer: (-1, -1) with an error, or when the log has no epoch to name.
fn answer(
    partition: std::result::Result<&Partition, BrokerError>,
    wanted: &OffsetForLeaderPartition,
) -> EpochEndOffset {
    let response = EpochEndOffset::default()
        .with_partition(wanted.partition)
        .with_leader_epoch(-1)
        .with_end_offset(-1);
    let found = partition.map_err(|e| e.code()).and_then(|partition| {
        let current = epoch_unless_none(wanted.current_leader_epoch);
        check_current_leader_epoch(current, partition.leader_epoch()).map_err(|e| e.code())?;
        partition
            .end_offset_for_epoch(wanted.leader_epoch)
            .map_err(|e| e.code())
    });
    match found {
        Ok((epoch, end_offset)) => response
            .with_leader_epoch(epoch)
            .with_end_offset(end_offset),
        Err(code) => response.with_error_code(code),
    }
}
