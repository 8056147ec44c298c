//! ListTransactions (KIP-664): the transactional ids this broker coordinates, filtered by
//! state names, producer ids and (v1, KIP-994) how long they have been running. Unknown state
//! names come back in `unknown_state_filters`, as Kafka answers. v2's regular-expression
//! filter (KIP-1152) is not served. Only the ids the principal may DESCRIBE are listed, as in
//! Kafka.

use kafka_protocol::messages::list_transactions_response::TransactionState;
use kafka_protocol::messages::{
    ListTransactionsRequest, ListTransactionsResponse, TransactionalId,
};

use vltava_cluster::acl::AclOperation;

use super::str_bytes;
use crate::broker::now_ms;
use crate::dispatch::{Reply, RequestContext};
use crate::txn_coordinator::state::TxnState;

/// Every state name Kafka reports (`TransactionState.stateName`).
const STATES: [TxnState; 8] = [
    TxnState::Empty,
    TxnState::Ongoing,
    TxnState::PrepareCommit,
    TxnState::PrepareAbort,
    TxnState::CompleteCommit,
    TxnState::CompleteAbort,
    TxnState::Dead,
    TxnState::PrepareEpochFence,
];

pub async fn handle(context: RequestContext, request: ListTransactionsRequest) -> Reply {
    let (known, unknown): (Vec<_>, Vec<_>) = request
        .state_filters
        .iter()
        .partition(|name| STATES.iter().any(|s| s.name() == name.as_str()));
    let now = now_ms();
    let coordinator = &context.broker.transactions;
    let authorization = context.authorization();
    let states = coordinator
        .transactions()
        .into_iter()
        .filter(|txn| coordinator.coordinates(&txn.transactional_id).is_ok())
        // Only the transactional ids the principal may describe, as in Kafka.
        .filter(|txn| {
            authorization.allows_transactional_id(AclOperation::Describe, &txn.transactional_id)
        })
        .filter(|txn| known.is_empty() || known.iter().any(|k| k.as_str() == txn.state.name()))
        .filter(|txn| {
            request.producer_id_filters.is_empty()
                || request
                    .producer_id_filters
                    .iter()
                    .any(|p| p.0 == txn.producer_id)
        })
        // Started at least the duration ago (Kafka compares the start timestamp alone).
        .filter(|txn| {
            request.duration_filter < 0
                || now.saturating_sub(txn.start_ms) >= request.duration_filter
        })
        .map(|txn| {
            TransactionState::default()
                .with_transactional_id(TransactionalId(str_bytes(txn.transactional_id)))
                .with_producer_id(kafka_protocol::messages::ProducerId(txn.producer_id))
                .with_transaction_state(str_bytes(txn.state.name()))
        })
        .collect();
    ListTransactionsResponse::default()
        .with_unknown_state_filters(unknown.into_iter().cloned().collect())
        .with_transaction_states(states)
        .into()
}
