//! Message timestamps as a topic configures them, applied to produced batches before they are
//! appended (Kafka's `LogValidator` rules, KIP-32 and KIP-937):
//!
//! - `message.timestamp.type=CreateTime`: the producer's timestamps stay; a record more than
//!   `message.timestamp.before.max.ms` in the past or `message.timestamp.after.max.ms` in the
//!   future refuses its whole batch (INVALID_TIMESTAMP, one error per offending record).
//! - `message.timestamp.type=LogAppendTime`: the broker's clock is the timestamp of every
//!   record. Like Kafka, only the header changes: the timestamp-type attribute bit and the max
//!   timestamp; consumers read every record's timestamp from that max timestamp. Record bytes,
//!   base timestamp and deltas stay as sent, so no batch is re-encoded or re-compressed.
//!
//! In either mode a producer may not set the LogAppendTime bit itself.

use crate::batch::{
    ATTRIBUTES_OFFSET, BatchHeader, CRC_OFFSET, HEADER_BYTES, MAX_TIMESTAMP_OFFSET,
    TIMESTAMP_TYPE_FLAG, compute_crc,
};
use crate::compaction::codec;
use crate::config::{LogConfig, TimestampType};
use crate::error::{RecordError, Result, StorageError};
use crate::records::varint;

/// Kafka's `RecordBatch.NO_TIMESTAMP`: a record without a timestamp is never out of range.
const NO_TIMESTAMP: i64 = -1;

/// What Kafka reports beside INVALID_TIMESTAMP for the partition.
pub const INVALID_TIMESTAMP_MESSAGE: &str =
    "One or more records have been rejected due to invalid timestamp";

/// One record's place and time, as the timestamp rules (and ListOffsets) need them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordTime {
    /// The offset the producer gave it: its batch's base offset plus its offset delta.
    pub(crate) offset: i64,
    pub(crate) timestamp: i64,
    key_bytes: i64,
    value_bytes: i64,
}

/// Checks the records of one whole, CRC-checked batch against the topic's timestamp rules.
/// `Err(InvalidTimestamp)` lists every offending record of the batch, as Kafka does.
pub(crate) fn validate(
    batch: &[u8],
    header: &BatchHeader,
    config: &LogConfig,
    now_ms: i64,
) -> Result<()> {
    let producer_set_log_append_time = header.is_log_append_time();
    let bounds = Bounds::of(config, now_ms);
    let create_time = config.message_timestamp_type == TimestampType::CreateTime;
    // Nothing can be refused: skip reading (and decompressing) the records.
    if !producer_set_log_append_time && (!create_time || bounds.accept_all()) {
        return Ok(());
    }
    let mut errors = Vec::new();
    let decoded = for_each_record(batch, header, |index, record| {
        let message = if create_time && record.timestamp != NO_TIMESTAMP {
            bounds
                .refuses(record.timestamp)
                .then(|| bounds.message(record))
        } else {
            producer_set_log_append_time.then(|| log_append_time_message(record))
        };
        if let Some(message) = message {
            errors.push(RecordError {
                batch_index: i32::try_from(index).unwrap_or(i32::MAX),
                message,
            });
        }
    });
    if decoded.is_none() {
        // Records that do not decode are judged by the header: its base and max timestamps
        // bound what every well-made producer writes.
        return validate_header_only(header, create_time, &bounds);
    }
    match errors.is_empty() {
        true => Ok(()),
        false => Err(StorageError::InvalidTimestamp {
            record_errors: errors,
        }),
    }
}

/// Stamps a batch with the broker's append time (LogAppendTime): sets the timestamp-type bit
/// and the max timestamp, then the CRC, which covers both. Base offset and leader epoch, set
/// later, are outside the CRC.
pub(crate) fn stamp_log_append_time(batch: &mut [u8], now_ms: i64) {
    let at = ATTRIBUTES_OFFSET;
    let attributes = i16::from_be_bytes([batch[at], batch[at + 1]]) | TIMESTAMP_TYPE_FLAG;
    batch[at..at + 2].copy_from_slice(&attributes.to_be_bytes());
    batch[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8].copy_from_slice(&now_ms.to_be_bytes());
    let crc = compute_crc(batch);
    batch[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
}

/// The window `[now - before.max.ms, now + after.max.ms]` with Java's long arithmetic, so
/// the bounds in error messages read as Kafka's do.
#[derive(Debug, Clone, Copy)]
struct Bounds {
    now_ms: i64,
    before_max_ms: i64,
    after_max_ms: i64,
}

impl Bounds {
    fn of(config: &LogConfig, now_ms: i64) -> Bounds {
        Bounds {
            now_ms,
            before_max_ms: config.message_timestamp_before_max_ms,
            after_max_ms: config.message_timestamp_after_max_ms,
        }
    }

    /// With both limits at Long.MAX_VALUE no difference can exceed them.
    fn accept_all(&self) -> bool {
        self.before_max_ms == i64::MAX && self.after_max_ms == i64::MAX
    }

    /// Kafka's `recordHasInvalidTimestamp`.
    fn refuses(&self, timestamp: i64) -> bool {
        let difference = self.now_ms.wrapping_sub(timestamp);
        difference > self.before_max_ms || difference.wrapping_neg() > self.after_max_ms
    }

    fn message(&self, record: &RecordTime) -> String {
        format!(
            "Timestamp {} of message with offset {} is out of range. The timestamp should be within [{}, {}]",
            record.timestamp,
            record.offset,
            self.now_ms.wrapping_sub(self.before_max_ms),
            self.now_ms.wrapping_add(self.after_max_ms),
        )
    }
}

fn log_append_time_message(record: &RecordTime) -> String {
    format!(
        "Invalid timestamp type in message DefaultRecord(offset={}, timestamp={}, key={} bytes, value={} bytes). Producer should not set timestamp type to LogAppendTime.",
        record.offset,
        record.timestamp,
        record.key_bytes.max(0),
        record.value_bytes.max(0),
    )
}

fn validate_header_only(header: &BatchHeader, create_time: bool, bounds: &Bounds) -> Result<()> {
    let refused = if create_time {
        [header.base_timestamp, header.max_timestamp]
            .into_iter()
            .any(|t| t != NO_TIMESTAMP && bounds.refuses(t))
    } else {
        header.is_log_append_time()
    };
    if !refused {
        return Ok(());
    }
    let record = RecordTime {
        offset: header.base_offset,
        timestamp: header.max_timestamp,
        key_bytes: 0,
        value_bytes: 0,
    };
    let message = match create_time {
        true => bounds.message(&record),
        false => log_append_time_message(&record),
    };
    Err(StorageError::InvalidTimestamp {
        record_errors: vec![RecordError {
            batch_index: 0,
            message,
        }],
    })
}

/// Calls `f` with the index and time of each record of a batch, decompressed if need be;
/// `None` if they do not decode. Allocates nothing for an uncompressed batch: this runs on
/// every produce.
pub(crate) fn for_each_record(
    batch: &[u8],
    header: &BatchHeader,
    mut f: impl FnMut(usize, &RecordTime),
) -> Option<()> {
    let section = batch.get(HEADER_BYTES..header.total_size())?;
    let decompressed;
    let raw = match header.compression() {
        codec::NONE => section,
        compression => {
            let max_bytes = codec::DECOMPRESSED_BATCH_BYTES_MAX;
            decompressed = codec::decompress(compression, section, max_bytes)?;
            &decompressed[..]
        }
    };
    let count = usize::try_from(header.records_count).ok()?;
    let mut position = 0;
    // Bounded by the producer's count, and each record consumes at least one byte.
    for index in 0..count {
        let (record, end) = record_time(raw, position, header)?;
        f(index, &record);
        position = end;
    }
    Some(())
}

/// The record at `start` and where it ends. Layout (Kafka's `DefaultRecord`): length,
/// attributes, timestampDelta, offsetDelta, key length, key, value length, value, headers.
fn record_time(raw: &[u8], start: usize, header: &BatchHeader) -> Option<(RecordTime, usize)> {
    let (length, body) = varint(raw, start, raw.len())?;
    let end = body.checked_add(usize::try_from(length).ok()?)?;
    if end > raw.len() || body >= end {
        return None;
    }
    let (timestamp_delta, at) = varint(raw, body + 1, end)?;
    let (offset_delta, at) = varint(raw, at, end)?;
    let (key_bytes, at) = varint(raw, at, end)?;
    let at = at.checked_add(usize::try_from(key_bytes).unwrap_or(0))?;
    let (value_bytes, _) = varint(raw, at, end)?;
    // A LogAppendTime batch's records all carry its max timestamp (Kafka's DefaultRecordBatch).
    let timestamp = match header.is_log_append_time() {
        true => header.max_timestamp,
        false => header.base_timestamp.wrapping_add(timestamp_delta),
    };
    let record = RecordTime {
        offset: header.base_offset.wrapping_add(offset_delta),
        timestamp,
        key_bytes,
        value_bytes,
    };
    Some((record, end))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use std::path::Path;
    use std::sync::Arc;

    use super::*;
    use crate::batch::validate_batches;
    use crate::records::put_varint;
    use crate::{AppendOptions, Log, SimFs, TestBatch};

    const NOW_MS: i64 = 1_700_000_000_000;
    const HOUR_MS: i64 = 3_600_000;

    /// Records with the given timestamp deltas, each with a 1-byte key and a 2-byte value.
    fn records(deltas: &[i64]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, delta) in deltas.iter().enumerate() {
            let mut body = vec![0u8];
            put_varint(*delta, &mut body);
            put_varint(i as i64, &mut body);
            put_varint(1, &mut body);
            body.push(b'k');
            put_varint(2, &mut body);
            body.extend_from_slice(b"vv");
            put_varint(0, &mut body);
            put_varint(body.len() as i64, &mut out);
            out.extend_from_slice(&body);
        }
        out
    }

    fn batch(base_timestamp: i64, deltas: &[i64]) -> Vec<u8> {
        let records = records(deltas);
        let mut test = TestBatch::new(deltas.len() as i32, base_timestamp, &records);
        test.max_timestamp = base_timestamp + deltas.iter().copied().max().unwrap_or(0);
        test.encode()
    }

    fn config(kind: TimestampType, before_max_ms: i64, after_max_ms: i64) -> LogConfig {
        LogConfig {
            message_timestamp_type: kind,
            message_timestamp_before_max_ms: before_max_ms,
            message_timestamp_after_max_ms: after_max_ms,
            ..LogConfig::default()
        }
    }

    fn check(bytes: &[u8], config: &LogConfig) -> Result<()> {
        validate(bytes, &BatchHeader::parse(bytes).unwrap(), config, NOW_MS)
    }

    fn record_errors(result: Result<()>) -> Vec<RecordError> {
        match result {
            Err(StorageError::InvalidTimestamp { record_errors }) => record_errors,
            other => panic!("expected InvalidTimestamp, got {other:?}"),
        }
    }

    #[test]
    fn log_append_time_stamp_sets_the_bit_and_max_timestamp_and_keeps_the_crc_valid() {
        let mut bytes = batch(NOW_MS - 5 * HOUR_MS, &[0, 10, 20]);
        let before = BatchHeader::parse(&bytes).unwrap();
        stamp_log_append_time(&mut bytes, NOW_MS);
        let after = validate_batches(&bytes, 1 << 20).unwrap()[0];
        assert!(after.is_log_append_time());
        assert_eq!(after.max_timestamp, NOW_MS);
        // Base timestamp, records and the other attribute bits are the producer's.
        assert_eq!(after.base_timestamp, before.base_timestamp);
        assert_eq!(after.attributes & !TIMESTAMP_TYPE_FLAG, before.attributes);
        assert_ne!(after.crc, before.crc);
        assert_eq!(&bytes[HEADER_BYTES..], &records(&[0, 10, 20])[..]);
    }

    #[test]
    fn create_time_refuses_a_record_past_after_max_ms_and_names_it() {
        let config = config(TimestampType::CreateTime, i64::MAX, HOUR_MS);
        let future = NOW_MS + 2 * HOUR_MS;
        let bytes = batch(NOW_MS, &[0, 2 * HOUR_MS, 1]);
        let errors = record_errors(check(&bytes, &config));
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].batch_index, 1);
        let expected = format!(
            "Timestamp {future} of message with offset 1 is out of range. The timestamp should be within [{}, {}]",
            NOW_MS - i64::MAX,
            NOW_MS + HOUR_MS
        );
        assert_eq!(errors[0].message, expected);
        assert!(check(&batch(NOW_MS, &[0, HOUR_MS]), &config).is_ok());
    }

    #[test]
    fn create_time_refuses_a_record_older_than_before_max_ms() {
        let config = config(TimestampType::CreateTime, HOUR_MS, i64::MAX);
        let old = batch(NOW_MS - 2 * HOUR_MS, &[0, 2 * HOUR_MS]);
        let errors = record_errors(check(&old, &config));
        assert_eq!(
            errors.iter().map(|e| e.batch_index).collect::<Vec<_>>(),
            vec![0]
        );
        assert!(check(&batch(NOW_MS - HOUR_MS, &[0]), &config).is_ok());
    }

    #[test]
    fn compressed_records_are_checked_after_decompression() {
        let raw = records(&[0, 3 * HOUR_MS]);
        let compressed = codec::compress(codec::GZIP, &raw).unwrap();
        let mut test = TestBatch::new(2, NOW_MS, &compressed);
        // The header claims an innocent max timestamp: only the records tell the truth.
        test.max_timestamp = NOW_MS;
        let mut bytes = test.encode();
        bytes[ATTRIBUTES_OFFSET + 1] |= codec::GZIP;
        let crc = compute_crc(&bytes);
        bytes[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        let config = config(TimestampType::CreateTime, i64::MAX, HOUR_MS);
        assert_eq!(record_errors(check(&bytes, &config))[0].batch_index, 1);
    }

    #[test]
    fn a_producer_may_not_set_log_append_time_itself() {
        let mut bytes = batch(NOW_MS, &[0, 1]);
        stamp_log_append_time(&mut bytes, NOW_MS);
        let lat = config(TimestampType::LogAppendTime, 0, 0);
        let errors = record_errors(check(&bytes, &lat));
        assert_eq!(errors.len(), 2);
        assert!(
            errors[0]
                .message
                .ends_with("Producer should not set timestamp type to LogAppendTime.")
        );
        // Under CreateTime Kafka checks the timestamp (the batch's max) only, as here.
        let create_time = config(TimestampType::CreateTime, 0, 0);
        assert!(check(&bytes, &create_time).is_ok());
    }

    #[test]
    fn log_append_time_log_stamps_and_a_refused_batch_writes_nothing() {
        let fs = Arc::new(SimFs::new());
        let lat = config(TimestampType::LogAppendTime, 0, 0);
        let mut log = Log::open(fs, Path::new("/p-0"), lat, NOW_MS).unwrap();
        let options = AppendOptions {
            leader_epoch: 0,
            now_ms: NOW_MS,
        };
        let mut two = batch(1_000, &[0]);
        two.extend(batch(2_000, &[0, 5]));
        let info = log.append(&mut two, options).unwrap();
        assert_eq!(
            (info.log_append_time_ms, info.max_timestamp),
            (NOW_MS, NOW_MS)
        );
        let second = &two[BatchHeader::parse(&two).unwrap().total_size()..];
        assert!(BatchHeader::parse(second).unwrap().is_log_append_time());
        // The time index finds the batches by their append time, not the producer's.
        assert_eq!(log.offset_for_timestamp(NOW_MS).unwrap(), Some((0, NOW_MS)));
        assert_eq!(log.offset_for_timestamp(3_000).unwrap(), Some((0, NOW_MS)));

        log.set_config(config(TimestampType::CreateTime, i64::MAX, HOUR_MS));
        let mut good_then_bad = batch(NOW_MS, &[0]);
        good_then_bad.extend(batch(NOW_MS + 2 * HOUR_MS, &[0]));
        assert!(matches!(
            log.append(&mut good_then_bad, options),
            Err(StorageError::InvalidTimestamp { .. })
        ));
        assert_eq!(log.log_end_offset(), 3);
        let info = log.append(&mut batch(NOW_MS, &[0]), options).unwrap();
        assert_eq!((info.base_offset, info.log_append_time_ms), (3, -1));
    }

    #[test]
    fn undecodable_records_are_judged_by_the_header() {
        let config = config(TimestampType::CreateTime, i64::MAX, HOUR_MS);
        let mut test = TestBatch::new(1, NOW_MS, b"not records");
        assert!(check(&test.encode(), &config).is_ok());
        test.max_timestamp = NOW_MS + 2 * HOUR_MS;
        assert_eq!(record_errors(check(&test.encode(), &config)).len(), 1);
    }
}
