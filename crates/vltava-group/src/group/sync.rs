//! SyncGroup: the leader hands in the assignment; followers wait for it.

use std::collections::HashMap;

use bytes::Bytes;

use crate::error::GroupError;
use crate::ids::MemberId;
use crate::outcome::{Completion, SyncOutcome, SyncResult};
use crate::request::SyncRequest;
use crate::state::GroupState;

use super::Group;

impl Group {
    pub(crate) fn sync(
        &mut self,
        request: &SyncRequest,
        now_ms: i64,
        out: &mut Vec<Completion>,
    ) -> SyncOutcome {
        if let Err(error) = self.check_sync(request) {
            return SyncOutcome::Err(error);
        }
        let member_id = &request.member_id;
        if let Some(member) = self.members.get_mut(member_id) {
            member.touch(now_ms);
        }
        match self.state {
            GroupState::Empty | GroupState::Dead => SyncOutcome::Err(GroupError::UnknownMemberId),
            GroupState::PreparingRebalance => SyncOutcome::Err(GroupError::RebalanceInProgress),
            GroupState::Stable => SyncOutcome::Completed(self.sync_result(member_id)),
            GroupState::CompletingRebalance => {
                if let Some(member) = self.members.get_mut(member_id) {
                    member.awaiting_sync = true;
                    member.synced = true;
                }
                if self.leader.as_ref() == Some(member_id) {
                    self.apply_assignment(&request.assignments, out);
                }
                answer_directly(member_id, out)
            }
        }
    }

    fn check_sync(&self, request: &SyncRequest) -> Result<(), GroupError> {
        self.check_member(&request.member_id, request.group_instance_id.as_ref())?;
        if request.generation_id != self.generation {
            return Err(GroupError::IllegalGeneration);
        }
        let type_differs = request
            .protocol_type
            .as_ref()
            .is_some_and(|t| self.protocol_type.as_ref() != Some(t));
        let name_differs = request
            .protocol_name
            .as_ref()
            .is_some_and(|n| self.protocol_name.as_ref() != Some(n));
        if type_differs || name_differs {
            return Err(GroupError::InconsistentGroupProtocol);
        }
        Ok(())
    }

    /// Stores the leader's assignment (a member it left out gets an empty one, as in Kafka;
    /// ids it names that are not members are ignored), and answers every parked sync.
    fn apply_assignment(&mut self, assignments: &[(MemberId, Bytes)], out: &mut Vec<Completion>) {
        let by_member: HashMap<&MemberId, &Bytes> =
            assignments.iter().map(|(m, a)| (m, a)).collect();
        for member in self.members.values_mut() {
            member.assignment = by_member
                .get(&member.id)
                .map(|a| (*a).clone())
                .unwrap_or_default();
        }
        self.sync_deadline_ms = None;
        self.transition(GroupState::Stable);
        let waiting: Vec<MemberId> = self
            .members
            .values()
            .filter(|m| m.awaiting_sync)
            .map(|m| m.id.clone())
            .collect();
        for member_id in waiting {
            if let Some(member) = self.members.get_mut(&member_id) {
                member.awaiting_sync = false;
            }
            out.push(self.sync_completion(&member_id, Ok(self.sync_result(&member_id))));
        }
    }

    fn sync_result(&self, member_id: &MemberId) -> SyncResult {
        SyncResult {
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            assignment: self
                .members
                .get(member_id)
                .map(|m| m.assignment.clone())
                .unwrap_or_default(),
        }
    }
}

/// The leader's own sync is answered directly rather than parked.
fn answer_directly(member_id: &MemberId, out: &mut Vec<Completion>) -> SyncOutcome {
    let own = out
        .iter()
        .position(|c| matches!(c, Completion::Sync { member_id: m, .. } if m == member_id));
    match own.map(|index| out.remove(index)) {
        Some(Completion::Sync {
            result: Ok(result), ..
        }) => SyncOutcome::Completed(result),
        Some(Completion::Sync {
            result: Err(error), ..
        }) => SyncOutcome::Err(error),
        Some(other) => {
            out.push(other);
            SyncOutcome::Pending
        }
        None => SyncOutcome::Pending,
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use crate::error::GroupError;
    use crate::ids::{GenerationId, MemberId};
    use crate::outcome::{JoinOutcome, SyncOutcome};
    use crate::state::GroupState;
    use crate::test_support::*;

    /// Two members in CompletingRebalance of generation 2; returns (leader, follower).
    fn completing_group(c: &mut crate::Coordinator) -> (MemberId, MemberId) {
        let (leader, _) = join_new(c, 0);
        let (follower, _) = join_new(c, 0);
        let reply = c.join(&join_request(&leader), 0);
        assert_eq!(completed(reply.outcome).generation_id, GenerationId(2));
        (leader, follower)
    }

    #[test]
    fn followers_wait_for_the_leaders_assignment() {
        let mut c = coordinator();
        let (leader, follower) = completing_group(&mut c);
        let reply = c.sync(&sync_request(&follower, GenerationId(2), Vec::new()), 10);
        assert_eq!(reply.outcome, SyncOutcome::Pending);
        let assignments = vec![
            (leader.clone(), assignment_for(&leader)),
            (follower.clone(), assignment_for(&follower)),
        ];
        let reply = c.sync(&sync_request(&leader, GenerationId(2), assignments), 20);
        assert_eq!(synced(reply.outcome).assignment, assignment_for(&leader));
        let follower_result = sync_completion(&reply.completions, &follower).and_then(Result::ok);
        assert_eq!(
            follower_result.map(|r| r.assignment),
            Some(assignment_for(&follower))
        );
        let state = c.describe(&group_id()).map(|d| d.state);
        assert_eq!(state, Ok(GroupState::Stable));
    }

    #[test]
    fn a_member_the_leader_left_out_gets_an_empty_assignment() {
        let mut c = coordinator();
        let (leader, follower) = completing_group(&mut c);
        let assignments = vec![(leader.clone(), assignment_for(&leader))];
        let _ = c.sync(&sync_request(&leader, GenerationId(2), assignments), 0);
        let reply = c.sync(&sync_request(&follower, GenerationId(2), Vec::new()), 0);
        assert_eq!(synced(reply.outcome).assignment, Bytes::new());
    }

    #[test]
    fn sync_in_a_stable_group_returns_the_stored_assignment() {
        let mut c = coordinator();
        let group = stable_group(&mut c, 3, 0);
        for member in &group.members {
            let reply = c.sync(&sync_request(member, group.generation, Vec::new()), 5);
            assert_eq!(synced(reply.outcome).assignment, assignment_for(member));
        }
    }

    #[test]
    fn sync_with_another_generation_is_illegal() {
        let mut c = coordinator();
        let (_, follower) = completing_group(&mut c);
        let reply = c.sync(&sync_request(&follower, GenerationId(1), Vec::new()), 0);
        assert_eq!(
            reply.outcome,
            SyncOutcome::Err(GroupError::IllegalGeneration)
        );
    }

    #[test]
    fn sync_from_an_unknown_member_is_rejected() {
        let mut c = coordinator();
        let _ = completing_group(&mut c);
        let reply = c.sync(
            &sync_request(&MemberId::new("stranger"), GenerationId(2), Vec::new()),
            0,
        );
        assert_eq!(reply.outcome, SyncOutcome::Err(GroupError::UnknownMemberId));
    }

    #[test]
    fn sync_naming_another_protocol_is_inconsistent() {
        let mut c = coordinator();
        let (leader, _) = completing_group(&mut c);
        let request = crate::SyncRequest {
            protocol_name: Some("roundrobin".to_owned()),
            ..sync_request(&leader, GenerationId(2), Vec::new())
        };
        let reply = c.sync(&request, 0);
        assert_eq!(
            reply.outcome,
            SyncOutcome::Err(GroupError::InconsistentGroupProtocol)
        );
    }

    #[test]
    fn sync_during_preparing_rebalance_is_told_to_rejoin() {
        let mut c = coordinator();
        let group = stable_group(&mut c, 2, 0);
        let _ = c.join(&join_request(&group.members[0]), 1);
        let reply = c.sync(
            &sync_request(&group.members[1], group.generation, Vec::new()),
            2,
        );
        assert_eq!(
            reply.outcome,
            SyncOutcome::Err(GroupError::RebalanceInProgress)
        );
    }

    #[test]
    fn a_rebalance_before_the_leader_syncs_answers_waiting_followers_with_rebalance_in_progress() {
        let mut c = coordinator();
        let (leader, follower) = completing_group(&mut c);
        let _ = c.sync(&sync_request(&follower, GenerationId(2), Vec::new()), 0);
        // A third member arrives before the leader's assignment.
        let (_, reply) = join_new(&mut c, 1);
        assert!(matches!(reply.outcome, JoinOutcome::Pending { .. }));
        let result = sync_completion(&reply.completions, &follower);
        assert_eq!(result, Some(Err(GroupError::RebalanceInProgress)));
        let reply = c.sync(&sync_request(&leader, GenerationId(2), Vec::new()), 2);
        assert_eq!(
            reply.outcome,
            SyncOutcome::Err(GroupError::RebalanceInProgress)
        );
    }

    #[test]
    fn members_that_never_sync_are_removed_after_the_rebalance_timeout() {
        let mut c = coordinator();
        let (leader, follower) = completing_group(&mut c);
        let _ = c.sync(&sync_request(&follower, GenerationId(2), Vec::new()), 0);
        // The leader heartbeats (so its session lives) but never sends its assignment.
        let reply = c.heartbeat(&heartbeat_request(&leader, GenerationId(2)), 9_000);
        assert_eq!(reply.outcome, Ok(()));
        let completions = c.tick(REBALANCE_TIMEOUT_MS);
        assert_eq!(
            sync_completion(&completions, &follower),
            Some(Err(GroupError::RebalanceInProgress))
        );
        let state = c.describe(&group_id()).map(|d| d.state);
        assert_eq!(state, Ok(GroupState::PreparingRebalance));
        let reply = c.heartbeat(
            &heartbeat_request(&leader, GenerationId(2)),
            REBALANCE_TIMEOUT_MS,
        );
        assert_eq!(reply.outcome, Err(GroupError::UnknownMemberId));
    }
}
