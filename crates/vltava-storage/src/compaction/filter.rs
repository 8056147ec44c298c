//! One batch through the cleaner: read the keys of its records, decide which records
//! survive, and write the survivors back as a batch.
//!
//! A rewritten batch keeps its header's base offset, lastOffsetDelta, producer id, epoch,
//! base sequence, partition leader epoch and max timestamp; surviving records keep their
//! bytes (so their offset and timestamp deltas). Only recordsCount, batchLength, the CRC and,
//! when the cleaner first sets a delete horizon (KIP-534), the attributes and baseTimestamp
//! change; record timestamp deltas are then re-encoded relative to the new baseTimestamp.
//! This is what Kafka's `MemoryRecords.filterTo` writes, so the last offset and last
//! sequence of every batch are what the producer sent: consumers skip to the batch's last
//! offset + 1 and idempotent producer state rebuilt from headers is unchanged.

use std::collections::HashMap;
use std::io;
use std::ops::Range;

use crate::batch::{
    ATTRIBUTES_OFFSET, BASE_TIMESTAMP_OFFSET, BATCH_LENGTH_OFFSET, BatchHeader, CRC_OFFSET,
    DELETE_HORIZON_FLAG, HEADER_BYTES, LOG_OVERHEAD_BYTES, RECORDS_COUNT_OFFSET, compute_crc,
};
use crate::compaction::codec;
use crate::records::{put_varint, varint};

/// Key → offset of its latest record in the range being cleaned (Kafka's `OffsetMap`, with
/// whole keys rather than MD5 digests: no collision can ever drop a live record).
pub(crate) type KeyMap = HashMap<Vec<u8>, i64>;

/// What one map entry is assumed to cost besides its key bytes (hash table slot, vector
/// header, offset), for the map's memory limit.
pub(crate) const KEY_ENTRY_OVERHEAD_BYTES: usize = 64;

/// Smallest possible record: length, attributes, timestamp delta, offset delta, key length,
/// value length, header count, one byte each.
const RECORD_BYTES_MIN: usize = 7;

/// One record inside a decompressed records section, as byte ranges.
#[derive(Debug)]
pub(crate) struct Record {
    pub offset: i64,
    attributes: u8,
    timestamp_delta: i64,
    pub key: Option<Range<usize>>,
    pub tombstone: bool,
    /// The whole record, length prefix included.
    span: Range<usize>,
    /// Where the offset delta starts: everything from here on is copied unchanged.
    rest: usize,
}

/// A batch as the cleaner sees it.
#[derive(Debug)]
pub(crate) enum Decoded {
    /// Kept byte for byte, and its records never supersede others: control batches
    /// (transaction markers), transactional data (whose fate, commit or abort, the cleaner
    /// does not track), and batches whose records do not decompress or parse.
    Opaque,
    Records {
        raw: Vec<u8>,
        records: Vec<Record>,
    },
}

impl Decoded {
    pub fn key<'a>(raw: &'a [u8], record: &Record) -> Option<&'a [u8]> {
        record.key.clone().map(|range| &raw[range])
    }
}

/// Decode the records of `batch` (one whole, CRC-checked batch).
pub(crate) fn decode(batch: &[u8], header: &BatchHeader) -> Decoded {
    if header.is_control() || header.is_transactional() {
        return Decoded::Opaque;
    }
    let section = &batch[HEADER_BYTES..header.total_size().min(batch.len())];
    let Some(raw) = codec::decompress(
        header.compression(),
        section,
        codec::DECOMPRESSED_BATCH_BYTES_MAX,
    ) else {
        return Decoded::Opaque;
    };
    match parse_records(&raw, header) {
        Some(records) => Decoded::Records { raw, records },
        None => Decoded::Opaque,
    }
}

fn parse_records(raw: &[u8], header: &BatchHeader) -> Option<Vec<Record>> {
    let count = usize::try_from(header.records_count).ok()?;
    // The count comes from disk: never allocate more than the bytes can hold.
    let mut records = Vec::with_capacity(count.min(raw.len() / RECORD_BYTES_MIN));
    let mut position = 0;
    let mut previous_delta = -1;
    for _ in 0..count {
        let record = parse_record(raw, position)?;
        let delta = record.offset;
        if delta <= previous_delta || delta > i64::from(header.last_offset_delta) {
            return None;
        }
        previous_delta = delta;
        position = record.span.end;
        records.push(Record {
            offset: header.base_offset + delta,
            ..record
        });
    }
    (position == raw.len()).then_some(records)
}

/// The record at `start`, with its offset delta in `offset`.
fn parse_record(raw: &[u8], start: usize) -> Option<Record> {
    let (length, body) = varint(raw, start, raw.len())?;
    let end = body.checked_add(usize::try_from(length).ok()?)?;
    if end > raw.len() || body >= end {
        return None;
    }
    let attributes = raw[body];
    let (timestamp_delta, rest) = varint(raw, body + 1, end)?;
    let (offset_delta, at) = varint(raw, rest, end)?;
    let (key_length, at) = varint(raw, at, end)?;
    let (key, at) = match usize::try_from(key_length) {
        Ok(len) => {
            let key_end = at.checked_add(len).filter(|e| *e <= end)?;
            (Some(at..key_end), key_end)
        }
        Err(_) => (None, at),
    };
    let (value_length, _) = varint(raw, at, end)?;
    Some(Record {
        offset: offset_delta,
        attributes,
        timestamp_delta,
        key,
        tombstone: value_length < 0,
        span: start..end,
        rest,
    })
}

/// What becomes of one batch.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Unchanged: copied byte for byte.
    Keep,
    /// No record survives: the batch is left out, its offsets become a gap.
    Drop,
    Rewrite(Vec<u8>),
}

#[derive(Debug)]
pub(crate) struct Verdict {
    pub outcome: Outcome,
    pub records_removed: usize,
    pub tombstones_removed: usize,
    /// The delete horizon of tombstones that survive this clean, if any: when it passes,
    /// the log is worth cleaning again even with nothing new written.
    pub horizon: Option<i64>,
}

/// The time and the topic settings a batch is judged by.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Judge<'a> {
    pub map: &'a KeyMap,
    pub now_ms: i64,
    pub delete_retention_ms: i64,
}

/// Decide what survives of `batch` and build the new batch if it changes.
pub(crate) fn filter(batch: &[u8], header: &BatchHeader, judge: Judge<'_>) -> io::Result<Verdict> {
    let keep_all = Verdict {
        outcome: Outcome::Keep,
        records_removed: 0,
        tombstones_removed: 0,
        horizon: None,
    };
    let Decoded::Records { raw, records } = decode(batch, header) else {
        return Ok(keep_all);
    };
    let expired = header.has_delete_horizon() && header.base_timestamp <= judge.now_ms;
    let (mut keep, mut tombstones_removed) = (Vec::with_capacity(records.len()), 0);
    for record in &records {
        // A record whose key is not in the map (no key, or not mapped) is kept: the cleaner
        // drops nothing it cannot key.
        let latest = Decoded::key(&raw, record)
            .and_then(|key| judge.map.get(key))
            .is_none_or(|latest| *latest <= record.offset);
        let kept = latest && !(record.tombstone && record.key.is_some() && expired);
        tombstones_removed += usize::from(latest && !kept);
        keep.push(kept);
    }
    let survivors = keep.iter().filter(|k| **k).count();
    let retained_tombstone = records
        .iter()
        .zip(&keep)
        .any(|(r, k)| *k && r.tombstone && r.key.is_some());
    let new_horizon = (retained_tombstone && !header.has_delete_horizon())
        .then(|| judge.now_ms.saturating_add(judge.delete_retention_ms));
    let horizon = match retained_tombstone {
        true => new_horizon.or(Some(header.base_timestamp)),
        false => None,
    };
    let records_removed = records.len() - survivors;
    let outcome = if survivors == 0 {
        Outcome::Drop
    } else if records_removed == 0 && new_horizon.is_none() {
        Outcome::Keep
    } else {
        let kept = records
            .iter()
            .zip(&keep)
            .filter(|(_, k)| **k)
            .map(|(r, _)| r);
        Outcome::Rewrite(rewrite(batch, header, &raw, kept, new_horizon)?)
    };
    Ok(Verdict {
        outcome,
        records_removed,
        tombstones_removed,
        horizon,
    })
}

/// The batch with only `kept` records, compressed as the original was; with `horizon`,
/// marked as holding tombstones first cleaned now (KIP-534).
fn rewrite<'a>(
    batch: &[u8],
    header: &BatchHeader,
    raw: &[u8],
    kept: impl Iterator<Item = &'a Record>,
    horizon: Option<i64>,
) -> io::Result<Vec<u8>> {
    let mut section = Vec::with_capacity(raw.len());
    let mut count = 0i32;
    for record in kept {
        count += 1;
        let Some(horizon) = horizon else {
            section.extend_from_slice(&raw[record.span.clone()]);
            continue;
        };
        let timestamp = header.base_timestamp.wrapping_add(record.timestamp_delta);
        let mut body = vec![record.attributes];
        put_varint(timestamp.wrapping_sub(horizon), &mut body);
        body.extend_from_slice(&raw[record.rest..record.span.end]);
        put_varint(body.len() as i64, &mut section);
        section.extend_from_slice(&body);
    }
    let section = codec::compress(header.compression(), &section)?;
    let mut out = Vec::with_capacity(HEADER_BYTES + section.len());
    out.extend_from_slice(&batch[..HEADER_BYTES]);
    out.extend_from_slice(&section);
    let batch_length = i32::try_from(out.len() - LOG_OVERHEAD_BYTES)
        .map_err(|_| io::Error::other("cleaned batch larger than 2 GiB"))?;
    let mut put = |at: usize, bytes: &[u8]| out[at..at + bytes.len()].copy_from_slice(bytes);
    put(BATCH_LENGTH_OFFSET, &batch_length.to_be_bytes());
    put(RECORDS_COUNT_OFFSET, &count.to_be_bytes());
    if let Some(horizon) = horizon {
        let attributes = header.attributes | DELETE_HORIZON_FLAG;
        put(ATTRIBUTES_OFFSET, &attributes.to_be_bytes());
        put(BASE_TIMESTAMP_OFFSET, &horizon.to_be_bytes());
    }
    let crc = compute_crc(&out);
    out[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    Ok(out)
}
