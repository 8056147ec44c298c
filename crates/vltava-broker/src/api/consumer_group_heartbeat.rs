//! ConsumerGroupHeartbeat (KIP-848): the new consumer protocol. The broker assigns; a member
//! joins with epoch 0, heartbeats with its epoch and what it owns, leaves with -1 (or -2 for
//! a static member that comes back). v1 (KIP-1082): the client names its own member id.

use kafka_protocol::messages::consumer_group_heartbeat_response::{Assignment, TopicPartitions};
use kafka_protocol::messages::{ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse};
use vltava_group::ConsumerHeartbeat;

use super::{authorized_group_id, instance_id, member_id, str_bytes};
use crate::dispatch::{Reply, RequestContext};
use crate::error::group_error_code;
use vltava_cluster::acl::AclOperation;

pub async fn handle(context: RequestContext, request: ConsumerGroupHeartbeatRequest) -> Reply {
    let group = match authorized_group_id(&context, &request.group_id, AclOperation::Read) {
        Ok(group) => group,
        Err(code) => {
            return ConsumerGroupHeartbeatResponse::default()
                .with_error_code(code)
                .into();
        }
    };
    tracing::debug!(?request, "ConsumerGroupHeartbeat");
    if request
        .subscribed_topic_regex
        .as_ref()
        .is_some_and(|r| !r.is_empty())
    {
        // Regex subscriptions are not served yet: refuse clearly rather than assign nothing.
        let error = kafka_protocol::error::ResponseError::InvalidRequest;
        return ConsumerGroupHeartbeatResponse::default()
            .with_error_code(error.code())
            .with_error_message(Some(str_bytes(
                "vltava does not serve regex subscriptions yet",
            )))
            .into();
    }
    let heartbeat = ConsumerHeartbeat {
        group_id: group,
        member_id: member_id(&request.member_id),
        member_epoch: request.member_epoch,
        instance_id: instance_id(&request.instance_id),
        rack_id: request.rack_id.as_ref().map(|r| r.to_string()),
        rebalance_timeout_ms: request.rebalance_timeout_ms,
        subscribed_topic_names: request
            .subscribed_topic_names
            .as_ref()
            .map(|names| names.iter().map(|n| n.0.to_string()).collect()),
        server_assignor: request.server_assignor.as_ref().map(|a| a.to_string()),
        owned: request.topic_partitions.as_ref().map(|owned| {
            owned
                .iter()
                .map(|t| (t.topic_id, t.partitions.iter().copied().collect()))
                .collect()
        }),
        client_id: context.client_id(),
        client_host: format!("/{}", context.peer.ip()),
    };
    let broker = &context.broker;
    match broker.groups.consumer_heartbeat(&heartbeat, &broker.topics) {
        Ok(result) => ConsumerGroupHeartbeatResponse::default()
            .with_member_id(Some(str_bytes(result.member_id.to_string())))
            .with_member_epoch(result.member_epoch)
            .with_heartbeat_interval_ms(result.heartbeat_interval_ms)
            .with_assignment(result.assignment.map(|assignment| {
                Assignment::default().with_topic_partitions(
                    assignment
                        .into_iter()
                        .map(|(topic_id, partitions)| {
                            TopicPartitions::default()
                                .with_topic_id(topic_id)
                                .with_partitions(partitions.into_iter().collect())
                        })
                        .collect(),
                )
            }))
            .into(),
        Err(error) => ConsumerGroupHeartbeatResponse::default()
            .with_error_code(group_error_code(&error))
            .with_error_message(Some(str_bytes(error.to_string())))
            .into(),
    }
}
