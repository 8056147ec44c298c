//! Building valid v2 batches over arbitrary record bytes, for tests here and in the broker.
//! The records section is opaque to storage, so any bytes will do.

use crate::batch::*;

/// What to put in a test batch.
#[derive(Debug, Clone)]
pub struct TestBatch<'a> {
    pub records_count: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub base_sequence: i32,
    pub records: &'a [u8],
}

impl<'a> TestBatch<'a> {
    /// A batch of `records_count` records whose timestamps are all `timestamp`.
    pub fn new(records_count: i32, timestamp: i64, records: &'a [u8]) -> Self {
        TestBatch {
            records_count,
            base_timestamp: timestamp,
            max_timestamp: timestamp,
            producer_id: -1,
            base_sequence: -1,
            records,
        }
    }

    /// Encode with base offset 0 and a correct CRC-32C.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![0u8; HEADER_BYTES];
        out.extend_from_slice(self.records);
        let batch_length = (out.len() - LOG_OVERHEAD_BYTES) as i32;
        let mut put = |at: usize, bytes: &[u8]| out[at..at + bytes.len()].copy_from_slice(bytes);
        put(BATCH_LENGTH_OFFSET, &batch_length.to_be_bytes());
        put(PARTITION_LEADER_EPOCH_OFFSET, &(-1i32).to_be_bytes());
        put(MAGIC_OFFSET, &[MAGIC_V2 as u8]);
        put(
            LAST_OFFSET_DELTA_OFFSET,
            &(self.records_count - 1).max(0).to_be_bytes(),
        );
        put(BASE_TIMESTAMP_OFFSET, &self.base_timestamp.to_be_bytes());
        put(MAX_TIMESTAMP_OFFSET, &self.max_timestamp.to_be_bytes());
        put(PRODUCER_ID_OFFSET, &self.producer_id.to_be_bytes());
        put(PRODUCER_EPOCH_OFFSET, &(-1i16).to_be_bytes());
        put(BASE_SEQUENCE_OFFSET, &self.base_sequence.to_be_bytes());
        put(RECORDS_COUNT_OFFSET, &self.records_count.to_be_bytes());
        let crc = compute_crc(&out);
        out[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        out
    }
}
