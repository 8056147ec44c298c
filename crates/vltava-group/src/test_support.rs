//! Test helpers: a coordinator with a fake clock (plain `now_ms` values), requests with
//! defaults, and short ways to reach the states the tests start from.

use bytes::Bytes;

use crate::config::GroupConfig;
use crate::coordinator::Coordinator;
use crate::error::GroupError;
use crate::ids::{GenerationId, GroupId, InstanceId, MemberId, Protocol};
use crate::outcome::{Completion, JoinOutcome, JoinResult, Reply, SyncOutcome, SyncResult};
use crate::request::{HeartbeatRequest, JoinRequest, LeaveRequest, LeavingMember, SyncRequest};

pub(crate) const SESSION_TIMEOUT_MS: i64 = 10_000;
pub(crate) const REBALANCE_TIMEOUT_MS: i64 = 30_000;

pub(crate) fn group_id() -> GroupId {
    GroupId::new("orders")
}

/// No initial rebalance delay, so a first join completes at once.
pub(crate) fn coordinator() -> Coordinator {
    coordinator_with(GroupConfig {
        initial_rebalance_delay_ms: 0,
        ..GroupConfig::default()
    })
}

pub(crate) fn coordinator_with(config: GroupConfig) -> Coordinator {
    Coordinator::new(config, 0x5eed)
}

pub(crate) fn protocols() -> Vec<Protocol> {
    vec![
        Protocol::new("range", &b"sub-range"[..]),
        Protocol::new("roundrobin", &b"sub-rr"[..]),
    ]
}

pub(crate) fn join_request(member_id: &MemberId) -> JoinRequest {
    JoinRequest {
        group_id: group_id(),
        member_id: member_id.clone(),
        group_instance_id: None,
        client_id: "client".to_owned(),
        client_host: "/10.0.0.1".to_owned(),
        session_timeout_ms: SESSION_TIMEOUT_MS,
        rebalance_timeout_ms: REBALANCE_TIMEOUT_MS,
        protocol_type: "consumer".to_owned(),
        protocols: protocols(),
        require_known_member_id: true,
    }
}

pub(crate) fn static_join_request(instance: &str, member_id: &MemberId) -> JoinRequest {
    JoinRequest {
        group_instance_id: Some(InstanceId::new(instance)),
        ..join_request(member_id)
    }
}

pub(crate) fn sync_request(
    member_id: &MemberId,
    generation_id: GenerationId,
    assignments: Vec<(MemberId, Bytes)>,
) -> SyncRequest {
    SyncRequest {
        group_id: group_id(),
        member_id: member_id.clone(),
        group_instance_id: None,
        generation_id,
        protocol_type: Some("consumer".to_owned()),
        protocol_name: None,
        assignments,
    }
}

pub(crate) fn heartbeat_request(
    member_id: &MemberId,
    generation_id: GenerationId,
) -> HeartbeatRequest {
    HeartbeatRequest {
        group_id: group_id(),
        member_id: member_id.clone(),
        group_instance_id: None,
        generation_id,
    }
}

pub(crate) fn leave_request(member_ids: &[&MemberId]) -> LeaveRequest {
    LeaveRequest {
        group_id: group_id(),
        members: member_ids
            .iter()
            .map(|m| LeavingMember {
                member_id: (*m).clone(),
                group_instance_id: None,
            })
            .collect(),
    }
}

/// KIP-394 round trip: the first join is refused with an id, the second uses it.
pub(crate) fn join_new(c: &mut Coordinator, now_ms: i64) -> (MemberId, Reply<JoinOutcome>) {
    let first = c.join(&join_request(&MemberId::default()), now_ms);
    let JoinOutcome::Err(GroupError::MemberIdRequired(member_id)) = first.outcome else {
        unreachable!("expected MemberIdRequired, got {:?}", first.outcome);
    };
    let reply = c.join(&join_request(&member_id), now_ms);
    (member_id, reply)
}

pub(crate) fn completed(outcome: JoinOutcome) -> JoinResult {
    match outcome {
        JoinOutcome::Completed(result) => result,
        other => unreachable!("expected a completed join, got {other:?}"),
    }
}

pub(crate) fn synced(outcome: SyncOutcome) -> SyncResult {
    match outcome {
        SyncOutcome::Completed(result) => result,
        other => unreachable!("expected a completed sync, got {other:?}"),
    }
}

/// The join completion for `member_id`, if any.
pub(crate) fn join_completion(
    completions: &[Completion],
    member_id: &MemberId,
) -> Option<Result<JoinResult, GroupError>> {
    completions.iter().find_map(|c| match c {
        Completion::Join {
            member_id: m,
            result,
            ..
        } if m == member_id => Some(result.clone()),
        _ => None,
    })
}

pub(crate) fn sync_completion(
    completions: &[Completion],
    member_id: &MemberId,
) -> Option<Result<SyncResult, GroupError>> {
    completions.iter().find_map(|c| match c {
        Completion::Sync {
            member_id: m,
            result,
            ..
        } if m == member_id => Some(result.clone()),
        _ => None,
    })
}

pub(crate) fn assignment_for(member_id: &MemberId) -> Bytes {
    Bytes::from(format!("partitions-of-{member_id}"))
}

/// A Stable group of dynamic members; `members[0]` is the leader.
#[derive(Debug)]
pub(crate) struct StableGroup {
    pub(crate) members: Vec<MemberId>,
    pub(crate) generation: GenerationId,
}

pub(crate) fn stable_group(c: &mut Coordinator, size: usize, now_ms: i64) -> StableGroup {
    let (leader, reply) = join_new(c, now_ms);
    let mut members = vec![leader.clone()];
    let mut generation = completed(reply.outcome).generation_id;
    if size > 1 {
        for _ in 1..size {
            let (member_id, reply) = join_new(c, now_ms);
            assert!(matches!(reply.outcome, JoinOutcome::Pending { .. }));
            members.push(member_id);
        }
        let reply = c.join(&join_request(&leader), now_ms);
        generation = completed(reply.outcome).generation_id;
    }
    let assignments = members
        .iter()
        .map(|m| (m.clone(), assignment_for(m)))
        .collect();
    let reply = c.sync(&sync_request(&leader, generation, assignments), now_ms);
    assert_eq!(synced(reply.outcome).assignment, assignment_for(&leader));
    StableGroup {
        members,
        generation,
    }
}

/// A Stable group of static members named `instances`; the first is the leader.
pub(crate) fn stable_static_group(
    c: &mut Coordinator,
    instances: &[&str],
    now_ms: i64,
) -> StableGroup {
    let mut members = Vec::new();
    let mut generation = GenerationId(0);
    for (index, instance) in instances.iter().enumerate() {
        let reply = c.join(&static_join_request(instance, &MemberId::default()), now_ms);
        match reply.outcome {
            JoinOutcome::Completed(result) if index == 0 => {
                generation = result.generation_id;
                members.push(result.member_id);
            }
            JoinOutcome::Pending { member_id } if index > 0 => members.push(member_id),
            other => unreachable!("unexpected static join outcome {other:?}"),
        }
    }
    if instances.len() > 1 {
        let request = static_join_request(instances[0], &members[0]);
        generation = completed(c.join(&request, now_ms).outcome).generation_id;
    }
    let assignments = members
        .iter()
        .map(|m| (m.clone(), assignment_for(m)))
        .collect();
    let reply = c.sync(&sync_request(&members[0], generation, assignments), now_ms);
    assert!(matches!(reply.outcome, SyncOutcome::Completed(_)));
    StableGroup {
        members,
        generation,
    }
}
