//! A partition's part in replication: on the leader, its followers' fetches and the ISR
//! check; on a follower, appending what it fetched, the leader's high watermark, and
//! truncating a divergent suffix.

use vltava_cluster::records::BrokerId;
use vltava_storage::batch::BatchHeader;
use vltava_storage::leader_epochs::UNDEFINED_EPOCH;

use super::transactions::TxnTable;
use super::{Partition, advance, lower, observe_transactions, rebuild_producer_state};
use crate::error::{BrokerError, Result};
use crate::producer_state::ProducerStateTable;
use crate::replication::replica_set::IsrProposal;

/// Leader side.
impl Partition {
    /// `follower` fetches from `fetch_offset`: everything before it is durable there, and its
    /// log agrees with this one up to it (the fetch passed the diverging-epoch check). Moves
    /// the high watermark. NOT_LEADER_OR_FOLLOWER if it is no replica led here.
    pub fn follower_fetched(
        &self,
        follower: BrokerId,
        fetch_offset: i64,
        now_ms: i64,
    ) -> Result<()> {
        let log_end_offset = *self.log_end.borrow();
        let mut replicas = self.replicas();
        if !replicas.follower_fetched(follower, fetch_offset, log_end_offset, now_ms) {
            return Err(BrokerError::NotLeaderOrFollower);
        }
        self.advance_high_watermark(&replicas);
        Ok(())
    }

    /// The ISR change due now, if any (this broker leads and none is being decided): it
    /// counts as proposed from here on, until an image answers or [`Self::isr_change_failed`].
    pub fn propose_isr_change(&self, now_ms: i64, lag_max_ms: i64) -> Option<IsrProposal> {
        let high_watermark = self.high_watermark();
        let mut replicas = self.replicas();
        let proposal = replicas.isr_change(now_ms, lag_max_ms, high_watermark)?;
        replicas.set_proposed(Some(proposal.isr.clone()));
        Some(proposal)
    }

    /// The controller did not take the ISR change: the next check may propose again.
    pub fn isr_change_failed(&self) {
        self.replicas().set_proposed(None);
    }

    /// On the leader, the followers a consumer reading from `fetch_offset` could be sent to
    /// (KIP-392): (id, durable end, ms since caught up). `None` if this broker does not lead.
    pub fn followers_holding(
        &self,
        fetch_offset: i64,
        now_ms: i64,
    ) -> Option<Vec<(BrokerId, i64, i64)>> {
        let replicas = self.replicas();
        replicas
            .leads()
            .then(|| replicas.followers_holding(fetch_offset, now_ms))
    }

    /// Whether this partition has followers to keep in sync.
    pub fn leads_replicas(&self) -> bool {
        let replicas = self.replicas();
        replicas.leads() && replicas.replica_count() > 1
    }
}

/// Follower side.
impl Partition {
    /// The epoch of the last batch in the log (-1 for none): the fetch's `last_fetched_epoch`.
    pub fn last_fetched_epoch(&self) -> i32 {
        self.state()
            .log
            .leader_epochs()
            .latest_epoch()
            .unwrap_or(UNDEFINED_EPOCH)
    }

    pub fn log_end_offset(&self) -> i64 {
        *self.log_end.borrow()
    }

    /// Appends batches fetched from the leader from `fetch_offset` as they are, offsets and
    /// epochs included, and records their idempotent producers, so that a retry sent to this
    /// broker once it leads is still recognised. Not durable until [`Partition::flush`].
    /// False, and nothing written, if the log no longer ends at `fetch_offset` (a stale answer).
    pub fn append_as_follower(
        &self,
        records: &[u8],
        fetch_offset: i64,
        now_ms: i64,
    ) -> Result<bool> {
        self.check_log_dir()?;
        let result = self.append_as_follower_checked(records, fetch_offset, now_ms);
        self.noting_io(result)
    }

    fn append_as_follower_checked(
        &self,
        records: &[u8],
        fetch_offset: i64,
        now_ms: i64,
    ) -> Result<bool> {
        let mut state = self.state();
        if state.log.log_end_offset() != fetch_offset {
            return Ok(false);
        }
        let info = state.log.append_as_follower(records, now_ms)?;
        let mut at = 0;
        while at < records.len() {
            let header = BatchHeader::parse(&records[at..])?;
            state
                .producers
                .record(&header, header.base_offset, header.last_offset(), now_ms);
            at += header.total_size();
        }
        observe_transactions(&mut state, records, now_ms)?;
        self.log_end.send_replace(info.last_offset + 1);
        if self.flush == crate::config::FlushPolicy::Never {
            self.durable_to(info.last_offset + 1);
        }
        Ok(true)
    }

    /// The leader's high watermark, as far as this replica has the data (never down).
    pub fn follow_high_watermark(&self, leader_high_watermark: i64) {
        let local = self.log_end_offset();
        self.high_watermark
            .send_if_modified(|hw| advance(hw, leader_high_watermark.min(local)));
    }

    /// The leader's log starts at `offset` (retention or DeleteRecords there): so does this
    /// copy, as far as it has data.
    pub fn follow_log_start_offset(&self, offset: i64) -> Result<()> {
        let mut state = self.state();
        let target = offset.min(state.log.log_end_offset());
        if target > state.log.log_start_offset() {
            let result = state
                .log
                .set_log_start_offset(target)
                .map_err(BrokerError::from);
            drop(state);
            return self.noting_io(result);
        }
        Ok(())
    }

    /// Drops every batch at or after `offset` (a suffix the leader does not have), durably,
    /// if the log still ends at `fetch_offset`, where the fetch that found the divergence
    /// started (false otherwise: a stale answer); the producer state is rebuilt.
    pub fn truncate_diverged(&self, fetch_offset: i64, offset: i64, now_ms: i64) -> Result<bool> {
        self.check_log_dir()?;
        let result = self.truncate_with(now_ms, |log| {
            if log.log_end_offset() != fetch_offset {
                return Ok(false);
            }
            log.truncate_to(offset).map(|()| true)
        });
        self.noting_io(result)
    }

    /// Empties the log, which starts over at `offset` (the leader's log start is past this
    /// copy's end).
    pub fn truncate_fully_and_start_at(&self, offset: i64, now_ms: i64) -> Result<()> {
        self.check_log_dir()?;
        let result = self
            .truncate_with(now_ms, |log| {
                log.truncate_fully_and_start_at(offset).map(|()| true)
            })
            .map(|_| ());
        self.noting_io(result)
    }

    fn truncate_with(
        &self,
        now_ms: i64,
        cut: impl FnOnce(&mut vltava_storage::Log) -> vltava_storage::Result<bool>,
    ) -> Result<bool> {
        let mut state = self.state();
        if !cut(&mut state.log)? {
            return Ok(false);
        }
        let mut producers = ProducerStateTable::default();
        let mut txns = TxnTable::default();
        rebuild_producer_state(&state.log, &mut producers, &mut txns, now_ms)?;
        state.producers = producers;
        state.txns = txns;
        let end = state.log.log_end_offset();
        self.replicas().reset_local_durable(end);
        self.high_watermark.send_if_modified(|hw| lower(hw, end));
        self.log_end.send_replace(end);
        Ok(true)
    }
}
