//! The transactions of one partition, as its log shows them (the transactional half of
//! Kafka's `ProducerStateManager`): each producer's open transaction and where it began, which
//! bounds the last stable offset, and the aborted transactions a read_committed fetch reports
//! so that the client drops their records.
//!
//! Derived from the log alone and rebuilt from it on open, like the producer state: the
//! aborted list is kept in memory, not in `.txnindex` files (yet), and covers the whole log.

use std::collections::BTreeMap;

use vltava_storage::batch::BatchHeader;

use crate::control_batch::ControlType;

/// An aborted transaction: `producer_id`'s records from `first_offset` to its ABORT marker
/// at `last_offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    pub last_offset: i64,
}

/// An open transaction (DescribeProducers reports it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenTxn {
    pub producer_id: i64,
    pub first_offset: i64,
}

#[derive(Debug, Default)]
pub struct TxnTable {
    /// Producer id → offset of its open transaction's first batch.
    open: BTreeMap<i64, i64>,
    /// In log order (by marker offset).
    aborted: Vec<AbortedTxn>,
}

impl TxnTable {
    /// Takes in one batch now in the log; `marker` is the type of a control batch.
    pub fn observe(&mut self, header: &BatchHeader, marker: Option<ControlType>) {
        if !header.is_transactional() {
            return;
        }
        if !header.is_control() {
            self.open
                .entry(header.producer_id)
                .or_insert(header.base_offset);
            return;
        }
        // A marker without an open transaction (a retried marker, or one whose records were
        // all removed) ends nothing.
        let Some(first_offset) = self.open.remove(&header.producer_id) else {
            return;
        };
        if marker == Some(ControlType::Abort) {
            self.aborted.push(AbortedTxn {
                producer_id: header.producer_id,
                first_offset,
                last_offset: header.base_offset,
            });
        }
    }

    /// The first offset of the oldest open transaction: read_committed reads stop there.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.open.values().min().copied()
    }

    /// The aborted transactions with records in `[from, to)`, in log order.
    pub fn aborted_between(&self, from: i64, to: i64) -> Vec<AbortedTxn> {
        self.aborted
            .iter()
            .filter(|a| a.last_offset >= from && a.first_offset < to)
            .copied()
            .collect()
    }

    pub fn open(&self) -> Vec<OpenTxn> {
        self.open
            .iter()
            .map(|(&producer_id, &first_offset)| OpenTxn {
                producer_id,
                first_offset,
            })
            .collect()
    }

    /// Forgets aborted transactions wholly below the log start (retention, DeleteRecords).
    pub fn drop_before(&mut self, log_start_offset: i64) {
        self.aborted.retain(|a| a.last_offset >= log_start_offset);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRANSACTIONAL: i16 = 0x10;
    const CONTROL: i16 = 0x20;

    fn batch(producer_id: i64, base_offset: i64, attributes: i16) -> BatchHeader {
        BatchHeader {
            base_offset,
            batch_length: 0,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes,
            last_offset_delta: 0,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id,
            producer_epoch: 0,
            base_sequence: 0,
            records_count: 1,
        }
    }

    #[test]
    fn an_open_transaction_holds_the_stable_offset_until_its_marker() {
        let mut table = TxnTable::default();
        table.observe(&batch(1, 0, 0), None);
        assert_eq!(table.first_unstable_offset(), None);
        table.observe(&batch(7, 1, TRANSACTIONAL), None);
        table.observe(&batch(8, 2, TRANSACTIONAL), None);
        table.observe(&batch(7, 3, TRANSACTIONAL), None);
        assert_eq!(table.first_unstable_offset(), Some(1));
        table.observe(
            &batch(7, 4, TRANSACTIONAL | CONTROL),
            Some(ControlType::Commit),
        );
        assert_eq!(table.first_unstable_offset(), Some(2));
        table.observe(
            &batch(8, 5, TRANSACTIONAL | CONTROL),
            Some(ControlType::Abort),
        );
        assert_eq!(table.first_unstable_offset(), None);
        assert_eq!(
            table.aborted_between(0, 10),
            vec![AbortedTxn {
                producer_id: 8,
                first_offset: 2,
                last_offset: 5
            }]
        );
        assert!(table.aborted_between(6, 10).is_empty());
        assert!(table.aborted_between(0, 2).is_empty());
    }

    #[test]
    fn aborted_transactions_below_the_log_start_are_forgotten() {
        let mut table = TxnTable::default();
        for (producer_id, first) in [(7, 0), (8, 10)] {
            table.observe(&batch(producer_id, first, TRANSACTIONAL), None);
            let marker = batch(producer_id, first + 5, TRANSACTIONAL | CONTROL);
            table.observe(&marker, Some(ControlType::Abort));
        }
        table.drop_before(6);
        assert_eq!(table.aborted_between(0, 100).len(), 1);
        table.drop_before(5);
        assert_eq!(table.aborted_between(0, 100)[0].producer_id, 8);
    }

    #[test]
    fn a_marker_without_an_open_transaction_ends_nothing() {
        let mut table = TxnTable::default();
        table.observe(
            &batch(7, 0, TRANSACTIONAL | CONTROL),
            Some(ControlType::Abort),
        );
        assert!(table.aborted_between(0, 10).is_empty());
        assert_eq!(table.first_unstable_offset(), None);
    }
}
