//! InitProducerId. Without a transactional id: a fresh producer id at epoch 0, as Kafka gives
//! every idempotent producer. With one: the transaction coordinator's answer, the id's
//! producer id with its epoch bumped, which fences every older instance (KIP-98), after
//! aborting a transaction such an instance left open. v3+ (KIP-360) names the producer id
//! and epoch the client had, so that it can recover from an abortable error.

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use crate::dispatch::{Reply, RequestContext};
use crate::txn_coordinator::state::ProducerRef;
use kafka_protocol::error::ResponseError;
use vltava_cluster::acl::{AclOperation, ResourceType};

/// Kafka's "no producer id / epoch" in requests.
const NO_PRODUCER_ID: i64 = -1;

pub async fn handle(context: RequestContext, request: InitProducerIdRequest) -> Reply {
    let broker = context.broker.clone();
    // Kafka takes an empty transactional id for none.
    let transactional_id = request.transactional_id.clone().filter(|id| !id.is_empty());
    let authorization = context.authorization();
    let Some(transactional_id) = transactional_id else {
        // KIP-679: IDEMPOTENT_WRITE on the cluster, or WRITE on any topic.
        if !(authorization.allows_cluster(AclOperation::IdempotentWrite)
            || authorization.allows_any(AclOperation::Write, ResourceType::Topic))
        {
            return failed(ResponseError::ClusterAuthorizationFailed.code()).into();
        }
        return match broker.producer_ids.next(&broker.cluster).await {
            Ok(id) => answer(id, 0).into(),
            Err(error) => failed(error.code()).into(),
        };
    };
    if !authorization.allows_transactional_id(AclOperation::Write, &transactional_id) {
        return failed(ResponseError::TransactionalIdAuthorizationFailed.code()).into();
    }
    let expected = (request.producer_id.0 != NO_PRODUCER_ID).then_some(ProducerRef {
        producer_id: request.producer_id.0,
        epoch: request.producer_epoch,
    });
    Reply::Later(Box::pin(async move {
        let coordinator = broker.transactions.clone();
        let result = coordinator
            .init_producer_id(
                &broker,
                &transactional_id,
                request.transaction_timeout_ms,
                expected,
            )
            .await;
        match result {
            Ok((producer_id, epoch)) => answer(producer_id, epoch).into(),
            Err(error) => failed(error.code()).into(),
        }
    }))
}

fn answer(producer_id: i64, epoch: i16) -> InitProducerIdResponse {
    InitProducerIdResponse::default()
        .with_producer_id(ProducerId(producer_id))
        .with_producer_epoch(epoch)
}

fn failed(code: i16) -> InitProducerIdResponse {
    InitProducerIdResponse::default()
        .with_error_code(code)
        .with_producer_id(ProducerId(NO_PRODUCER_ID))
        .with_producer_epoch(-1)
}
