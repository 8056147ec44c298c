//! Transaction version 2's implicit AddPartitions (KIP-890 part 2): a client writes to a
//! partition (Produce v12+) or commits offsets (TxnOffsetCommit v5+) without having named the
//! partition to the coordinator, and the broker receiving the write adds it before appending,
//! as Kafka's `AddPartitionsToTxnManager` does: at the coordinator here, or by an
//! AddPartitionsToTxn v5 request to the broker leading the transactional id's partition of
//! `__transaction_state`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, ApiKey, ProducerId, TopicName,
    TransactionalId,
};
use vltava_wire::nonblocking::Connection;

use super::state::ProducerRef;
use super::{TRANSACTION_STATE_TOPIC, txn_partition_for};
use crate::api::current_leader::current_leader;
use crate::api::str_bytes;
use crate::broker::Broker;
use crate::error::{BrokerError, Result};

/// The batched, broker-to-broker version (KIP-890 part 1).
const ADD_PARTITIONS_VERSION: i16 = 5;
const CLIENT_ID: &str = "vltava-txn-add-partitions";
const TIMEOUT: Duration = Duration::from_secs(10);
const RESPONSE_BYTES_MAX: usize = 1024 * 1024;

/// Adds `partitions` to the producer's transaction at its coordinator, wherever it is.
pub async fn add_partitions(
    broker: &Broker,
    transactional_id: &str,
    producer: ProducerRef,
    partitions: &BTreeSet<(String, i32)>,
) -> Result<()> {
    let coordinator = &broker.transactions;
    match coordinator
        .add_partitions(broker, transactional_id, producer, partitions)
        .await
    {
        Err(BrokerError::NotCoordinator) => {
            add_remotely(broker, transactional_id, producer, partitions).await
        }
        other => other,
    }
}

/// The error a Produce answers when the partition could not be added: Kafka turns the
/// coordinator's passing troubles into NOT_ENOUGH_REPLICAS, which producers retry, and
/// passes the rest (fencing, a wrong state) on.
pub fn produce_error_code(error: &BrokerError) -> i16 {
    let code = error.code();
    let passing = [
        ResponseError::NotCoordinator,
        ResponseError::CoordinatorNotAvailable,
        ResponseError::CoordinatorLoadInProgress,
        ResponseError::ConcurrentTransactions,
        ResponseError::RequestTimedOut,
        ResponseError::UnknownServerError,
    ];
    match passing.iter().any(|e| e.code() == code) {
        true => ResponseError::NotEnoughReplicas.code(),
        false => code,
    }
}

async fn add_remotely(
    broker: &Broker,
    transactional_id: &str,
    producer: ProducerRef,
    partitions: &BTreeSet<(String, i32)>,
) -> Result<()> {
    let topic = broker
        .topics
        .get(TRANSACTION_STATE_TOPIC)
        .ok_or(BrokerError::CoordinatorNotAvailable)?;
    let index = txn_partition_for(transactional_id, topic.partition_count());
    let listener = broker.config.inter_broker_listener_name.as_str();
    let endpoint = current_leader(broker, listener, &topic, index)
        .and_then(|leader| leader.endpoint)
        .ok_or(BrokerError::CoordinatorNotAvailable)?;
    let address = format!("{}:{}", endpoint.host, endpoint.port);
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (name, partition) in partitions {
        by_topic.entry(name).or_default().push(*partition);
    }
    let topics = by_topic
        .into_iter()
        .map(|(name, indexes)| {
            AddPartitionsToTxnTopic::default()
                .with_name(TopicName(str_bytes(name.to_string())))
                .with_partitions(indexes)
        })
        .collect();
    let request = AddPartitionsToTxnRequest::default().with_transactions(vec![
        AddPartitionsToTxnTransaction::default()
            .with_transactional_id(TransactionalId(str_bytes(transactional_id.to_string())))
            .with_producer_id(ProducerId(producer.producer_id))
            .with_producer_epoch(producer.epoch)
            .with_verify_only(false)
            .with_topics(topics),
    ]);
    let exchange = async {
        let mut connection = Connection::connect(&address, CLIENT_ID, RESPONSE_BYTES_MAX).await?;
        connection
            .exchange::<AddPartitionsToTxnResponse>(
                ApiKey::AddPartitionsToTxn,
                ADD_PARTITIONS_VERSION,
                &request,
            )
            .await
    };
    let failed = |code: i16, cause: String| BrokerError::RemoteCoordinator {
        address: address.clone(),
        code,
        cause,
    };
    let unknown = ResponseError::UnknownServerError.code();
    let response = match tokio::time::timeout(TIMEOUT, exchange).await {
        Err(_) => {
            return Err(failed(
                ResponseError::RequestTimedOut.code(),
                "timed out".into(),
            ));
        }
        Ok(Err(error)) => return Err(failed(unknown, error.to_string())),
        Ok(Ok(response)) => response,
    };
    let code = std::iter::once(response.error_code)
        .chain(
            response
                .results_by_transaction
                .iter()
                .flat_map(|t| &t.topic_results)
                .flat_map(|t| &t.results_by_partition)
                .map(|p| p.partition_error_code),
        )
        .find(|&code| code != 0);
    match code {
        None => Ok(()),
        Some(code) => Err(failed(code, "refused".into())),
    }
}
