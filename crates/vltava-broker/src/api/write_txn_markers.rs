//! WriteTxnMarkers: a transaction coordinator asks this broker, leader of some of the
//! transaction's partitions, to append the COMMIT or ABORT marker to each of them. Answered
//! per partition once the markers are durable. The coordinator of a single node calls the
//! same code for its own partitions without a request. The sender needs CLUSTER_ACTION (or
//! ALTER) on the cluster, else every partition is CLUSTER_AUTHORIZATION_FAILED, as in Kafka: in
//! a cluster with ACLs the brokers' principal must be a super user or granted it.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kafka_protocol::messages::{WriteTxnMarkersRequest, WriteTxnMarkersResponse};
use vltava_cluster::acl::AclOperation;

use crate::control_batch::ControlType;
use crate::dispatch::{Reply, RequestContext};
use crate::txn_coordinator::markers::{Marker, write_marker_here};

pub async fn handle(context: RequestContext, request: WriteTxnMarkersRequest) -> Reply {
    let broker = context.broker.clone();
    // Kafka takes ALTER on the cluster as well as CLUSTER_ACTION (the coordinator's brokers).
    let authorization = context.authorization();
    let allowed = authorization.allows_cluster(AclOperation::Alter)
        || authorization.allows_cluster(AclOperation::ClusterAction);
    Reply::Later(Box::pin(async move {
        let mut results = Vec::with_capacity(request.markers.len());
        for txn in &request.markers {
            let marker = Marker {
                producer_id: txn.producer_id.0,
                producer_epoch: txn.producer_epoch,
                coordinator_epoch: txn.coordinator_epoch,
                kind: ControlType::from_commit(txn.transaction_result),
            };
            let mut topics = Vec::with_capacity(txn.topics.len());
            for topic in &txn.topics {
                let mut partitions = Vec::with_capacity(topic.partition_indexes.len());
                for &index in &topic.partition_indexes {
                    let code = match allowed {
                        true => {
                            let name = &topic.name.0;
                            let written = write_marker_here(&broker, name, index, marker).await;
                            written.err().map_or(0, |e| e.code())
                        }
                        false => ResponseError::ClusterAuthorizationFailed.code(),
                    };
                    partitions.push(
                        WritableTxnMarkerPartitionResult::default()
                            .with_partition_index(index)
                            .with_error_code(code),
                    );
                }
                topics.push(
                    WritableTxnMarkerTopicResult::default()
                        .with_name(topic.name.clone())
                        .with_partitions(partitions),
                );
            }
            results.push(
                WritableTxnMarkerResult::default()
                    .with_producer_id(txn.producer_id)
                    .with_topics(topics),
            );
        }
        WriteTxnMarkersResponse::default()
            .with_markers(results)
            .into()
    }))
}
