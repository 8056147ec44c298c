//! Record batches: one encoded once and resent by `wire-produce`, and the walk over a fetched
//! log that counts records from batch headers alone (v2 format, KIP-98).

use anyhow::{Context, Result, ensure};
use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, Record,
    RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

/// Bytes of a v2 batch header; the records follow.
pub const HEADER_BYTES: usize = 61;
/// The batch length field counts the bytes after itself: base offset (8) + length (4).
const LOG_OVERHEAD: usize = 12;
const LAST_OFFSET_DELTA_AT: usize = 23;
const RECORD_COUNT_AT: usize = 57;
const ATTRIBUTES_AT: usize = 21;
const CRC_AT: usize = 17;
const MAGIC_AT: usize = 16;
/// Attribute bit of a control batch (transaction markers): not records of the workload.
const CONTROL_FLAG: i16 = 0x20;

/// An uncompressed v2 batch of `records` records of `record_bytes` bytes each (no key), from no
/// producer (id -1), stamped CreateTime `timestamp_ms`. The CRC covers neither the base offset
/// nor the leader epoch, which the broker overwrites, so the same bytes can be sent again.
pub fn encode(records: usize, record_bytes: usize, timestamp_ms: i64) -> Result<Bytes> {
    let value = Bytes::from(vec![b'v'; record_bytes]);
    let batch: Vec<Record> = (0..records)
        .map(|i| {
            let offset = i64::try_from(i)?;
            Ok(Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
                producer_id: NO_PRODUCER_ID,
                producer_epoch: NO_PRODUCER_EPOCH,
                timestamp_type: TimestampType::Creation,
                offset,
                // The encoder starts a new batch where offset - sequence changes, and takes the
                // base sequence from the first record: -1 (none) there, moving with the offset.
                sequence: NO_SEQUENCE.wrapping_add(i32::try_from(offset)?),
                timestamp: timestamp_ms,
                key: None,
                value: Some(value.clone()),
                headers: Default::default(),
            })
        })
        .collect::<Result<_>>()?;
    let mut buffer = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buffer,
        &batch,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )?;
    Ok(buffer.freeze())
}

/// What a walk over fetched batches found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Walk {
    /// Records at or after the fetch offset, in whole batches.
    pub records: u64,
    /// Bytes of the whole batches walked.
    pub bytes: u64,
    /// The offset after the last whole batch (the next fetch offset), if any batch was whole.
    pub next_offset: Option<i64>,
}

fn i32_at(data: &[u8], at: usize) -> Result<i32> {
    let bytes: [u8; 4] = data
        .get(at..at + 4)
        .context("batch header cut short")?
        .try_into()?;
    Ok(i32::from_be_bytes(bytes))
}

/// Walks the batches of a fetched partition, counting records from the headers. A batch cut
/// off by the fetch size limit ends the walk (it is fetched again whole next time). Records
/// before `fetch_offset` (a batch starting earlier) are not counted: offsets of an uncompressed
/// batch from one producer are contiguous, so the count is the offsets at or after it.
pub fn walk(data: &[u8], fetch_offset: i64, verify_crc: bool) -> Result<Walk> {
    let mut walk = Walk::default();
    let mut at = 0usize;
    while data.len() - at >= HEADER_BYTES {
        let batch_length = usize::try_from(i32_at(data, at + 8)?).context("negative length")?;
        let end = at + LOG_OVERHEAD + batch_length;
        if end > data.len() {
            break;
        }
        let batch = &data[at..end];
        ensure!(
            batch_length + LOG_OVERHEAD >= HEADER_BYTES,
            "batch of {batch_length} bytes"
        );
        ensure!(batch[MAGIC_AT] == 2, "batch magic {}", batch[MAGIC_AT]);
        if verify_crc {
            let stored = u32::from_be_bytes(batch[CRC_AT..CRC_AT + 4].try_into()?);
            let computed = crc32c::crc32c(&batch[ATTRIBUTES_AT..]);
            ensure!(
                stored == computed,
                "batch CRC {stored:#x}, computed {computed:#x}"
            );
        }
        let base_offset = i64::from_be_bytes(batch[..8].try_into()?);
        let last_offset = base_offset + i64::from(i32_at(batch, LAST_OFFSET_DELTA_AT)?);
        let count = i64::from(i32_at(batch, RECORD_COUNT_AT)?);
        let attributes = i16::from_be_bytes(batch[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].try_into()?);
        if attributes & CONTROL_FLAG == 0 {
            let from = base_offset.max(fetch_offset);
            let counted = (last_offset + 1 - from).clamp(0, count);
            walk.records += u64::try_from(counted)?;
        }
        walk.bytes += u64::try_from(end - at)?;
        walk.next_offset = Some(last_offset + 1);
        at = end;
    }
    Ok(walk)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The walk must count exactly what the encoder wrote, stop at a cut batch, and catch a
    /// flipped byte when asked to check CRCs.
    #[test]
    fn walk_counts_the_encoded_records_and_stops_at_a_cut_batch() -> Result<()> {
        let one = encode(7, 10, 1_700_000_000_000)?;
        assert_eq!(
            i32_at(&one, RECORD_COUNT_AT)?,
            7,
            "one batch of all the records"
        );
        assert_eq!(i32_at(&one, 53)?, NO_SEQUENCE, "no base sequence");
        assert_eq!(walk(&one, 0, true)?.bytes, one.len() as u64);
        let mut two = one.to_vec();
        let mut second = one.to_vec();
        second[..8].copy_from_slice(&7i64.to_be_bytes());
        two.extend_from_slice(&second);
        let whole = walk(&two, 0, true)?;
        assert_eq!(whole.records, 14);
        assert_eq!(whole.next_offset, Some(14));
        assert_eq!(whole.bytes, two.len() as u64);
        let cut = walk(&two[..two.len() - 1], 0, true)?;
        assert_eq!(cut.records, 7);
        assert_eq!(cut.next_offset, Some(7));
        assert_eq!(walk(&two, 3, false)?.records, 11);
        let mut corrupt = one.to_vec();
        let last = corrupt.len() - 1;
        corrupt[last] ^= 1;
        assert!(walk(&corrupt, 0, true).is_err());
        Ok(())
    }
}
