//! Record batches (v2, KIP-98) as `vltava produce` writes them and `vltava consume` reads
//! them, through kafka-protocol's encoder and decoder. Decompression goes through
//! vltava-storage's capped codecs, so that a batch cannot make the command allocate more than
//! `DECOMPRESSED_BATCH_BYTES_MAX` however well it compresses.

use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, Record,
    RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use vltava_storage::{DECOMPRESSED_BATCH_BYTES_MAX, decompress_records};

/// The type of a transaction's ABORT marker, in its control record's key.
const CONTROL_TYPE_ABORT: i16 = 0;
/// Base offset (8) and batch length (4) come before the bytes the length counts.
const LOG_OVERHEAD_BYTES: usize = 12;
/// Where the last offset delta and the max timestamp sit in a batch.
const LAST_OFFSET_DELTA_AT: usize = 23;
const MAX_TIMESTAMP_AT: usize = 35;
/// Bytes of a v2 batch header, the records follow.
pub const BATCH_HEADER_BYTES: usize = 61;
/// A generous bound on what one record adds to a batch besides its key, value and headers
/// (length, attributes, deltas, lengths: varints of at most 5 or 10 bytes).
const RECORD_OVERHEAD_BYTES: usize = 32;

/// A header of a record: a key and a value that may be null.
pub type Header = (String, Option<Bytes>);

/// One record to produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutRecord {
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<Header>,
    /// CreateTime, in ms since the epoch.
    pub timestamp: i64,
}

impl OutRecord {
    /// At least the bytes this record adds to an uncompressed batch.
    pub fn size_bytes(&self) -> usize {
        let len = |b: &Option<Bytes>| b.as_ref().map_or(0, Bytes::len);
        let headers: usize = self
            .headers
            .iter()
            .map(|(k, v)| k.len() + len(v) + RECORD_OVERHEAD_BYTES / 4)
            .sum();
        len(&self.key) + len(&self.value) + headers + RECORD_OVERHEAD_BYTES
    }
}

/// One record read from a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InRecord {
    pub offset: i64,
    pub timestamp: i64,
    pub log_append_time: bool,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<Header>,
}

/// Now, as a record timestamp: ms since the epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Who wrote a batch, so that the broker recognises it when it is sent again (an idempotent
/// producer): the producer id, its epoch, and the sequence number of the batch's first record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sequenced {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
}

/// `records` as one batch from no producer (not idempotent), offsets from 0, compressed with
/// `compression`.
pub fn encode(records: &[OutRecord], compression: Compression) -> anyhow::Result<Bytes> {
    encode_as(records, compression, None)
}

/// As [`encode`], written by `writer` when one is given. Its sequence numbers must not pass
/// `i32::MAX` within the batch (the caller starts a new producer before they would).
pub fn encode_as(
    records: &[OutRecord],
    compression: Compression,
    writer: Option<Sequenced>,
) -> anyhow::Result<Bytes> {
    let (producer_id, producer_epoch, base_sequence) = match writer {
        Some(w) => (w.producer_id, w.producer_epoch, w.base_sequence),
        None => (NO_PRODUCER_ID, NO_PRODUCER_EPOCH, NO_SEQUENCE),
    };
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let offset = i32::try_from(i).context("too many records for one batch")?;
            Ok(Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
                producer_id,
                producer_epoch,
                timestamp_type: TimestampType::Creation,
                offset: i64::from(offset),
                // The encoder starts a new batch wherever offset - sequence changes and takes
                // the base sequence from the first record, so the sequence moves with the
                // offset (from -1 when there is no producer).
                sequence: base_sequence.wrapping_add(offset),
                timestamp: r.timestamp,
                key: r.key.clone(),
                value: r.value.clone(),
                headers: r
                    .headers
                    .iter()
                    .map(|(k, v)| (StrBytes::from_string(k.clone()), v.clone()))
                    .collect(),
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let mut buffer = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression,
    };
    RecordBatchEncoder::encode(&mut buffer, &records, &options)?;
    Ok(buffer.freeze())
}

/// What a fetched partition's bytes hold from `from_offset` on.
#[derive(Debug, Default)]
pub struct Decoded {
    /// Data records at or after `from_offset`, in offset order (control records left out).
    pub records: Vec<InRecord>,
    /// The offset after the last whole batch, where the next fetch starts.
    pub next_offset: Option<i64>,
}

/// A transaction the broker says was aborted (Fetch's AbortedTransaction, sent to
/// read-committed consumers): its producer and its first offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTransaction {
    pub producer_id: i64,
    pub first_offset: i64,
}

/// Skips the records of aborted transactions as Kafka's consumer does: from an aborted
/// transaction's first offset, the producer's transactional batches are dropped until its ABORT
/// marker.
#[derive(Debug)]
struct AbortFilter {
    /// Not yet reached, the lowest first offset last.
    ahead: Vec<AbortedTransaction>,
    aborting: BTreeSet<i64>,
}

impl AbortFilter {
    fn new(mut aborted: Vec<AbortedTransaction>) -> AbortFilter {
        aborted.sort_by_key(|a| std::cmp::Reverse(a.first_offset));
        AbortFilter {
            ahead: aborted,
            aborting: BTreeSet::new(),
        }
    }

    /// Whether to drop the data records of the batch ending at `last_offset` whose first
    /// record is `first` (control batches are never data).
    fn drops(&mut self, last_offset: i64, first: &Record) -> bool {
        while let Some(next) = self.ahead.pop_if(|a| a.first_offset <= last_offset) {
            self.aborting.insert(next.producer_id);
        }
        if !first.transactional {
            return false;
        }
        if first.control && is_abort_marker(first) {
            self.aborting.remove(&first.producer_id);
        }
        self.aborting.contains(&first.producer_id)
    }
}

/// A control record's key is a version (i16) and a type (i16): 0 for ABORT, 1 for COMMIT.
fn is_abort_marker(record: &Record) -> bool {
    record
        .key
        .as_ref()
        .is_some_and(|k| k.len() >= 4 && k[2..4] == CONTROL_TYPE_ABORT.to_be_bytes())
}

/// Decodes the whole batches of `bytes`; a batch cut short by the fetch size ends the walk.
/// Records of `aborted` transactions are left out (read committed).
pub fn decode(
    mut bytes: Bytes,
    from_offset: i64,
    aborted: Vec<AbortedTransaction>,
) -> anyhow::Result<Decoded> {
    let mut decoded = Decoded::default();
    let mut filter = AbortFilter::new(aborted);
    while bytes.len() >= LOG_OVERHEAD_BYTES {
        let length = u32::from_be_bytes(bytes[8..12].try_into()?);
        let total = LOG_OVERHEAD_BYTES + usize::try_from(length)?;
        if total > bytes.len() {
            break;
        }
        anyhow::ensure!(total >= BATCH_HEADER_BYTES, "a batch of {total} bytes");
        let mut batch = bytes.split_to(total);
        let base_offset = i64::from_be_bytes(batch[..8].try_into()?);
        let delta =
            i32::from_be_bytes(batch[LAST_OFFSET_DELTA_AT..LAST_OFFSET_DELTA_AT + 4].try_into()?);
        let max_timestamp =
            i64::from_be_bytes(batch[MAX_TIMESTAMP_AT..MAX_TIMESTAMP_AT + 8].try_into()?);
        let set = RecordBatchDecoder::decode_with_custom_compression(&mut batch, Some(decompress))
            .with_context(|| format!("the batch at offset {base_offset}"))?;
        let last_offset = base_offset + i64::from(delta);
        let dropped = set
            .records
            .first()
            .is_some_and(|first| filter.drops(last_offset, first));
        for record in set.records {
            if dropped || record.control || record.offset < from_offset {
                continue;
            }
            let log_append_time = record.timestamp_type == TimestampType::LogAppend;
            decoded.records.push(InRecord {
                offset: record.offset,
                // The broker stamps a LogAppendTime batch's max timestamp only; every record of
                // it has that time, as Kafka's clients report it.
                timestamp: if log_append_time {
                    max_timestamp
                } else {
                    record.timestamp
                },
                log_append_time,
                key: record.key,
                value: record.value,
                headers: record
                    .headers
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
            });
        }
        decoded.next_offset = Some(last_offset + 1);
    }
    if decoded.next_offset.is_none() && bytes.has_remaining() {
        bail!(
            "the first batch at offset {from_offset} is larger than the fetch size ({} bytes received)",
            bytes.len()
        );
    }
    Ok(decoded)
}

fn decompress(section: &mut Bytes, compression: Compression) -> anyhow::Result<Bytes> {
    let codec = match compression {
        Compression::None => 0,
        Compression::Gzip => 1,
        Compression::Snappy => 2,
        Compression::Lz4 => 3,
        Compression::Zstd => 4,
    };
    let raw = decompress_records(codec, section, DECOMPRESSED_BATCH_BYTES_MAX).with_context(|| {
        format!(
            "{compression:?} records that do not decompress within {DECOMPRESSED_BATCH_BYTES_MAX} bytes"
        )
    })?;
    Ok(Bytes::from(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(key: Option<&str>, value: Option<&str>, timestamp: i64) -> OutRecord {
        OutRecord {
            key: key.map(|k| Bytes::copy_from_slice(k.as_bytes())),
            value: value.map(|v| Bytes::copy_from_slice(v.as_bytes())),
            headers: vec![
                ("h".to_string(), Some(Bytes::from_static(b"x"))),
                ("n".to_string(), None),
            ],
            timestamp,
        }
    }

    /// Every codec round-trips keys, null values, headers and timestamps, and the offsets
    /// continue where the batch says.
    #[test]
    fn batches_round_trip_in_every_codec() -> anyhow::Result<()> {
        let out = vec![record(Some("k"), Some("v"), 5), record(None, None, 7)];
        for compression in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let mut batch = encode(&out, compression)?.to_vec();
            batch[..8].copy_from_slice(&40i64.to_be_bytes());
            let decoded = decode(Bytes::from(batch), 41, Vec::new())?;
            assert_eq!(decoded.next_offset, Some(42), "{compression:?}");
            assert_eq!(
                decoded.records.len(),
                1,
                "offset 40 is before the fetch offset"
            );
            let r = &decoded.records[0];
            assert_eq!(
                (r.offset, r.timestamp, r.key.clone(), r.value.clone()),
                (41, 7, None, None)
            );
            assert_eq!(r.headers, out[1].headers);
        }
        Ok(())
    }

    #[test]
    fn a_cut_batch_ends_the_walk_and_a_lone_cut_batch_is_an_error() -> anyhow::Result<()> {
        let one = encode(&[record(Some("k"), Some("v"), 1)], Compression::None)?;
        let mut two = one.to_vec();
        two.extend_from_slice(&one[..one.len() - 1]);
        let decoded = decode(Bytes::from(two), 0, Vec::new())?;
        assert_eq!((decoded.records.len(), decoded.next_offset), (1, Some(1)));
        assert!(decode(one.slice(..one.len() - 1), 0, Vec::new()).is_err());
        assert_eq!(decode(Bytes::new(), 0, Vec::new())?.next_offset, None);
        Ok(())
    }

    /// One batch of `count` records at `base_offset`, from `producer_id` when transactional;
    /// `marker` makes it a control batch with that marker type.
    fn txn_batch(base_offset: i64, count: i64, producer_id: i64, marker: Option<i16>) -> Vec<u8> {
        let records: Vec<Record> = (0..count)
            .map(|i| Record {
                transactional: producer_id >= 0,
                control: marker.is_some(),
                delete_horizon: false,
                partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
                producer_id,
                producer_epoch: 0,
                timestamp_type: TimestampType::Creation,
                offset: i,
                sequence: i32::try_from(i).unwrap_or_default(),
                timestamp: 1,
                key: Some(match marker {
                    Some(kind) => Bytes::from([0i16, kind].map(i16::to_be_bytes).concat()),
                    None => Bytes::from_static(b"k"),
                }),
                value: Some(Bytes::from_static(b"v")),
                headers: Default::default(),
            })
            .collect();
        let mut buffer = BytesMut::new();
        let options = RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        };
        let encoded = RecordBatchEncoder::encode(&mut buffer, &records, &options);
        assert!(encoded.is_ok());
        let mut batch = buffer.to_vec();
        batch[..8].copy_from_slice(&base_offset.to_be_bytes());
        batch
    }

    /// An aborted transaction's records are dropped up to its marker; a committed one's and
    /// records outside transactions are kept; without the aborted list nothing is dropped.
    #[test]
    fn aborted_transactions_are_skipped_up_to_their_marker() -> anyhow::Result<()> {
        let log = [
            txn_batch(0, 2, 7, None),    // 0-1 aborted below
            txn_batch(2, 1, 8, None),    // 2 committed
            txn_batch(3, 1, 7, Some(0)), // 3 ABORT marker of 7
            txn_batch(4, 1, 8, Some(1)), // 4 COMMIT marker of 8
            txn_batch(5, 1, -1, None),   // 5 no transaction
            txn_batch(6, 1, 7, None),    // 6 a later transaction of 7, not aborted
        ]
        .concat();
        let aborted = vec![AbortedTransaction {
            producer_id: 7,
            first_offset: 0,
        }];
        let offsets =
            |decoded: Decoded| -> Vec<i64> { decoded.records.iter().map(|r| r.offset).collect() };
        let committed = decode(Bytes::from(log.clone()), 0, aborted)?;
        assert_eq!(committed.next_offset, Some(7));
        assert_eq!(offsets(committed), [2, 5, 6]);
        assert_eq!(
            offsets(decode(Bytes::from(log), 0, Vec::new())?),
            [0, 1, 2, 5, 6]
        );
        Ok(())
    }
}
