//! DescribeProducers: the idempotent producers each partition has state for, from its
//! producer state (rebuilt from the log on start), with the first offset of each producer's
//! open transaction in the partition (-1 without one). The coordinator epoch of the last
//! marker is not kept: -1. A topic the principal may not READ is TOPIC_AUTHORIZATION_FAILED,
//! checked after the name's validity and before the topic is looked up, as in Kafka.

use kafka_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use kafka_protocol::messages::{DescribeProducersRequest, DescribeProducersResponse, ProducerId};

use vltava_cluster::acl::AclOperation;

use super::str_bytes;
use crate::dispatch::{Reply, RequestContext};
use crate::error::{BrokerError, Result};
use crate::producer_state::ActiveProducer;
use crate::topic_name;
use crate::topics::Topic;

/// Kafka's coordinator epoch of a producer without a marker in the partition (vltava does not
/// keep the epoch of the last marker).
const NO_COORDINATOR_EPOCH: i32 = -1;
/// Kafka's transaction start offset of a producer without an open transaction.
const NO_OPEN_TRANSACTION: i64 = -1;

pub async fn handle(context: RequestContext, request: DescribeProducersRequest) -> Reply {
    let broker = &context.broker;
    let authorization = context.authorization();
    let topics = request
        .topics
        .into_iter()
        .map(|wanted| {
            let topic = topic_name::validate(&wanted.name.0).and_then(|()| {
                if !authorization.allows_topic(AclOperation::Read, &wanted.name.0) {
                    return Err(BrokerError::TopicAuthorizationFailed);
                }
                broker
                    .topics
                    .get(&wanted.name.0)
                    .ok_or(BrokerError::UnknownTopicOrPartition)
            });
            let partitions = wanted
                .partition_indexes
                .iter()
                .map(|&index| describe(topic.as_deref(), index))
                .collect();
            TopicResponse::default()
                .with_name(wanted.name)
                .with_partitions(partitions)
        })
        .collect();
    DescribeProducersResponse::default()
        .with_topics(topics)
        .into()
}

/// A topic-level error is repeated with its message for every partition; an unknown
/// partition of a known topic has no message, as in Kafka.
fn describe(topic: std::result::Result<&Topic, &BrokerError>, index: i32) -> PartitionResponse {
    let response = PartitionResponse::default().with_partition_index(index);
    let topic = match topic {
        Ok(topic) => topic,
        Err(error) => {
            return response
                .with_error_code(error.code())
                .with_error_message(Some(str_bytes(error.message())));
        }
    };
    match producers(topic, index) {
        Ok(active) => response.with_active_producers(active),
        Err(error) => response.with_error_code(error.code()),
    }
}

fn producers(topic: &Topic, index: i32) -> Result<Vec<ProducerState>> {
    let partition = topic.led_here(index)?;
    let open = partition.open_transactions();
    Ok(partition
        .active_producers()
        .into_iter()
        .map(|producer| {
            // The first offset of the producer's open transaction here (kafka-transactions
            // find-hanging looks for old ones).
            let txn_start = open
                .iter()
                .find(|t| t.producer_id == producer.producer_id)
                .map_or(NO_OPEN_TRANSACTION, |t| t.first_offset);
            producer_state(producer, txn_start)
        })
        .collect())
}

fn producer_state(producer: ActiveProducer, current_txn_start_offset: i64) -> ProducerState {
    ProducerState::default()
        .with_producer_id(ProducerId(producer.producer_id))
        .with_producer_epoch(i32::from(producer.epoch))
        .with_last_sequence(producer.last_sequence)
        .with_last_timestamp(producer.last_timestamp)
        .with_coordinator_epoch(NO_COORDINATOR_EPOCH)
        .with_current_txn_start_offset(current_txn_start_offset)
}
