//! AddOffsetsToTxn: a transactional producer is about to commit a group's offsets in its
//! transaction (`sendOffsetsToTransaction`), so the group's `__consumer_offsets` partition
//! joins the transaction and gets its marker (which makes the offsets take effect).
//! Kafka's checks first: WRITE on the transactional id (else
//! TRANSACTIONAL_ID_AUTHORIZATION_FAILED), then READ on the group (else
//! GROUP_AUTHORIZATION_FAILED).

use std::collections::BTreeSet;

use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};
use vltava_cluster::acl::AclOperation;
use vltava_cluster::acl::ResourceType::{Group, TransactionalId};
use vltava_group::{OFFSETS_TOPIC, offsets_partition_for};

use super::group_id;
use crate::dispatch::{Reply, RequestContext};
use crate::txn_coordinator::state::ProducerRef;

pub async fn handle(context: RequestContext, request: AddOffsetsToTxnRequest) -> Reply {
    let broker = context.broker.clone();
    let authorization = context.authorization();
    let id = &request.transactional_id.0;
    let allowed = authorization
        .check(AclOperation::Write, TransactionalId, id)
        .and_then(|()| authorization.check(AclOperation::Read, Group, &request.group_id.0));
    if let Err(refused) = allowed {
        return AddOffsetsToTxnResponse::default()
            .with_error_code(refused.code())
            .into();
    }
    Reply::Later(Box::pin(async move {
        let group = match group_id(&request.group_id) {
            Ok(group) => group,
            Err(code) => {
                return AddOffsetsToTxnResponse::default()
                    .with_error_code(code)
                    .into();
            }
        };
        let topic = match broker.groups.offsets_topic(&broker).await {
            Ok(topic) => topic,
            Err(error) => {
                return AddOffsetsToTxnResponse::default()
                    .with_error_code(error.code())
                    .into();
            }
        };
        let partition = offsets_partition_for(&group, topic.partition_count());
        let partitions = BTreeSet::from([(OFFSETS_TOPIC.to_string(), partition)]);
        let producer = ProducerRef {
            producer_id: request.producer_id.0,
            epoch: request.producer_epoch,
        };
        let added = broker
            .transactions
            .add_partitions(&broker, &request.transactional_id.0, producer, &partitions)
            .await;
        AddOffsetsToTxnResponse::default()
            .with_error_code(added.err().map_or(0, |e| e.code()))
            .into()
    }))
}
