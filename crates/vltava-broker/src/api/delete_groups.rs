//! DeleteGroups: removes empty groups and their committed offsets; NON_EMPTY_GROUP while
//! members remain, GROUP_ID_NOT_FOUND for a group that does not exist.

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};
use vltava_group::GroupId;

use crate::dispatch::{Reply, RequestContext};
use crate::error::coordinator_write_error_code;
use vltava_cluster::acl::AclOperation;

pub async fn handle(context: RequestContext, request: DeleteGroupsRequest) -> Reply {
    let broker = context.broker.clone();
    let authorization = context.authorization();
    Reply::Later(Box::pin(async move {
        let mut results = Vec::with_capacity(request.groups_names.len());
        for name in request.groups_names {
            // Kafka: DELETE on the group.
            let code = if authorization.allows_group(AclOperation::Delete, &name) {
                broker
                    .groups
                    .delete_group(&broker, &GroupId::new(name.0.to_string()))
                    .await
                    .err()
                    .map_or(0, |e| coordinator_write_error_code(&e))
            } else {
                kafka_protocol::error::ResponseError::GroupAuthorizationFailed.code()
            };
            results.push(
                DeletableGroupResult::default()
                    .with_group_id(name)
                    .with_error_code(code),
            );
        }
        DeleteGroupsResponse::default().with_results(results).into()
    }))
}
