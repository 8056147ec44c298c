//! Idempotent-producer state of one partition: the epoch and the last few batches of each
//! producer id, so that retries are answered without appending twice and gaps are refused.
//!
//! Validate, then commit (Kafka's `ProducerStateManager.prepareUpdate`/`update`): `check`
//! decides without changing anything; `record` is called only after the append succeeded.

use std::collections::{HashMap, VecDeque};

use vltava_storage::batch::BatchHeader;

use crate::error::BrokerError;

/// Kafka keeps the last five batches per producer: `max.in.flight.requests.per.connection` is
/// at most 5 for an idempotent producer, so a retry is always of one of these.
pub const BATCHES_REMEMBERED_MAX: usize = 5;

/// Producers whose state a partition keeps at most. Kafka has no cap and relies on expiry
/// alone, so a client that rotates producer ids grows it for a day; past this the producer
/// appended to longest ago is forgotten (its next batch is then taken as from a new producer,
/// so only its duplicate detection is lost).
pub const PRODUCERS_PER_PARTITION_MAX: usize = 5_000;

/// Producer ids below 0 mark a batch as not idempotent.
pub const NO_PRODUCER_ID: i64 = -1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BatchMetadata {
    first_sequence: i32,
    last_sequence: i32,
    first_offset: i64,
    last_offset: i64,
}

#[derive(Debug, Default)]
struct ProducerEntry {
    epoch: i16,
    batches: VecDeque<BatchMetadata>,
    /// The max timestamp of the producer's last batch (DescribeProducers).
    last_timestamp: i64,
    /// When the broker last appended for it (or rebuilt it at open): what expiry measures.
    /// Kafka measures from the batch's own timestamp; the broker's clock cannot be set back
    /// by a client.
    last_append_ms: i64,
}

/// One idempotent producer as DescribeProducers reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActiveProducer {
    pub producer_id: i64,
    pub epoch: i16,
    /// -1 when the producer has no batch under its current epoch yet.
    pub last_sequence: i32,
    pub last_timestamp: i64,
}

/// The verdict on a batch before it is appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    /// Append it.
    Append,
    /// A retry of a batch already in the log at these offsets: answer success, append nothing.
    Duplicate { first_offset: i64, last_offset: i64 },
}

#[derive(Debug, Default)]
pub struct ProducerStateTable {
    producers: HashMap<i64, ProducerEntry>,
}

impl ProducerStateTable {
    /// Decides what to do with `batch`; changes nothing.
    pub fn check(&self, batch: &BatchHeader) -> Result<SequenceCheck, BrokerError> {
        if batch.producer_id <= NO_PRODUCER_ID || batch.base_sequence < 0 {
            return Ok(SequenceCheck::Append);
        }
        let Some(entry) = self.producers.get(&batch.producer_id) else {
            // Kafka accepts any first sequence from a producer it has no state for: the state
            // may have gone with retention, and refusing would wedge a live producer.
            return Ok(SequenceCheck::Append);
        };
        if batch.producer_epoch < entry.epoch {
            return Err(BrokerError::ProducerFenced {
                got: batch.producer_epoch,
                current: entry.epoch,
            });
        }
        if batch.producer_epoch > entry.epoch {
            // A bumped epoch restarts the sequence.
            return expect_sequence(0, batch);
        }
        let last_sequence = batch.last_sequence();
        if let Some(seen) = entry
            .batches
            .iter()
            .find(|b| b.first_sequence == batch.base_sequence && b.last_sequence == last_sequence)
        {
            return Ok(SequenceCheck::Duplicate {
                first_offset: seen.first_offset,
                last_offset: seen.last_offset,
            });
        }
        match entry.batches.back() {
            Some(last) => expect_sequence(next_sequence(last.last_sequence), batch),
            None => expect_sequence(0, batch),
        }
    }

    /// Remembers a batch that is now in the log at `first_offset..=last_offset`, appended at
    /// `now_ms`.
    pub fn record(
        &mut self,
        batch: &BatchHeader,
        first_offset: i64,
        last_offset: i64,
        now_ms: i64,
    ) {
        if batch.producer_id <= NO_PRODUCER_ID || batch.base_sequence < 0 {
            return;
        }
        if !self.producers.contains_key(&batch.producer_id)
            && self.producers.len() >= PRODUCERS_PER_PARTITION_MAX
        {
            self.forget_least_recent();
        }
        let entry = self.producers.entry(batch.producer_id).or_default();
        entry.last_append_ms = now_ms;
        if batch.producer_epoch != entry.epoch {
            entry.epoch = batch.producer_epoch;
            entry.batches.clear();
        }
        if entry.batches.len() == BATCHES_REMEMBERED_MAX {
            entry.batches.pop_front();
        }
        entry.batches.push_back(BatchMetadata {
            first_sequence: batch.base_sequence,
            last_sequence: batch.last_sequence(),
            first_offset,
            last_offset,
        });
        entry.last_timestamp = batch.max_timestamp;
    }

    /// A transaction marker of `producer_id` at `epoch` is in the log: batches of older
    /// epochs are fenced from now on (the coordinator bumps the epoch to fence a zombie).
    pub fn fence_epoch(&mut self, producer_id: i64, epoch: i16, now_ms: i64) {
        if producer_id <= NO_PRODUCER_ID {
            return;
        }
        let entry = self.producers.entry(producer_id).or_default();
        if epoch > entry.epoch {
            entry.epoch = epoch;
            entry.batches.clear();
        }
        entry.last_append_ms = entry.last_append_ms.max(now_ms);
    }

    /// Forgets producers that appended nothing for `expiration_ms` (Kafka's
    /// `producer.id.expiration.ms`, KIP-854); how many.
    pub fn expire(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        let before = self.producers.len();
        self.producers
            .retain(|_, entry| now_ms.saturating_sub(entry.last_append_ms) < expiration_ms);
        before - self.producers.len()
    }

    fn forget_least_recent(&mut self) {
        let oldest = self
            .producers
            .iter()
            .min_by_key(|(_, entry)| entry.last_append_ms)
            .map(|(id, _)| *id);
        if let Some(id) = oldest {
            self.producers.remove(&id);
        }
    }

    /// Every producer with state in this partition, by producer id.
    pub fn active(&self) -> Vec<ActiveProducer> {
        let mut active: Vec<ActiveProducer> = self
            .producers
            .iter()
            .map(|(&producer_id, entry)| ActiveProducer {
                producer_id,
                epoch: entry.epoch,
                last_sequence: entry.batches.back().map_or(-1, |b| b.last_sequence),
                last_timestamp: entry.last_timestamp,
            })
            .collect();
        active.sort_by_key(|p| p.producer_id);
        active
    }
}

fn expect_sequence(expected: i32, batch: &BatchHeader) -> Result<SequenceCheck, BrokerError> {
    if batch.base_sequence == expected {
        Ok(SequenceCheck::Append)
    } else {
        Err(BrokerError::OutOfOrderSequence {
            expected,
            got: batch.base_sequence,
        })
    }
}

/// Sequences wrap from i32::MAX to 0, as in Kafka.
fn next_sequence(sequence: i32) -> i32 {
    if sequence == i32::MAX {
        0
    } else {
        sequence + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(producer_id: i64, epoch: i16, base_sequence: i32, records: i32) -> BatchHeader {
        BatchHeader {
            base_offset: 0,
            batch_length: 0,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: records - 1,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id,
            producer_epoch: epoch,
            base_sequence,
            records_count: records,
        }
    }

    #[test]
    fn a_retried_batch_is_answered_with_its_first_offsets() -> Result<(), BrokerError> {
        let mut table = ProducerStateTable::default();
        let first = batch(7, 0, 0, 10);
        assert_eq!(table.check(&first)?, SequenceCheck::Append);
        table.record(&first, 100, 109, 0);
        assert_eq!(
            table.check(&first)?,
            SequenceCheck::Duplicate {
                first_offset: 100,
                last_offset: 109
            }
        );
        Ok(())
    }

    #[test]
    fn the_next_sequence_is_appended_and_a_gap_is_refused() -> Result<(), BrokerError> {
        let mut table = ProducerStateTable::default();
        table.record(&batch(7, 0, 0, 10), 0, 9, 0);
        assert_eq!(table.check(&batch(7, 0, 10, 5))?, SequenceCheck::Append);
        assert!(matches!(
            table.check(&batch(7, 0, 12, 5)),
            Err(BrokerError::OutOfOrderSequence {
                expected: 10,
                got: 12
            })
        ));
        Ok(())
    }

    #[test]
    fn an_older_epoch_is_fenced_and_a_newer_one_restarts_at_zero() -> Result<(), BrokerError> {
        let mut table = ProducerStateTable::default();
        table.record(&batch(7, 3, 0, 1), 0, 0, 0);
        assert!(matches!(
            table.check(&batch(7, 2, 1, 1)),
            Err(BrokerError::ProducerFenced { got: 2, current: 3 })
        ));
        assert_eq!(table.check(&batch(7, 4, 0, 1))?, SequenceCheck::Append);
        assert!(table.check(&batch(7, 4, 5, 1)).is_err());
        Ok(())
    }

    #[test]
    fn only_the_last_five_batches_are_recognised_as_retries() -> Result<(), BrokerError> {
        let mut table = ProducerStateTable::default();
        for i in 0..6 {
            table.record(&batch(7, 0, i, 1), i64::from(i), i64::from(i), 0);
        }
        assert!(table.check(&batch(7, 0, 0, 1)).is_err());
        assert_eq!(
            table.check(&batch(7, 0, 5, 1))?,
            SequenceCheck::Duplicate {
                first_offset: 5,
                last_offset: 5
            }
        );
        Ok(())
    }

    #[test]
    fn an_unknown_producer_may_start_at_any_sequence() -> Result<(), BrokerError> {
        let table = ProducerStateTable::default();
        assert_eq!(table.check(&batch(9, 0, 42, 1))?, SequenceCheck::Append);
        Ok(())
    }

    #[test]
    fn active_producers_report_their_last_sequence_and_timestamp() {
        let mut table = ProducerStateTable::default();
        let mut first = batch(7, 2, 0, 10);
        first.max_timestamp = 1_000;
        table.record(&first, 0, 9, 0);
        let mut second = batch(7, 2, 10, 5);
        second.max_timestamp = 2_000;
        table.record(&second, 10, 14, 0);
        table.record(&batch(NO_PRODUCER_ID, -1, -1, 3), 15, 17, 0);
        assert_eq!(
            table.active(),
            vec![ActiveProducer {
                producer_id: 7,
                epoch: 2,
                last_sequence: 14,
                last_timestamp: 2_000,
            }]
        );
    }

    #[test]
    fn batches_without_a_producer_id_are_always_appended() -> Result<(), BrokerError> {
        let table = ProducerStateTable::default();
        assert_eq!(
            table.check(&batch(NO_PRODUCER_ID, -1, -1, 3))?,
            SequenceCheck::Append
        );
        Ok(())
    }

    #[test]
    fn a_producer_silent_for_the_expiration_is_forgotten() -> Result<(), BrokerError> {
        let mut table = ProducerStateTable::default();
        table.record(&batch(7, 0, 0, 1), 0, 0, 1_000);
        table.record(&batch(8, 0, 0, 1), 1, 1, 5_000);
        assert_eq!(table.expire(10_999, 10_000), 0);
        assert_eq!(table.expire(11_000, 10_000), 1);
        let ids: Vec<i64> = table.active().iter().map(|p| p.producer_id).collect();
        assert_eq!(ids, vec![8]);
        // Forgotten, producer 7 is new again: a gap in its sequence is no longer refused.
        assert_eq!(table.check(&batch(7, 0, 9, 1))?, SequenceCheck::Append);
        Ok(())
    }

    #[test]
    fn past_the_cap_the_producer_appended_to_longest_ago_is_forgotten() {
        let mut table = ProducerStateTable::default();
        for id in 0..PRODUCERS_PER_PARTITION_MAX as i64 {
            table.record(&batch(id, 0, 0, 1), id, id, 1_000 + id);
        }
        // Producer 0 appends again: now producer 1 is the least recent.
        table.record(&batch(0, 0, 1, 1), 9_999_998, 9_999_998, 1_000_000);
        table.record(&batch(1_000_000, 0, 0, 1), 9_999_999, 9_999_999, 1_000_001);
        let ids: Vec<i64> = table.active().iter().map(|p| p.producer_id).collect();
        assert_eq!(ids.len(), PRODUCERS_PER_PARTITION_MAX);
        assert!(ids.contains(&0) && ids.contains(&1_000_000) && !ids.contains(&1));
    }
}
