//! Reading individual records inside a v2 batch, for the few features that need them
//! (ListOffsets by timestamp and MAX_TIMESTAMP). The produce and fetch paths never come here.
//!
//! Record layout (Kafka's `DefaultRecord`): length varint, attributes i8, timestampDelta
//! varlong, offsetDelta varint, key, value, headers. Varints are zigzag-encoded.

use crate::batch::BatchHeader;
use crate::timestamps::for_each_record;

/// Where and when one record sits inside its batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordStamp {
    pub offset: i64,
    pub timestamp: i64,
}

/// The first record of `batch` with a timestamp at or after `timestamp` (ListOffsets by
/// time). A compressed batch is decompressed, as Kafka reads its records; every record of a
/// LogAppendTime batch carries the batch's max timestamp. Records that do not decode leave the
/// batch as the unit (its base offset and max timestamp), never later than the exact answer,
/// so a consumer seeking by time misses nothing.
pub fn first_record_at_or_after(batch: &[u8], timestamp: i64) -> Option<RecordStamp> {
    let header = BatchHeader::parse(batch).ok()?;
    if header.max_timestamp < timestamp {
        return None;
    }
    let batch_level = RecordStamp {
        offset: header.base_offset,
        timestamp: header.max_timestamp,
    };
    first_record_where(batch, &header, |record| record.timestamp >= timestamp).or(Some(batch_level))
}

/// The first record of `batch` whose timestamp is `timestamp` (ListOffsets MAX_TIMESTAMP,
/// KIP-734: the batch's max timestamp names the time, this the offset). A compressed batch
/// is decompressed, as Kafka reads its records; every record of a LogAppendTime batch carries
/// the batch's max timestamp. `None` when the records do not decode or none has that time.
pub fn first_record_at(batch: &[u8], timestamp: i64) -> Option<RecordStamp> {
    let header = BatchHeader::parse(batch).ok()?;
    first_record_where(batch, &header, |record| record.timestamp == timestamp)
}

/// The first record of a batch that `wanted` accepts; `None` if none does or the records do not
/// decode (a producer's offset delta outside the batch counts as not decoding).
fn first_record_where(
    batch: &[u8],
    header: &BatchHeader,
    wanted: impl Fn(&RecordStamp) -> bool,
) -> Option<RecordStamp> {
    let offsets = header.base_offset..=header.last_offset();
    let mut first = None;
    let mut sane = true;
    for_each_record(batch, header, |_, record| {
        let stamp = RecordStamp {
            offset: record.offset,
            timestamp: record.timestamp,
        };
        // The CRC covers the deltas but does not make them sane.
        sane &= offsets.contains(&stamp.offset);
        if sane && first.is_none() && wanted(&stamp) {
            first = Some(stamp);
        }
    })?;
    first.filter(|_| sane)
}

/// A zigzag varint (up to 64 bits) at `position`, not reading at or past `end`.
pub(crate) fn varint(bytes: &[u8], mut position: usize, end: usize) -> Option<(i64, usize)> {
    let mut raw: u64 = 0;
    for shift in (0..64).step_by(7) {
        if position >= end.min(bytes.len()) {
            return None;
        }
        let byte = bytes[position];
        position += 1;
        raw |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some((((raw >> 1) as i64) ^ -((raw & 1) as i64), position));
        }
    }
    None
}

/// Append `value` as a zigzag varint (Kafka's `ByteUtils.writeVarlong`).
pub(crate) fn put_varint(value: i64, out: &mut Vec<u8>) {
    let mut raw = ((value << 1) ^ (value >> 63)) as u64;
    loop {
        let byte = (raw & 0x7f) as u8;
        raw >>= 7;
        if raw == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn zigzag(value: i64, out: &mut Vec<u8>) {
        let mut raw = ((value << 1) ^ (value >> 63)) as u64;
        loop {
            let byte = (raw & 0x7f) as u8;
            raw >>= 7;
            if raw == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    /// An uncompressed batch of records with the given timestamp deltas and no key or value.
    fn batch(base_timestamp: i64, deltas: &[i64]) -> Vec<u8> {
        batch_compressed(base_timestamp, deltas, crate::compaction::codec::NONE)
    }

    /// A batch of records with the given timestamp deltas, compressed with `codec`.
    fn batch_compressed(base_timestamp: i64, deltas: &[i64], codec: u8) -> Vec<u8> {
        use crate::batch::{ATTRIBUTES_OFFSET, CRC_OFFSET, compute_crc};
        use crate::compaction::codec as codecs;
        let mut records = Vec::new();
        for (i, delta) in deltas.iter().enumerate() {
            let mut body = vec![0u8];
            zigzag(*delta, &mut body);
            zigzag(i as i64, &mut body);
            zigzag(-1, &mut body);
            zigzag(-1, &mut body);
            zigzag(0, &mut body);
            zigzag(body.len() as i64, &mut records);
            records.extend_from_slice(&body);
        }
        let max = base_timestamp + deltas.iter().copied().max().unwrap_or(0);
        let section = match codec {
            codecs::NONE => records,
            codec => codecs::compress(codec, &records).unwrap(),
        };
        let mut test = crate::TestBatch::new(deltas.len() as i32, base_timestamp, &section);
        test.max_timestamp = max;
        let mut bytes = test.encode();
        bytes[ATTRIBUTES_OFFSET + 1] |= codec;
        let crc = compute_crc(&bytes);
        bytes[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        crate::set_base_offset(&mut bytes, 100);
        bytes
    }

    #[test]
    fn the_max_timestamp_names_its_first_record_not_the_batch() {
        // The maximum is carried by the third record, and again by the fourth.
        let bytes = batch(1_000, &[0, 2_000, 3_000, 3_000, 1_000]);
        assert_eq!(
            first_record_at(&bytes, 4_000),
            Some(RecordStamp {
                offset: 102,
                timestamp: 4_000
            })
        );
        assert_eq!(first_record_at(&bytes, 4_500), None);
    }

    #[test]
    fn the_max_timestamp_record_is_found_inside_a_compressed_batch() {
        use crate::compaction::codec;
        for compression in [codec::GZIP, codec::SNAPPY, codec::LZ4, codec::ZSTD] {
            let bytes = batch_compressed(1_000, &[0, 5_000, 1_000], compression);
            assert_eq!(
                first_record_at(&bytes, 6_000),
                Some(RecordStamp {
                    offset: 101,
                    timestamp: 6_000
                }),
                "codec {compression}"
            );
        }
    }

    #[test]
    fn a_time_inside_a_compressed_batch_names_its_record() {
        let bytes = batch_compressed(
            1_000,
            &[0, 1_000, 2_000, 3_000],
            crate::compaction::codec::GZIP,
        );
        assert_eq!(
            first_record_at_or_after(&bytes, 2_500),
            Some(RecordStamp {
                offset: 102,
                timestamp: 3_000
            })
        );
    }

    #[test]
    fn records_that_do_not_decode_leave_the_batch_as_the_answer() {
        let mut bytes = batch(1_000, &[0, 1_000]);
        // Claim one record more than the batch holds: the records section ends too early.
        let count_at = crate::batch::RECORDS_COUNT_OFFSET;
        bytes[count_at..count_at + 4].copy_from_slice(&3i32.to_be_bytes());
        assert_eq!(
            first_record_at_or_after(&bytes, 1_500),
            Some(RecordStamp {
                offset: 100,
                timestamp: 2_000
            })
        );
        assert_eq!(first_record_at(&bytes, 2_000), None);
    }

    #[test]
    fn every_record_of_a_log_append_time_batch_has_the_max_timestamp() {
        let mut bytes = batch(1_000, &[0, 5_000]);
        crate::timestamps::stamp_log_append_time(&mut bytes, 9_000);
        assert_eq!(
            first_record_at(&bytes, 9_000),
            Some(RecordStamp {
                offset: 100,
                timestamp: 9_000
            })
        );
    }

    #[test]
    fn finds_the_first_record_at_or_after_the_timestamp() {
        let bytes = batch(1_000, &[0, 1_000, 2_000, 3_000]);
        assert_eq!(
            first_record_at_or_after(&bytes, 2_500),
            Some(RecordStamp {
                offset: 102,
                timestamp: 3_000
            })
        );
        assert_eq!(
            first_record_at_or_after(&bytes, 0),
            Some(RecordStamp {
                offset: 100,
                timestamp: 1_000
            })
        );
        assert_eq!(first_record_at_or_after(&bytes, 4_001), None);
    }
}
