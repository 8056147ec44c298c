//! `vltava consume -g`: where the group left off, and commits of the positions reached, from
//! outside the group (generation -1, no member id).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::bail;

use crate::client::{Client, TopicPartition, error_name};

/// How often positions are committed with `-g` (Kafka's auto.commit.interval.ms).
const COMMIT_INTERVAL: Duration = Duration::from_secs(5);

/// `-g`: the group's committed offsets, and commits of the positions reached.
#[derive(Debug)]
pub struct GroupCommits {
    group: String,
    coordinator: Client,
    pub committed: BTreeMap<TopicPartition, i64>,
    last_commit: Instant,
}

impl GroupCommits {
    pub fn new(client: &mut Client, group: &str) -> anyhow::Result<GroupCommits> {
        let mut coordinator = client.coordinator(group)?;
        let committed = coordinator.committed_offsets(group)?;
        Ok(GroupCommits {
            group: group.to_string(),
            coordinator,
            committed,
            last_commit: Instant::now(),
        })
    }

    pub fn due(&self) -> bool {
        self.last_commit.elapsed() >= COMMIT_INTERVAL
    }

    /// Commits the positions that moved since the last commit.
    pub fn commit(&mut self, positions: &BTreeMap<TopicPartition, i64>) -> anyhow::Result<()> {
        self.last_commit = Instant::now();
        let moved: Vec<(TopicPartition, i64)> = positions
            .iter()
            .filter(|(p, o)| self.committed.get(*p) != Some(*o))
            .map(|(p, o)| (p.clone(), *o))
            .collect();
        if moved.is_empty() {
            return Ok(());
        }
        let refused = self.coordinator.commit_offsets(&self.group, &moved)?;
        if let Some((p, code)) = refused.first() {
            bail!(
                "group {}: the broker refused the offset of {p}: {} (the command line commits \
                 from outside the group, which the broker accepts only while it has no members)",
                self.group,
                error_name(*code)
            );
        }
        self.committed.extend(moved);
        Ok(())
    }
}
