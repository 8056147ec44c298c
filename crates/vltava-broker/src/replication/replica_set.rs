//! One partition's replicas as this broker sees them, from the metadata image and, on the
//! leader, from its followers' fetches. Pure: time is passed in.
//!
//! The high watermark is the lowest offset durable on every member of the ISR (the leader's
//! fsynced end, each follower's fetch offset: a follower fetches from an offset only once all
//! before it is fsynced there). While an ISR change is being decided by the controller the
//! larger of the two ISRs counts (Kafka's "maximal ISR"), so that a replica joining the ISR
//! never lacks data below the high watermark, and one leaving it still holds back the high
//! watermark until the shrink is committed. KIP-966: the high watermark does not move while
//! the ISR is smaller than min.insync.replicas.

use std::collections::BTreeMap;

use vltava_cluster::image::PartitionRegistration;
use vltava_cluster::records::BrokerId;

/// A follower as its leader sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Follower {
    /// Offsets below it are durable on the follower; -1 before its first fetch here.
    fetch_offset: i64,
    /// The last time it had everything the leader had (Kafka's `lastCaughtUpTimeMs`).
    caught_up_ms: i64,
    last_fetch_ms: i64,
    /// The leader's log end offset at the follower's previous fetch.
    leader_end_at_last_fetch: i64,
}

/// A replica joins the ISR only if it fetched this recently: a follower long-polls, so a live
/// one fetches at least every `replica.fetch.wait.max.ms` (500 ms), while a dead one's last
/// offsets may still look caught up (Kafka expands the ISR only on a fetch, for this reason).
pub const JOIN_FETCHED_WITHIN_MS: i64 = 1_000;

/// What the ISR check asks the controller for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsrProposal {
    pub isr: Vec<BrokerId>,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
}

#[derive(Debug, Clone)]
pub struct ReplicaSet {
    node_id: BrokerId,
    registration: Option<PartitionRegistration>,
    /// min.insync.replicas as configured; the effective value is capped at the replica count.
    min_insync_replicas: usize,
    followers: BTreeMap<BrokerId, Follower>,
    /// Offsets below it are durable on this broker.
    local_durable: i64,
    /// Where this broker's leader epoch starts in its log: a follower joins the ISR only once
    /// it has reached it (it then holds everything of earlier epochs the leader kept).
    epoch_start_offset: i64,
    /// An ISR change sent to the controller and not yet in an image.
    proposed: Option<Vec<BrokerId>>,
}

impl ReplicaSet {
    /// A partition this broker has not been told about yet: it leads alone (a single node's
    /// partitions before the first image, and tests).
    pub fn new(local_durable: i64) -> ReplicaSet {
        ReplicaSet {
            node_id: -1,
            registration: None,
            min_insync_replicas: 1,
            followers: BTreeMap::new(),
            local_durable,
            epoch_start_offset: 0,
            proposed: None,
        }
    }

    /// A newly published registration. A new leader epoch led here starts every follower
    /// over (unknown offset, caught up now, as Kafka's `makeLeader`); an ISR change keeps them.
    pub fn update(
        &mut self,
        node_id: BrokerId,
        registration: &PartitionRegistration,
        min_insync_replicas: i32,
        log_end_offset: i64,
        now_ms: i64,
    ) {
        self.node_id = node_id;
        self.min_insync_replicas = usize::try_from(min_insync_replicas).unwrap_or(1).max(1);
        let new_term = self.registration.as_ref().is_none_or(|old| {
            old.leader != registration.leader || old.leader_epoch != registration.leader_epoch
        });
        let changed = self
            .registration
            .as_ref()
            .is_none_or(|old| old.partition_epoch != registration.partition_epoch);
        if changed {
            self.proposed = None;
        }
        if new_term && registration.leader == self.node_id {
            self.epoch_start_offset = log_end_offset;
            self.followers.clear();
        }
        if registration.leader == self.node_id {
            // Every follower starts unknown in a new term, as does a replica added by a
            // reassignment; removed ones are forgotten.
            self.followers
                .retain(|b, _| registration.replicas.contains(b));
            for &b in &registration.replicas {
                if b != self.node_id {
                    self.followers
                        .entry(b)
                        .or_insert_with(|| Follower::unknown(now_ms));
                }
            }
        } else {
            self.followers.clear();
        }
        self.registration = Some(registration.clone());
    }

    /// Whether no image has placed the partition yet.
    pub fn unplaced(&self) -> bool {
        self.registration.is_none()
    }

    pub fn leads(&self) -> bool {
        self.registration
            .as_ref()
            .is_none_or(|r| r.leader == self.node_id)
    }

    /// The leader this broker follows, if it follows one.
    pub fn leader(&self) -> Option<BrokerId> {
        self.registration
            .as_ref()
            .map(|r| r.leader)
            .filter(|&l| l != self.node_id && l >= 0)
    }

    /// Replicas of the partition (1 before the first image).
    pub fn replica_count(&self) -> usize {
        self.registration.as_ref().map_or(1, |r| r.replicas.len())
    }

    /// min.insync.replicas capped at the replica count: a topic with fewer replicas than its
    /// min.insync.replicas still takes acks=all writes, as Kafka 4.4 does.
    pub fn effective_min_isr(&self) -> usize {
        self.min_insync_replicas.min(self.replica_count()).max(1)
    }

    /// The committed ISR's size (1 before the first image).
    pub fn isr_size(&self) -> usize {
        self.registration.as_ref().map_or(1, |r| r.isr.len())
    }

    /// acks=all writes are refused while this holds (NOT_ENOUGH_REPLICAS).
    pub fn below_min_isr(&self) -> bool {
        self.isr_size() < self.effective_min_isr()
    }

    /// Offsets below `offset` are durable on this broker now.
    pub fn set_local_durable(&mut self, offset: i64) {
        self.local_durable = self.local_durable.max(offset);
    }

    /// The durable end on this broker after a truncation.
    pub fn reset_local_durable(&mut self, offset: i64) {
        self.local_durable = offset;
    }

    /// A follower fetched from `fetch_offset` (all before it durable there) while this
    /// leader's log ended at `leader_end`. False if `follower` is not a replica led here.
    pub fn follower_fetched(
        &mut self,
        follower: BrokerId,
        fetch_offset: i64,
        leader_end: i64,
        now_ms: i64,
    ) -> bool {
        let Some(state) = self.followers.get_mut(&follower) else {
            return false;
        };
        if fetch_offset >= leader_end {
            state.caught_up_ms = now_ms;
        } else if fetch_offset >= state.leader_end_at_last_fetch {
            state.caught_up_ms = state.caught_up_ms.max(state.last_fetch_ms);
        }
        state.fetch_offset = fetch_offset;
        state.last_fetch_ms = now_ms;
        state.leader_end_at_last_fetch = leader_end;
        true
    }

    /// On the leader, each follower that holds `fetch_offset` durably: its fetch offset and
    /// how long ago it last had everything this leader had (KIP-392's candidates).
    pub fn followers_holding(&self, fetch_offset: i64, now_ms: i64) -> Vec<(BrokerId, i64, i64)> {
        self.followers
            .iter()
            .filter(|(_, f)| f.fetch_offset >= fetch_offset)
            .map(|(&id, f)| (id, f.fetch_offset, now_ms.saturating_sub(f.caught_up_ms)))
            .collect()
    }

    /// The high watermark the replicas allow, if this broker leads and it may move: the
    /// lowest durable offset over the (maximal) ISR. The caller never moves it backwards.
    pub fn high_watermark(&self) -> Option<i64> {
        if !self.leads() {
            return None;
        }
        let Some(registration) = &self.registration else {
            return Some(self.local_durable);
        };
        if self.below_min_isr() {
            return None;
        }
        let proposed = self.proposed.iter().flatten();
        let mut lowest = self.local_durable;
        for &member in registration.isr.iter().chain(proposed) {
            if member == self.node_id {
                continue;
            }
            match self.followers.get(&member) {
                Some(f) if f.fetch_offset >= 0 => lowest = lowest.min(f.fetch_offset),
                // A member that has not fetched from this leader yet holds it back.
                _ => return None,
            }
        }
        Some(lowest)
    }

    /// The ISR change due now, if this broker leads and none is being decided: members behind
    /// for longer than `lag_max_ms` leave (never the leader), replicas that hold everything
    /// up to `high_watermark` and this leader's epoch start join.
    pub fn isr_change(
        &self,
        now_ms: i64,
        lag_max_ms: i64,
        high_watermark: i64,
    ) -> Option<IsrProposal> {
        let registration = self.registration.as_ref()?;
        if registration.leader != self.node_id || self.proposed.is_some() {
            return None;
        }
        let in_sync = |b: BrokerId| {
            if b == self.node_id {
                return true;
            }
            let Some(f) = self.followers.get(&b) else {
                return false;
            };
            if registration.isr.contains(&b) {
                now_ms - f.caught_up_ms <= lag_max_ms
            } else {
                now_ms - f.last_fetch_ms <= JOIN_FETCHED_WITHIN_MS
                    && f.fetch_offset >= high_watermark
                    && f.fetch_offset >= self.epoch_start_offset
            }
        };
        // Members that stay keep their order and joiners come after them, as Kafka's leader
        // orders an expanded ISR (tools print it so).
        let staying = registration.isr.iter().copied().filter(|&b| in_sync(b));
        let joining = registration
            .replicas
            .iter()
            .copied()
            .filter(|&b| !registration.isr.contains(&b) && in_sync(b));
        let isr: Vec<BrokerId> = staying.chain(joining).collect();
        let same =
            isr.len() == registration.isr.len() && isr.iter().all(|b| registration.isr.contains(b));
        (!same).then_some(IsrProposal {
            isr,
            leader_epoch: registration.leader_epoch,
            partition_epoch: registration.partition_epoch,
        })
    }

    /// The controller was asked for `isr`; until an image answers, both ISRs count.
    pub fn set_proposed(&mut self, isr: Option<Vec<BrokerId>>) {
        self.proposed = isr;
    }
}

impl Follower {
    fn unknown(now_ms: i64) -> Follower {
        Follower {
            fetch_offset: -1,
            caught_up_ms: now_ms,
            last_fetch_ms: now_ms,
            leader_end_at_last_fetch: -1,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const ME: BrokerId = 1;
    const LAG_MAX_MS: i64 = 10_000;

    fn registration(leader: BrokerId, isr: &[BrokerId]) -> PartitionRegistration {
        PartitionRegistration {
            replicas: vec![1, 2, 3],
            isr: isr.to_vec(),
            leader,
            leader_epoch: 5,
            partition_epoch: 9,
            eligible_leader_replicas: vec![],
            last_known_elr: vec![],
            recovering_replicas: vec![],
            adding_replicas: vec![],
            removing_replicas: vec![],
        }
    }

    fn leader_of(isr: &[BrokerId], min_isr: i32) -> ReplicaSet {
        let mut set = ReplicaSet::new(0);
        set.update(ME, &registration(ME, isr), min_isr, 100, 0);
        set
    }

    #[test]
    fn the_high_watermark_is_the_lowest_durable_offset_in_the_isr() {
        let mut set = leader_of(&[1, 2, 3], 2);
        set.set_local_durable(120);
        assert_eq!(set.high_watermark(), None, "followers not heard from yet");
        set.follower_fetched(2, 110, 120, 1);
        set.follower_fetched(3, 105, 120, 1);
        assert_eq!(set.high_watermark(), Some(105));
        set.follower_fetched(3, 130, 130, 2);
        assert_eq!(set.high_watermark(), Some(110));
    }

    #[test]
    fn a_replica_outside_the_isr_does_not_hold_the_high_watermark() {
        let mut set = leader_of(&[1, 2], 2);
        set.set_local_durable(50);
        set.follower_fetched(2, 50, 50, 1);
        assert_eq!(set.high_watermark(), Some(50));
    }

    #[test]
    fn the_high_watermark_stays_while_the_isr_is_below_min_insync_replicas() {
        let mut set = leader_of(&[1], 2);
        set.set_local_durable(50);
        assert!(set.below_min_isr());
        assert_eq!(set.high_watermark(), None);
    }

    #[test]
    fn min_insync_replicas_above_the_replica_count_is_capped() {
        let mut set = ReplicaSet::new(0);
        let single = PartitionRegistration {
            replicas: vec![ME],
            isr: vec![ME],
            ..registration(ME, &[ME])
        };
        set.update(ME, &single, 3, 0, 0);
        set.set_local_durable(7);
        assert!(!set.below_min_isr());
        assert_eq!(set.high_watermark(), Some(7));
    }

    #[test]
    fn a_follower_behind_for_longer_than_the_lag_limit_leaves_the_isr() {
        let mut set = leader_of(&[1, 2, 3], 1);
        set.follower_fetched(2, 100, 100, 1_000);
        set.follower_fetched(3, 40, 100, 1_000);
        assert_eq!(set.isr_change(LAG_MAX_MS, LAG_MAX_MS, 40), None);
        set.follower_fetched(2, 100, 100, LAG_MAX_MS + 500);
        let change = set.isr_change(LAG_MAX_MS + 500, LAG_MAX_MS, 40).unwrap();
        assert_eq!(change.isr, vec![1, 2]);
        assert_eq!((change.leader_epoch, change.partition_epoch), (5, 9));
    }

    #[test]
    fn a_follower_that_reached_the_high_watermark_and_the_epoch_start_joins_the_isr() {
        let mut set = leader_of(&[1, 2], 1);
        set.follower_fetched(2, 130, 130, 1);
        set.follower_fetched(3, 90, 130, 1);
        assert_eq!(
            set.isr_change(1, LAG_MAX_MS, 90),
            None,
            "before the epoch start"
        );
        set.follower_fetched(3, 120, 130, 2);
        assert_eq!(
            set.isr_change(2, LAG_MAX_MS, 125),
            None,
            "below the high watermark"
        );
        assert_eq!(
            set.isr_change(2, LAG_MAX_MS, 120).unwrap().isr,
            vec![1, 2, 3]
        );
    }

    #[test]
    fn a_follower_that_stopped_fetching_does_not_rejoin_on_its_old_offsets() {
        let mut set = leader_of(&[1, 2], 1);
        set.follower_fetched(2, 130, 130, 1);
        set.follower_fetched(3, 130, 130, 1);
        let later = 1 + JOIN_FETCHED_WITHIN_MS + 1;
        set.follower_fetched(2, 130, 130, later);
        assert_eq!(set.isr_change(later, LAG_MAX_MS, 130), None);
    }

    #[test]
    fn a_joining_replica_holds_the_high_watermark_while_the_change_is_decided() {
        let mut set = leader_of(&[1, 2], 1);
        set.set_local_durable(200);
        set.follower_fetched(2, 200, 200, 1);
        set.follower_fetched(3, 150, 200, 1);
        assert_eq!(set.high_watermark(), Some(200));
        set.set_proposed(Some(vec![1, 2, 3]));
        assert_eq!(set.high_watermark(), Some(150));
        assert_eq!(
            set.isr_change(1, LAG_MAX_MS, 150),
            None,
            "one change at a time"
        );
        let mut committed = registration(ME, &[1, 2, 3]);
        committed.partition_epoch += 1;
        set.update(ME, &committed, 1, 200, 2);
        assert_eq!(set.high_watermark(), Some(150));
    }

    #[test]
    fn a_follower_tracks_nobody_and_proposes_nothing() {
        let mut set = ReplicaSet::new(0);
        set.update(ME, &registration(2, &[1, 2, 3]), 2, 0, 0);
        assert!(!set.leads());
        assert_eq!(set.leader(), Some(2));
        assert!(!set.follower_fetched(3, 10, 10, 1));
        assert_eq!(set.high_watermark(), None);
        assert_eq!(set.isr_change(1, LAG_MAX_MS, 0), None);
    }
}
