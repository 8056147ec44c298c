//! JoinGroup: admitting members (KIP-394 ids, KIP-345 static members) and starting rebalances.

use crate::config::GroupConfig;
use crate::coordinator::MemberIdGenerator;
use crate::error::GroupError;
use crate::ids::MemberId;
use crate::member::Member;
use crate::outcome::{Completion, JoinOutcome};
use crate::request::JoinRequest;
use crate::state::GroupState;

use super::Group;

impl Group {
    pub(crate) fn join(
        &mut self,
        request: &JoinRequest,
        now_ms: i64,
        config: &GroupConfig,
        member_ids: &mut MemberIdGenerator,
        out: &mut Vec<Completion>,
    ) -> JoinOutcome {
        let session_timeout_ms = request.session_timeout_ms;
        if session_timeout_ms < config.session_timeout_min_ms
            || session_timeout_ms > config.session_timeout_max_ms
        {
            return JoinOutcome::Err(GroupError::InvalidSessionTimeout);
        }
        if !self.supports_protocols(&request.protocol_type, &request.protocols) {
            return JoinOutcome::Err(GroupError::InconsistentGroupProtocol);
        }
        let outcome = if request.member_id.is_empty() {
            self.join_new_member(request, now_ms, config, member_ids, out)
        } else {
            self.join_known_member(request, now_ms, config, out)
        };
        self.try_complete_join(now_ms, out);
        answer_directly(outcome, out)
    }

    fn join_new_member(
        &mut self,
        request: &JoinRequest,
        now_ms: i64,
        config: &GroupConfig,
        member_ids: &mut MemberIdGenerator,
        out: &mut Vec<Completion>,
    ) -> JoinOutcome {
        if let Some(instance_id) = &request.group_instance_id
            && let Some(old_id) = self.static_members.get(instance_id).cloned()
        {
            let new_id = member_ids.next(instance_id.as_str());
            return self.replace_static_member(&old_id, new_id, request, now_ms, config, out);
        }
        if self.is_full(config) {
            return JoinOutcome::Err(GroupError::GroupMaxSizeReached);
        }
        match &request.group_instance_id {
            Some(instance_id) => {
                // A static member identifies itself by its instance id; no round trip needed.
                let member_id = member_ids.next(instance_id.as_str());
                self.add_member_and_rebalance(member_id, request, now_ms, config, out)
            }
            None if request.require_known_member_id => {
                let member_id = member_ids.next(&request.client_id);
                let deadline_ms = now_ms.saturating_add(request.session_timeout_ms);
                self.pending_members.insert(member_id.clone(), deadline_ms);
                JoinOutcome::Err(GroupError::MemberIdRequired(member_id))
            }
            None => {
                let member_id = member_ids.next(&request.client_id);
                self.add_member_and_rebalance(member_id, request, now_ms, config, out)
            }
        }
    }

    fn join_known_member(
        &mut self,
        request: &JoinRequest,
        now_ms: i64,
        config: &GroupConfig,
        out: &mut Vec<Completion>,
    ) -> JoinOutcome {
        let member_id = &request.member_id;
        if self.pending_members.remove(member_id).is_some() {
            return self.add_member_and_rebalance(member_id.clone(), request, now_ms, config, out);
        }
        if let Err(error) = self.check_member(member_id, request.group_instance_id.as_ref()) {
            return JoinOutcome::Err(error);
        }
        let is_leader = self.leader.as_ref() == Some(member_id);
        let unchanged = self
            .members
            .get(member_id)
            .is_some_and(|m| m.matches(&request.protocols));
        match self.state {
            GroupState::Empty | GroupState::Dead => JoinOutcome::Err(GroupError::UnknownMemberId),
            GroupState::PreparingRebalance => self.rejoin(request, now_ms),
            // The member lost the join response of the current generation: send it again.
            // A Stable leader that rejoins wants a new assignment, so it always rebalances.
            GroupState::CompletingRebalance | GroupState::Stable
                if unchanged && !(is_leader && self.state == GroupState::Stable) =>
            {
                if let Some(member) = self.members.get_mut(member_id) {
                    member.touch(now_ms);
                }
                JoinOutcome::Completed(self.join_result_for(member_id))
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                let outcome = self.rejoin(request, now_ms);
                self.prepare_rebalance(now_ms, config, out);
                outcome
            }
        }
    }

    /// Parks an existing member's join with its updated protocols.
    fn rejoin(&mut self, request: &JoinRequest, now_ms: i64) -> JoinOutcome {
        let Some(member) = self.members.get_mut(&request.member_id) else {
            return JoinOutcome::Err(GroupError::UnknownMemberId);
        };
        member.update_from_join(request, now_ms);
        member.awaiting_join = true;
        JoinOutcome::Pending {
            member_id: request.member_id.clone(),
        }
    }

    fn add_member_and_rebalance(
        &mut self,
        member_id: MemberId,
        request: &JoinRequest,
        now_ms: i64,
        config: &GroupConfig,
        out: &mut Vec<Completion>,
    ) -> JoinOutcome {
        if self.members.is_empty() {
            self.protocol_type = Some(request.protocol_type.clone());
        }
        let mut member = Member::from_join(member_id.clone(), request, now_ms);
        member.awaiting_join = true;
        self.add_member(member);
        match self.state {
            GroupState::Empty | GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(now_ms, config, out);
            }
            GroupState::PreparingRebalance | GroupState::Dead => {}
        }
        JoinOutcome::Pending { member_id }
    }

    /// KIP-345: a static member restarted and joined without its member id. The new id takes
    /// over the instance id; the old one is fenced. A Stable group whose member comes back with
    /// the same protocols keeps its assignment: that is the point of static membership, a
    /// rolling restart without a rebalance.
    fn replace_static_member(
        &mut self,
        old_id: &MemberId,
        new_id: MemberId,
        request: &JoinRequest,
        now_ms: i64,
        config: &GroupConfig,
        out: &mut Vec<Completion>,
    ) -> JoinOutcome {
        let Some(mut member) = self.members.remove(old_id) else {
            return JoinOutcome::Err(GroupError::UnknownMemberId);
        };
        if member.awaiting_join {
            out.push(self.join_completion(old_id, Err(GroupError::FencedInstanceId)));
        }
        if member.awaiting_sync {
            out.push(self.sync_completion(old_id, Err(GroupError::FencedInstanceId)));
            member.awaiting_sync = false;
        }
        let unchanged = member.matches(&request.protocols);
        tracing::info!(group = %self.id, old = %old_id, new = %new_id,
            instance = ?request.group_instance_id, "static member replaced");
        member.id = new_id.clone();
        member.update_from_join(request, now_ms);
        if self.leader.as_ref() == Some(old_id) {
            self.leader = Some(new_id.clone());
        }
        if let Some(instance_id) = &member.instance_id {
            self.static_members
                .insert(instance_id.clone(), new_id.clone());
        }
        let keep_generation = self.state == GroupState::Stable && unchanged;
        member.awaiting_join = !keep_generation;
        self.members.insert(new_id.clone(), member);
        self.revise();
        if keep_generation {
            let mut result = self.join_result_for(&new_id);
            // KIP-814: a returning leader must not reassign; the assignment has not changed.
            result.skip_assignment = self.leader.as_ref() == Some(&new_id);
            return JoinOutcome::Completed(result);
        }
        match self.state {
            // The leader may already have assigned with the old id: assign again.
            GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty => {
                self.prepare_rebalance(now_ms, config, out);
            }
            // The generation being formed will include the new id.
            GroupState::PreparingRebalance | GroupState::Dead => {}
        }
        JoinOutcome::Pending { member_id: new_id }
    }
}

/// A join that completed the rebalance itself is answered directly rather than parked.
fn answer_directly(outcome: JoinOutcome, out: &mut Vec<Completion>) -> JoinOutcome {
    let JoinOutcome::Pending { member_id } = &outcome else {
        return outcome;
    };
    let own = out
        .iter()
        .position(|c| matches!(c, Completion::Join { member_id: m, .. } if m == member_id));
    match own.map(|index| out.remove(index)) {
        Some(Completion::Join {
            result: Ok(result), ..
        }) => JoinOutcome::Completed(result),
        Some(Completion::Join {
            result: Err(error), ..
        }) => JoinOutcome::Err(error),
        Some(other) => {
            out.push(other);
            outcome
        }
        None => outcome,
    }
}
