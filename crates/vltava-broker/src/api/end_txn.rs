//! EndTxn: commit or abort. Answered once the coordinator has logged PrepareCommit or
//! PrepareAbort, as Kafka does; the markers and the Complete state follow, and until then
//! the producer's next transactional request is CONCURRENT_TRANSACTIONS (it retries).

use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse};

use crate::dispatch::{Reply, RequestContext};
use crate::txn_coordinator::state::ProducerRef;

pub async fn handle(context: RequestContext, request: EndTxnRequest) -> Reply {
    let broker = context.broker.clone();
    Reply::Later(Box::pin(async move {
        let producer = ProducerRef {
            producer_id: request.producer_id.0,
            epoch: request.producer_epoch,
        };
        let coordinator = broker.transactions.clone();
        let ended = coordinator
            .end(
                &broker,
                &request.transactional_id.0,
                producer,
                request.committed,
            )
            .await;
        EndTxnResponse::default()
            .with_error_code(ended.err().map_or(0, |e| e.code()))
            .into()
    }))
}
