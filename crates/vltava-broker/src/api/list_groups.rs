//! ListGroups: every group with its state and protocol type, filtered by state (v4+) and by
//! type (v5+; every vltava group is "classic" so far).

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};
use vltava_group::GroupState;

use super::str_bytes;
use crate::dispatch::{Reply, RequestContext};
use crate::error::group_error_code;

const GROUP_TYPE_CLASSIC: &str = "classic";
const STATES: [GroupState; 4] = [
    GroupState::Empty,
    GroupState::PreparingRebalance,
    GroupState::CompletingRebalance,
    GroupState::Stable,
];

pub async fn handle(context: RequestContext, request: ListGroupsRequest) -> Reply {
    let types_match = request.types_filter.is_empty()
        || request
            .types_filter
            .iter()
            .any(|t| t.eq_ignore_ascii_case(GROUP_TYPE_CLASSIC));
    if !types_match {
        return ListGroupsResponse::default().into();
    }
    // Kafka parses state names case-insensitively; a name it does not know matches nothing.
    let states: Vec<GroupState> = STATES
        .into_iter()
        .filter(|s| {
            request
                .states_filter
                .iter()
                .any(|f| f.eq_ignore_ascii_case(s.as_str()))
        })
        .collect();
    if !request.states_filter.is_empty() && states.is_empty() {
        return ListGroupsResponse::default().into();
    }
    match context.broker.groups.list(&states) {
        Ok(listings) => {
            let groups = listings
                .into_iter()
                .map(|l| {
                    ListedGroup::default()
                        .with_group_id(GroupId(str_bytes(l.group_id.to_string())))
                        .with_protocol_type(str_bytes(l.protocol_type))
                        .with_group_state(str_bytes(l.state.as_str()))
                        .with_group_type(str_bytes(GROUP_TYPE_CLASSIC))
                })
                .collect();
            ListGroupsResponse::default().with_groups(groups).into()
        }
        Err(error) => ListGroupsResponse::default()
            .with_error_code(group_error_code(&error))
            .into(),
    }
}
