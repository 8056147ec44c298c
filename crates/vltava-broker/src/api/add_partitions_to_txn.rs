//! AddPartitionsToTxn: a transactional producer names the partitions it is about to write
//! before it writes them, so that the coordinator knows where to send the markers. v4+
//! (KIP-890) batches several transactions in one request, as brokers send it to verify a
//! partition is in a transaction (`verify_only`); clients send v0-3 with one.
//!
//! As in Kafka, a request naming a partition that does not exist adds nothing: those
//! partitions are UNKNOWN_TOPIC_OR_PARTITION and the others OPERATION_NOT_ATTEMPTED.

use std::collections::BTreeSet;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse};

use crate::broker::Broker;
use crate::dispatch::{Reply, RequestContext};
use crate::txn_coordinator::state::ProducerRef;

/// The first version batching transactions.
const BATCHED_VERSION: i16 = 4;

pub async fn handle(context: RequestContext, request: AddPartitionsToTxnRequest) -> Reply {
    let broker = context.broker.clone();
    let batched = context.api_version >= BATCHED_VERSION;
    Reply::Later(Box::pin(async move {
        if !batched {
            let producer = ProducerRef {
                producer_id: request.v3_and_below_producer_id.0,
                epoch: request.v3_and_below_producer_epoch,
            };
            let id = request.v3_and_below_transactional_id.0.to_string();
            let results = add(&broker, &id, producer, &request.v3_and_below_topics, false).await;
            return AddPartitionsToTxnResponse::default()
                .with_results_by_topic_v3_and_below(results)
                .into();
        }
        let mut results = Vec::with_capacity(request.transactions.len());
        for txn in &request.transactions {
            let producer = ProducerRef {
                producer_id: txn.producer_id.0,
                epoch: txn.producer_epoch,
            };
            let id = txn.transactional_id.0.to_string();
            let topic_results = add(&broker, &id, producer, &txn.topics, txn.verify_only).await;
            results.push(
                AddPartitionsToTxnResult::default()
                    .with_transactional_id(txn.transactional_id.clone())
                    .with_topic_results(topic_results),
            );
        }
        AddPartitionsToTxnResponse::default()
            .with_results_by_transaction(results)
            .into()
    }))
}

/// Adds (or, `verify_only`, checks) one transaction's partitions; a result per partition.
async fn add(
    broker: &Broker,
    transactional_id: &str,
    producer: ProducerRef,
    topics: &[AddPartitionsToTxnTopic],
    verify_only: bool,
) -> Vec<AddPartitionsToTxnTopicResult> {
    let unknown = |topic: &str, partition: i32| {
        !broker
            .topics
            .get(topic)
            .is_some_and(|t| t.has_partition(partition))
    };
    let any_unknown = topics
        .iter()
        .any(|t| t.partitions.iter().any(|&p| unknown(&t.name.0, p)));
    let partitions: BTreeSet<(String, i32)> = topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|&p| (t.name.0.to_string(), p)))
        .collect();
    let code = if any_unknown {
        ResponseError::OperationNotAttempted.code()
    } else if verify_only {
        verify(broker, transactional_id, producer, &partitions)
    } else {
        broker
            .transactions
            .add_partitions(broker, transactional_id, producer, &partitions)
            .await
            .err()
            .map_or(0, |e| e.code())
    };
    topics
        .iter()
        .map(|t| {
            let results = t
                .partitions
                .iter()
                .map(|&p| {
                    let code = match unknown(&t.name.0, p) {
                        true => ResponseError::UnknownTopicOrPartition.code(),
                        false => code,
                    };
                    AddPartitionsToTxnPartitionResult::default()
                        .with_partition_index(p)
                        .with_partition_error_code(code)
                })
                .collect();
            AddPartitionsToTxnTopicResult::default()
                .with_name(t.name.clone())
                .with_results_by_partition(results)
        })
        .collect()
}

/// KIP-890's verification: every partition is in the producer's ongoing transaction, or
/// INVALID_TXN_STATE.
fn verify(
    broker: &Broker,
    transactional_id: &str,
    producer: ProducerRef,
    partitions: &BTreeSet<(String, i32)>,
) -> i16 {
    if let Err(error) = broker.transactions.coordinates(transactional_id) {
        return error.code();
    }
    match broker.transactions.get(transactional_id) {
        Some(txn)
            if txn.producer_id == producer.producer_id
                && txn.producer_epoch == producer.epoch
                && partitions.is_subset(&txn.partitions) =>
        {
            0
        }
        _ => ResponseError::InvalidTxnState.code(),
    }
}
