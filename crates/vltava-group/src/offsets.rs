//! Committed offsets: the latest commit of each (group, topic, partition), as Kafka's
//! `OffsetMetadataManager` keeps them in memory in front of `__consumer_offsets`.
//!
//! Contract: the broker applies a commit only once its record is durable in
//! `__consumer_offsets`, and passes the record's offset there. A record older than the one
//! already applied for the same key is ignored, so commits that become durable out of order
//! still leave the newest one in place, as a replay of the log in order would.

use std::collections::{BTreeMap, HashMap};

use crate::ids::GroupId;

/// One committed offset, with what the client stored beside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommittedOffset {
    pub offset: i64,
    /// -1 when the client did not say.
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp_ms: i64,
}

/// A partition of a topic, as commits name it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

#[derive(Clone, Debug)]
struct Entry {
    /// `None`: deleted by a tombstone that must still win over older records.
    committed: Option<CommittedOffset>,
    /// Where the record that set this entry sits in `__consumer_offsets`.
    log_offset: i64,
}

#[derive(Debug, Default)]
pub struct OffsetStore {
    groups: HashMap<GroupId, BTreeMap<TopicPartition, Entry>>,
}

impl OffsetStore {
    /// Applies one `__consumer_offsets` record: a commit, or a deletion when `committed` is
    /// `None`. Older than what is applied already: ignored.
    pub fn apply(
        &mut self,
        group_id: &GroupId,
        partition: TopicPartition,
        committed: Option<CommittedOffset>,
        log_offset: i64,
    ) {
        let offsets = self.groups.entry(group_id.clone()).or_default();
        match offsets.get_mut(&partition) {
            Some(entry) if entry.log_offset >= log_offset => {}
            Some(entry) => {
                *entry = Entry {
                    committed,
                    log_offset,
                }
            }
            None => {
                offsets.insert(
                    partition,
                    Entry {
                        committed,
                        log_offset,
                    },
                );
            }
        }
    }

    pub fn get(&self, group_id: &GroupId, partition: &TopicPartition) -> Option<&CommittedOffset> {
        self.groups
            .get(group_id)?
            .get(partition)?
            .committed
            .as_ref()
    }

    /// Every committed offset of the group, sorted by topic and partition.
    pub fn group_offsets(
        &self,
        group_id: &GroupId,
    ) -> impl Iterator<Item = (&TopicPartition, &CommittedOffset)> {
        self.groups
            .get(group_id)
            .into_iter()
            .flat_map(|offsets| offsets.iter())
            .filter_map(|(partition, entry)| Some((partition, entry.committed.as_ref()?)))
    }

    /// Keeps only the groups `keep` accepts (a coordinator handing over the groups of a
    /// `__consumer_offsets` partition it no longer leads, or reloading one it leads again).
    pub fn retain_groups(&mut self, keep: impl Fn(&GroupId) -> bool) {
        self.groups.retain(|group_id, _| keep(group_id));
    }

    pub fn has_offsets(&self, group_id: &GroupId) -> bool {
        self.group_offsets(group_id).next().is_some()
    }

    /// Groups with at least one committed offset, sorted.
    pub fn groups(&self) -> Vec<GroupId> {
        let mut groups: Vec<GroupId> = self
            .groups
            .keys()
            .filter(|g| self.has_offsets(g))
            .cloned()
            .collect();
        groups.sort();
        groups
    }

    /// Offsets of empty groups committed before `cutoff_ms` (`offsets.retention.minutes`):
    /// the caller writes a tombstone for each. `is_empty` tells whether a group has no members.
    pub fn expired(
        &self,
        cutoff_ms: i64,
        is_empty: impl Fn(&GroupId) -> bool,
    ) -> Vec<(GroupId, TopicPartition)> {
        let mut expired = Vec::new();
        for (group_id, offsets) in &self.groups {
            if !is_empty(group_id) {
                continue;
            }
            for (partition, entry) in offsets {
                if entry
                    .committed
                    .as_ref()
                    .is_some_and(|c| c.commit_timestamp_ms < cutoff_ms)
                {
                    expired.push((group_id.clone(), partition.clone()));
                }
            }
        }
        expired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn committed(offset: i64, at_ms: i64) -> Option<CommittedOffset> {
        Some(CommittedOffset {
            offset,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp_ms: at_ms,
        })
    }

    fn tp(partition: i32) -> TopicPartition {
        TopicPartition {
            topic: "orders".into(),
            partition,
        }
    }

    #[test]
    fn the_newest_record_wins_whatever_the_order_it_is_applied_in() {
        let mut store = OffsetStore::default();
        let group = GroupId::new("g");
        store.apply(&group, tp(0), committed(20, 0), 7);
        store.apply(&group, tp(0), committed(10, 0), 6);
        assert_eq!(store.get(&group, &tp(0)).map(|c| c.offset), Some(20));
    }

    #[test]
    fn a_tombstone_hides_older_commits_applied_after_it() {
        let mut store = OffsetStore::default();
        let group = GroupId::new("g");
        store.apply(&group, tp(0), committed(5, 0), 1);
        store.apply(&group, tp(0), None, 3);
        store.apply(&group, tp(0), committed(9, 0), 2);
        assert_eq!(store.get(&group, &tp(0)), None);
        assert!(!store.has_offsets(&group));
        assert!(store.groups().is_empty());
        store.apply(&group, tp(0), committed(11, 0), 4);
        assert_eq!(store.get(&group, &tp(0)).map(|c| c.offset), Some(11));
    }

    #[test]
    fn group_offsets_are_listed_by_topic_and_partition() {
        let mut store = OffsetStore::default();
        let group = GroupId::new("g");
        store.apply(&group, tp(2), committed(1, 0), 1);
        store.apply(&group, tp(0), committed(2, 0), 2);
        let partitions: Vec<i32> = store
            .group_offsets(&group)
            .map(|(p, _)| p.partition)
            .collect();
        assert_eq!(partitions, vec![0, 2]);
        assert_eq!(store.groups(), vec![group]);
    }

    #[test]
    fn only_old_offsets_of_empty_groups_expire() {
        let mut store = OffsetStore::default();
        let idle = GroupId::new("idle");
        let busy = GroupId::new("busy");
        store.apply(&idle, tp(0), committed(1, 100), 1);
        store.apply(&idle, tp(1), committed(1, 900), 2);
        store.apply(&busy, tp(0), committed(1, 100), 3);
        let expired = store.expired(500, |g| g == &idle);
        assert_eq!(expired, vec![(idle, tp(0))]);
    }
}
