//! ConsumerGroupDescribe (KIP-848): epochs, assignor, and every member's current and target
//! assignment. A classic or unknown group answers GROUP_ID_NOT_FOUND, so admin clients fall
//! back to DescribeGroups. The group's authorized operations are reported when asked.

use std::collections::BTreeMap;

use kafka_protocol::messages::consumer_group_describe_response::{
    Assignment, DescribedGroup, Member, TopicPartitions,
};
use kafka_protocol::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, TopicName,
};
use uuid::Uuid;
use vltava_group::GroupId;

use super::str_bytes;
use crate::dispatch::{Reply, RequestContext};
use crate::error::group_error_code;
use vltava_cluster::acl::{AclOperation, ResourceType};

/// KIP-1099: the member speaks the consumer protocol.
const MEMBER_TYPE_CONSUMER: i8 = 1;

pub async fn handle(context: RequestContext, request: ConsumerGroupDescribeRequest) -> Reply {
    let authorization = context.authorization();
    let groups = request
        .group_ids
        .iter()
        .map(|name| {
            let described = DescribedGroup::default().with_group_id(name.clone());
            if !authorization.allows_group(AclOperation::Describe, name) {
                let code = kafka_protocol::error::ResponseError::GroupAuthorizationFailed.code();
                return described.with_error_code(code);
            }
            match context
                .broker
                .groups
                .consumer_describe(&GroupId::new(name.0.to_string()))
            {
                Err(error) => {
                    // Kafka's wording, which admin clients show after their fallback: a classic
                    // group "is not a consumer group", a missing one is "not found".
                    let classic = context
                        .broker
                        .groups
                        .describe(&GroupId::new(name.0.to_string()))
                        .is_ok_and(|d| d.state != vltava_group::GroupState::Dead);
                    let message = if classic {
                        format!("Group {} is not a consumer group.", name.0)
                    } else {
                        format!("Group {} not found.", name.0)
                    };
                    described
                        .with_error_code(group_error_code(&error))
                        .with_error_message(Some(str_bytes(message)))
                }
                Ok(group) => {
                    let names = &group.topic_names;
                    let members = group
                        .members
                        .into_iter()
                        .map(|m| {
                            Member::default()
                                .with_member_id(str_bytes(m.member_id.to_string()))
                                .with_instance_id(m.instance_id.map(|i| str_bytes(i.to_string())))
                                .with_rack_id(m.rack_id.map(str_bytes))
                                .with_member_epoch(m.member_epoch)
                                .with_client_id(str_bytes(m.client_id))
                                .with_client_host(str_bytes(m.client_host))
                                .with_subscribed_topic_names(
                                    m.subscribed_topic_names
                                        .into_iter()
                                        .map(|n| TopicName(str_bytes(n)))
                                        .collect(),
                                )
                                .with_assignment(assignment(&m.assignment, names))
                                .with_target_assignment(assignment(&m.target_assignment, names))
                                .with_member_type(MEMBER_TYPE_CONSUMER)
                        })
                        .collect();
                    described
                        .with_group_state(str_bytes(group.state))
                        .with_group_epoch(group.group_epoch)
                        .with_assignment_epoch(group.assignment_epoch)
                        .with_assignor_name(str_bytes(group.assignor))
                        .with_members(members)
                        .with_authorized_operations(authorization.authorized_operations_if(
                            request.include_authorized_operations,
                            ResourceType::Group,
                            name,
                        ))
                }
            }
        })
        .collect();
    ConsumerGroupDescribeResponse::default()
        .with_groups(groups)
        .into()
}

fn assignment(partitions: &vltava_group::Assignment, names: &BTreeMap<Uuid, String>) -> Assignment {
    Assignment::default().with_topic_partitions(
        partitions
            .iter()
            .map(|(topic_id, partitions)| {
                TopicPartitions::default()
                    .with_topic_id(*topic_id)
                    .with_topic_name(TopicName(str_bytes(
                        names.get(topic_id).cloned().unwrap_or_default(),
                    )))
                    .with_partitions(partitions.iter().copied().collect())
            })
            .collect(),
    )
}
