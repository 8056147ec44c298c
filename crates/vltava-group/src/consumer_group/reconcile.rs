//! Moves a member towards its target assignment: Kafka's `CurrentAssignmentBuilder`.
//!
//! The rule that keeps every record read once: a partition is given to a member only when no
//! other member holds it. A member losing partitions first keeps its epoch and its remaining
//! partitions until it confirms the revocation (by no longer listing them as owned); only
//! then does it move to the new epoch, and the partitions become free for others.

use std::collections::{BTreeSet, HashMap};

use uuid::Uuid;

use super::assignor::Assignment;
use super::member::{ConsumerMember, MemberState};
use crate::ids::MemberId;

/// Who holds each partition (assigned or being revoked).
pub(crate) type Owners = HashMap<(Uuid, i32), MemberId>;

/// Reconciles `member` with `target` at `target_epoch`. `owned` is what the member says it
/// owns (None: unchanged since its last full heartbeat).
pub(crate) fn reconcile(
    member: &mut ConsumerMember,
    owned: Option<&Assignment>,
    target: &Assignment,
    target_epoch: i32,
    owners: &mut Owners,
    now_ms: i64,
) {
    let ready = match member.state {
        MemberState::Stable => member.epoch != target_epoch,
        // Still listing a partition it must give up: it has not finished revoking.
        MemberState::UnrevokedPartitions => {
            owned.is_some_and(|owned| !overlaps(owned, &member.pending_revocation))
        }
        MemberState::UnreleasedPartitions => true,
    };
    if ready {
        next_assignment(member, target, target_epoch, owners, now_ms);
    }
}

fn next_assignment(
    member: &mut ConsumerMember,
    target: &Assignment,
    target_epoch: i32,
    owners: &mut Owners,
    now_ms: i64,
) {
    let current = &member.assigned;
    let kept = intersect(current, target);
    let revoke = subtract(current, target);
    release(member, owners);
    let before = member.assigned.clone();
    if !revoke.is_empty() {
        member.assigned = kept;
        member.pending_revocation = revoke;
        member.state = MemberState::UnrevokedPartitions;
        member.revocation_deadline_ms = Some(now_ms.saturating_add(member.rebalance_timeout_ms));
    } else {
        let mut assigned = kept;
        let mut unreleased = false;
        for (topic, partitions) in target {
            for partition in partitions {
                let free = owners
                    .get(&(*topic, *partition))
                    .is_none_or(|owner| *owner == member.id);
                if free {
                    assigned.entry(*topic).or_default().insert(*partition);
                } else {
                    unreleased = true;
                }
            }
        }
        member.assigned = assigned;
        member.pending_revocation.clear();
        member.previous_epoch = member.epoch;
        member.epoch = target_epoch;
        member.revocation_deadline_ms = None;
        member.state = if unreleased {
            MemberState::UnreleasedPartitions
        } else {
            MemberState::Stable
        };
    }
    claim(member, owners);
    if member.assigned != before {
        member.assignment_unsent = true;
    }
}

/// Drops every partition the member holds from the owners.
pub(crate) fn release(member: &ConsumerMember, owners: &mut Owners) {
    for key in member.held() {
        if owners.get(&key) == Some(&member.id) {
            owners.remove(&key);
        }
    }
}

fn claim(member: &ConsumerMember, owners: &mut Owners) {
    for key in member.held() {
        owners.insert(key, member.id.clone());
    }
}

fn intersect(a: &Assignment, b: &Assignment) -> Assignment {
    a.iter()
        .filter_map(|(topic, partitions)| {
            let common: BTreeSet<i32> = partitions.intersection(b.get(topic)?).copied().collect();
            (!common.is_empty()).then_some((*topic, common))
        })
        .collect()
}

fn subtract(a: &Assignment, b: &Assignment) -> Assignment {
    a.iter()
        .filter_map(|(topic, partitions)| {
            let rest: BTreeSet<i32> = match b.get(topic) {
                Some(other) => partitions.difference(other).copied().collect(),
                None => partitions.clone(),
            };
            (!rest.is_empty()).then_some((*topic, rest))
        })
        .collect()
}

fn overlaps(a: &Assignment, b: &Assignment) -> bool {
    a.iter().any(|(topic, partitions)| {
        b.get(topic)
            .is_some_and(|other| !partitions.is_disjoint(other))
    })
}

/// Whether every partition in `a` is in `b`.
pub(crate) fn is_subset(a: &Assignment, b: &Assignment) -> bool {
    a.iter().all(|(topic, partitions)| {
        partitions.is_empty()
            || b.get(topic)
                .is_some_and(|other| partitions.is_subset(other))
    })
}
