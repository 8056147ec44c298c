//! The coordinator: every classic group this broker coordinates, and the entry points the
//! broker's JoinGroup, SyncGroup, Heartbeat, LeaveGroup, DescribeGroups, ListGroups and
//! DeleteGroups handlers call.

use std::collections::{BTreeSet, HashMap};

use crate::config::GroupConfig;
use crate::consumer_group::{
    ConsumerGroup, ConsumerGroupDescription, ConsumerHeartbeat, ConsumerHeartbeatResult,
    LEAVE_EPOCH, STATIC_LEAVE_EPOCH, TopicInfo,
};
use crate::error::GroupError;
use crate::group::{CommitterRef, Group};
use crate::group_record::{GroupChange, GroupSnapshot};
use crate::ids::{GroupId, MemberId};
use crate::outcome::{
    Completion, GroupDescription, GroupListing, JoinOutcome, MemberLeaveResult, Reply, SyncOutcome,
};
use crate::request::{HeartbeatRequest, JoinRequest, LeaveRequest, SyncRequest};
use crate::state::GroupState;

/// Hands out member ids shaped like Kafka's (`<client id or instance id>-<32 hex digits>`).
/// The seed keeps ids from different coordinator lifetimes apart, so an id issued before a
/// restart is never issued again to someone else; the broker passes a random one.
#[derive(Debug)]
pub(crate) struct MemberIdGenerator {
    seed: u64,
    issued: u64,
}

impl MemberIdGenerator {
    pub(crate) fn next(&mut self, prefix: &str) -> MemberId {
        self.issued += 1;
        MemberId::new(format!("{prefix}-{:016x}{:016x}", self.seed, self.issued))
    }

    /// KIP-848 v0 member ids carry no client id.
    fn next_bare(&mut self) -> MemberId {
        self.issued += 1;
        MemberId::new(format!("{:016x}{:016x}", self.seed, self.issued))
    }
}

pub struct Coordinator {
    config: GroupConfig,
    groups: HashMap<GroupId, Group>,
    /// KIP-848 groups. A group id is in at most one of the two maps.
    consumer_groups: HashMap<GroupId, ConsumerGroup>,
    member_ids: MemberIdGenerator,
    /// While group state is being loaded from `__consumer_offsets`, every request is answered
    /// with `CoordinatorLoadInProgress` so no client acts on a partial view.
    loading: bool,
}

impl Coordinator {
    /// `member_id_seed` should differ between coordinator lifetimes (a random number).
    pub fn new(config: GroupConfig, member_id_seed: u64) -> Self {
        Self {
            config,
            groups: HashMap::new(),
            consumer_groups: HashMap::new(),
            member_ids: MemberIdGenerator {
                seed: member_id_seed,
                issued: 0,
            },
            loading: false,
        }
    }

    pub fn begin_loading(&mut self) {
        self.loading = true;
    }

    pub fn finish_loading(&mut self) {
        self.loading = false;
    }

    /// Keeps only the groups `keep` names (classic and KIP-848): the others moved to another
    /// coordinator, and their members, sessions and rebalances go with them (Kafka's
    /// `onResignation`), so no timer of theirs runs here any more.
    pub fn retain_groups(&mut self, keep: impl Fn(&GroupId) -> bool) {
        self.groups.retain(|group_id, _| keep(group_id));
        self.consumer_groups.retain(|group_id, _| keep(group_id));
    }

    /// The `__consumer_offsets` records the calls since the last take made due (`group_id`:
    /// the one group a call was about; `None`: every group, after a tick). The broker writes
    /// them in the order returned.
    pub fn take_group_changes(
        &mut self,
        group_id: Option<&GroupId>,
    ) -> Vec<(GroupId, GroupChange)> {
        match group_id {
            Some(id) => self
                .groups
                .get_mut(id)
                .and_then(Group::take_change)
                .map(|change| (id.clone(), change))
                .into_iter()
                .collect(),
            None => self
                .groups
                .iter_mut()
                .filter_map(|(id, group)| group.take_change().map(|change| (id.clone(), change)))
                .collect(),
        }
    }

    /// Rebuilds a Stable group from its last record, when this coordinator takes the group's
    /// partition over: its members go on with their generation instead of rejoining.
    pub fn restore_group(&mut self, group_id: GroupId, snapshot: &GroupSnapshot, now_ms: i64) {
        if let Some(group) = Group::restore(group_id.clone(), snapshot, now_ms) {
            self.groups.insert(group_id, group);
        }
    }

    pub fn join(&mut self, request: &JoinRequest, now_ms: i64) -> Reply<JoinOutcome> {
        let mut completions = Vec::new();
        if self.loading {
            return reply(
                JoinOutcome::Err(GroupError::CoordinatorLoadInProgress),
                completions,
            );
        }
        // A group is classic or consumer; an empty one of the other kind is taken over.
        match self.consumer_groups.get(&request.group_id) {
            Some(group) if !group.is_empty() => {
                return reply(
                    JoinOutcome::Err(GroupError::InconsistentGroupProtocol),
                    completions,
                );
            }
            Some(_) => {
                self.consumer_groups.remove(&request.group_id);
            }
            None => {}
        }
        // Only a member without an id may create a group; a known id in an unknown group is
        // a member of a group that is gone.
        if !request.member_id.is_empty() && !self.groups.contains_key(&request.group_id) {
            return reply(JoinOutcome::Err(GroupError::UnknownMemberId), completions);
        }
        let group_id = &request.group_id;
        let group = self
            .groups
            .entry(group_id.clone())
            .or_insert_with(|| Group::new(group_id.clone()));
        let outcome = group.join(
            request,
            now_ms,
            &self.config,
            &mut self.member_ids,
            &mut completions,
        );
        if group.is_unused() {
            self.groups.remove(group_id);
        }
        reply(outcome, completions)
    }

    pub fn sync(&mut self, request: &SyncRequest, now_ms: i64) -> Reply<SyncOutcome> {
        let mut completions = Vec::new();
        let outcome = match self.group_mut(&request.group_id, GroupError::UnknownMemberId) {
            Ok(group) => group.sync(request, now_ms, &mut completions),
            Err(error) => SyncOutcome::Err(error),
        };
        reply(outcome, completions)
    }

    pub fn heartbeat(
        &mut self,
        request: &HeartbeatRequest,
        now_ms: i64,
    ) -> Reply<Result<(), GroupError>> {
        let outcome = self
            .group_mut(&request.group_id, GroupError::UnknownMemberId)
            .and_then(|group| group.heartbeat(request, now_ms));
        reply(outcome, Vec::new())
    }

    /// Members of an unknown group each get `UnknownMemberId`, as in Kafka.
    pub fn leave(
        &mut self,
        request: &LeaveRequest,
        now_ms: i64,
    ) -> Reply<Result<Vec<MemberLeaveResult>, GroupError>> {
        let mut completions = Vec::new();
        if self.loading {
            return reply(Err(GroupError::CoordinatorLoadInProgress), completions);
        }
        let results = match self.groups.get_mut(&request.group_id) {
            Some(group) => group.leave(&request.members, now_ms, &self.config, &mut completions),
            None => request
                .members
                .iter()
                .map(|m| MemberLeaveResult {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    result: Err(GroupError::UnknownMemberId),
                })
                .collect(),
        };
        reply(Ok(results), completions)
    }

    /// Expires sessions and completes rebalances whose time has come. Call it at
    /// [`Coordinator::next_deadline_ms`] (calling it more often is harmless).
    pub fn tick(&mut self, now_ms: i64) -> Vec<Completion> {
        let mut completions = Vec::new();
        if self.loading {
            return completions;
        }
        for group in self.groups.values_mut() {
            group.tick(now_ms, &self.config, &mut completions);
        }
        for group in self.consumer_groups.values_mut() {
            group.tick(now_ms);
        }
        // Clients that asked for a member id and never came back must not leave groups behind.
        self.groups.retain(|_, group| !group.is_unused());
        completions
    }

    pub fn next_deadline_ms(&self) -> Option<i64> {
        let classic = self.groups.values().filter_map(Group::next_deadline_ms);
        let consumer = self
            .consumer_groups
            .values()
            .filter_map(ConsumerGroup::next_deadline_ms);
        classic.chain(consumer).min()
    }

    /// Whether an OffsetCommit from `committer` is accepted. A group this coordinator does
    /// not know takes commits from outside group management only (generation -1).
    pub fn validate_offset_commit(
        &self,
        group_id: &GroupId,
        committer: &CommitterRef<'_>,
    ) -> Result<(), GroupError> {
        if self.loading {
            return Err(GroupError::CoordinatorLoadInProgress);
        }
        if let Some(group) = self.consumer_groups.get(group_id) {
            return group.validate_member_epoch(committer.member_id, committer.generation_id.0);
        }
        match self.groups.get(group_id) {
            Some(group) => group.validate_offset_commit(committer),
            // A commit from outside group management creates a simple group.
            None if committer.generation_id.0 < 0 => Ok(()),
            // A generation names a group that does not exist (Kafka 4's coordinator; the broker
            // answers OffsetCommit v8 and older ILLEGAL_GENERATION for it, as Kafka does).
            None => Err(GroupError::GroupIdNotFound),
        }
    }

    /// The protocol type and every member's metadata of a group with members; `None` for an
    /// unknown or Empty group.
    pub fn active_member_metadata(
        &self,
        group_id: &GroupId,
    ) -> Option<(String, Vec<bytes::Bytes>)> {
        self.groups
            .get(group_id)
            .and_then(Group::active_member_metadata)
    }

    /// DescribeGroups. An unknown group is described as Dead with no members, as Kafka does.
    pub fn describe(&self, group_id: &GroupId) -> Result<GroupDescription, GroupError> {
        if self.loading {
            return Err(GroupError::CoordinatorLoadInProgress);
        }
        Ok(match self.groups.get(group_id) {
            Some(group) => group.describe(),
            None => GroupDescription {
                group_id: group_id.clone(),
                state: GroupState::Dead,
                protocol_type: String::new(),
                protocol: String::new(),
                members: Vec::new(),
            },
        })
    }

    /// ListGroups, filtered by state when `states` is not empty; sorted by group id.
    pub fn list(&self, states: &[GroupState]) -> Result<Vec<GroupListing>, GroupError> {
        if self.loading {
            return Err(GroupError::CoordinatorLoadInProgress);
        }
        let mut listings: Vec<GroupListing> = self
            .groups
            .values()
            .filter(|g| states.is_empty() || states.contains(&g.state()))
            .map(Group::listing)
            .collect();
        listings.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        Ok(listings)
    }

    /// DeleteGroups: only groups without members (committed offsets are the broker's to drop).
    pub fn delete(&mut self, group_ids: &[GroupId]) -> Vec<(GroupId, Result<(), GroupError>)> {
        group_ids
            .iter()
            .map(|id| (id.clone(), self.delete_one(id)))
            .collect()
    }

    fn delete_one(&mut self, group_id: &GroupId) -> Result<(), GroupError> {
        if self.loading {
            return Err(GroupError::CoordinatorLoadInProgress);
        }
        if let Some(group) = self.consumer_groups.get(group_id) {
            if !group.is_empty() {
                return Err(GroupError::NonEmptyGroup);
            }
            self.consumer_groups.remove(group_id);
            return Ok(());
        }
        let group = self
            .groups
            .get_mut(group_id)
            .ok_or(GroupError::GroupIdNotFound)?;
        if group.state() != GroupState::Empty {
            return Err(GroupError::NonEmptyGroup);
        }
        group.mark_dead();
        self.groups.remove(group_id);
        Ok(())
    }

    /// ConsumerGroupHeartbeat (KIP-848): joins, heartbeats, reconciles and leaves. `topics`
    /// resolves a subscribed topic name to its id and partition count.
    pub fn consumer_heartbeat(
        &mut self,
        request: &ConsumerHeartbeat,
        topics: &dyn Fn(&str) -> Option<TopicInfo>,
        now_ms: i64,
    ) -> Result<ConsumerHeartbeatResult, GroupError> {
        if self.loading {
            return Err(GroupError::CoordinatorLoadInProgress);
        }
        // Kafka without online migration: a classic group in use is not a consumer group.
        match self.groups.get(&request.group_id) {
            Some(group) if group.state() != GroupState::Empty => {
                return Err(GroupError::GroupIdNotFound);
            }
            Some(_) => {
                self.groups.remove(&request.group_id);
            }
            None => {}
        }
        if matches!(request.member_epoch, LEAVE_EPOCH | STATIC_LEAVE_EPOCH) {
            let group = self
                .consumer_groups
                .get_mut(&request.group_id)
                .ok_or(GroupError::UnknownMemberId)?;
            let member_epoch = group.leave(&request.member_id, request.member_epoch)?;
            return Ok(ConsumerHeartbeatResult {
                member_id: request.member_id.clone(),
                member_epoch,
                heartbeat_interval_ms: 0,
                assignment: None,
            });
        }
        let member_ids = &mut self.member_ids;
        let group = self
            .consumer_groups
            .entry(request.group_id.clone())
            .or_insert_with(|| ConsumerGroup::new(request.group_id.clone()));
        group.heartbeat(
            request,
            || member_ids.next_bare(),
            topics,
            &self.config,
            now_ms,
        )
    }

    /// ConsumerGroupDescribe: a classic or unknown group is GROUP_ID_NOT_FOUND.
    pub fn consumer_describe(
        &self,
        group_id: &GroupId,
    ) -> Result<ConsumerGroupDescription, GroupError> {
        if self.loading {
            return Err(GroupError::CoordinatorLoadInProgress);
        }
        self.consumer_groups
            .get(group_id)
            .map(ConsumerGroup::describe)
            .ok_or(GroupError::GroupIdNotFound)
    }

    /// Every KIP-848 group with its state name.
    pub fn consumer_group_states(&self) -> Vec<(GroupId, &'static str)> {
        self.consumer_groups
            .iter()
            .map(|(id, group)| (id.clone(), group.state()))
            .collect()
    }

    /// The topics the members of a KIP-848 group subscribe to; `None` for other groups.
    pub fn consumer_subscribed_topics(&self, group_id: &GroupId) -> Option<BTreeSet<String>> {
        self.consumer_groups
            .get(group_id)
            .map(ConsumerGroup::subscribed_topics)
    }

    /// OffsetFetch v9 from a KIP-848 member: its epoch must be current. Other groups accept.
    pub fn validate_offset_fetch(
        &self,
        group_id: &GroupId,
        member_id: &MemberId,
        member_epoch: i32,
    ) -> Result<(), GroupError> {
        match self.consumer_groups.get(group_id) {
            Some(group) if member_epoch >= 0 => {
                group.validate_member_epoch(member_id, member_epoch)
            }
            _ => Ok(()),
        }
    }

    fn group_mut(
        &mut self,
        group_id: &GroupId,
        missing: GroupError,
    ) -> Result<&mut Group, GroupError> {
        if self.loading {
            return Err(GroupError::CoordinatorLoadInProgress);
        }
        self.groups.get_mut(group_id).ok_or(missing)
    }
}

fn reply<T>(outcome: T, completions: Vec<Completion>) -> Reply<T> {
    Reply {
        outcome,
        completions,
    }
}

#[cfg(test)]
mod tests {
    use crate::consumer_group::{ConsumerHeartbeat, TopicInfo};
    use crate::error::GroupError;
    use crate::ids::{GroupId, MemberId};
    use crate::outcome::JoinOutcome;
    use crate::state::GroupState;
    use crate::test_support::*;

    #[test]
    fn describe_a_stable_group_shows_members_with_metadata_and_assignment() {
        let mut c = coordinator();
        let group = stable_group(&mut c, 2, 0);
        let described = c.describe(&group_id()).expect("not loading");
        assert_eq!(described.state, GroupState::Stable);
        assert_eq!(described.protocol_type, "consumer");
        assert_eq!(described.protocol, "range");
        assert_eq!(described.members.len(), 2);
        for member in &described.members {
            assert!(group.members.contains(&member.member_id));
            assert_eq!(member.client_id, "client");
            assert_eq!(member.client_host, "/10.0.0.1");
            assert_eq!(&member.metadata[..], b"sub-range");
            assert_eq!(member.assignment, assignment_for(&member.member_id));
        }
    }

    #[test]
    fn describe_a_rebalancing_group_hides_protocol_and_assignments() {
        let mut c = coordinator();
        let group = stable_group(&mut c, 2, 0);
        let _ = c.join(&join_request(&group.members[0]), 1);
        let described = c.describe(&group_id()).expect("not loading");
        assert_eq!(described.state, GroupState::PreparingRebalance);
        assert_eq!(described.protocol, "");
        assert!(described.members.iter().all(|m| m.assignment.is_empty()));
    }

    #[test]
    fn a_group_handed_to_another_coordinator_leaves_nothing_behind() {
        let mut c = coordinator();
        let _ = stable_group(&mut c, 2, 0);
        assert!(
            c.next_deadline_ms().is_some(),
            "its members' sessions are timed"
        );
        c.retain_groups(|g| *g != group_id());
        assert_eq!(
            c.describe(&group_id()).map(|d| d.state),
            Ok(GroupState::Dead)
        );
        assert_eq!(
            c.next_deadline_ms(),
            None,
            "no session of it expires here later"
        );
        assert!(c.tick(1_000_000).is_empty());
    }

    #[test]
    fn describe_an_unknown_group_reports_it_dead() {
        let c = coordinator();
        let described = c.describe(&GroupId::new("nobody")).expect("not loading");
        assert_eq!(described.state, GroupState::Dead);
        assert!(described.members.is_empty());
    }

    #[test]
    fn list_reports_name_state_and_protocol_type_filtered_by_state() {
        let mut c = coordinator();
        let _ = stable_group(&mut c, 1, 0);
        let listed = c.list(&[]).expect("not loading");
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].group_id, group_id());
        assert_eq!(listed[0].state, GroupState::Stable);
        assert_eq!(listed[0].protocol_type, "consumer");
        assert_eq!(c.list(&[GroupState::Empty]).map(|l| l.len()), Ok(0));
    }

    #[test]
    fn delete_refuses_a_group_with_members_and_removes_an_empty_one() {
        let mut c = coordinator();
        let group = stable_group(&mut c, 1, 0);
        let unknown = GroupId::new("nobody");
        let results = c.delete(&[group_id(), unknown.clone()]);
        assert_eq!(results[0].1, Err(GroupError::NonEmptyGroup));
        assert_eq!(results[1], (unknown, Err(GroupError::GroupIdNotFound)));
        let _ = c.leave(&leave_request(&[&group.members[0]]), 1);
        assert_eq!(c.delete(&[group_id()])[0].1, Ok(()));
        let described = c.describe(&group_id()).map(|d| d.state);
        assert_eq!(described, Ok(GroupState::Dead));
        // A member of the deleted group is unknown; a new member starts the group over.
        let reply = c.join(&join_request(&group.members[0]), 2);
        assert_eq!(reply.outcome, JoinOutcome::Err(GroupError::UnknownMemberId));
    }

    #[test]
    fn member_ids_are_unique_and_carry_the_client_id() {
        let mut c = coordinator();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..100 {
            let reply = c.join(&join_request(&MemberId::default()), 0);
            let JoinOutcome::Err(GroupError::MemberIdRequired(id)) = reply.outcome else {
                unreachable!("expected MemberIdRequired");
            };
            assert!(id.as_str().starts_with("client-"));
            assert!(seen.insert(id));
        }
    }

    #[test]
    fn a_group_whose_only_member_id_was_never_used_is_forgotten() {
        let mut c = coordinator();
        let _ = c.join(&join_request(&MemberId::default()), 0);
        assert_eq!(c.list(&[]).map(|l| l.len()), Ok(1));
        let _ = c.tick(SESSION_TIMEOUT_MS);
        assert_eq!(c.list(&[]).map(|l| l.len()), Ok(0));
    }

    #[test]
    fn next_deadline_names_the_earliest_timer() {
        let mut c = coordinator();
        assert_eq!(c.next_deadline_ms(), None);
        let _ = c.join(&join_request(&MemberId::default()), 100);
        assert_eq!(c.next_deadline_ms(), Some(100 + SESSION_TIMEOUT_MS));
    }

    fn consumer_join(member: &str) -> ConsumerHeartbeat {
        ConsumerHeartbeat {
            group_id: group_id(),
            member_id: MemberId::new(member),
            member_epoch: 0,
            instance_id: None,
            rack_id: None,
            rebalance_timeout_ms: 30_000,
            subscribed_topic_names: Some(vec!["orders".into()]),
            server_assignor: None,
            owned: Some(Default::default()),
            client_id: "client".into(),
            client_host: "/127.0.0.1".into(),
        }
    }

    fn no_topics(_: &str) -> Option<TopicInfo> {
        None
    }

    #[test]
    fn a_classic_group_in_use_is_not_a_consumer_group_and_the_other_way_round() {
        let mut c = coordinator();
        let classic = stable_group(&mut c, 1, 0);
        let refused = c.consumer_heartbeat(&consumer_join("k"), &no_topics, 1);
        assert_eq!(refused, Err(GroupError::GroupIdNotFound));
        // Once the classic group is empty, the consumer protocol takes the group over.
        let _ = c.leave(&leave_request(&[&classic.members[0]]), 2);
        let joined = c.consumer_heartbeat(&consumer_join("k"), &no_topics, 3);
        assert_eq!(joined.map(|r| r.member_epoch), Ok(1));
        let reply = c.join(&join_request(&MemberId::default()), 4);
        assert_eq!(
            reply.outcome,
            JoinOutcome::Err(GroupError::InconsistentGroupProtocol)
        );
        assert_eq!(c.delete(&[group_id()])[0].1, Err(GroupError::NonEmptyGroup));
    }
}
