//! ListGroups: every group with its state and protocol type, filtered by state (v4+) and by
//! type (v5+: "classic" or "consumer", case-insensitive as in Kafka).

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};

use super::str_bytes;
use crate::dispatch::{Reply, RequestContext};
use crate::error::group_error_code;
use vltava_cluster::acl::AclOperation;

pub async fn handle(context: RequestContext, request: ListGroupsRequest) -> Reply {
    let states: Vec<String> = request
        .states_filter
        .iter()
        .map(|s| s.to_string())
        .collect();
    // Kafka lists every group to a principal with DESCRIBE on the cluster, else only the
    // groups it may DESCRIBE.
    let authorization = context.authorization();
    let all = authorization.allows_cluster(AclOperation::Describe);
    match context.broker.groups.list(&states) {
        Ok(listed) => {
            let groups = listed
                .into_iter()
                .filter(|l| {
                    all || authorization
                        .allows_group(AclOperation::Describe, &l.group_id.to_string())
                })
                .filter(|l| {
                    request.types_filter.is_empty()
                        || request
                            .types_filter
                            .iter()
                            .any(|t| t.eq_ignore_ascii_case(l.group_type))
                })
                .map(|l| {
                    ListedGroup::default()
                        .with_group_id(GroupId(str_bytes(l.group_id.to_string())))
                        .with_protocol_type(str_bytes(l.protocol_type))
                        .with_group_state(str_bytes(l.state))
                        .with_group_type(str_bytes(l.group_type))
                })
                .collect();
            ListGroupsResponse::default().with_groups(groups).into()
        }
        Err(error) => ListGroupsResponse::default()
            .with_error_code(group_error_code(&error))
            .into(),
    }
}
