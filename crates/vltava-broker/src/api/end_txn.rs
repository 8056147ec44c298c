//! EndTxn: commit or abort. Answered once the coordinator has logged PrepareCommit or
//! PrepareAbort, as Kafka does; the markers and the Complete state follow, and until then
//! the producer's next transactional request is CONCURRENT_TRANSACTIONS (it retries).
//!
//! v5 is transaction version 2 (KIP-890 part 2): the coordinator bumps the producer epoch at
//! every end and answers the producer id and epoch the client goes on with.
//!
//! Without WRITE on the transactional id the answer is TRANSACTIONAL_ID_AUTHORIZATION_FAILED
//! (and, from v5, producer id and epoch -1), as in Kafka.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse, ProducerId};
use vltava_cluster::acl::AclOperation;

use crate::dispatch::{Reply, RequestContext};
use crate::txn_coordinator::state::{ProducerRef, TxnVersion};

/// The first EndTxn version of transaction version 2.
const TXN_V2_VERSION: i16 = 5;

pub async fn handle(context: RequestContext, request: EndTxnRequest) -> Reply {
    let broker = context.broker.clone();
    let version = match context.api_version >= TXN_V2_VERSION {
        true => TxnVersion::V2,
        false => TxnVersion::V1,
    };
    let allowed = context
        .authorization()
        .allows_transactional_id(AclOperation::Write, &request.transactional_id.0);
    Reply::Later(Box::pin(async move {
        let producer = ProducerRef {
            producer_id: request.producer_id.0,
            epoch: request.producer_epoch,
        };
        let coordinator = broker.transactions.clone();
        let ended = match allowed {
            true => {
                let id = &request.transactional_id.0;
                let commit = request.committed;
                let ended = coordinator
                    .end(&broker, id, producer, commit, version)
                    .await;
                ended.map_err(|error| error.code())
            }
            false => Err(ResponseError::TransactionalIdAuthorizationFailed.code()),
        };
        // Kafka answers -1/-1 with an error (the fields exist from v5 on).
        let (code, next) = match ended {
            Ok(next) => (0, next),
            Err(code) => (
                code,
                ProducerRef {
                    producer_id: -1,
                    epoch: -1,
                },
            ),
        };
        EndTxnResponse::default()
            .with_error_code(code)
            .with_producer_id(ProducerId(next.producer_id))
            .with_producer_epoch(next.epoch)
            .into()
    }))
}
