//! KIP-848 server-side assignors: `uniform` (balanced and sticky: members keep what they own
//! where the balance allows, so a join moves as few partitions as possible) and `range`
//! (per topic, contiguous ranges over the members sorted by id, as the client-side one).

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use crate::ids::MemberId;

/// Partitions by topic id: what a member owns or should own.
pub type Assignment = BTreeMap<Uuid, BTreeSet<i32>>;

/// A topic as the assignors see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicInfo {
    pub id: Uuid,
    pub name: String,
    pub partitions: i32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Assignor {
    Uniform,
    Range,
}

impl Assignor {
    /// The first is the default, as in Kafka's `group.consumer.assignors`.
    pub const ALL: [Assignor; 2] = [Assignor::Uniform, Assignor::Range];

    pub fn name(self) -> &'static str {
        match self {
            Assignor::Uniform => "uniform",
            Assignor::Range => "range",
        }
    }

    pub fn from_name(name: &str) -> Option<Assignor> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// One member's input to an assignor.
#[derive(Clone, Debug)]
pub(crate) struct AssignorMember<'a> {
    pub(crate) id: &'a MemberId,
    /// Topic ids the member subscribes to that exist.
    pub(crate) subscribed: BTreeSet<Uuid>,
    pub(crate) current: &'a Assignment,
}

/// The target assignment of every member.
pub(crate) fn assign(
    assignor: Assignor,
    members: &[AssignorMember<'_>],
    topics: &BTreeMap<Uuid, TopicInfo>,
) -> BTreeMap<MemberId, Assignment> {
    match assignor {
        Assignor::Uniform => uniform(members, topics),
        Assignor::Range => range(members, topics),
    }
}

fn range(
    members: &[AssignorMember<'_>],
    topics: &BTreeMap<Uuid, TopicInfo>,
) -> BTreeMap<MemberId, Assignment> {
    let mut target: BTreeMap<MemberId, Assignment> = members
        .iter()
        .map(|m| (m.id.clone(), Assignment::new()))
        .collect();
    for (topic_id, topic) in topics {
        let mut subscribers: Vec<&MemberId> = members
            .iter()
            .filter(|m| m.subscribed.contains(topic_id))
            .map(|m| m.id)
            .collect();
        subscribers.sort();
        let count = subscribers.len() as i32;
        if count == 0 {
            continue;
        }
        let (base, extra) = (topic.partitions / count, topic.partitions % count);
        let mut next = 0;
        for (index, member) in (0..).zip(subscribers) {
            let take = base + i32::from(index < extra);
            let partitions: BTreeSet<i32> = (next..next + take).collect();
            next += take;
            if !partitions.is_empty()
                && let Some(assignment) = target.get_mut(member)
            {
                assignment.insert(*topic_id, partitions);
            }
        }
    }
    target
}

fn uniform(
    members: &[AssignorMember<'_>],
    topics: &BTreeMap<Uuid, TopicInfo>,
) -> BTreeMap<MemberId, Assignment> {
    let mut target: BTreeMap<MemberId, Assignment> = members
        .iter()
        .map(|m| (m.id.clone(), Assignment::new()))
        .collect();
    let all: Vec<(Uuid, i32)> = topics
        .values()
        .filter(|t| members.iter().any(|m| m.subscribed.contains(&t.id)))
        .flat_map(|t| (0..t.partitions).map(move |p| (t.id, p)))
        .collect();
    if members.is_empty() || all.is_empty() {
        return target;
    }
    let (base, mut extra_slots) = (all.len() / members.len(), all.len() % members.len());
    let mut counts: BTreeMap<&MemberId, usize> = members.iter().map(|m| (m.id, 0)).collect();
    let mut taken: BTreeSet<(Uuid, i32)> = BTreeSet::new();
    // Stickiness: members holding the most keep first, up to their share.
    let mut by_holdings: Vec<&AssignorMember<'_>> = members.iter().collect();
    by_holdings.sort_by_key(|m| (std::cmp::Reverse(held(m, topics)), m.id));
    for member in by_holdings {
        let mut quota = base;
        if held(member, topics) > base && extra_slots > 0 {
            quota += 1;
            extra_slots -= 1;
        }
        for (topic_id, partitions) in member.current {
            let Some(topic) = topics.get(topic_id) else {
                continue;
            };
            if !member.subscribed.contains(topic_id) {
                continue;
            }
            for partition in partitions.iter().filter(|p| **p < topic.partitions) {
                if counts[member.id] >= quota || !taken.insert((*topic_id, *partition)) {
                    continue;
                }
                give(&mut target, &mut counts, member.id, *topic_id, *partition);
            }
        }
    }
    // The rest go to the subscribed member with the fewest, smallest id first on ties.
    for (topic_id, partition) in all {
        if taken.contains(&(topic_id, partition)) {
            continue;
        }
        let receiver = members
            .iter()
            .filter(|m| m.subscribed.contains(&topic_id))
            .min_by_key(|m| (counts[m.id], m.id))
            .map(|m| m.id);
        if let Some(receiver) = receiver {
            give(&mut target, &mut counts, receiver, topic_id, partition);
        }
    }
    target
}

/// How many valid partitions a member holds now (subscribed, still existing).
fn held(member: &AssignorMember<'_>, topics: &BTreeMap<Uuid, TopicInfo>) -> usize {
    member
        .current
        .iter()
        .filter(|(id, _)| member.subscribed.contains(id))
        .filter_map(|(id, partitions)| {
            let count = topics.get(id)?.partitions;
            Some(partitions.iter().filter(|p| **p < count).count())
        })
        .sum()
}

fn give<'a>(
    target: &mut BTreeMap<MemberId, Assignment>,
    counts: &mut BTreeMap<&'a MemberId, usize>,
    member: &'a MemberId,
    topic_id: Uuid,
    partition: i32,
) {
    if let Some(assignment) = target.get_mut(member) {
        assignment.entry(topic_id).or_default().insert(partition);
    }
    *counts.entry(member).or_default() += 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(n: u128, partitions: i32) -> TopicInfo {
        TopicInfo {
            id: Uuid::from_u128(n),
            name: format!("t{n}"),
            partitions,
        }
    }

    fn run(
        assignor: Assignor,
        ids: &[MemberId],
        current: &[Assignment],
        topics: &[TopicInfo],
    ) -> BTreeMap<MemberId, Assignment> {
        let topics: BTreeMap<Uuid, TopicInfo> = topics.iter().map(|t| (t.id, t.clone())).collect();
        let members: Vec<AssignorMember<'_>> = ids
            .iter()
            .zip(current)
            .map(|(id, current)| AssignorMember {
                id,
                subscribed: topics.keys().copied().collect(),
                current,
            })
            .collect();
        assign(assignor, &members, &topics)
    }

    fn count(a: &Assignment) -> usize {
        a.values().map(BTreeSet::len).sum()
    }

    fn ids(n: usize) -> Vec<MemberId> {
        (0..n).map(|i| MemberId::new(format!("m{i}"))).collect()
    }

    #[test]
    fn uniform_spreads_every_partition_once_and_evenly() {
        let members = ids(4);
        let empty = vec![Assignment::new(); 4];
        let target = run(
            Assignor::Uniform,
            &members,
            &empty,
            &[topic(1, 6), topic(2, 5)],
        );
        let counts: Vec<usize> = target.values().map(count).collect();
        assert_eq!(counts.iter().sum::<usize>(), 11);
        assert!(counts.iter().all(|c| *c == 2 || *c == 3), "{counts:?}");
        let mut seen = BTreeSet::new();
        for assignment in target.values() {
            for (t, ps) in assignment {
                for p in ps {
                    assert!(seen.insert((*t, *p)));
                }
            }
        }
    }

    #[test]
    fn uniform_moves_only_what_a_newcomer_needs() {
        let members = ids(3);
        let empty = vec![Assignment::new(); 3];
        let before = run(
            Assignor::Uniform,
            &members[..2],
            &empty[..2],
            &[topic(1, 6)],
        );
        let current: Vec<Assignment> = vec![
            before[&members[0]].clone(),
            before[&members[1]].clone(),
            Assignment::new(),
        ];
        let after = run(Assignor::Uniform, &members, &current, &[topic(1, 6)]);
        for (i, member) in members.iter().enumerate().take(2) {
            let kept = after[member][&Uuid::from_u128(1)]
                .iter()
                .filter(|p| current[i][&Uuid::from_u128(1)].contains(p))
                .count();
            assert_eq!(kept, 2, "member {i} should keep two of its three");
        }
        assert_eq!(count(&after[&members[2]]), 2);
    }

    #[test]
    fn range_gives_contiguous_ranges_per_topic() {
        let members = ids(2);
        let empty = vec![Assignment::new(); 2];
        let target = run(Assignor::Range, &members, &empty, &[topic(1, 5)]);
        let first: Vec<i32> = target[&members[0]][&Uuid::from_u128(1)]
            .iter()
            .copied()
            .collect();
        let second: Vec<i32> = target[&members[1]][&Uuid::from_u128(1)]
            .iter()
            .copied()
            .collect();
        assert_eq!(first, vec![0, 1, 2]);
        assert_eq!(second, vec![3, 4]);
    }

    #[test]
    fn assignors_are_found_by_name_uniform_first() {
        assert_eq!(Assignor::ALL[0], Assignor::Uniform);
        assert_eq!(Assignor::from_name("range"), Some(Assignor::Range));
        assert_eq!(Assignor::from_name("sticky"), None);
    }
}
