//! AddPartitionsToTxn: a transactional producer names the partitions it is about to write
//! before it writes them, so that the coordinator knows where to send the markers. v4+
//! (KIP-890) batches several transactions in one request, as brokers send it to verify a
//! partition is in a transaction (`verify_only`); clients send v0-3 with one.
//!
//! As in Kafka, a request naming a partition that does not exist adds nothing: those
//! partitions are UNKNOWN_TOPIC_OR_PARTITION and the others OPERATION_NOT_ATTEMPTED.
//!
//! Authorization as in Kafka: a client's request (v0-3) needs WRITE on the transactional id
//! (else TRANSACTIONAL_ID_AUTHORIZATION_FAILED on every partition) and WRITE on each topic but
//! the internal ones (else that topic's partitions are TOPIC_AUTHORIZATION_FAILED and the
//! others OPERATION_NOT_ATTEMPTED); a broker's (v4+) needs CLUSTER_ACTION on the cluster, else
//! a top-level CLUSTER_AUTHORIZATION_FAILED.

use std::collections::BTreeSet;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse};

use vltava_cluster::acl::AclOperation::{self, Write};
use vltava_cluster::acl::ResourceType::TransactionalId;

use crate::broker::Broker;
use crate::dispatch::{Reply, RequestContext};
use crate::security::acl::Authorization;
use crate::topic_name::is_internal;
use crate::txn_coordinator::state::ProducerRef;

/// The first version batching transactions.
const BATCHED_VERSION: i16 = 4;

pub async fn handle(context: RequestContext, request: AddPartitionsToTxnRequest) -> Reply {
    let broker = context.broker.clone();
    let batched = context.api_version >= BATCHED_VERSION;
    let authorization = context.authorization();
    // Batched requests come from brokers only.
    if batched && let Err(refused) = authorization.check_cluster(AclOperation::ClusterAction) {
        return AddPartitionsToTxnResponse::default()
            .with_error_code(refused.code())
            .into();
    }
    Reply::Later(Box::pin(async move {
        if !batched {
            let producer = ProducerRef {
                producer_id: request.v3_and_below_producer_id.0,
                epoch: request.v3_and_below_producer_epoch,
            };
            let id = request.v3_and_below_transactional_id.0.to_string();
            let topics = &request.v3_and_below_topics;
            let results = match authorization.check(Write, TransactionalId, &id) {
                Ok(()) => {
                    let refused = |topic: &str| !may_write(&authorization, topic);
                    add(&broker, &id, producer, topics, false, refused).await
                }
                Err(refused) => per_partition(topics, |_, _| refused.code()),
            };
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
            let topic_results = add(&broker, &id, producer, &txn.topics, txn.verify_only, |_| {
                false
            })
            .await;
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

/// Kafka's topic check of a client's request: WRITE on the topic; internal topics (the
/// group's `__consumer_offsets` partition that AddOffsetsToTxn adds) are not checked.
fn may_write(authorization: &Authorization, topic: &str) -> bool {
    is_internal(topic) || authorization.allows_topic(Write, topic)
}

/// A result for every partition of the request, with its code.
fn per_partition(
    topics: &[AddPartitionsToTxnTopic],
    code: impl Fn(&str, i32) -> i16,
) -> Vec<AddPartitionsToTxnTopicResult> {
    topics
        .iter()
        .map(|t| {
            let results = t
                .partitions
                .iter()
                .map(|&p| {
                    AddPartitionsToTxnPartitionResult::default()
                        .with_partition_index(p)
                        .with_partition_error_code(code(&t.name.0, p))
                })
                .collect();
            AddPartitionsToTxnTopicResult::default()
                .with_name(t.name.clone())
                .with_results_by_partition(results)
        })
        .collect()
}

/// Adds (or, `verify_only`, checks) one transaction's partitions; a result per partition. A
/// topic `refused` (not authorized) or a partition that does not exist adds nothing.
async fn add(
    broker: &Broker,
    transactional_id: &str,
    producer: ProducerRef,
    topics: &[AddPartitionsToTxnTopic],
    verify_only: bool,
    refused: impl Fn(&str) -> bool,
) -> Vec<AddPartitionsToTxnTopicResult> {
    let failure = |topic: &str, partition: i32| {
        if refused(topic) {
            return Some(ResponseError::TopicAuthorizationFailed.code());
        }
        let known = broker
            .topics
            .get(topic)
            .is_some_and(|t| t.has_partition(partition));
        (!known).then(|| ResponseError::UnknownTopicOrPartition.code())
    };
    let any_unknown = topics.iter().any(|t| {
        t.partitions
            .iter()
            .any(|&p| failure(&t.name.0, p).is_some())
    });
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
    per_partition(topics, |topic, p| failure(topic, p).unwrap_or(code))
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
