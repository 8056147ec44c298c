//! Keyed records encoded as clients do (kafka-protocol), for the compaction tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;

use bytes::Bytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use vltava_storage::Log;

use super::{append, read_all};

/// One batch of (key, value) records from an idempotent producer (id 7, sequence = offset
/// within the partition as the log will assign it, given `first_offset`).
pub fn kv_batch(
    first_offset: i64,
    pairs: &[(&str, Option<&str>)],
    timestamp: i64,
    compression: Compression,
) -> Vec<u8> {
    let records: Vec<Record> = pairs
        .iter()
        .enumerate()
        .map(|(i, (k, v))| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: 7,
            producer_epoch: 0,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: (first_offset + i as i64) as i32,
            timestamp: timestamp + i as i64,
            key: Some(Bytes::copy_from_slice(k.as_bytes())),
            value: v.map(|v| Bytes::copy_from_slice(v.as_bytes())),
            headers: Default::default(),
        })
        .collect();
    let mut out = bytes::BytesMut::new();
    RecordBatchEncoder::encode(
        &mut out,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .unwrap();
    out.to_vec()
}

pub fn put(
    log: &mut Log,
    pairs: &[(&str, Option<&str>)],
    timestamp: i64,
    compression: Compression,
) {
    let first = log.log_end_offset();
    append(
        log,
        &kv_batch(first, pairs, timestamp, compression),
        timestamp,
    );
}

/// Every record from offset 0 as clients decode it: (offset, key, value, timestamp).
pub type Seen = Vec<(i64, String, Option<String>, i64)>;

pub fn consume(log: &Log) -> Seen {
    let mut out = Vec::new();
    for (_, _, bytes) in read_all(log, log.log_start_offset()) {
        let mut buf = Bytes::from(bytes);
        let set = RecordBatchDecoder::decode(&mut buf).unwrap();
        for r in set.records {
            let text = |b: Option<Bytes>| b.map(|b| String::from_utf8(b.to_vec()).unwrap());
            out.push((r.offset, text(r.key).unwrap(), text(r.value), r.timestamp));
        }
    }
    out
}

/// Text that no codec can shrink much, so that it fills segments.
pub fn noise(len: usize) -> String {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'!' + (x % 90) as u8)
        })
        .collect()
}

pub fn latest(seen: &Seen) -> BTreeMap<String, Option<String>> {
    seen.iter()
        .map(|(_, k, v, _)| (k.clone(), v.clone()))
        .collect()
}
