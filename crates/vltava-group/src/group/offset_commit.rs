//! Whether a member may commit offsets for the group: Kafka's `ClassicGroup.validateOffsetCommit`.

use crate::error::GroupError;
use crate::ids::{GenerationId, InstanceId, MemberId};
use crate::state::GroupState;

use super::Group;

/// Who an OffsetCommit says it comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitterRef<'a> {
    pub member_id: &'a MemberId,
    pub group_instance_id: Option<&'a InstanceId>,
    /// -1 for a commit from outside group management (admin tools, `assign()` consumers).
    pub generation_id: GenerationId,
}

impl Group {
    pub(crate) fn validate_offset_commit(
        &self,
        committer: &CommitterRef<'_>,
    ) -> Result<(), GroupError> {
        if committer.generation_id.0 < 0 && self.state == GroupState::Empty {
            // From outside group management (admin tools, `assign()` consumers, which may
            // still send their group.instance.id): fine while nobody owns the partitions.
            return Ok(());
        }
        let from_member = committer.generation_id.0 >= 0
            || !committer.member_id.is_empty()
            || committer.group_instance_id.is_some();
        if !from_member {
            // A "simple" commit is accepted only while nobody owns the partitions.
            return if self.state == GroupState::Empty {
                Ok(())
            } else {
                Err(GroupError::UnknownMemberId)
            };
        }
        self.check_member(committer.member_id, committer.group_instance_id)?;
        if committer.generation_id != self.generation {
            return Err(GroupError::IllegalGeneration);
        }
        if self.state == GroupState::CompletingRebalance {
            // The member has its join response but not its assignment yet; it commits again
            // after the sync.
            return Err(GroupError::RebalanceInProgress);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::error::GroupError;
    use crate::ids::{GenerationId, GroupId, MemberId};
    use crate::test_support::*;

    use super::CommitterRef;

    fn committer(member_id: &MemberId, generation: GenerationId) -> CommitterRef<'_> {
        CommitterRef {
            member_id,
            group_instance_id: None,
            generation_id: generation,
        }
    }

    #[test]
    fn a_stable_member_commits_in_its_generation_only() {
        let mut c = coordinator();
        let group = stable_group(&mut c, 2, 0);
        let member = &group.members[0];
        let ok = c.validate_offset_commit(&group_id(), &committer(member, group.generation));
        assert_eq!(ok, Ok(()));
        let stale = GenerationId(group.generation.0 - 1);
        let old = c.validate_offset_commit(&group_id(), &committer(member, stale));
        assert_eq!(old, Err(GroupError::IllegalGeneration));
    }

    #[test]
    fn an_unknown_member_cannot_commit() {
        let mut c = coordinator();
        let group = stable_group(&mut c, 1, 0);
        let stranger = MemberId::new("stranger");
        let result = c.validate_offset_commit(&group_id(), &committer(&stranger, group.generation));
        assert_eq!(result, Err(GroupError::UnknownMemberId));
    }

    #[test]
    fn a_simple_commit_is_refused_while_the_group_has_members() {
        let mut c = coordinator();
        let _ = stable_group(&mut c, 1, 0);
        let nobody = MemberId::default();
        let result = c.validate_offset_commit(&group_id(), &committer(&nobody, GenerationId(-1)));
        assert_eq!(result, Err(GroupError::UnknownMemberId));
    }

    #[test]
    fn a_simple_commit_to_an_unknown_or_empty_group_is_accepted() {
        let mut c = coordinator();
        let nobody = MemberId::default();
        let unknown = GroupId::new("simple");
        let result = c.validate_offset_commit(&unknown, &committer(&nobody, GenerationId(-1)));
        assert_eq!(result, Ok(()));
        let group = stable_group(&mut c, 1, 0);
        let _ = c.leave(&leave_request(&[&group.members[0]]), 1);
        let result = c.validate_offset_commit(&group_id(), &committer(&nobody, GenerationId(-1)));
        assert_eq!(result, Ok(()));
    }

    #[test]
    fn a_commit_outside_group_management_to_an_empty_group_may_name_an_instance() {
        let mut c = coordinator();
        let group = stable_group(&mut c, 1, 0);
        let _ = c.leave(&leave_request(&[&group.members[0]]), 1);
        let nobody = MemberId::default();
        let instance = crate::ids::InstanceId::new("solo");
        let committer = CommitterRef {
            member_id: &nobody,
            group_instance_id: Some(&instance),
            generation_id: GenerationId(-1),
        };
        assert_eq!(c.validate_offset_commit(&group_id(), &committer), Ok(()));
    }

    #[test]
    fn a_member_commit_to_an_unknown_group_finds_no_group() {
        let c = coordinator();
        let member = MemberId::new("ghost");
        let result =
            c.validate_offset_commit(&GroupId::new("gone"), &committer(&member, GenerationId(3)));
        assert_eq!(result, Err(GroupError::GroupIdNotFound));
    }

    #[test]
    fn a_commit_between_join_and_sync_is_told_to_wait_for_the_rebalance() {
        let mut c = coordinator();
        let (member, reply) = join_new(&mut c, 0);
        let generation = completed(reply.outcome).generation_id;
        let result = c.validate_offset_commit(&group_id(), &committer(&member, generation));
        assert_eq!(result, Err(GroupError::RebalanceInProgress));
    }
}
