//! JoinGroup: a member (re)joins; the answer waits until the rebalance forms the next
//! generation. KIP-394: from v4 a member without an id is told its id and rejoins with it.

use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};
use vltava_group::{GroupError, JoinRequest, Protocol};

use super::{authorized_group_id, instance_id, member_id, str_bytes};
use crate::dispatch::{Reply, RequestContext};
use crate::error::group_error_code;
use vltava_cluster::acl::AclOperation;

pub async fn handle(context: RequestContext, request: JoinGroupRequest) -> Reply {
    let version = context.api_version;
    let group = match authorized_group_id(&context, &request.group_id, AclOperation::Read) {
        Ok(group) => group,
        Err(code) => return error_response(version, code, &request.member_id.to_string()).into(),
    };
    let join = JoinRequest {
        group_id: group,
        member_id: member_id(&request.member_id),
        group_instance_id: instance_id(&request.group_instance_id),
        client_id: context.client_id(),
        client_host: format!("/{}", context.peer.ip()),
        session_timeout_ms: i64::from(request.session_timeout_ms),
        rebalance_timeout_ms: i64::from(if version >= 1 {
            request.rebalance_timeout_ms
        } else {
            request.session_timeout_ms
        }),
        protocol_type: request.protocol_type.to_string(),
        protocols: request
            .protocols
            .iter()
            .map(|p| Protocol::new(p.name.to_string(), p.metadata.clone()))
            .collect(),
        require_known_member_id: version >= 4,
    };
    let broker = context.broker.clone();
    Reply::Later(Box::pin(async move {
        match broker.groups.join(join).await {
            Ok(result) => JoinGroupResponse::default()
                .with_generation_id(result.generation_id.0)
                .with_protocol_type(result.protocol_type.map(str_bytes))
                .with_protocol_name(protocol_name(version, result.protocol_name))
                .with_leader(str_bytes(result.leader_id.to_string()))
                // KIP-814 exists from v9; an older static leader that rejoins gets the members
                // and assigns again, as with Kafka before KIP-814 (its SyncGroup in a Stable
                // group gets the current assignment back).
                .with_skip_assignment(result.skip_assignment && version >= 9)
                .with_member_id(str_bytes(result.member_id.to_string()))
                .with_members(
                    result
                        .members
                        .into_iter()
                        .map(|m| {
                            JoinGroupResponseMember::default()
                                .with_member_id(str_bytes(m.member_id.to_string()))
                                .with_group_instance_id(
                                    m.group_instance_id.map(|i| str_bytes(i.to_string())),
                                )
                                .with_metadata(m.metadata)
                        })
                        .collect(),
                )
                .into(),
            // KIP-394: the error carries the id the member must rejoin with.
            Err(GroupError::MemberIdRequired(member_id)) => error_response(
                version,
                group_error_code(&GroupError::MemberIdRequired(member_id.clone())),
                member_id.as_str(),
            )
            .into(),
            Err(error) => error_response(
                version,
                group_error_code(&error),
                &request.member_id.to_string(),
            )
            .into(),
        }
    }))
}

/// Before v7 the protocol name is a non-nullable string.
fn protocol_name(version: i16, name: Option<String>) -> Option<kafka_protocol::protocol::StrBytes> {
    match name {
        Some(name) => Some(str_bytes(name)),
        None if version < 7 => Some(str_bytes("")),
        None => None,
    }
}

fn error_response(version: i16, code: i16, member_id: &str) -> JoinGroupResponse {
    JoinGroupResponse::default()
        .with_error_code(code)
        .with_generation_id(-1)
        .with_protocol_name(protocol_name(version, None))
        .with_member_id(str_bytes(member_id))
}
