//! DescribeGroups: state, protocol and members. The protocol and the members' metadata and
//! assignments are shown for a Stable group only, as Kafka does. From v6 (KIP-1043) an
//! unknown group answers GROUP_ID_NOT_FOUND. From v3 the group's authorized operations are
//! reported when asked (for the groups answered without an error, as Kafka does).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};
use vltava_group::{GroupId, GroupState};

use super::str_bytes;
use crate::dispatch::{Reply, RequestContext};
use crate::error::group_error_code;
use vltava_cluster::acl::{AclOperation, ResourceType};

pub async fn handle(context: RequestContext, request: DescribeGroupsRequest) -> Reply {
    let authorization = context.authorization();
    let groups = request
        .groups
        .iter()
        .map(|name| {
            let described = DescribedGroup::default().with_group_id(name.clone());
            if !authorization.allows_group(AclOperation::Describe, name) {
                let code = ResponseError::GroupAuthorizationFailed.code();
                return described.with_error_code(code);
            }
            match context
                .broker
                .groups
                .describe(&GroupId::new(name.0.to_string()))
            {
                Err(error) => described.with_error_code(group_error_code(&error)),
                Ok(group) => {
                    let unknown = group.state == GroupState::Dead && context.api_version >= 6;
                    let members = group
                        .members
                        .into_iter()
                        .map(|m| {
                            DescribedGroupMember::default()
                                .with_member_id(str_bytes(m.member_id.to_string()))
                                .with_group_instance_id(
                                    m.group_instance_id.map(|i| str_bytes(i.to_string())),
                                )
                                .with_client_id(str_bytes(m.client_id))
                                .with_client_host(str_bytes(m.client_host))
                                .with_member_metadata(m.metadata)
                                .with_member_assignment(m.assignment)
                        })
                        .collect();
                    let described = described
                        .with_group_state(str_bytes(group.state.as_str()))
                        .with_protocol_type(str_bytes(group.protocol_type))
                        .with_protocol_data(str_bytes(group.protocol))
                        .with_members(members);
                    if unknown {
                        let error = ResponseError::GroupIdNotFound;
                        described
                            .with_error_code(error.code())
                            .with_error_message(Some(str_bytes(format!(
                                "Group {} not found.",
                                name.0
                            ))))
                    } else {
                        described.with_authorized_operations(
                            authorization.authorized_operations_if(
                                request.include_authorized_operations,
                                ResourceType::Group,
                                name,
                            ),
                        )
                    }
                }
            }
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups).into()
}
