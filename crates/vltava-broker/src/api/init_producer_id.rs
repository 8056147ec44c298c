//! InitProducerId for idempotent producers: a fresh producer id at epoch 0, as Kafka gives every
//! non-transactional producer. Transactions are not served yet: a transactional id gets
//! COORDINATOR_NOT_AVAILABLE, what a broker without a transaction coordinator answers.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use crate::dispatch::{Reply, RequestContext};

pub async fn handle(context: RequestContext, request: InitProducerIdRequest) -> Reply {
    if request.transactional_id.is_some() {
        return InitProducerIdResponse::default()
            .with_error_code(ResponseError::CoordinatorNotAvailable.code())
            .into();
    }
    let broker = &context.broker;
    match broker.producer_ids.next(&broker.cluster).await {
        Ok(id) => InitProducerIdResponse::default()
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0)
            .into(),
        Err(error) => InitProducerIdResponse::default()
            .with_error_code(error.code())
            .into(),
    }
}
