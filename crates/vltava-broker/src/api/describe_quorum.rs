//! DescribeQuorum (KIP-595, v2 KIP-853): the controller quorum's leader, epoch, high
//! watermark and each voter's progress, as `kafka-metadata-quorum describe` prints them. Any
//! broker answers: the status comes from the active controller (this node's own voter for a
//! quorum of one).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_quorum_response::{
    Listener, Node, PartitionData, ReplicaState, TopicData,
};
use kafka_protocol::messages::{
    BrokerId, DescribeQuorumRequest, DescribeQuorumResponse, TopicName,
};
use vltava_cluster::acl::AclOperation;
use vltava_cluster::quorum::status::{QuorumStatus, ReplicaProgress};

use super::str_bytes;
use crate::dispatch::{Reply, RequestContext};

/// The metadata log as Kafka names it: one partition of an internal topic.
const METADATA_TOPIC: &str = "__cluster_metadata";
const CONTROLLER_LISTENER: &str = "CONTROLLER";

pub async fn handle(context: RequestContext, request: DescribeQuorumRequest) -> Reply {
    // Kafka checks DESCRIBE on the cluster first and answers a refusal at the top level.
    if let Err(refused) = context
        .authorization()
        .check_cluster(AclOperation::Describe)
    {
        return DescribeQuorumResponse::default()
            .with_error_code(refused.code())
            .with_error_message(Some(str_bytes(refused.to_string())))
            .into();
    }
    // Kafka answers INVALID_REQUEST unless asked for exactly __cluster_metadata-0.
    let asks_for_metadata_log = matches!(request.topics.as_slice(), [topic]
        if topic.topic_name.0.as_str() == METADATA_TOPIC
            && matches!(topic.partitions.as_slice(), [p] if p.partition_index == 0));
    if !asks_for_metadata_log {
        return DescribeQuorumResponse::default()
            .with_error_code(ResponseError::InvalidRequest.code())
            .into();
    }
    let partition = PartitionData::default().with_partition_index(0);
    let version = context.api_version;
    let (partition, nodes) = match context.broker.cluster.describe_quorum().await {
        Ok(status) => {
            // Fields a version lacks stay at their defaults, or the response cannot be encoded.
            let nodes = if version >= 2 {
                nodes(&status)
            } else {
                Vec::new()
            };
            (described(partition, status, version), nodes)
        }
        Err(error) => (
            partition
                .with_error_code(error.code())
                .with_error_message(Some(str_bytes(error.message()))),
            Vec::new(),
        ),
    };
    DescribeQuorumResponse::default()
        .with_topics(vec![
            TopicData::default()
                .with_topic_name(TopicName(str_bytes(METADATA_TOPIC)))
                .with_partitions(vec![partition]),
        ])
        .with_nodes(nodes)
        .into()
}

fn described(partition: PartitionData, status: QuorumStatus, version: i16) -> PartitionData {
    let replica = |progress: &ReplicaProgress| replica(progress, version);
    partition
        .with_leader_id(broker_id(status.leader_id))
        .with_leader_epoch(i32::try_from(status.leader_epoch).unwrap_or(i32::MAX))
        .with_high_watermark(status.high_watermark)
        .with_current_voters(status.voters.iter().map(replica).collect())
        .with_observers(status.observers.iter().map(replica).collect())
}

/// The timestamps are v1+.
fn replica(progress: &ReplicaProgress, version: i16) -> ReplicaState {
    let state = ReplicaState::default()
        .with_replica_id(broker_id(progress.node_id))
        .with_log_end_offset(progress.log_end_offset);
    if version < 1 {
        return state;
    }
    state
        .with_last_fetch_timestamp(progress.last_fetch_timestamp)
        .with_last_caught_up_timestamp(progress.last_caught_up_timestamp)
}

/// v2: the voters' controller listeners. A quorum of one has none (nobody dials it).
fn nodes(status: &QuorumStatus) -> Vec<Node> {
    status
        .voter_addresses
        .iter()
        .filter_map(|(id, address)| {
            let (host, port) = address.rsplit_once(':')?;
            let port = port.parse::<u16>().ok()?;
            Some(
                Node::default()
                    .with_node_id(broker_id(*id))
                    .with_listeners(vec![
                        Listener::default()
                            .with_name(str_bytes(CONTROLLER_LISTENER))
                            .with_host(str_bytes(host))
                            .with_port(port),
                    ]),
            )
        })
        .collect()
}

fn broker_id(id: u64) -> BrokerId {
    BrokerId(i32::try_from(id).unwrap_or(-1))
}
