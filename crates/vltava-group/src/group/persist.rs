//! A Stable group's record in `__consumer_offsets` (see `group_record`): which change to write
//! after a call, and the group a new coordinator rebuilds from the last record.

use crate::group_record::{GroupChange, GroupSnapshot, MemberSnapshot};
use crate::ids::{GenerationId, GroupId, InstanceId, MemberId, Protocol};
use crate::member::Member;
use crate::state::GroupState;

use super::Group;

impl Group {
    /// Marks a change of what the group's record holds (state, generation, members, leader).
    pub(super) fn revise(&mut self) {
        self.revision += 1;
    }

    /// The record to write for what changed since the last call: the group when it is Stable
    /// and differs from its last record, a deletion when it emptied after one. A group in a
    /// rebalance keeps its last record until the rebalance ends, as Kafka writes on SyncGroup.
    pub(crate) fn take_change(&mut self) -> Option<GroupChange> {
        match self.state {
            GroupState::Stable if self.stored_revision != Some(self.revision) => {
                self.stored_revision = Some(self.revision);
                Some(GroupChange::Stable(self.snapshot()))
            }
            GroupState::Empty | GroupState::Dead => {
                self.stored_revision.take().map(|_| GroupChange::Emptied)
            }
            _ => None,
        }
    }

    fn snapshot(&self) -> GroupSnapshot {
        let protocol = self.protocol_name.as_deref();
        GroupSnapshot {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation.0,
            protocol: self.protocol_name.clone(),
            leader: self.leader.as_ref().map(|l| l.as_str().to_string()),
            members: self
                .members
                .values()
                .map(|m| MemberSnapshot {
                    member_id: m.id.as_str().to_string(),
                    group_instance_id: m.instance_id.as_ref().map(|i| i.as_str().to_string()),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: i32::try_from(m.rebalance_timeout_ms).unwrap_or(i32::MAX),
                    session_timeout_ms: i32::try_from(m.session_timeout_ms).unwrap_or(i32::MAX),
                    subscription: m.metadata(protocol),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        }
    }

    /// The Stable group a record describes, its members' sessions starting now (Kafka's
    /// loading coordinator schedules their heartbeats the same way). `None` for a record
    /// without members: vltava writes none, and such a group has nothing to resume.
    pub(crate) fn restore(id: GroupId, snapshot: &GroupSnapshot, now_ms: i64) -> Option<Self> {
        if snapshot.members.is_empty() {
            return None;
        }
        let mut group = Group::new(id);
        group.state = GroupState::Stable;
        group.generation = GenerationId(snapshot.generation);
        group.protocol_type = Some(snapshot.protocol_type.clone());
        group.protocol_name.clone_from(&snapshot.protocol);
        group.leader = snapshot.leader.as_deref().map(MemberId::new);
        for stored in &snapshot.members {
            let member = Member {
                id: MemberId::new(stored.member_id.as_str()),
                instance_id: stored.group_instance_id.as_deref().map(InstanceId::new),
                client_id: stored.client_id.clone(),
                client_host: stored.client_host.clone(),
                session_timeout_ms: i64::from(stored.session_timeout_ms),
                rebalance_timeout_ms: i64::from(stored.rebalance_timeout_ms),
                protocols: snapshot
                    .protocol
                    .iter()
                    .map(|name| Protocol::new(name.as_str(), stored.subscription.clone()))
                    .collect(),
                assignment: stored.assignment.clone(),
                awaiting_join: false,
                awaiting_sync: false,
                synced: true,
                session_deadline_ms: now_ms.saturating_add(i64::from(stored.session_timeout_ms)),
            };
            if let Some(instance_id) = &member.instance_id {
                group
                    .static_members
                    .insert(instance_id.clone(), member.id.clone());
            }
            group.members.insert(member.id.clone(), member);
        }
        group.stored_revision = Some(group.revision);
        Some(group)
    }
}

#[cfg(test)]
mod tests {
    use crate::error::GroupError;
    use crate::group::CommitterRef;
    use crate::group_record::GroupChange;
    use crate::ids::GenerationId;
    use crate::outcome::JoinOutcome;
    use crate::state::GroupState;
    use crate::test_support::*;

    #[test]
    fn a_group_is_recorded_when_stable_and_deleted_when_empty() {
        let mut c = coordinator();
        let group = stable_group(&mut c, 2, 0);
        let changes = c.take_group_changes(Some(&group_id()));
        let [(id, GroupChange::Stable(snapshot))] = changes.as_slice() else {
            unreachable!("expected one Stable record, got {changes:?}");
        };
        assert_eq!(id, &group_id());
        assert_eq!(snapshot.generation, group.generation.0);
        assert_eq!(snapshot.members.len(), 2);
        for member in &snapshot.members {
            let id = crate::ids::MemberId::new(member.member_id.as_str());
            assert_eq!(member.assignment, assignment_for(&id));
        }
        // A heartbeat changes nothing the record holds.
        let _ = c.heartbeat(&heartbeat_request(&group.members[0], group.generation), 10);
        assert_eq!(c.take_group_changes(Some(&group_id())), Vec::new());
        let leaving: Vec<_> = group.members.iter().collect();
        let _ = c.leave(&leave_request(&leaving), 20);
        assert_eq!(
            c.take_group_changes(Some(&group_id())),
            vec![(group_id(), GroupChange::Emptied)]
        );
        assert_eq!(c.take_group_changes(None), Vec::new());
    }

    #[test]
    fn a_rebalance_keeps_the_last_record_until_the_group_is_stable_again() {
        let mut c = coordinator();
        let group = stable_group(&mut c, 1, 0);
        let _ = c.take_group_changes(None);
        let (_, reply) = join_new(&mut c, 10);
        assert!(matches!(reply.outcome, JoinOutcome::Pending { .. }));
        assert_eq!(c.take_group_changes(None), Vec::new());
        let generation =
            completed(c.join(&join_request(&group.members[0]), 10).outcome).generation_id;
        assert_eq!(generation, GenerationId(group.generation.0 + 1));
        let _ = c.sync(&sync_request(&group.members[0], generation, Vec::new()), 10);
        let changes = c.take_group_changes(None);
        assert!(
            matches!(changes.as_slice(), [(_, GroupChange::Stable(s))] if s.generation == generation.0 && s.members.len() == 2),
            "{changes:?}"
        );
    }

    #[test]
    fn a_restored_group_goes_on_with_its_generation_and_members() {
        let mut old = coordinator();
        let group = stable_group(&mut old, 2, 0);
        let changes = old.take_group_changes(None);
        let [(id, GroupChange::Stable(snapshot))] = changes.as_slice() else {
            unreachable!("expected one Stable record, got {changes:?}");
        };
        let mut new = coordinator();
        new.restore_group(id.clone(), snapshot, 1_000);
        assert_eq!(
            new.describe(&group_id()).map(|d| d.state),
            Ok(GroupState::Stable)
        );
        for member in &group.members {
            let reply = new.heartbeat(&heartbeat_request(member, group.generation), 1_010);
            assert_eq!(reply.outcome, Ok(()));
            let committer = CommitterRef {
                member_id: member,
                group_instance_id: None,
                generation_id: group.generation,
            };
            assert_eq!(new.validate_offset_commit(&group_id(), &committer), Ok(()));
        }
        let stale = CommitterRef {
            member_id: &group.members[0],
            group_instance_id: None,
            generation_id: GenerationId(group.generation.0 - 1),
        };
        assert_eq!(
            new.validate_offset_commit(&group_id(), &stale),
            Err(GroupError::IllegalGeneration)
        );
        // Restoring is not a change to write back.
        assert_eq!(new.take_group_changes(None), Vec::new());
        // The members' sessions run from the restore: silent ones expire, the group empties.
        let _ = new.tick(1_000 + 3_600_000);
        assert_eq!(
            new.take_group_changes(None),
            vec![(group_id(), GroupChange::Emptied)]
        );
    }
}
