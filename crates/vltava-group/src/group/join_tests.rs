//! JoinGroup behaviour: KIP-394 member ids, the initial delay, rebalance completion and
//! timeouts, protocol checks and limits. Guards against rebalances that never end or that
//! admit members the group cannot serve.

use crate::config::GroupConfig;
use crate::error::GroupError;
use crate::ids::{GenerationId, MemberId, Protocol};
use crate::outcome::JoinOutcome;
use crate::state::GroupState;
use crate::test_support::*;

fn state(c: &crate::Coordinator) -> GroupState {
    c.describe(&group_id())
        .map(|d| d.state)
        .unwrap_or(GroupState::Dead)
}

#[test]
fn new_member_without_id_is_told_to_rejoin_with_a_generated_id() {
    let mut c = coordinator();
    let reply = c.join(&join_request(&MemberId::default()), 0);
    let JoinOutcome::Err(GroupError::MemberIdRequired(member_id)) = reply.outcome else {
        unreachable!("expected MemberIdRequired, got {:?}", reply.outcome);
    };
    assert!(member_id.as_str().starts_with("client-"));
    // Being told its id does not make it a member, nor start a rebalance.
    assert_eq!(state(&c), GroupState::Empty);
    assert!(
        c.describe(&group_id())
            .map(|d| d.members.is_empty())
            .unwrap_or(false)
    );
}

#[test]
fn rejoin_with_the_given_id_forms_the_first_generation_with_it_as_leader() {
    let mut c = coordinator();
    let (member_id, reply) = join_new(&mut c, 0);
    let result = completed(reply.outcome);
    assert_eq!(result.generation_id, GenerationId(1));
    assert_eq!(result.leader_id, member_id);
    assert_eq!(result.protocol_name.as_deref(), Some("range"));
    assert_eq!(result.members.len(), 1);
    assert_eq!(&result.members[0].metadata[..], b"sub-range");
    assert_eq!(state(&c), GroupState::CompletingRebalance);
}

#[test]
fn old_clients_are_admitted_without_the_member_id_round_trip() {
    let mut c = coordinator();
    let request = crate::JoinRequest {
        require_known_member_id: false,
        ..join_request(&MemberId::default())
    };
    let result = completed(c.join(&request, 0).outcome);
    assert_eq!(result.generation_id, GenerationId(1));
    assert!(!result.member_id.is_empty());
}

#[test]
fn first_rebalance_waits_for_the_initial_delay() {
    let config = GroupConfig {
        initial_rebalance_delay_ms: 3_000,
        ..GroupConfig::default()
    };
    let mut c = coordinator_with(config);
    let (first, reply) = join_new(&mut c, 0);
    assert_eq!(
        reply.outcome,
        JoinOutcome::Pending {
            member_id: first.clone()
        }
    );
    assert_eq!(state(&c), GroupState::PreparingRebalance);
    assert!(c.tick(2_999).is_empty());
    let completions = c.tick(3_000);
    let result = join_completion(&completions, &first).and_then(Result::ok);
    assert_eq!(result.map(|r| r.generation_id), Some(GenerationId(1)));
}

#[test]
fn initial_delay_is_extended_while_members_keep_arriving() {
    let config = GroupConfig {
        initial_rebalance_delay_ms: 3_000,
        ..GroupConfig::default()
    };
    let mut c = coordinator_with(config);
    let (first, _) = join_new(&mut c, 0);
    let (second, reply) = join_new(&mut c, 2_000);
    assert!(matches!(reply.outcome, JoinOutcome::Pending { .. }));
    // The second member arrived during the delay: wait one more delay for others.
    assert!(c.tick(3_000).is_empty());
    let completions = c.tick(6_000);
    for member in [&first, &second] {
        let result = join_completion(&completions, member).and_then(Result::ok);
        assert_eq!(result.map(|r| r.generation_id), Some(GenerationId(1)));
    }
}

#[test]
fn initial_delay_extension_stops_at_the_rebalance_timeout() {
    let config = GroupConfig {
        initial_rebalance_delay_ms: 20_000,
        ..GroupConfig::default()
    };
    let mut c = coordinator_with(config);
    let (_, _) = join_new(&mut c, 0);
    let (_, _) = join_new(&mut c, 1_000);
    assert!(c.tick(20_000).is_empty());
    // Remaining budget: 30s rebalance timeout - 20s delay = 10s.
    let (_, _) = join_new(&mut c, 25_000);
    assert_eq!(c.tick(30_000).len(), 3);
}

#[test]
fn rebalance_completes_when_every_known_member_rejoins() {
    let mut c = coordinator();
    let group = stable_group(&mut c, 2, 0);
    let (leader, follower) = (&group.members[0], &group.members[1]);
    // The leader rejoins (e.g. its subscription changed): a rebalance starts.
    let reply = c.join(&join_request(leader), 100);
    assert_eq!(
        reply.outcome,
        JoinOutcome::Pending {
            member_id: leader.clone()
        }
    );
    assert_eq!(state(&c), GroupState::PreparingRebalance);
    // The follower's rejoin completes it, for both.
    let reply = c.join(&join_request(follower), 200);
    let follower_result = completed(reply.outcome);
    assert_eq!(
        follower_result.generation_id,
        GenerationId(group.generation.0 + 1)
    );
    assert!(
        follower_result.members.is_empty(),
        "only the leader gets the member list"
    );
    let leader_result = join_completion(&reply.completions, leader).and_then(Result::ok);
    let members = leader_result.map(|r| r.members.len());
    assert_eq!(members, Some(2));
}

#[test]
fn rebalance_timeout_removes_members_that_did_not_rejoin() {
    let mut c = coordinator();
    let group = stable_group(&mut c, 2, 0);
    let (leader, follower) = (&group.members[0], &group.members[1]);
    let _ = c.join(&join_request(leader), 0);
    // The follower keeps heartbeating, so its session does not expire, but never rejoins.
    for now_ms in (5_000..30_000).step_by(5_000) {
        let reply = c.heartbeat(&heartbeat_request(follower, group.generation), now_ms);
        assert_eq!(reply.outcome, Err(GroupError::RebalanceInProgress));
        assert!(c.tick(now_ms).is_empty());
    }
    let completions = c.tick(REBALANCE_TIMEOUT_MS);
    let result = join_completion(&completions, leader).and_then(Result::ok);
    let members: Option<Vec<MemberId>> =
        result.map(|r| r.members.into_iter().map(|m| m.member_id).collect());
    assert_eq!(members, Some(vec![leader.clone()]));
    let reply = c.heartbeat(&heartbeat_request(follower, group.generation), 30_001);
    assert_eq!(reply.outcome, Err(GroupError::UnknownMemberId));
}

#[test]
fn a_rebalance_waits_for_members_told_to_rejoin_with_their_id() {
    let mut c = coordinator();
    let group = stable_group(&mut c, 1, 0);
    let leader = &group.members[0];
    let reply = c.join(&join_request(&MemberId::default()), 0);
    assert!(matches!(
        reply.outcome,
        JoinOutcome::Err(GroupError::MemberIdRequired(_))
    ));
    assert_eq!(
        state(&c),
        GroupState::Stable,
        "an id alone does not start a rebalance"
    );
    // The leader rejoins; the rebalance waits for the pending member like Kafka does,
    // until its id expires after a session timeout.
    assert!(matches!(
        c.join(&join_request(leader), 1).outcome,
        JoinOutcome::Pending { .. }
    ));
    let reply = c.heartbeat(
        &heartbeat_request(leader, group.generation),
        SESSION_TIMEOUT_MS - 1,
    );
    assert_eq!(reply.outcome, Err(GroupError::RebalanceInProgress));
    assert!(c.tick(SESSION_TIMEOUT_MS - 1).is_empty());
    let completions = c.tick(SESSION_TIMEOUT_MS);
    assert!(matches!(join_completion(&completions, leader), Some(Ok(_))));
}

#[test]
fn protocol_type_other_than_the_groups_is_inconsistent() {
    let mut c = coordinator();
    let _ = stable_group(&mut c, 1, 0);
    let request = crate::JoinRequest {
        protocol_type: "connect".to_owned(),
        ..join_request(&MemberId::default())
    };
    let reply = c.join(&request, 0);
    assert_eq!(
        reply.outcome,
        JoinOutcome::Err(GroupError::InconsistentGroupProtocol)
    );
}

#[test]
fn a_member_sharing_no_protocol_with_the_group_is_inconsistent() {
    let mut c = coordinator();
    let _ = stable_group(&mut c, 1, 0);
    let request = crate::JoinRequest {
        protocols: vec![Protocol::new("sticky", &b""[..])],
        ..join_request(&MemberId::default())
    };
    let reply = c.join(&request, 0);
    assert_eq!(
        reply.outcome,
        JoinOutcome::Err(GroupError::InconsistentGroupProtocol)
    );
}

#[test]
fn empty_protocol_list_is_inconsistent_and_creates_no_group() {
    let mut c = coordinator();
    let request = crate::JoinRequest {
        protocols: Vec::new(),
        ..join_request(&MemberId::default())
    };
    let reply = c.join(&request, 0);
    assert_eq!(
        reply.outcome,
        JoinOutcome::Err(GroupError::InconsistentGroupProtocol)
    );
    assert_eq!(c.list(&[]).map(|l| l.len()), Ok(0));
}

#[test]
fn session_timeout_outside_the_bounds_is_invalid() {
    let mut c = coordinator();
    for session_timeout_ms in [5_999, 1_800_001] {
        let request = crate::JoinRequest {
            session_timeout_ms,
            ..join_request(&MemberId::default())
        };
        let reply = c.join(&request, 0);
        assert_eq!(
            reply.outcome,
            JoinOutcome::Err(GroupError::InvalidSessionTimeout)
        );
    }
}

#[test]
fn a_full_group_rejects_new_members_but_counts_pending_ids() {
    let config = GroupConfig {
        group_max_size: 2,
        initial_rebalance_delay_ms: 0,
        ..GroupConfig::default()
    };
    let mut c = coordinator_with(config);
    let _ = stable_group(&mut c, 1, 0);
    let reply = c.join(&join_request(&MemberId::default()), 0);
    assert!(matches!(
        reply.outcome,
        JoinOutcome::Err(GroupError::MemberIdRequired(_))
    ));
    let reply = c.join(&join_request(&MemberId::default()), 0);
    assert_eq!(
        reply.outcome,
        JoinOutcome::Err(GroupError::GroupMaxSizeReached)
    );
}

#[test]
fn join_with_an_id_the_group_never_issued_is_unknown() {
    let mut c = coordinator();
    let reply = c.join(&join_request(&MemberId::new("made-up")), 0);
    assert_eq!(reply.outcome, JoinOutcome::Err(GroupError::UnknownMemberId));
    let _ = stable_group(&mut c, 1, 0);
    let reply = c.join(&join_request(&MemberId::new("made-up")), 0);
    assert_eq!(reply.outcome, JoinOutcome::Err(GroupError::UnknownMemberId));
}

#[test]
fn follower_rejoining_a_stable_group_unchanged_gets_the_current_generation() {
    let mut c = coordinator();
    let group = stable_group(&mut c, 2, 0);
    let result = completed(c.join(&join_request(&group.members[1]), 10).outcome);
    assert_eq!(result.generation_id, group.generation);
    assert_eq!(state(&c), GroupState::Stable);
}

#[test]
fn follower_rejoining_with_new_metadata_triggers_a_rebalance() {
    let mut c = coordinator();
    let group = stable_group(&mut c, 2, 0);
    let request = crate::JoinRequest {
        protocols: vec![Protocol::new("range", &b"new-subscription"[..])],
        ..join_request(&group.members[1])
    };
    assert!(matches!(
        c.join(&request, 10).outcome,
        JoinOutcome::Pending { .. }
    ));
    assert_eq!(state(&c), GroupState::PreparingRebalance);
}

#[test]
fn coordinator_that_is_loading_asks_clients_to_retry() {
    let mut c = coordinator();
    c.begin_loading();
    let reply = c.join(&join_request(&MemberId::default()), 0);
    assert_eq!(
        reply.outcome,
        JoinOutcome::Err(GroupError::CoordinatorLoadInProgress)
    );
    assert_eq!(
        c.describe(&group_id()).err(),
        Some(GroupError::CoordinatorLoadInProgress)
    );
    c.finish_loading();
    assert!(matches!(
        c.join(&join_request(&MemberId::default()), 0).outcome,
        JoinOutcome::Err(GroupError::MemberIdRequired(_))
    ));
}
