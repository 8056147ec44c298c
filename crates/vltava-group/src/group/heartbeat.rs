//! Heartbeat: keeps a member's session alive and tells it when to rejoin.

use crate::error::GroupError;
use crate::request::HeartbeatRequest;
use crate::state::GroupState;

use super::Group;

impl Group {
    pub(crate) fn heartbeat(
        &mut self,
        request: &HeartbeatRequest,
        now_ms: i64,
    ) -> Result<(), GroupError> {
        self.check_member(&request.member_id, request.group_instance_id.as_ref())?;
        if matches!(self.state, GroupState::Empty | GroupState::Dead) {
            return Err(GroupError::UnknownMemberId);
        }
        if request.generation_id != self.generation {
            return Err(GroupError::IllegalGeneration);
        }
        if let Some(member) = self.members.get_mut(&request.member_id) {
            member.touch(now_ms);
        }
        match self.state {
            // The member is alive but must rejoin to be in the next generation.
            GroupState::PreparingRebalance => Err(GroupError::RebalanceInProgress),
            // Heartbeats while the leader assigns are fine: the member already has its join
            // response and is about to sync.
            GroupState::CompletingRebalance | GroupState::Stable => Ok(()),
            GroupState::Empty | GroupState::Dead => Err(GroupError::UnknownMemberId),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::error::GroupError;
    use crate::ids::{GenerationId, MemberId};
    use crate::test_support::*;

    #[test]
    fn heartbeat_of_a_stable_member_is_accepted() {
        let mut c = coordinator();
        let group = stable_group(&mut c, 2, 0);
        for member in &group.members {
            let reply = c.heartbeat(&heartbeat_request(member, group.generation), 1);
            assert_eq!(reply.outcome, Ok(()));
        }
    }

    #[test]
    fn heartbeat_while_the_leader_assigns_is_accepted() {
        let mut c = coordinator();
        let (member, reply) = join_new(&mut c, 0);
        let generation = completed(reply.outcome).generation_id;
        assert_eq!(
            c.heartbeat(&heartbeat_request(&member, generation), 1)
                .outcome,
            Ok(())
        );
    }

    #[test]
    fn heartbeat_from_an_unknown_member_is_rejected() {
        let mut c = coordinator();
        let group = stable_group(&mut c, 1, 0);
        let reply = c.heartbeat(&heartbeat_request(&MemberId::new("x"), group.generation), 1);
        assert_eq!(reply.outcome, Err(GroupError::UnknownMemberId));
        let request = crate::HeartbeatRequest {
            group_id: crate::GroupId::new("no-such-group"),
            ..heartbeat_request(&group.members[0], group.generation)
        };
        assert_eq!(
            c.heartbeat(&request, 1).outcome,
            Err(GroupError::UnknownMemberId)
        );
    }

    #[test]
    fn heartbeat_with_another_generation_is_illegal() {
        let mut c = coordinator();
        let group = stable_group(&mut c, 1, 0);
        let stale = GenerationId(group.generation.0 - 1);
        let reply = c.heartbeat(&heartbeat_request(&group.members[0], stale), 1);
        assert_eq!(reply.outcome, Err(GroupError::IllegalGeneration));
    }

    #[test]
    fn heartbeat_during_a_rebalance_tells_the_member_to_rejoin() {
        let mut c = coordinator();
        let group = stable_group(&mut c, 2, 0);
        let _ = c.join(&join_request(&group.members[0]), 1);
        let reply = c.heartbeat(&heartbeat_request(&group.members[1], group.generation), 2);
        assert_eq!(reply.outcome, Err(GroupError::RebalanceInProgress));
    }

    #[test]
    fn heartbeats_keep_a_member_past_its_session_timeout() {
        let mut c = coordinator();
        let group = stable_group(&mut c, 1, 0);
        for now_ms in (0..5 * SESSION_TIMEOUT_MS).step_by(5_000) {
            let reply = c.heartbeat(
                &heartbeat_request(&group.members[0], group.generation),
                now_ms,
            );
            assert_eq!(reply.outcome, Ok(()));
            assert!(c.tick(now_ms).is_empty());
        }
    }
}
