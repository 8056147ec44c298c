//! The group coordinator as the broker runs it: the `vltava-group` state machine behind one
//! lock, the requests parked on it, the timer that drives it, and the committed offsets with
//! their log, `__consumer_offsets`.
//!
//! Time: the coordinator is given milliseconds of a monotonic clock that starts with the
//! broker (tokio's, so tests can pause it); wall-clock time is used only for commit
//! timestamps, which clients see.

mod group_records;
mod offsets_topic;
mod parked;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;
use tokio::time::Instant;
use vltava_group::{
    CommittedOffset, CommitterRef, Completion, ConsumerGroupDescription, ConsumerHeartbeat,
    ConsumerHeartbeatResult, Coordinator, GroupDescription, GroupError, GroupId, GroupState,
    HeartbeatRequest, JoinOutcome, JoinRequest, JoinResult, LeaveRequest, MemberId,
    MemberLeaveResult, OFFSETS_TOPIC, OffsetStore, SyncOutcome, SyncRequest, SyncResult, TopicInfo,
    TopicPartition, offsets_partition_for,
};

use group_records::GroupRecordQueue;
pub use offsets_topic::OffsetCommit;
use parked::{Parked, Waiter};

use crate::config::BrokerConfig;
use crate::error::BrokerError;
use crate::partition::Partition;
use crate::topics::{Topic, Topics};

/// A group as ListGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedGroup {
    pub group_id: GroupId,
    pub state: &'static str,
    pub protocol_type: String,
    /// "classic" or "consumer" (KIP-848).
    pub group_type: &'static str,
}

struct Inner {
    coordinator: Coordinator,
    parked: Parked,
    offsets: OffsetStore,
    /// TxnOffsetCommit's offsets by producer id, until their transaction's marker.
    pending_txn_offsets: std::collections::HashMap<i64, Vec<offsets_topic::PendingOffset>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner").finish_non_exhaustive()
    }
}

#[derive(Debug)]
pub struct GroupCoordinator {
    /// Where `__consumer_offsets` is: which groups this broker coordinates.
    topics: Arc<Topics>,
    inner: Mutex<Inner>,
    /// The `__consumer_offsets` partitions whose groups are loaded here (led here, replayed).
    loaded: Mutex<BTreeSet<i32>>,
    /// Wakes the timer task when a call may have moved the next deadline.
    deadline_changed: Notify,
    /// Group records made due by calls, waiting for their write to `__consumer_offsets`.
    records: GroupRecordQueue,
    clock_start: Instant,
    offsets_topic_partitions: i32,
    offset_metadata_bytes_max: usize,
    offsets_commit_timeout_ms: u64,
    offsets_retention_ms: i64,
}

impl GroupCoordinator {
    pub fn new(config: &BrokerConfig, topics: Arc<Topics>) -> Self {
        GroupCoordinator {
            topics,
            inner: Mutex::new(Inner {
                coordinator: Coordinator::new(config.group.clone(), rand_seed()),
                parked: Parked::default(),
                offsets: OffsetStore::default(),
                pending_txn_offsets: Default::default(),
            }),
            loaded: Mutex::default(),
            deadline_changed: Notify::new(),
            records: GroupRecordQueue::default(),
            clock_start: Instant::now(),
            offsets_topic_partitions: config.offsets_topic_partitions,
            offset_metadata_bytes_max: config.offset_metadata_bytes_max,
            offsets_commit_timeout_ms: config.offsets_commit_timeout_ms,
            offsets_retention_ms: config.offsets_retention_ms,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every change to the state machine is validated before it is applied, so a panic
        // elsewhere while holding the lock leaves nothing half-done.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn loaded_partitions(&self) -> BTreeSet<i32> {
        self.loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_loaded(&self, partition: i32, loaded: bool) {
        let mut set = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        match loaded {
            true => set.insert(partition),
            false => set.remove(&partition),
        };
    }

    fn now_ms(&self) -> i64 {
        i64::try_from(self.clock_start.elapsed().as_millis()).unwrap_or(i64::MAX)
    }

    /// Runs one coordinator call about `group_id` under the lock, answers the parked requests
    /// it completed (in order), queues the group record it made due, and wakes the timer task,
    /// whose next deadline the call may have moved.
    fn call<T>(
        &self,
        group_id: &GroupId,
        f: impl FnOnce(&mut Inner, i64) -> (T, Vec<Completion>),
    ) -> T {
        let outcome = {
            let mut inner = self.lock();
            let (outcome, completions) = f(&mut inner, self.now_ms());
            inner.parked.deliver(completions);
            let changes = inner.coordinator.take_group_changes(Some(group_id));
            // Queued under the lock, so records of one group are queued in the order made.
            self.records.push(changes);
            outcome
        };
        self.deadline_changed.notify_one();
        outcome
    }

    /// JoinGroup: answers when the rebalance completes (or at once, for errors and for a static
    /// member that rejoins a stable group).
    pub async fn join(&self, request: JoinRequest) -> Result<JoinResult, GroupError> {
        self.coordinates(&request.group_id)?;
        self.call(&request.group_id, |inner, now_ms| {
            let reply = inner.coordinator.join(&request, now_ms);
            let waiter = match reply.outcome {
                JoinOutcome::Pending { member_id } => {
                    Waiter::Parked(inner.parked.park_join(request.group_id.clone(), member_id))
                }
                JoinOutcome::Completed(result) => Waiter::Ready(Ok(result)),
                JoinOutcome::Err(error) => Waiter::Ready(Err(error)),
            };
            (waiter, reply.completions)
        })
        .answer()
        .await
    }

    /// SyncGroup: followers wait for the leader's assignment.
    pub async fn sync(&self, request: SyncRequest) -> Result<SyncResult, GroupError> {
        self.coordinates(&request.group_id)?;
        self.call(&request.group_id, |inner, now_ms| {
            let reply = inner.coordinator.sync(&request, now_ms);
            let waiter = match reply.outcome {
                SyncOutcome::Pending => Waiter::Parked(
                    inner
                        .parked
                        .park_sync(request.group_id.clone(), request.member_id.clone()),
                ),
                SyncOutcome::Completed(result) => Waiter::Ready(Ok(result)),
                SyncOutcome::Err(error) => Waiter::Ready(Err(error)),
            };
            (waiter, reply.completions)
        })
        .answer()
        .await
    }

    pub fn heartbeat(&self, request: &HeartbeatRequest) -> Result<(), GroupError> {
        self.coordinates(&request.group_id)?;
        self.call(&request.group_id, |inner, now_ms| {
            let reply = inner.coordinator.heartbeat(request, now_ms);
            (reply.outcome, reply.completions)
        })
    }

    pub fn leave(&self, request: &LeaveRequest) -> Result<Vec<MemberLeaveResult>, GroupError> {
        self.coordinates(&request.group_id)?;
        self.call(&request.group_id, |inner, now_ms| {
            let reply = inner.coordinator.leave(request, now_ms);
            (reply.outcome, reply.completions)
        })
    }

    /// DescribeGroups. A group the coordinator does not know but that has committed offsets
    /// (it emptied before a restart, or only ever committed) is Empty, as in Kafka.
    pub fn describe(&self, group_id: &GroupId) -> Result<GroupDescription, GroupError> {
        self.coordinates(group_id)?;
        let inner = self.lock();
        let mut description = inner.coordinator.describe(group_id)?;
        // A KIP-848 group is not described by this (classic) API: it stays Dead.
        let consumer_group = inner
            .coordinator
            .consumer_subscribed_topics(group_id)
            .is_some();
        if description.state == GroupState::Dead
            && !consumer_group
            && inner.offsets.has_offsets(group_id)
        {
            description.state = GroupState::Empty;
        }
        Ok(description)
    }

    /// ListGroups: classic groups, KIP-848 groups, and groups that only have offsets (Empty).
    /// `states` are matched case-insensitively, as Kafka does; empty matches all.
    pub fn list(&self, states: &[String]) -> Result<Vec<ListedGroup>, GroupError> {
        let inner = self.lock();
        let mut listed: Vec<ListedGroup> = inner
            .coordinator
            .list(&[])?
            .into_iter()
            .map(|l| ListedGroup {
                group_id: l.group_id,
                state: l.state.as_str(),
                protocol_type: l.protocol_type,
                group_type: "classic",
            })
            .collect();
        listed.extend(inner.coordinator.consumer_group_states().into_iter().map(
            |(group_id, state)| ListedGroup {
                group_id,
                state,
                protocol_type: "consumer".to_string(),
                group_type: "consumer",
            },
        ));
        for group_id in inner.offsets.groups() {
            if !listed.iter().any(|l| l.group_id == group_id) {
                listed.push(ListedGroup {
                    group_id,
                    state: GroupState::Empty.as_str(),
                    protocol_type: String::new(),
                    group_type: "classic",
                });
            }
        }
        drop(inner);
        // Groups whose partition another broker leads now are its to list.
        listed.retain(|l| {
            (states.is_empty() || states.iter().any(|s| s.eq_ignore_ascii_case(l.state)))
                && self.coordinates(&l.group_id).is_ok()
        });
        listed.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        Ok(listed)
    }

    /// ConsumerGroupHeartbeat (KIP-848), with the subscribed topics resolved from `topics`.
    pub fn consumer_heartbeat(
        &self,
        request: &ConsumerHeartbeat,
        topics: &Topics,
    ) -> Result<ConsumerHeartbeatResult, GroupError> {
        self.coordinates(&request.group_id)?;
        let resolve = |name: &str| {
            topics.get(name).map(|t| TopicInfo {
                id: t.id,
                name: name.to_string(),
                partitions: t.partition_count(),
            })
        };
        self.call(&request.group_id, |inner, now_ms| {
            let outcome = inner
                .coordinator
                .consumer_heartbeat(request, &resolve, now_ms);
            (outcome, Vec::new())
        })
    }

    pub fn consumer_describe(
        &self,
        group_id: &GroupId,
    ) -> Result<ConsumerGroupDescription, GroupError> {
        self.coordinates(group_id)?;
        self.lock().coordinator.consumer_describe(group_id)
    }

    /// The topics a KIP-848 group's members subscribe to (OffsetDelete).
    pub fn consumer_subscribed_topics(
        &self,
        group_id: &GroupId,
    ) -> Option<std::collections::BTreeSet<String>> {
        self.lock().coordinator.consumer_subscribed_topics(group_id)
    }

    pub fn validate_offset_fetch(
        &self,
        group_id: &GroupId,
        member_id: &MemberId,
        member_epoch: i32,
    ) -> Result<(), GroupError> {
        self.coordinates(group_id)?;
        self.lock()
            .coordinator
            .validate_offset_fetch(group_id, member_id, member_epoch)
    }

    /// The committed offset of one partition.
    pub fn committed(
        &self,
        group_id: &GroupId,
        partition: &TopicPartition,
    ) -> Option<CommittedOffset> {
        self.lock().offsets.get(group_id, partition).cloned()
    }

    /// Every committed offset of a group.
    pub fn committed_all(&self, group_id: &GroupId) -> Vec<(TopicPartition, CommittedOffset)> {
        self.lock()
            .offsets
            .group_offsets(group_id)
            .map(|(p, c)| (p.clone(), c.clone()))
            .collect()
    }

    /// Every committed offset held here, of every group this broker coordinates: what
    /// consumer lag is computed from.
    pub fn committed_offsets(&self) -> Vec<(GroupId, TopicPartition, i64)> {
        let inner = self.lock();
        let mut offsets = Vec::new();
        for group_id in inner.offsets.groups() {
            offsets.extend(
                inner
                    .offsets
                    .group_offsets(&group_id)
                    .map(|(p, c)| (group_id.clone(), p.clone(), c.offset)),
            );
        }
        offsets
    }

    pub fn validate_offset_commit(
        &self,
        group_id: &GroupId,
        committer: &CommitterRef<'_>,
    ) -> Result<(), GroupError> {
        self.coordinates(group_id)?;
        self.lock()
            .coordinator
            .validate_offset_commit(group_id, committer)
    }

    /// The protocol type and member metadata of a group with members (OffsetDelete).
    pub fn active_member_metadata(
        &self,
        group_id: &GroupId,
    ) -> Option<(String, Vec<bytes::Bytes>)> {
        self.lock().coordinator.active_member_metadata(group_id)
    }

    /// `Ok` if this broker coordinates the group: it leads the group's `__consumer_offsets`
    /// partition. NOT_COORDINATOR before that topic is in this broker's image (FindCoordinator
    /// creates it), as Kafka: a group served then would be dropped when the image arrives and
    /// names another leader, or this one, which takes the partition over from its log.
    /// COORDINATOR_LOAD_IN_PROGRESS while it takes the partition's groups over.
    pub fn coordinates(&self, group_id: &GroupId) -> Result<(), GroupError> {
        let Some(topic) = self.topics.get(OFFSETS_TOPIC) else {
            return Err(GroupError::NotCoordinator);
        };
        let partition =
            group_partition(&topic, group_id).map_err(|_| GroupError::NotCoordinator)?;
        match self.loaded_partitions().contains(&partition.index) {
            true => Ok(()),
            false => Err(GroupError::CoordinatorLoadInProgress),
        }
    }

    pub fn offset_metadata_bytes_max(&self) -> usize {
        self.offset_metadata_bytes_max
    }

    /// Drives session, rebalance and sync timeouts: sleeps until the coordinator's next
    /// deadline, or until a request may have moved it. Runs for the broker's lifetime.
    pub async fn run_timers(&self) {
        loop {
            let next = self.lock().coordinator.next_deadline_ms();
            let wake_at = next.map(|ms| {
                self.clock_start + std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0))
            });
            tokio::select! {
                _ = sleep_until(wake_at) => {}
                _ = self.deadline_changed.notified() => {}
            }
            let mut inner = self.lock();
            let completions = inner.coordinator.tick(self.now_ms());
            inner.parked.deliver(completions);
            let changes = inner.coordinator.take_group_changes(None);
            self.records.push(changes);
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Seeds member ids so that ids from different broker lifetimes never collide.
fn rand_seed() -> u64 {
    uuid::Uuid::new_v4().as_u64_pair().0
}

/// The group's `__consumer_offsets` partition if this broker leads it, and so coordinates the
/// group; NOT_COORDINATOR if another broker does, so that the client finds it again.
fn group_partition<'a>(
    topic: &'a Topic,
    group_id: &GroupId,
) -> Result<&'a Arc<Partition>, BrokerError> {
    match topic.led_here(offsets_partition_for(group_id, topic.partition_count())) {
        Err(BrokerError::NotLeaderOrFollower) => Err(BrokerError::NotCoordinator),
        other => other,
    }
}
