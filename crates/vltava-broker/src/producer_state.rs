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
            return expect_sequence(0, batch);
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

    /// Remembers a batch that is now in the log at `first_offset..=last_offset`.
    pub fn record(&mut self, batch: &BatchHeader, first_offset: i64, last_offset: i64) {
        if batch.producer_id <= NO_PRODUCER_ID || batch.base_sequence < 0 {
            return;
        }
        let entry = self.producers.entry(batch.producer_id).or_default();
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
