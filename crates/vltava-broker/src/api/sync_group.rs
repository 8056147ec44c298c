//! SyncGroup: the leader hands in every member's assignment; followers wait for theirs.

use bytes::Bytes;
use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};
use vltava_group::{GenerationId, SyncRequest};

use super::{authorized_group_id, instance_id, member_id, str_bytes};
use crate::dispatch::{Reply, RequestContext};
use crate::error::group_error_code;
use vltava_cluster::acl::AclOperation;

pub async fn handle(context: RequestContext, request: SyncGroupRequest) -> Reply {
    let group = match authorized_group_id(&context, &request.group_id, AclOperation::Read) {
        Ok(group) => group,
        Err(code) => return SyncGroupResponse::default().with_error_code(code).into(),
    };
    let sync = SyncRequest {
        group_id: group,
        member_id: member_id(&request.member_id),
        group_instance_id: instance_id(&request.group_instance_id),
        generation_id: GenerationId(request.generation_id),
        protocol_type: request.protocol_type.as_ref().map(|t| t.to_string()),
        protocol_name: request.protocol_name.as_ref().map(|n| n.to_string()),
        assignments: request
            .assignments
            .iter()
            .map(|a| (member_id(&a.member_id), a.assignment.clone()))
            .collect(),
    };
    let broker = context.broker.clone();
    Reply::Later(Box::pin(async move {
        match broker.groups.sync(sync).await {
            Ok(result) => SyncGroupResponse::default()
                .with_protocol_type(result.protocol_type.map(str_bytes))
                .with_protocol_name(result.protocol_name.map(str_bytes))
                .with_assignment(result.assignment)
                .into(),
            Err(error) => SyncGroupResponse::default()
                .with_error_code(group_error_code(&error))
                .with_assignment(Bytes::new())
                .into(),
        }
    }))
}
