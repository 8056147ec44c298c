//! A view of the record batch v2 header (Kafka's on-disk and on-wire format) and its
//! validation. Records are never decoded here: the log stores batches verbatim.
//!
//! Byte layout (big endian); see docs/storage-format.md for the full table.

use crate::error::{Result, StorageError};

pub const BASE_OFFSET_OFFSET: usize = 0;
pub const BATCH_LENGTH_OFFSET: usize = 8;
pub const PARTITION_LEADER_EPOCH_OFFSET: usize = 12;
pub const MAGIC_OFFSET: usize = 16;
pub const CRC_OFFSET: usize = 17;
pub const ATTRIBUTES_OFFSET: usize = 21;
pub const LAST_OFFSET_DELTA_OFFSET: usize = 23;
pub const BASE_TIMESTAMP_OFFSET: usize = 27;
pub const MAX_TIMESTAMP_OFFSET: usize = 35;
pub const PRODUCER_ID_OFFSET: usize = 43;
pub const PRODUCER_EPOCH_OFFSET: usize = 51;
pub const BASE_SEQUENCE_OFFSET: usize = 53;
pub const RECORDS_COUNT_OFFSET: usize = 57;
/// Size of the v2 batch header; the records follow it.
pub const HEADER_BYTES: usize = 61;
/// `batchLength` counts the bytes after itself.
pub const LOG_OVERHEAD_BYTES: usize = BATCH_LENGTH_OFFSET + 4;
/// Smallest legal `batchLength`: a header with no records.
pub const BATCH_LENGTH_MIN: i32 = (HEADER_BYTES - LOG_OVERHEAD_BYTES) as i32;
/// The only record format Kafka 4 accepts.
pub const MAGIC_V2: i8 = 2;

const COMPRESSION_MASK: i16 = 0x07;
const COMPRESSION_MAX: u8 = 4;
/// Set when the broker stamped the batch with its append time (LogAppendTime).
pub const TIMESTAMP_TYPE_FLAG: i16 = 0x08;
const TRANSACTIONAL_FLAG: i16 = 0x10;
const CONTROL_FLAG: i16 = 0x20;
/// KIP-534: the batch's baseTimestamp holds the delete horizon of its tombstones, set when
/// the log cleaner first cleaned it; record timestamps stay relative to that field.
pub const DELETE_HORIZON_FLAG: i16 = 0x40;

/// The fixed 61-byte header of a v2 record batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records_count: i32,
}

fn array<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes[at..at + N]);
    out
}

pub(crate) fn read_i64(bytes: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(array(bytes, at))
}

pub(crate) fn read_i32(bytes: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(array(bytes, at))
}

fn read_i16(bytes: &[u8], at: usize) -> i16 {
    i16::from_be_bytes(array(bytes, at))
}

impl BatchHeader {
    /// Parse the header at the start of `bytes`. Checks only that the header is whole and
    /// the magic is 2; [`validate_batches`] checks the rest.
    pub fn parse(bytes: &[u8]) -> Result<BatchHeader> {
        if bytes.len() < HEADER_BYTES {
            return Err(StorageError::CorruptBatch {
                position: 0,
                reason: "header is torn",
            });
        }
        let magic = bytes[MAGIC_OFFSET] as i8;
        if magic != MAGIC_V2 {
            return Err(StorageError::InvalidBatch {
                position: 0,
                reason: "magic is not 2",
            });
        }
        Ok(BatchHeader {
            base_offset: read_i64(bytes, BASE_OFFSET_OFFSET),
            batch_length: read_i32(bytes, BATCH_LENGTH_OFFSET),
            partition_leader_epoch: read_i32(bytes, PARTITION_LEADER_EPOCH_OFFSET),
            magic,
            crc: u32::from_be_bytes(array(bytes, CRC_OFFSET)),
            attributes: read_i16(bytes, ATTRIBUTES_OFFSET),
            last_offset_delta: read_i32(bytes, LAST_OFFSET_DELTA_OFFSET),
            base_timestamp: read_i64(bytes, BASE_TIMESTAMP_OFFSET),
            max_timestamp: read_i64(bytes, MAX_TIMESTAMP_OFFSET),
            producer_id: read_i64(bytes, PRODUCER_ID_OFFSET),
            producer_epoch: read_i16(bytes, PRODUCER_EPOCH_OFFSET),
            base_sequence: read_i32(bytes, BASE_SEQUENCE_OFFSET),
            records_count: read_i32(bytes, RECORDS_COUNT_OFFSET),
        })
    }

    /// Bytes of the whole batch, header included. Meaningful once `batch_length` is checked.
    pub fn total_size(&self) -> usize {
        LOG_OVERHEAD_BYTES + self.batch_length.max(0) as usize
    }

    pub fn last_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta)
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_FLAG != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_FLAG != 0
    }

    /// Whether the log cleaner set a delete horizon (then `base_timestamp` is that horizon).
    pub fn has_delete_horizon(&self) -> bool {
        self.attributes & DELETE_HORIZON_FLAG != 0
    }

    /// Whether the broker stamps the timestamps (LogAppendTime) rather than the producer.
    pub fn is_log_append_time(&self) -> bool {
        self.attributes & TIMESTAMP_TYPE_FLAG != 0
    }

    /// Compression codec: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
    pub fn compression(&self) -> u8 {
        (self.attributes & COMPRESSION_MASK) as u8
    }

    /// Sequence number of the last record; sequences wrap from i32::MAX to 0 like Kafka's
    /// `DefaultRecordBatch.incrementSequence`.
    pub fn last_sequence(&self) -> i32 {
        let gap = i64::from(i32::MAX) - i64::from(self.base_sequence);
        let delta = i64::from(self.last_offset_delta);
        if delta > gap {
            (delta - gap - 1) as i32
        } else {
            self.base_sequence + self.last_offset_delta
        }
    }
}

/// CRC-32C as stored in the header: it covers everything from the attributes to the end,
/// so the broker may rewrite base offset and leader epoch without recomputing it.
pub fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..])
}

/// Validate one batch at the start of `bytes` (which may hold more after it) and return its
/// header. `position` is only for error messages.
pub fn validate_batch(
    bytes: &[u8],
    position: usize,
    max_batch_bytes: usize,
) -> Result<BatchHeader> {
    let corrupt = |reason| StorageError::CorruptBatch { position, reason };
    let invalid = |reason| StorageError::InvalidBatch { position, reason };
    if bytes.len() < HEADER_BYTES {
        return Err(corrupt("header is torn"));
    }
    let header = BatchHeader::parse(bytes).map_err(|_| invalid("magic is not 2"))?;
    if header.batch_length < BATCH_LENGTH_MIN {
        return Err(corrupt("batchLength is smaller than a header"));
    }
    let size = header.total_size();
    if size > max_batch_bytes {
        return Err(StorageError::MessageTooLarge {
            size,
            max_bytes: max_batch_bytes,
        });
    }
    if size > bytes.len() {
        return Err(corrupt("batch is torn"));
    }
    if compute_crc(&bytes[..size]) != header.crc {
        return Err(corrupt("CRC-32C mismatch"));
    }
    if header.compression() > COMPRESSION_MAX {
        return Err(invalid("unknown compression codec"));
    }
    if header.last_offset_delta < 0 || header.records_count < 0 {
        return Err(invalid("negative lastOffsetDelta or recordsCount"));
    }
    Ok(header)
}

/// Walk the batches laid back to back in `bytes`, validating each, and call `f` with each
/// header and its position. Stops at the first error; the caller writes nothing then.
pub(crate) fn for_each_batch(
    bytes: &[u8],
    max_batch_bytes: usize,
    mut f: impl FnMut(&BatchHeader, usize),
) -> Result<()> {
    let mut position = 0;
    if bytes.is_empty() {
        return Err(StorageError::CorruptBatch {
            position,
            reason: "no batches",
        });
    }
    while position < bytes.len() {
        let header = validate_batch(&bytes[position..], position, max_batch_bytes)?;
        f(&header, position);
        position += header.total_size();
    }
    Ok(())
}

/// Validate the payload of one produce partition: one or more whole v2 batches.
pub fn validate_batches(bytes: &[u8], max_batch_bytes: usize) -> Result<Vec<BatchHeader>> {
    let mut headers = Vec::new();
    for_each_batch(bytes, max_batch_bytes, |h, _| headers.push(*h))?;
    Ok(headers)
}

/// Write the base offset the broker assigned (not covered by the CRC).
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) {
    batch[BASE_OFFSET_OFFSET..BASE_OFFSET_OFFSET + 8].copy_from_slice(&base_offset.to_be_bytes());
}

/// Write the partition leader epoch (not covered by the CRC).
pub fn set_partition_leader_epoch(batch: &mut [u8], epoch: i32) {
    let at = PARTITION_LEADER_EPOCH_OFFSET;
    batch[at..at + 4].copy_from_slice(&epoch.to_be_bytes());
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::test_batch::TestBatch;

    #[test]
    fn header_fields_parse_at_their_offsets() {
        let mut b = TestBatch::new(3, 1000, b"abcdef");
        b.max_timestamp = 1005;
        b.base_sequence = 7;
        let mut bytes = b.encode();
        set_base_offset(&mut bytes, 42);
        set_partition_leader_epoch(&mut bytes, 9);
        let h = BatchHeader::parse(&bytes).unwrap();
        assert_eq!(
            (h.base_offset, h.partition_leader_epoch, h.magic),
            (42, 9, 2)
        );
        assert_eq!(
            (h.last_offset(), h.records_count, h.total_size()),
            (44, 3, HEADER_BYTES + 6)
        );
        assert_eq!(
            (h.base_timestamp, h.max_timestamp, h.last_sequence()),
            (1000, 1005, 9)
        );
        assert!(!h.is_transactional() && !h.is_control() && h.compression() == 0);
        // Offset and epoch are outside the CRC.
        assert_eq!(validate_batches(&bytes, 1 << 20).unwrap().len(), 1);
    }

    #[test]
    fn last_sequence_wraps_past_i32_max_to_zero() {
        let mut bytes = TestBatch::new(3, 0, b"").encode();
        bytes[BASE_SEQUENCE_OFFSET..BASE_SEQUENCE_OFFSET + 4]
            .copy_from_slice(&(i32::MAX - 1).to_be_bytes());
        assert_eq!(BatchHeader::parse(&bytes).unwrap().last_sequence(), 0);
    }

    #[test]
    fn several_batches_back_to_back_validate() {
        let mut bytes = TestBatch::new(1, 0, b"x").encode();
        bytes.extend(TestBatch::new(5, 0, b"yyyy").encode());
        let headers = validate_batches(&bytes, 1 << 20).unwrap();
        assert_eq!(
            headers.iter().map(|h| h.records_count).collect::<Vec<_>>(),
            vec![1, 5]
        );
    }

    #[test]
    fn bad_batches_get_distinct_errors() {
        let good = TestBatch::new(2, 0, b"records").encode();
        let mut bad_crc = good.clone();
        bad_crc[HEADER_BYTES] ^= 0xff;
        assert!(matches!(
            validate_batches(&bad_crc, 1 << 20),
            Err(StorageError::CorruptBatch { .. })
        ));
        let torn = &good[..good.len() - 1];
        assert!(matches!(
            validate_batches(torn, 1 << 20),
            Err(StorageError::CorruptBatch { .. })
        ));
        let mut magic = good.clone();
        magic[MAGIC_OFFSET] = 1;
        assert!(matches!(
            validate_batches(&magic, 1 << 20),
            Err(StorageError::InvalidBatch { .. })
        ));
        assert!(matches!(
            validate_batches(&good, 10),
            Err(StorageError::MessageTooLarge { .. })
        ));
        let mut short = good.clone();
        short[BATCH_LENGTH_OFFSET..BATCH_LENGTH_OFFSET + 4].copy_from_slice(&10i32.to_be_bytes());
        assert!(matches!(
            validate_batches(&short, 1 << 20),
            Err(StorageError::CorruptBatch { .. })
        ));
        let mut two = good.clone();
        two.extend_from_slice(&bad_crc);
        assert!(validate_batches(&two, 1 << 20).is_err());
        assert!(validate_batches(&[], 1 << 20).is_err());
    }
}
