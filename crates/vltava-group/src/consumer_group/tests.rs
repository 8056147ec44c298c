//! KIP-848 consumer groups with a fake clock: joins, revocation before reassignment, fencing,
//! leaving, session expiry and static members.

use std::collections::BTreeSet;

use uuid::Uuid;

use super::*;

const TOPIC: Uuid = Uuid::from_u128(7);

fn topics(name: &str) -> Option<TopicInfo> {
    (name == "orders").then(|| TopicInfo {
        id: TOPIC,
        name: "orders".into(),
        partitions: 4,
    })
}

fn config() -> GroupConfig {
    GroupConfig::default()
}

fn join(member: &str) -> ConsumerHeartbeat {
    ConsumerHeartbeat {
        group_id: GroupId::new("g"),
        member_id: MemberId::new(member),
        member_epoch: JOIN_EPOCH,
        instance_id: None,
        rack_id: None,
        rebalance_timeout_ms: 30_000,
        subscribed_topic_names: Some(vec!["orders".into()]),
        server_assignor: None,
        owned: Some(Assignment::new()),
        client_id: "client".into(),
        client_host: "/127.0.0.1".into(),
    }
}

fn beat(member: &str, epoch: i32, owned: Option<&Assignment>) -> ConsumerHeartbeat {
    ConsumerHeartbeat {
        member_epoch: epoch,
        rebalance_timeout_ms: -1,
        subscribed_topic_names: None,
        owned: owned.cloned(),
        ..join(member)
    }
}

fn partitions(a: &Assignment) -> BTreeSet<i32> {
    a.get(&TOPIC).cloned().unwrap_or_default()
}

fn heartbeat(
    group: &mut ConsumerGroup,
    request: &ConsumerHeartbeat,
    now_ms: i64,
) -> Result<ConsumerHeartbeatResult, GroupError> {
    group.heartbeat(
        request,
        || MemberId::new("generated"),
        &topics,
        &config(),
        now_ms,
    )
}

#[test]
fn a_first_member_gets_every_partition_at_epoch_one() {
    let mut group = ConsumerGroup::new(GroupId::new("g"));
    let result = heartbeat(&mut group, &join("a"), 0).expect("join");
    assert_eq!(result.member_epoch, 1);
    let assignment = result
        .assignment
        .expect("a join is answered with the assignment");
    assert_eq!(partitions(&assignment), (0..4).collect());
    assert_eq!(group.state(), "Stable");
}

#[test]
fn partitions_move_only_after_their_owner_revokes_them() {
    let mut group = ConsumerGroup::new(GroupId::new("g"));
    let a = heartbeat(&mut group, &join("a"), 0).expect("join a");
    let owned_by_a = a.assignment.expect("assignment");
    let b = heartbeat(&mut group, &join("b"), 1).expect("join b");
    // b is at the new epoch but gets nothing a still holds.
    assert_eq!(b.member_epoch, 2);
    assert!(partitions(&b.assignment.expect("assignment")).is_empty());
    assert_eq!(group.state(), "Reconciling");

    // a is told to give up two partitions, keeping its epoch.
    let a = heartbeat(&mut group, &beat("a", 1, None), 2).expect("a heartbeat");
    assert_eq!(a.member_epoch, 1);
    let kept = a.assignment.expect("revocation is sent");
    assert_eq!(partitions(&kept).len(), 2);
    // Until a confirms, b still gets nothing.
    let b = heartbeat(&mut group, &beat("b", 2, None), 3).expect("b heartbeat");
    assert!(b.assignment.is_none());
    // a confirms by listing only what it kept: it moves to epoch 2.
    let a = heartbeat(&mut group, &beat("a", 1, Some(&kept)), 4).expect("a confirms");
    assert_eq!(a.member_epoch, 2);
    let b = heartbeat(&mut group, &beat("b", 2, None), 5).expect("b heartbeat");
    let given = b.assignment.expect("b now gets the released partitions");
    assert_eq!(partitions(&given).len(), 2);
    assert!(partitions(&given).is_disjoint(&partitions(&kept)));
    assert_eq!(
        partitions(&given).union(&partitions(&kept)).count(),
        partitions(&owned_by_a).len()
    );
    assert_eq!(group.state(), "Stable");
}

#[test]
fn a_wrong_epoch_is_fenced_and_an_unknown_member_is_refused() {
    let mut group = ConsumerGroup::new(GroupId::new("g"));
    heartbeat(&mut group, &join("a"), 0).expect("join");
    assert_eq!(
        heartbeat(&mut group, &beat("a", 7, None), 1),
        Err(GroupError::FencedMemberEpoch)
    );
    assert_eq!(
        heartbeat(&mut group, &beat("nobody", 1, None), 1),
        Err(GroupError::UnknownMemberId)
    );
}

#[test]
fn a_member_that_lost_our_answer_may_heartbeat_with_its_previous_epoch() {
    let mut group = ConsumerGroup::new(GroupId::new("g"));
    heartbeat(&mut group, &join("a"), 0).expect("join a");
    heartbeat(&mut group, &join("b"), 0).expect("join b");
    let a = heartbeat(&mut group, &beat("a", 1, None), 1).expect("a told to revoke");
    let kept = a.assignment.expect("revocation");
    let a = heartbeat(&mut group, &beat("a", 1, Some(&kept)), 2).expect("a confirms");
    assert_eq!(a.member_epoch, 2);
    // The answer was lost: a heartbeats with epoch 1 (its previous) and what it owns.
    let retry = heartbeat(&mut group, &beat("a", 1, Some(&kept)), 3);
    assert_eq!(retry.map(|r| r.member_epoch), Ok(2));
    // An older epoch, or owning what it no longer has, is fenced.
    let everything: Assignment = [(TOPIC, (0..4).collect())].into();
    assert_eq!(
        heartbeat(&mut group, &beat("a", 1, Some(&everything)), 4),
        Err(GroupError::FencedMemberEpoch)
    );
}

#[test]
fn a_leaving_member_frees_its_partitions_for_the_others() {
    let mut group = ConsumerGroup::new(GroupId::new("g"));
    heartbeat(&mut group, &join("a"), 0).expect("join a");
    heartbeat(&mut group, &join("b"), 0).expect("join b");
    let a = heartbeat(&mut group, &beat("a", 1, None), 1).expect("a");
    let kept = a.assignment.expect("revocation");
    heartbeat(&mut group, &beat("a", 1, Some(&kept)), 1).expect("a confirms");
    assert_eq!(
        group.leave(&MemberId::new("a"), LEAVE_EPOCH),
        Ok(LEAVE_EPOCH)
    );
    let b = heartbeat(&mut group, &beat("b", 2, None), 2).expect("b");
    assert_eq!(b.member_epoch, group.group_epoch());
    assert_eq!(
        partitions(&b.assignment.expect("everything")),
        (0..4).collect()
    );
}

#[test]
fn a_silent_member_is_fenced_after_the_session_timeout() {
    let mut group = ConsumerGroup::new(GroupId::new("g"));
    heartbeat(&mut group, &join("a"), 0).expect("join");
    let session = config().consumer_session_timeout_ms;
    assert_eq!(group.next_deadline_ms(), Some(session));
    group.tick(session - 1);
    assert!(!group.is_empty());
    group.tick(session);
    assert!(group.is_empty());
    assert_eq!(group.state(), "Empty");
}

#[test]
fn a_member_that_never_revokes_is_fenced_after_its_rebalance_timeout() {
    let mut group = ConsumerGroup::new(GroupId::new("g"));
    heartbeat(&mut group, &join("a"), 0).expect("join a");
    heartbeat(&mut group, &join("b"), 0).expect("join b");
    heartbeat(&mut group, &beat("a", 1, None), 100).expect("a told to revoke");
    group.tick(100 + 30_000);
    assert_eq!(
        heartbeat(&mut group, &beat("a", 1, None), 30_101),
        Err(GroupError::UnknownMemberId)
    );
}

#[test]
fn a_static_member_returns_to_its_partitions_without_a_new_epoch() {
    let mut group = ConsumerGroup::new(GroupId::new("g"));
    let static_join = |member: &str| ConsumerHeartbeat {
        instance_id: Some(InstanceId::new("i")),
        ..join(member)
    };
    let first = heartbeat(&mut group, &static_join("a"), 0).expect("join");
    let epoch = group.group_epoch();
    // While it is still a member, its instance id cannot be taken.
    assert_eq!(
        heartbeat(&mut group, &static_join("b"), 1),
        Err(GroupError::UnreleasedInstanceId)
    );
    assert_eq!(
        group.leave(&MemberId::new("a"), STATIC_LEAVE_EPOCH),
        Ok(STATIC_LEAVE_EPOCH)
    );
    let back = heartbeat(&mut group, &static_join("b"), 2).expect("rejoin");
    assert_eq!(group.group_epoch(), epoch);
    assert_eq!(back.member_epoch, first.member_epoch);
    assert_eq!(back.assignment, first.assignment);
}

#[test]
fn an_unknown_assignor_is_refused() {
    let mut group = ConsumerGroup::new(GroupId::new("g"));
    let request = ConsumerHeartbeat {
        server_assignor: Some("sticky".into()),
        ..join("a")
    };
    assert_eq!(
        heartbeat(&mut group, &request, 0),
        Err(GroupError::UnsupportedAssignor)
    );
    assert!(group.is_empty());
}

#[test]
fn offset_commits_need_the_members_current_epoch() {
    let mut group = ConsumerGroup::new(GroupId::new("g"));
    heartbeat(&mut group, &join("a"), 0).expect("join");
    let a = MemberId::new("a");
    assert_eq!(group.validate_member_epoch(&a, 1), Ok(()));
    assert_eq!(
        group.validate_member_epoch(&a, 0),
        Err(GroupError::StaleMemberEpoch)
    );
    assert_eq!(
        group.validate_member_epoch(&MemberId::default(), -1),
        Err(GroupError::UnknownMemberId)
    );
}
