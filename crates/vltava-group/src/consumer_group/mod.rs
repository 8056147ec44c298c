//! KIP-848 consumer groups: the broker assigns, members reconcile by heartbeat.
//!
//! Epochs: the group epoch moves when membership, a subscription or a subscribed topic
//! changes; the target assignment is recomputed for that epoch (the assignment epoch); each
//! member moves to it through [`reconcile`] and reports its own member epoch.

mod assignor;
mod member;
mod reconcile;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use uuid::Uuid;

pub use assignor::{Assignment, Assignor, TopicInfo};
pub use member::MemberState;

use crate::config::GroupConfig;
use crate::error::GroupError;
use crate::ids::{GroupId, InstanceId, MemberId};
use assignor::AssignorMember;
use member::ConsumerMember;
use reconcile::{Owners, is_subset, reconcile, release};

/// Member epochs with a meaning of their own.
pub const JOIN_EPOCH: i32 = 0;
pub const LEAVE_EPOCH: i32 = -1;
pub const STATIC_LEAVE_EPOCH: i32 = -2;

/// A ConsumerGroupHeartbeat, without wire types. `None` fields are unchanged since the
/// member's last heartbeat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerHeartbeat {
    pub group_id: GroupId,
    pub member_id: MemberId,
    pub member_epoch: i32,
    pub instance_id: Option<InstanceId>,
    pub rack_id: Option<String>,
    /// -1: unchanged.
    pub rebalance_timeout_ms: i32,
    pub subscribed_topic_names: Option<Vec<String>>,
    pub server_assignor: Option<String>,
    pub owned: Option<Assignment>,
    pub client_id: String,
    pub client_host: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerHeartbeatResult {
    pub member_id: MemberId,
    pub member_epoch: i32,
    pub heartbeat_interval_ms: i32,
    /// Sent when it changed, or when the member listed what it owns.
    pub assignment: Option<Assignment>,
}

/// ConsumerGroupDescribe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerGroupDescription {
    pub group_id: GroupId,
    pub state: &'static str,
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    pub assignor: &'static str,
    pub members: Vec<ConsumerMemberDescription>,
    /// Names of the topics the assignments name.
    pub topic_names: BTreeMap<Uuid, String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerMemberDescription {
    pub member_id: MemberId,
    pub instance_id: Option<InstanceId>,
    pub rack_id: Option<String>,
    pub member_epoch: i32,
    pub client_id: String,
    pub client_host: String,
    pub subscribed_topic_names: Vec<String>,
    pub assignment: Assignment,
    pub target_assignment: Assignment,
}

pub(crate) struct ConsumerGroup {
    id: GroupId,
    group_epoch: i32,
    assignment_epoch: i32,
    members: BTreeMap<MemberId, ConsumerMember>,
    target: BTreeMap<MemberId, Assignment>,
    owners: Owners,
    /// The subscribed topics as of the last epoch: a change of partitions moves the epoch.
    topics: BTreeMap<Uuid, TopicInfo>,
    static_members: HashMap<InstanceId, MemberId>,
    assignor: Assignor,
}

impl ConsumerGroup {
    pub(crate) fn new(id: GroupId) -> Self {
        Self {
            id,
            group_epoch: 0,
            assignment_epoch: 0,
            members: BTreeMap::new(),
            target: BTreeMap::new(),
            owners: Owners::new(),
            topics: BTreeMap::new(),
            static_members: HashMap::new(),
            assignor: Assignor::ALL[0],
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    #[cfg(test)]
    pub(crate) fn group_epoch(&self) -> i32 {
        self.group_epoch
    }

    /// One heartbeat of a member (not a leave: see [`ConsumerGroup::leave`]).
    pub(crate) fn heartbeat(
        &mut self,
        request: &ConsumerHeartbeat,
        new_member_id: impl FnOnce() -> MemberId,
        topics: &dyn Fn(&str) -> Option<TopicInfo>,
        config: &GroupConfig,
        now_ms: i64,
    ) -> Result<ConsumerHeartbeatResult, GroupError> {
        if let Some(name) = &request.server_assignor {
            Assignor::from_name(name).ok_or(GroupError::UnsupportedAssignor)?;
        }
        let joining = request.member_epoch == JOIN_EPOCH;
        let member_id = if joining {
            self.admit(request, new_member_id, config)?
        } else {
            self.check_epoch(request)?;
            request.member_id.clone()
        };
        let is_new = self
            .members
            .get(&member_id)
            .is_some_and(|m| m.epoch == JOIN_EPOCH);
        let changed = self.update_member(&member_id, request, now_ms, config);
        // One new epoch for whatever changed together.
        if self.refresh_topics(topics) || changed || is_new {
            self.group_epoch += 1;
        }
        if self.group_epoch > self.assignment_epoch {
            self.compute_target();
        }
        let target = self.target.get(&member_id).cloned().unwrap_or_default();
        let Some(member) = self.members.get_mut(&member_id) else {
            return Err(GroupError::UnknownMemberId);
        };
        reconcile(
            member,
            request.owned.as_ref(),
            &target,
            self.assignment_epoch,
            &mut self.owners,
            now_ms,
        );
        let send = member.assignment_unsent || joining || request.owned.is_some();
        member.assignment_unsent = false;
        Ok(ConsumerHeartbeatResult {
            member_id: member.id.clone(),
            member_epoch: member.epoch,
            heartbeat_interval_ms: i32::try_from(config.consumer_heartbeat_interval_ms)
                .unwrap_or(i32::MAX),
            assignment: send.then(|| member.assigned.clone()),
        })
    }

    /// A member joining with epoch 0: new, rejoining with its own id, or a static member
    /// taking over the place of its previous incarnation.
    fn admit(
        &mut self,
        request: &ConsumerHeartbeat,
        new_member_id: impl FnOnce() -> MemberId,
        config: &GroupConfig,
    ) -> Result<MemberId, GroupError> {
        if request.rebalance_timeout_ms < 0 || request.subscribed_topic_names.is_none() {
            return Err(GroupError::InvalidRequest(
                "a joining member must send its rebalance timeout and subscription",
            ));
        }
        let member_id = if request.member_id.is_empty() {
            new_member_id()
        } else {
            request.member_id.clone()
        };
        if self.members.contains_key(&member_id) {
            return Ok(member_id);
        }
        if let Some(instance_id) = &request.instance_id
            && let Some(previous) = self.static_members.get(instance_id).cloned()
        {
            let left = self
                .members
                .get(&previous)
                .is_some_and(|m| m.left_temporarily);
            if !left {
                return Err(GroupError::UnreleasedInstanceId);
            }
            // The new incarnation inherits the partitions and epoch: no rebalance.
            if let Some(mut member) = self.members.remove(&previous) {
                release(&member, &mut self.owners);
                member.id = member_id.clone();
                member.left_temporarily = false;
                member.assignment_unsent = true;
                for key in member.held() {
                    self.owners.insert(key, member_id.clone());
                }
                if let Some(target) = self.target.remove(&previous) {
                    self.target.insert(member_id.clone(), target);
                }
                self.members.insert(member_id.clone(), member);
                self.static_members
                    .insert(instance_id.clone(), member_id.clone());
            }
            return Ok(member_id);
        }
        if self.members.len() >= config.group_max_size {
            return Err(GroupError::GroupMaxSizeReached);
        }
        let mut member = ConsumerMember::new(member_id.clone());
        member.instance_id = request.instance_id.clone();
        if let Some(instance_id) = &request.instance_id {
            self.static_members
                .insert(instance_id.clone(), member_id.clone());
        }
        self.members.insert(member_id.clone(), member);
        Ok(member_id)
    }

    /// Kafka's `throwIfMemberEpochIsInvalid`: a member one epoch behind whose owned partitions
    /// are all still assigned lost our last answer, and is let through.
    fn check_epoch(&self, request: &ConsumerHeartbeat) -> Result<(), GroupError> {
        let member = self
            .members
            .get(&request.member_id)
            .ok_or(GroupError::UnknownMemberId)?;
        if request.member_epoch == member.epoch {
            return Ok(());
        }
        let lost_response = request.member_epoch == member.previous_epoch
            && request
                .owned
                .as_ref()
                .is_some_and(|owned| is_subset(owned, &member.assigned));
        if request.member_epoch < member.epoch && lost_response {
            return Ok(());
        }
        Err(GroupError::FencedMemberEpoch)
    }

    /// Takes what the heartbeat says; true if the group needs a new epoch.
    fn update_member(
        &mut self,
        member_id: &MemberId,
        request: &ConsumerHeartbeat,
        now_ms: i64,
        config: &GroupConfig,
    ) -> bool {
        let Some(member) = self.members.get_mut(member_id) else {
            return false;
        };
        let mut changed = false;
        member.client_id.clone_from(&request.client_id);
        member.client_host.clone_from(&request.client_host);
        if request.rack_id.is_some() {
            member.rack_id.clone_from(&request.rack_id);
        }
        if request.rebalance_timeout_ms >= 0 {
            member.rebalance_timeout_ms = i64::from(request.rebalance_timeout_ms);
        }
        if let Some(names) = &request.subscribed_topic_names {
            let subscribed: Vec<String> = names
                .iter()
                .cloned()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            if subscribed != member.subscribed {
                member.subscribed = subscribed;
                changed = true;
            }
        }
        if request.server_assignor.is_some() && request.server_assignor != member.server_assignor {
            member.server_assignor.clone_from(&request.server_assignor);
            changed = true;
        }
        member.session_deadline_ms = now_ms.saturating_add(config.consumer_session_timeout_ms);
        changed
    }

    /// Resolves the subscribed topics; true if one was created, deleted or grown.
    fn refresh_topics(&mut self, topics: &dyn Fn(&str) -> Option<TopicInfo>) -> bool {
        let names: BTreeSet<&String> = self.members.values().flat_map(|m| &m.subscribed).collect();
        let resolved: BTreeMap<Uuid, TopicInfo> = names
            .into_iter()
            .filter_map(|name| topics(name))
            .map(|t| (t.id, t))
            .collect();
        if resolved == self.topics {
            return false;
        }
        self.topics = resolved;
        true
    }

    fn compute_target(&mut self) {
        // The members' preferred assignor when they name one (the first that does), else the
        // default, as Kafka does.
        self.assignor = self
            .members
            .values()
            .find_map(|m| m.server_assignor.as_deref().and_then(Assignor::from_name))
            .unwrap_or(Assignor::ALL[0]);
        let ids_by_name: HashMap<&str, Uuid> = self
            .topics
            .values()
            .map(|t| (t.name.as_str(), t.id))
            .collect();
        let inputs: Vec<AssignorMember<'_>> = self
            .members
            .values()
            .map(|m| AssignorMember {
                id: &m.id,
                subscribed: m
                    .subscribed
                    .iter()
                    .filter_map(|name| ids_by_name.get(name.as_str()).copied())
                    .collect(),
                current: self.target.get(&m.id).unwrap_or(&m.assigned),
            })
            .collect();
        self.target = assignor::assign(self.assignor, &inputs, &self.topics);
        self.assignment_epoch = self.group_epoch;
        tracing::debug!(group = %self.id, epoch = self.group_epoch, "computed target assignment");
    }

    /// A member leaves: for good (epoch -1), or a static member for now (epoch -2).
    pub(crate) fn leave(
        &mut self,
        member_id: &MemberId,
        member_epoch: i32,
    ) -> Result<i32, GroupError> {
        let member = self
            .members
            .get_mut(member_id)
            .ok_or(GroupError::UnknownMemberId)?;
        if member_epoch == STATIC_LEAVE_EPOCH && member.instance_id.is_some() {
            member.left_temporarily = true;
            return Ok(STATIC_LEAVE_EPOCH);
        }
        self.remove(member_id);
        Ok(LEAVE_EPOCH)
    }

    fn remove(&mut self, member_id: &MemberId) {
        if let Some(member) = self.members.remove(member_id) {
            release(&member, &mut self.owners);
            if let Some(instance_id) = &member.instance_id
                && self.static_members.get(instance_id) == Some(member_id)
            {
                self.static_members.remove(instance_id);
            }
            self.target.remove(member_id);
            self.group_epoch += 1;
            tracing::info!(group = %self.id, member = %member_id, epoch = self.group_epoch,
                "consumer group member removed");
        }
    }

    /// Fences members whose session expired or that did not revoke in time.
    pub(crate) fn tick(&mut self, now_ms: i64) {
        let expired: Vec<MemberId> = self
            .members
            .values()
            .filter(|m| {
                now_ms >= m.session_deadline_ms
                    || m.revocation_deadline_ms.is_some_and(|d| now_ms >= d)
            })
            .map(|m| m.id.clone())
            .collect();
        for member_id in &expired {
            self.remove(member_id);
        }
    }

    pub(crate) fn next_deadline_ms(&self) -> Option<i64> {
        self.members
            .values()
            .flat_map(|m| [Some(m.session_deadline_ms), m.revocation_deadline_ms])
            .flatten()
            .min()
    }

    /// Kafka's consumer group states: Empty, Assigning (target behind the group epoch),
    /// Reconciling (a member not yet at its target), Stable.
    pub(crate) fn state(&self) -> &'static str {
        if self.members.is_empty() {
            "Empty"
        } else if self.group_epoch > self.assignment_epoch {
            "Assigning"
        } else if self
            .members
            .values()
            .any(|m| m.epoch != self.assignment_epoch || m.state != MemberState::Stable)
        {
            "Reconciling"
        } else {
            "Stable"
        }
    }

    pub(crate) fn describe(&self) -> ConsumerGroupDescription {
        ConsumerGroupDescription {
            group_id: self.id.clone(),
            state: self.state(),
            group_epoch: self.group_epoch,
            assignment_epoch: self.assignment_epoch,
            assignor: self.assignor.name(),
            members: self
                .members
                .values()
                .map(|m| ConsumerMemberDescription {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    rack_id: m.rack_id.clone(),
                    member_epoch: m.epoch,
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    subscribed_topic_names: m.subscribed.clone(),
                    assignment: m.assigned.clone(),
                    target_assignment: self.target.get(&m.id).cloned().unwrap_or_default(),
                })
                .collect(),
            topic_names: self
                .topics
                .values()
                .map(|t| (t.id, t.name.clone()))
                .collect(),
        }
    }

    /// OffsetCommit and OffsetFetch from a member: its epoch must be the current one.
    pub(crate) fn validate_member_epoch(
        &self,
        member_id: &MemberId,
        member_epoch: i32,
    ) -> Result<(), GroupError> {
        if member_epoch < 0 && member_id.is_empty() {
            // From outside the group (admin tools): only while nobody consumes.
            return if self.members.is_empty() {
                Ok(())
            } else {
                Err(GroupError::UnknownMemberId)
            };
        }
        let member = self
            .members
            .get(member_id)
            .ok_or(GroupError::UnknownMemberId)?;
        if member_epoch != member.epoch {
            return Err(GroupError::StaleMemberEpoch);
        }
        Ok(())
    }

    /// The topics any member subscribes to (OffsetDelete refuses to delete their offsets).
    pub(crate) fn subscribed_topics(&self) -> BTreeSet<String> {
        self.members
            .values()
            .flat_map(|m| m.subscribed.iter().cloned())
            .collect()
    }
}

#[cfg(test)]
mod tests;
