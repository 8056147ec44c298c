//! What happens when time passes: expired sessions, pending member ids that were never used,
//! leaders that never sync, and rebalances that stop waiting.

use crate::config::GroupConfig;
use crate::ids::MemberId;
use crate::outcome::Completion;
use crate::state::GroupState;

use super::{Group, JoinTimer};

impl Group {
    pub(crate) fn tick(&mut self, now_ms: i64, config: &GroupConfig, out: &mut Vec<Completion>) {
        self.pending_members
            .retain(|_, deadline_ms| now_ms < *deadline_ms);

        let expired: Vec<MemberId> = self
            .members
            .values()
            .filter(|m| m.session_expired(now_ms))
            .map(|m| m.id.clone())
            .collect();
        for member_id in &expired {
            tracing::info!(group = %self.id, member = %member_id, "member session expired");
            self.remove_member_and_rebalance(member_id, now_ms, config, out);
        }

        if self.state == GroupState::CompletingRebalance
            && self
                .sync_deadline_ms
                .is_some_and(|deadline_ms| now_ms >= deadline_ms)
        {
            // Kafka's pending-sync timeout: without it, followers would wait forever on a
            // leader that got its join response and vanished with a long session timeout.
            let unsynced: Vec<MemberId> = self
                .members
                .values()
                .filter(|m| !m.synced)
                .map(|m| m.id.clone())
                .collect();
            for member_id in &unsynced {
                tracing::info!(group = %self.id, member = %member_id,
                    "removing member that did not sync before the rebalance timeout");
                self.remove_member_and_rebalance(member_id, now_ms, config, out);
            }
        }

        self.try_complete_join(now_ms, out);
    }

    /// The earliest time at which `tick` has something to do for this group.
    pub(crate) fn next_deadline_ms(&self) -> Option<i64> {
        let sessions = self
            .members
            .values()
            .filter(|m| !m.awaiting_join && !m.awaiting_sync)
            .map(|m| m.session_deadline_ms);
        let join = self.join_timer.map(|timer| match timer {
            JoinTimer::InitialDelay { deadline_ms, .. } | JoinTimer::Rebalance { deadline_ms } => {
                deadline_ms
            }
        });
        sessions
            .chain(self.pending_members.values().copied())
            .chain(join)
            .chain(self.sync_deadline_ms)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use crate::error::GroupError;
    use crate::ids::GenerationId;
    use crate::outcome::JoinOutcome;
    use crate::state::GroupState;
    use crate::test_support::*;

    fn state(c: &crate::Coordinator) -> Option<GroupState> {
        c.describe(&group_id()).ok().map(|d| d.state)
    }

    #[test]
    fn an_expired_member_is_removed_and_the_others_rebalance() {
        let mut c = coordinator();
        let group = stable_group(&mut c, 2, 0);
        let (leader, follower) = (&group.members[0], &group.members[1]);
        let reply = c.heartbeat(&heartbeat_request(leader, group.generation), 6_000);
        assert_eq!(reply.outcome, Ok(()));
        assert!(c.tick(SESSION_TIMEOUT_MS - 1).is_empty());
        assert_eq!(c.next_deadline_ms(), Some(SESSION_TIMEOUT_MS));
        let _ = c.tick(SESSION_TIMEOUT_MS);
        assert_eq!(state(&c), Some(GroupState::PreparingRebalance));
        let reply = c.heartbeat(
            &heartbeat_request(follower, group.generation),
            SESSION_TIMEOUT_MS,
        );
        assert_eq!(reply.outcome, Err(GroupError::UnknownMemberId));
    }

    #[test]
    fn the_last_member_expiring_empties_the_group() {
        let mut c = coordinator();
        let _ = stable_group(&mut c, 1, 0);
        let _ = c.tick(SESSION_TIMEOUT_MS);
        assert_eq!(state(&c), Some(GroupState::Empty));
        assert_eq!(c.next_deadline_ms(), None);
    }

    /// Guards against an expired leader being kept as leader, or a rebalance waiting for it.
    #[test]
    fn an_expired_leader_is_never_leader_again_and_the_rebalance_does_not_wait_for_it() {
        let mut c = coordinator();
        let group = stable_group(&mut c, 2, 0);
        let (leader, follower) = (&group.members[0], &group.members[1]);
        let reply = c.heartbeat(&heartbeat_request(follower, group.generation), 9_000);
        assert_eq!(reply.outcome, Ok(()));
        let _ = c.tick(SESSION_TIMEOUT_MS);
        let result = completed(
            c.join(&join_request(follower), SESSION_TIMEOUT_MS + 1)
                .outcome,
        );
        assert_eq!(result.leader_id, *follower);
        assert_eq!(result.generation_id, GenerationId(group.generation.0 + 1));
        let reply = c.join(&join_request(leader), SESSION_TIMEOUT_MS + 2);
        assert_eq!(reply.outcome, JoinOutcome::Err(GroupError::UnknownMemberId));
    }

    #[test]
    fn a_member_waiting_in_a_rebalance_does_not_expire() {
        let mut c = coordinator();
        let group = stable_group(&mut c, 2, 0);
        let _ = c.join(&join_request(&group.members[0]), 0);
        // The leader's join is parked past its session timeout: the rebalance timeout governs.
        let reply = c.heartbeat(
            &heartbeat_request(&group.members[1], group.generation),
            9_000,
        );
        assert_eq!(reply.outcome, Err(GroupError::RebalanceInProgress));
        let completions = c.tick(SESSION_TIMEOUT_MS + 1);
        assert!(completions.is_empty());
        let reply = c.join(&join_request(&group.members[1]), 12_000);
        assert_eq!(
            completed(reply.outcome).generation_id,
            GenerationId(group.generation.0 + 1)
        );
    }
}
