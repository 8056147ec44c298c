//! LeaveGroup: members leave for good, so the others take over their partitions at once.
//! v0-2 name one member id; v3+ (KIP-345) a batch of members by id or group.instance.id.

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};
use vltava_group::{LeaveRequest, LeavingMember};

use super::{authorized_group_id, instance_id, member_id, str_bytes};
use crate::dispatch::{Reply, RequestContext};
use crate::error::group_error_code;
use vltava_cluster::acl::AclOperation;

pub async fn handle(context: RequestContext, request: LeaveGroupRequest) -> Reply {
    let group = match authorized_group_id(&context, &request.group_id, AclOperation::Read) {
        Ok(group) => group,
        Err(code) => return LeaveGroupResponse::default().with_error_code(code).into(),
    };
    let batched = context.api_version >= 3;
    let members = if batched {
        request
            .members
            .iter()
            .map(|m| LeavingMember {
                member_id: member_id(&m.member_id),
                group_instance_id: instance_id(&m.group_instance_id),
            })
            .collect()
    } else {
        vec![LeavingMember {
            member_id: member_id(&request.member_id),
            group_instance_id: None,
        }]
    };
    let leave = LeaveRequest {
        group_id: group,
        members,
    };
    let results = match context.broker.groups.leave(&leave) {
        Ok(results) => results,
        Err(error) => {
            return LeaveGroupResponse::default()
                .with_error_code(group_error_code(&error))
                .into();
        }
    };
    if !batched {
        // One member: its result is the response's error.
        let code = results
            .first()
            .and_then(|r| r.result.as_ref().err())
            .map_or(0, group_error_code);
        return LeaveGroupResponse::default().with_error_code(code).into();
    }
    let members = results
        .into_iter()
        .map(|r| {
            MemberResponse::default()
                .with_member_id(str_bytes(r.member_id.to_string()))
                .with_group_instance_id(r.group_instance_id.map(|i| str_bytes(i.to_string())))
                .with_error_code(r.result.err().map_or(0, |e| group_error_code(&e)))
        })
        .collect();
    LeaveGroupResponse::default().with_members(members).into()
}
