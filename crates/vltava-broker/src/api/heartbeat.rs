//! Heartbeat: keeps a member's session alive; REBALANCE_IN_PROGRESS tells it to rejoin.

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};
use vltava_group::GenerationId;

use super::{authorized_group_id, instance_id, member_id};
use crate::dispatch::{Reply, RequestContext};
use crate::error::group_error_code;
use vltava_cluster::acl::AclOperation;

pub async fn handle(context: RequestContext, request: HeartbeatRequest) -> Reply {
    let group = match authorized_group_id(&context, &request.group_id, AclOperation::Read) {
        Ok(group) => group,
        Err(code) => return HeartbeatResponse::default().with_error_code(code).into(),
    };
    let heartbeat = vltava_group::HeartbeatRequest {
        group_id: group,
        member_id: member_id(&request.member_id),
        group_instance_id: instance_id(&request.group_instance_id),
        generation_id: GenerationId(request.generation_id),
    };
    let code = match context.broker.groups.heartbeat(&heartbeat) {
        Ok(()) => 0,
        Err(error) => group_error_code(&error),
    };
    HeartbeatResponse::default().with_error_code(code).into()
}
