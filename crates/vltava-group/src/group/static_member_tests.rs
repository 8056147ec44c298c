//! KIP-345 static membership: a restarted static member takes over its instance id, fences
//! its previous incarnation and, in a Stable group, keeps its assignment without a rebalance.
//! Guards against rolling restarts that rebalance the whole group once per instance.

use crate::error::GroupError;
use crate::ids::{GenerationId, InstanceId, MemberId, Protocol};
use crate::outcome::{JoinOutcome, SyncOutcome};
use crate::state::GroupState;
use crate::test_support::*;

fn state(c: &crate::Coordinator) -> Option<GroupState> {
    c.describe(&group_id()).ok().map(|d| d.state)
}

fn static_heartbeat(
    instance: &str,
    member_id: &MemberId,
    generation: GenerationId,
) -> crate::HeartbeatRequest {
    crate::HeartbeatRequest {
        group_instance_id: Some(InstanceId::new(instance)),
        ..heartbeat_request(member_id, generation)
    }
}

#[test]
fn a_static_member_joins_without_the_member_id_round_trip() {
    let mut c = coordinator();
    let reply = c.join(&static_join_request("a", &MemberId::default()), 0);
    let result = completed(reply.outcome);
    assert!(result.member_id.as_str().starts_with("a-"));
}

#[test]
fn a_restarted_static_member_gets_its_assignment_back_without_a_rebalance() {
    let mut c = coordinator();
    let group = stable_static_group(&mut c, &["a", "b"], 0);
    let old_id = &group.members[1];
    let reply = c.join(&static_join_request("b", &MemberId::default()), 1_000);
    assert!(reply.completions.is_empty());
    let result = completed(reply.outcome);
    assert_ne!(result.member_id, *old_id);
    assert_eq!(result.generation_id, group.generation);
    assert!(
        !result.skip_assignment && result.members.is_empty(),
        "a follower assigns nothing"
    );
    assert_eq!(state(&c), Some(GroupState::Stable));
    let reply = c.sync(
        &sync_request(&result.member_id, group.generation, Vec::new()),
        1_001,
    );
    assert_eq!(synced(reply.outcome).assignment, assignment_for(old_id));
    let reply = c.heartbeat(
        &heartbeat_request(&group.members[0], group.generation),
        1_002,
    );
    assert_eq!(
        reply.outcome,
        Ok(()),
        "the other member is not asked to rejoin"
    );
}

#[test]
fn a_restarted_static_leader_keeps_leading_and_is_told_to_skip_assignment() {
    let mut c = coordinator();
    let group = stable_static_group(&mut c, &["a", "b"], 0);
    let result = completed(
        c.join(&static_join_request("a", &MemberId::default()), 10)
            .outcome,
    );
    assert_eq!(result.leader_id, result.member_id);
    assert!(result.skip_assignment);
    assert_eq!(result.members.len(), 2);
    assert_eq!(result.generation_id, group.generation);
    assert_eq!(state(&c), Some(GroupState::Stable));
}

#[test]
fn the_replaced_member_id_is_fenced() {
    let mut c = coordinator();
    let group = stable_static_group(&mut c, &["a", "b"], 0);
    let old_id = &group.members[1];
    let _ = c.join(&static_join_request("b", &MemberId::default()), 10);
    let reply = c.heartbeat(&static_heartbeat("b", old_id, group.generation), 11);
    assert_eq!(reply.outcome, Err(GroupError::FencedInstanceId));
    let sync = crate::SyncRequest {
        group_instance_id: Some(InstanceId::new("b")),
        ..sync_request(old_id, group.generation, Vec::new())
    };
    assert_eq!(
        c.sync(&sync, 12).outcome,
        SyncOutcome::Err(GroupError::FencedInstanceId)
    );
    let reply = c.join(&static_join_request("b", old_id), 13);
    assert_eq!(
        reply.outcome,
        JoinOutcome::Err(GroupError::FencedInstanceId)
    );
}

#[test]
fn a_restarted_static_member_with_new_protocols_triggers_a_rebalance() {
    let mut c = coordinator();
    let _ = stable_static_group(&mut c, &["a", "b"], 0);
    let request = crate::JoinRequest {
        protocols: vec![Protocol::new("range", &b"new-subscription"[..])],
        ..static_join_request("b", &MemberId::default())
    };
    assert!(matches!(
        c.join(&request, 10).outcome,
        JoinOutcome::Pending { .. }
    ));
    assert_eq!(state(&c), Some(GroupState::PreparingRebalance));
}

#[test]
fn replacing_a_static_member_answers_its_parked_join_with_fenced_instance_id() {
    let mut c = coordinator();
    let group = stable_static_group(&mut c, &["a", "b"], 0);
    let old_id = &group.members[1];
    // b rejoins with a new subscription: parked, waiting for a.
    let request = crate::JoinRequest {
        protocols: vec![Protocol::new("range", &b"new-subscription"[..])],
        ..static_join_request("b", old_id)
    };
    assert!(matches!(
        c.join(&request, 1).outcome,
        JoinOutcome::Pending { .. }
    ));
    // b's process restarts and joins again without its id.
    let reply = c.join(&static_join_request("b", &MemberId::default()), 2);
    assert_eq!(
        join_completion(&reply.completions, old_id),
        Some(Err(GroupError::FencedInstanceId))
    );
    let JoinOutcome::Pending { member_id: new_id } = reply.outcome else {
        unreachable!("expected the new incarnation to wait for the rebalance");
    };
    // a rejoins; the generation holds a and the new incarnation of b, never the old one.
    let reply = c.join(&static_join_request("a", &group.members[0]), 3);
    let result = completed(reply.outcome);
    let mut members: Vec<MemberId> = result.members.iter().map(|m| m.member_id.clone()).collect();
    members.sort();
    let mut expected = vec![group.members[0].clone(), new_id.clone()];
    expected.sort();
    assert_eq!(members, expected);
    assert!(matches!(
        join_completion(&reply.completions, &new_id),
        Some(Ok(_))
    ));
}
