//! LeaveGroup: members that shut down cleanly, so others take over without waiting for a
//! session timeout.

use crate::config::GroupConfig;
use crate::error::GroupError;
use crate::ids::MemberId;
use crate::outcome::{Completion, MemberLeaveResult};
use crate::request::LeavingMember;

use super::Group;

impl Group {
    pub(crate) fn leave(
        &mut self,
        leaving: &[LeavingMember],
        now_ms: i64,
        config: &GroupConfig,
        out: &mut Vec<Completion>,
    ) -> Vec<MemberLeaveResult> {
        let results = leaving
            .iter()
            .map(|member| MemberLeaveResult {
                member_id: member.member_id.clone(),
                group_instance_id: member.group_instance_id.clone(),
                result: self.leave_one(member, now_ms, config, out),
            })
            .collect();
        self.try_complete_join(now_ms, out);
        results
    }

    fn leave_one(
        &mut self,
        leaving: &LeavingMember,
        now_ms: i64,
        config: &GroupConfig,
        out: &mut Vec<Completion>,
    ) -> Result<(), GroupError> {
        let member_id: MemberId = match &leaving.group_instance_id {
            Some(instance_id) => {
                let owner = self
                    .static_members
                    .get(instance_id)
                    .ok_or(GroupError::UnknownMemberId)?;
                // A stale process of a replaced static member must not remove its successor.
                if !leaving.member_id.is_empty() && &leaving.member_id != owner {
                    return Err(GroupError::FencedInstanceId);
                }
                owner.clone()
            }
            None => {
                // A member that was given an id but never rejoined: it just stops being waited on.
                if self.pending_members.remove(&leaving.member_id).is_some() {
                    return Ok(());
                }
                leaving.member_id.clone()
            }
        };
        if !self.members.contains_key(&member_id) {
            return Err(GroupError::UnknownMemberId);
        }
        tracing::info!(group = %self.id, member = %member_id, "member left the group");
        self.remove_member_and_rebalance(&member_id, now_ms, config, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::error::GroupError;
    use crate::ids::{GenerationId, InstanceId, MemberId};
    use crate::outcome::JoinOutcome;
    use crate::request::{LeaveRequest, LeavingMember};
    use crate::state::GroupState;
    use crate::test_support::*;

    fn state(c: &crate::Coordinator) -> Option<GroupState> {
        c.describe(&group_id()).ok().map(|d| d.state)
    }

    fn results(
        reply: crate::Reply<Result<Vec<crate::MemberLeaveResult>, GroupError>>,
    ) -> Vec<Result<(), GroupError>> {
        reply
            .outcome
            .map(|r| r.into_iter().map(|m| m.result).collect())
            .unwrap_or_default()
    }

    #[test]
    fn a_member_leaving_starts_a_rebalance_for_the_others() {
        let mut c = coordinator();
        let group = stable_group(&mut c, 2, 0);
        let reply = c.leave(&leave_request(&[&group.members[1]]), 5);
        assert_eq!(results(reply), vec![Ok(())]);
        assert_eq!(state(&c), Some(GroupState::PreparingRebalance));
        // The leader alone forms the next generation as soon as it rejoins.
        let result = completed(c.join(&join_request(&group.members[0]), 6).outcome);
        assert_eq!(result.generation_id, GenerationId(group.generation.0 + 1));
        assert_eq!(result.members.len(), 1);
    }

    #[test]
    fn the_last_member_leaving_empties_the_group() {
        let mut c = coordinator();
        let group = stable_group(&mut c, 1, 0);
        let _ = c.leave(&leave_request(&[&group.members[0]]), 5);
        assert_eq!(state(&c), Some(GroupState::Empty));
    }

    #[test]
    fn a_leaving_member_with_a_parked_join_gets_unknown_member_id() {
        let mut c = coordinator();
        let group = stable_group(&mut c, 2, 0);
        // The follower rejoins with a new subscription (parked until the leader rejoins)...
        let request = crate::JoinRequest {
            protocols: vec![crate::Protocol::new("range", &b"changed"[..])],
            ..join_request(&group.members[1])
        };
        assert!(matches!(
            c.join(&request, 2).outcome,
            JoinOutcome::Pending { .. }
        ));
        // ...and leaves before it completes: its parked join must still get an answer.
        let reply = c.leave(&leave_request(&[&group.members[1]]), 3);
        let parked = join_completion(&reply.completions, &group.members[1]);
        assert_eq!(parked, Some(Err(GroupError::UnknownMemberId)));
    }

    #[test]
    fn leaving_reports_each_member_on_its_own() {
        let mut c = coordinator();
        let group = stable_group(&mut c, 2, 0);
        let stranger = MemberId::new("stranger");
        let reply = c.leave(&leave_request(&[&group.members[1], &stranger]), 5);
        assert_eq!(
            results(reply),
            vec![Ok(()), Err(GroupError::UnknownMemberId)]
        );
        let request = LeaveRequest {
            group_id: crate::GroupId::new("gone"),
            ..leave_request(&[&stranger])
        };
        assert_eq!(
            results(c.leave(&request, 5)),
            vec![Err(GroupError::UnknownMemberId)]
        );
    }

    #[test]
    fn a_static_member_leaves_by_instance_id_and_a_stale_id_is_fenced() {
        let mut c = coordinator();
        let group = stable_static_group(&mut c, &["a", "b"], 0);
        let stale = LeavingMember {
            member_id: MemberId::new("b-old"),
            group_instance_id: Some(InstanceId::new("b")),
        };
        let by_instance = LeavingMember {
            member_id: MemberId::default(),
            ..stale.clone()
        };
        let request = LeaveRequest {
            group_id: group_id(),
            members: vec![stale, by_instance],
        };
        let reply = c.leave(&request, 5);
        assert_eq!(
            results(reply),
            vec![Err(GroupError::FencedInstanceId), Ok(())]
        );
        let described = c.describe(&group_id()).map(|d| d.members.len());
        assert_eq!(described, Ok(1));
        let _ = group;
    }

    /// Guards against a rebalance that waits on members that already left (or that hands
    /// the leadership to one): the newcomer must own everything after a single rebalance.
    #[test]
    fn two_members_leave_in_quick_succession_and_a_new_member_owns_everything_in_one_rebalance() {
        let mut c = coordinator();
        let group = stable_group(&mut c, 2, 0);
        let _ = c.leave(&leave_request(&[&group.members[0]]), 100);
        let _ = c.leave(&leave_request(&[&group.members[1]]), 101);
        let (newcomer, reply) = join_new(&mut c, 102);
        let result = completed(reply.outcome);
        assert_eq!(result.leader_id, newcomer);
        let members: Vec<MemberId> = result.members.iter().map(|m| m.member_id.clone()).collect();
        assert_eq!(members, vec![newcomer.clone()]);
        // One rebalance after the departures: the generation the two left emptied, then this.
        assert_eq!(result.generation_id, GenerationId(group.generation.0 + 2));
        let assignments = vec![(newcomer.clone(), assignment_for(&newcomer))];
        let reply = c.sync(
            &sync_request(&newcomer, result.generation_id, assignments),
            103,
        );
        assert_eq!(synced(reply.outcome).assignment, assignment_for(&newcomer));
        for departed in &group.members {
            let reply = c.heartbeat(&heartbeat_request(departed, result.generation_id), 104);
            assert_eq!(reply.outcome, Err(GroupError::UnknownMemberId));
        }
    }

    #[test]
    fn members_leave_one_after_another_while_a_newcomer_joins_mid_rebalance() {
        let mut c = coordinator();
        let group = stable_group(&mut c, 3, 0);
        let _ = c.leave(&leave_request(&[&group.members[0]]), 100);
        let (newcomer, reply) = join_new(&mut c, 101);
        assert!(matches!(reply.outcome, JoinOutcome::Pending { .. }));
        let _ = c.leave(&leave_request(&[&group.members[1]]), 102);
        // The last old member rejoins; the rebalance does not wait for the departed two.
        let reply = c.join(&join_request(&group.members[2]), 103);
        let survivor = completed(reply.outcome);
        let newcomer_result = join_completion(&reply.completions, &newcomer).and_then(Result::ok);
        let leader = newcomer_result.as_ref().map(|r| r.leader_id.clone());
        assert!(leader == Some(newcomer.clone()) || leader == Some(group.members[2].clone()));
        let all = if survivor.members.is_empty() {
            newcomer_result.map(|r| r.members.len())
        } else {
            Some(survivor.members.len())
        };
        assert_eq!(all, Some(2));
    }
}
