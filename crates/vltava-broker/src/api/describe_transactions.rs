//! DescribeTransactions (KIP-664): the coordinator's state of each transactional id it
//! coordinates; NOT_COORDINATOR (or COORDINATOR_LOAD_IN_PROGRESS) for the others, so that the
//! admin client asks the right broker, and TRANSACTIONAL_ID_NOT_FOUND for unknown ids.
//! As in Kafka, an id the principal may not DESCRIBE is TRANSACTIONAL_ID_AUTHORIZATION_FAILED
//! and only the partitions of topics it may DESCRIBE are listed.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::{
    DescribeTransactionsRequest, DescribeTransactionsResponse, ProducerId, TopicName,
};

use vltava_cluster::acl::AclOperation;

use super::str_bytes;
use crate::dispatch::{Reply, RequestContext};

pub async fn handle(context: RequestContext, request: DescribeTransactionsRequest) -> Reply {
    let coordinator = &context.broker.transactions;
    let authorization = context.authorization();
    let states = request
        .transactional_ids
        .into_iter()
        .map(|id| {
            let state = TransactionState::default()
                .with_transactional_id(id.clone())
                .with_transaction_state(str_bytes(""))
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1)
                .with_transaction_start_time_ms(-1);
            if !authorization.allows_transactional_id(AclOperation::Describe, &id.0) {
                let refused = ResponseError::TransactionalIdAuthorizationFailed;
                return state.with_error_code(refused.code());
            }
            if let Err(error) = coordinator.coordinates(&id.0) {
                return state.with_error_code(error.code());
            }
            let Some(txn) = coordinator.get(&id.0) else {
                return state.with_error_code(ResponseError::TransactionalIdNotFound.code());
            };
            let mut topics: Vec<TopicData> = Vec::new();
            // Only the partitions of topics the principal may describe, as in Kafka.
            let describable = txn
                .partitions
                .iter()
                .filter(|(topic, _)| authorization.allows_topic(AclOperation::Describe, topic));
            for (topic, partition) in describable {
                match topics.last_mut() {
                    Some(last) if last.topic.0.as_str() == topic => {
                        last.partitions.push(*partition)
                    }
                    _ => topics.push(
                        TopicData::default()
                            .with_topic(TopicName(str_bytes(topic.clone())))
                            .with_partitions(vec![*partition]),
                    ),
                }
            }
            state
                .with_transaction_state(str_bytes(txn.state.name()))
                .with_transaction_timeout_ms(txn.timeout_ms)
                .with_transaction_start_time_ms(txn.start_ms)
                .with_producer_id(ProducerId(txn.producer_id))
                .with_producer_epoch(txn.producer_epoch)
                .with_topics(topics)
        })
        .collect();
    DescribeTransactionsResponse::default()
        .with_transaction_states(states)
        .into()
}
