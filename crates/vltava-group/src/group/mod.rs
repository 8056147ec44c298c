//! One classic group: its members, its generation and the rebalance that forms the next one.
//! The request handlers live in the submodules; this file holds the transitions they share.
//!
//! Every handler pushes the parked requests it completes into `out`, in the order the broker
//! must answer them.

mod heartbeat;
mod join;
mod leave;
mod offset_commit;
mod persist;
mod sync;
mod timers;

pub use offset_commit::CommitterRef;

#[cfg(test)]
mod join_tests;
#[cfg(test)]
mod static_member_tests;

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;

use crate::config::GroupConfig;
use crate::error::GroupError;
use crate::ids::{GenerationId, GroupId, InstanceId, MemberId};
use crate::member::Member;
use crate::outcome::{
    Completion, GroupDescription, GroupListing, JoinResult, JoinedMember, MemberDescription,
};
use crate::protocol_selection::{candidate_protocols, select_protocol};
use crate::state::GroupState;

pub(crate) struct Group {
    id: GroupId,
    state: GroupState,
    generation: GenerationId,
    /// Set by the first member; kept while the group is Empty, as Kafka shows it in listings.
    protocol_type: Option<String>,
    protocol_name: Option<String>,
    leader: Option<MemberId>,
    /// Ordered so the choice of a new leader is deterministic.
    members: BTreeMap<MemberId, Member>,
    /// KIP-345: which member id currently owns each group.instance.id.
    static_members: HashMap<InstanceId, MemberId>,
    /// KIP-394: ids handed out with `MemberIdRequired`, with the deadline by which the member
    /// must rejoin with it. A rebalance waits for them, as Kafka's `hasAllMembersJoined` does.
    pending_members: BTreeMap<MemberId, i64>,
    join_timer: Option<JoinTimer>,
    /// CompletingRebalance only: members that have not sent SyncGroup by then are removed.
    sync_deadline_ms: Option<i64>,
    /// Counts changes of what the group's `__consumer_offsets` record holds (`persist`).
    revision: u64,
    /// The revision the last record written holds; `None` when none (or a deletion) was.
    stored_revision: Option<u64>,
}

/// When a PreparingRebalance group stops waiting for members.
#[derive(Clone, Copy, Debug)]
enum JoinTimer {
    /// The first rebalance of an Empty group: Kafka's `InitialDelayedJoin`. It never completes
    /// early; at the deadline it extends by `delay_ms` (bounded by `remaining_ms`) if members
    /// arrived meanwhile.
    InitialDelay {
        deadline_ms: i64,
        delay_ms: i64,
        remaining_ms: i64,
        new_member_added: bool,
    },
    /// Kafka's `DelayedJoin`: completes when all members rejoined, or at the deadline.
    Rebalance { deadline_ms: i64 },
}

impl Group {
    pub(crate) fn new(id: GroupId) -> Self {
        Self {
            id,
            state: GroupState::Empty,
            generation: GenerationId(0),
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: BTreeMap::new(),
            static_members: HashMap::new(),
            pending_members: BTreeMap::new(),
            join_timer: None,
            sync_deadline_ms: None,
            revision: 0,
            stored_revision: None,
        }
    }

    pub(crate) fn state(&self) -> GroupState {
        self.state
    }

    /// A group that a failed first join created and that never had a member: not worth keeping.
    pub(crate) fn is_unused(&self) -> bool {
        self.state == GroupState::Empty
            && self.generation == GenerationId(0)
            && self.members.is_empty()
            && self.pending_members.is_empty()
    }

    pub(crate) fn mark_dead(&mut self) {
        self.transition(GroupState::Dead);
    }

    fn transition(&mut self, next: GroupState) {
        debug_assert!(
            self.state.can_transition_to(next),
            "group {}: illegal transition {} -> {}",
            self.id,
            self.state,
            next
        );
        tracing::debug!(group = %self.id, from = %self.state, to = %next,
            generation = self.generation.0, "group state transition");
        self.state = next;
        self.revise();
    }

    /// The checks every request from an existing member starts with. The fencing check comes
    /// first: a static member's old id must learn it was replaced, not merely that it is unknown.
    fn check_member(
        &self,
        member_id: &MemberId,
        instance_id: Option<&InstanceId>,
    ) -> Result<(), GroupError> {
        if let Some(owner) = instance_id.and_then(|i| self.static_members.get(i))
            && owner != member_id
        {
            return Err(GroupError::FencedInstanceId);
        }
        if self.members.contains_key(member_id) {
            Ok(())
        } else {
            Err(GroupError::UnknownMemberId)
        }
    }

    fn is_full(&self, config: &GroupConfig) -> bool {
        self.members.len() + self.pending_members.len() >= config.group_max_size
    }

    fn add_member(&mut self, member: Member) {
        if self.leader.is_none() {
            self.leader = Some(member.id.clone());
        }
        if let Some(instance_id) = &member.instance_id {
            self.static_members
                .insert(instance_id.clone(), member.id.clone());
        }
        if let Some(JoinTimer::InitialDelay {
            new_member_added, ..
        }) = &mut self.join_timer
        {
            *new_member_added = true;
        }
        self.members.insert(member.id.clone(), member);
        self.revise();
    }

    /// Removes a member for good: its parked requests are answered, it loses leadership and
    /// its instance id, and no rebalance waits for it. Returns whether it was a member.
    fn remove_member(&mut self, member_id: &MemberId, out: &mut Vec<Completion>) -> bool {
        let Some(member) = self.members.remove(member_id) else {
            return false;
        };
        self.revise();
        if member.awaiting_join {
            out.push(self.join_completion(member_id, Err(GroupError::UnknownMemberId)));
        }
        if member.awaiting_sync {
            out.push(self.sync_completion(member_id, Err(GroupError::UnknownMemberId)));
        }
        if let Some(instance_id) = &member.instance_id
            && self.static_members.get(instance_id) == Some(member_id)
        {
            self.static_members.remove(instance_id);
        }
        if self.leader.as_ref() == Some(member_id) {
            // Prefer a member that is rejoining: it will be in the next generation.
            let next = self.members.values().find(|m| m.awaiting_join);
            self.leader = next
                .or_else(|| self.members.values().next())
                .map(|m| m.id.clone());
        }
        true
    }

    /// Removes a member and starts a rebalance so the others take over its partitions.
    fn remove_member_and_rebalance(
        &mut self,
        member_id: &MemberId,
        now_ms: i64,
        config: &GroupConfig,
        out: &mut Vec<Completion>,
    ) {
        if !self.remove_member(member_id, out) {
            return;
        }
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(now_ms, config, out);
            }
            // A running rebalance just stops waiting for it (see try_complete_join).
            GroupState::PreparingRebalance | GroupState::Empty | GroupState::Dead => {}
        }
    }

    fn rebalance_timeout_ms(&self) -> i64 {
        self.members
            .values()
            .map(|m| m.rebalance_timeout_ms)
            .max()
            .unwrap_or(0)
    }

    pub(crate) fn prepare_rebalance(
        &mut self,
        now_ms: i64,
        config: &GroupConfig,
        out: &mut Vec<Completion>,
    ) {
        if self.state == GroupState::CompletingRebalance {
            // The leader may never send this generation's assignment; the waiting followers
            // must rejoin instead.
            for member in self.members.values_mut() {
                member.assignment = Bytes::new();
                if member.awaiting_sync {
                    member.awaiting_sync = false;
                    out.push(Completion::Sync {
                        group_id: self.id.clone(),
                        member_id: member.id.clone(),
                        result: Err(GroupError::RebalanceInProgress),
                    });
                }
            }
        }
        self.sync_deadline_ms = None;
        let rebalance_timeout_ms = self.rebalance_timeout_ms();
        let delay_ms = config.initial_rebalance_delay_ms;
        self.join_timer = Some(if self.state == GroupState::Empty {
            JoinTimer::InitialDelay {
                deadline_ms: now_ms.saturating_add(delay_ms),
                delay_ms,
                remaining_ms: (rebalance_timeout_ms - delay_ms).max(0),
                new_member_added: false,
            }
        } else {
            JoinTimer::Rebalance {
                deadline_ms: now_ms.saturating_add(rebalance_timeout_ms),
            }
        });
        self.transition(GroupState::PreparingRebalance);
    }

    fn all_members_joined(&self) -> bool {
        self.pending_members.is_empty() && self.members.values().all(|m| m.awaiting_join)
    }

    /// Completes the rebalance if it has stopped waiting; called after every change.
    fn try_complete_join(&mut self, now_ms: i64, out: &mut Vec<Completion>) {
        if self.state != GroupState::PreparingRebalance {
            return;
        }
        let Some(timer) = self.join_timer else {
            return;
        };
        match timer {
            JoinTimer::InitialDelay {
                deadline_ms,
                delay_ms,
                remaining_ms,
                new_member_added,
            } => {
                if now_ms < deadline_ms {
                    return;
                }
                if new_member_added && remaining_ms > 0 {
                    self.join_timer = Some(JoinTimer::InitialDelay {
                        deadline_ms: now_ms.saturating_add(delay_ms.min(remaining_ms)),
                        delay_ms,
                        remaining_ms: (remaining_ms - delay_ms).max(0),
                        new_member_added: false,
                    });
                    return;
                }
            }
            JoinTimer::Rebalance { deadline_ms } => {
                if now_ms < deadline_ms && !self.all_members_joined() {
                    return;
                }
            }
        }
        self.complete_join(now_ms, out);
    }

    /// Forms the next generation from the members that rejoined and answers their joins.
    fn complete_join(&mut self, now_ms: i64, out: &mut Vec<Completion>) {
        let not_rejoined: Vec<MemberId> = self
            .members
            .values()
            .filter(|m| !m.awaiting_join)
            .map(|m| m.id.clone())
            .collect();
        for member_id in &not_rejoined {
            tracing::info!(group = %self.id, member = %member_id,
                "removing member that did not rejoin before the rebalance timeout");
            self.remove_member(member_id, out);
        }
        self.join_timer = None;
        self.generation = self.generation.next();
        if self.members.is_empty() {
            self.protocol_name = None;
            self.transition(GroupState::Empty);
            return;
        }
        self.protocol_name = select_protocol(self.members.values().map(|m| m.protocols.as_slice()));
        debug_assert!(
            self.leader
                .as_ref()
                .is_some_and(|l| self.members.contains_key(l))
        );
        self.transition(GroupState::CompletingRebalance);
        self.sync_deadline_ms = Some(now_ms.saturating_add(self.rebalance_timeout_ms()));
        let member_ids: Vec<MemberId> = self.members.keys().cloned().collect();
        for member_id in member_ids {
            let result = self.join_result_for(&member_id);
            if let Some(member) = self.members.get_mut(&member_id) {
                member.awaiting_join = false;
                member.synced = false;
                member.touch(now_ms);
            }
            out.push(self.join_completion(&member_id, Ok(result)));
        }
    }

    /// The current generation as `member_id` sees it; the leader also gets every member.
    fn join_result_for(&self, member_id: &MemberId) -> JoinResult {
        let is_leader = self.leader.as_ref() == Some(member_id);
        let members = if is_leader {
            let protocol = self.protocol_name.as_deref();
            self.members
                .values()
                .map(|m| JoinedMember {
                    member_id: m.id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    metadata: m.metadata(protocol),
                })
                .collect()
        } else {
            Vec::new()
        };
        JoinResult {
            member_id: member_id.clone(),
            generation_id: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader_id: self.leader.clone().unwrap_or_default(),
            skip_assignment: false,
            members,
        }
    }

    fn join_completion(
        &self,
        member_id: &MemberId,
        result: Result<JoinResult, GroupError>,
    ) -> Completion {
        Completion::Join {
            group_id: self.id.clone(),
            member_id: member_id.clone(),
            result,
        }
    }

    fn sync_completion(
        &self,
        member_id: &MemberId,
        result: Result<crate::outcome::SyncResult, GroupError>,
    ) -> Completion {
        Completion::Sync {
            group_id: self.id.clone(),
            member_id: member_id.clone(),
            result,
        }
    }

    /// Kafka's `supportsProtocols`: an empty group takes any non-empty protocol list; otherwise
    /// the type must match and the member must support one protocol all members support.
    fn supports_protocols(&self, protocol_type: &str, protocols: &[crate::ids::Protocol]) -> bool {
        if self.members.is_empty() {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        let candidates = candidate_protocols(self.members.values().map(|m| m.protocols.as_slice()));
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols
                .iter()
                .any(|p| candidates.contains(p.name.as_str()))
    }

    pub(crate) fn describe(&self) -> GroupDescription {
        let stable = self.state == GroupState::Stable;
        let protocol = if stable {
            self.protocol_name.clone()
        } else {
            None
        };
        let members = self
            .members
            .values()
            .map(|m| MemberDescription {
                member_id: m.id.clone(),
                group_instance_id: m.instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                metadata: if stable {
                    m.metadata(protocol.as_deref())
                } else {
                    Bytes::new()
                },
                assignment: if stable {
                    m.assignment.clone()
                } else {
                    Bytes::new()
                },
            })
            .collect();
        GroupDescription {
            group_id: self.id.clone(),
            state: self.state,
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            protocol: protocol.unwrap_or_default(),
            members,
        }
    }

    /// The active members' metadata for the group's protocol (for consumers, their
    /// subscriptions), or `None` when nobody is a member. OffsetDelete checks it.
    pub(crate) fn active_member_metadata(&self) -> Option<(String, Vec<Bytes>)> {
        if self.members.is_empty() {
            return None;
        }
        let protocol = self.protocol_name.as_deref();
        let metadata = self
            .members
            .values()
            .map(|m| m.metadata(protocol))
            .collect();
        Some((self.protocol_type.clone().unwrap_or_default(), metadata))
    }

    pub(crate) fn listing(&self) -> GroupListing {
        GroupListing {
            group_id: self.id.clone(),
            state: self.state,
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
        }
    }
}
