//! The records of `__transaction_state`, in Kafka's format (`TransactionLogKey.json`,
//! `TransactionLogValue.json` in Kafka's transaction-coordinator module), so that a log written
//! by one can be read by the other's tools.
//!
//! | record | key | value |
//! |---|---|---|
//! | transaction | i16 0, string transactional id | i16 0, i64 producer id, i16 producer epoch, i32 timeout ms, i8 status, partitions (nullable array of {string topic, array of i32}), i64 last update ms, i64 start ms; null = expired |
//!
//! Value version 1 (written by Kafka with transaction version 1+) is flexible: compact strings
//! and arrays, then tagged fields (previous and next producer id, next epoch, client
//! transaction version). vltava writes version 0, which every Kafka reads, and reads both.
//! Strings are Kafka's non-flexible strings (i16 length). Status codes are Kafka's
//! `TransactionState.id()`.

use std::collections::BTreeSet;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use vltava_group::codec::{
    CodecError, get_compact_string, get_i8, get_i16, get_i32, get_i64, get_string, get_uvarint,
    put_string,
};

use super::state::{TxnMetadata, TxnState};

const KEY_VERSION: i16 = 0;
const VALUE_VERSION: i16 = 0;
const VALUE_FLEXIBLE_VERSION: i16 = 1;
/// Strings and arrays read from the log are bounded so that a corrupt length cannot make the
/// loader allocate gigabytes.
const ARRAY_LEN_MAX: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed __transaction_state record: {0}")]
pub struct MalformedRecord(&'static str);

/// One record of `__transaction_state`: a transactional id's metadata, or its removal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnRecord {
    pub transactional_id: String,
    pub metadata: Option<TxnMetadata>,
}

pub fn key(transactional_id: &str) -> Bytes {
    let mut key = BytesMut::new();
    key.put_i16(KEY_VERSION);
    put_string(&mut key, transactional_id);
    key.freeze()
}

/// The version 0 value. Empty transactions store a null partition list, as Kafka does.
pub fn value(metadata: &TxnMetadata) -> Bytes {
    let mut value = BytesMut::new();
    value.put_i16(VALUE_VERSION);
    value.put_i64(metadata.producer_id);
    value.put_i16(metadata.producer_epoch);
    value.put_i32(metadata.timeout_ms);
    value.put_i8(metadata.state.code());
    if metadata.state == TxnState::Empty {
        value.put_i32(-1);
    } else {
        let topics = by_topic(&metadata.partitions);
        value.put_i32(len_i32(topics.len()));
        for (topic, partitions) in topics {
            put_string(&mut value, &topic);
            value.put_i32(len_i32(partitions.len()));
            for partition in partitions {
                value.put_i32(partition);
            }
        }
    }
    value.put_i64(metadata.last_update_ms);
    value.put_i64(metadata.start_ms);
    value.freeze()
}

pub fn decode(key: &[u8], value: Option<&[u8]>) -> Result<TxnRecord, MalformedRecord> {
    let mut key = key;
    if get_i16(&mut key)? != KEY_VERSION {
        return Err(MalformedRecord("unknown key version"));
    }
    let transactional_id = get_string(&mut key)?;
    let metadata = match value {
        None => None,
        Some(mut value) => Some(decode_value(&transactional_id, &mut value)?),
    };
    Ok(TxnRecord {
        transactional_id,
        metadata,
    })
}

fn decode_value(transactional_id: &str, buf: &mut &[u8]) -> Result<TxnMetadata, MalformedRecord> {
    let version = get_i16(buf)?;
    let flexible = match version {
        VALUE_VERSION => false,
        VALUE_FLEXIBLE_VERSION => true,
        _ => return Err(MalformedRecord("unknown value version")),
    };
    let producer_id = get_i64(buf)?;
    let producer_epoch = get_i16(buf)?;
    let timeout_ms = get_i32(buf)?;
    let state = TxnState::from_code(get_i8(buf)?).ok_or(MalformedRecord("unknown status"))?;
    let mut partitions = BTreeSet::new();
    if let Some(topics) = get_array_len(buf, flexible)? {
        for _ in 0..topics {
            let topic = match flexible {
                true => get_compact_string(buf)?,
                false => get_string(buf)?,
            };
            let count = get_array_len(buf, flexible)?.ok_or(MalformedRecord("null partitions"))?;
            for _ in 0..count {
                partitions.insert((topic.clone(), get_i32(buf)?));
            }
            if flexible {
                skip_tagged_fields(buf)?;
            }
        }
    }
    let last_update_ms = get_i64(buf)?;
    let start_ms = get_i64(buf)?;
    if flexible {
        // Previous/next producer ids and the client's transaction version: vltava serves
        // transaction version 0 semantics and does not need them.
        skip_tagged_fields(buf)?;
    }
    Ok(TxnMetadata {
        transactional_id: transactional_id.to_string(),
        producer_id,
        producer_epoch,
        timeout_ms,
        state,
        partitions,
        last_update_ms,
        start_ms,
    })
}

fn by_topic(partitions: &BTreeSet<(String, i32)>) -> Vec<(String, Vec<i32>)> {
    let mut topics: Vec<(String, Vec<i32>)> = Vec::new();
    for (topic, partition) in partitions {
        match topics.last_mut() {
            Some((last, list)) if last == topic => list.push(*partition),
            _ => topics.push((topic.clone(), vec![*partition])),
        }
    }
    topics
}

fn len_i32(len: usize) -> i32 {
    i32::try_from(len).unwrap_or(i32::MAX)
}

impl From<CodecError> for MalformedRecord {
    fn from(error: CodecError) -> Self {
        MalformedRecord(error.0)
    }
}

/// An array's length; `None` for null. Flexible arrays store length + 1 as a varint.
fn get_array_len(buf: &mut &[u8], flexible: bool) -> Result<Option<usize>, MalformedRecord> {
    let len = match flexible {
        true => match get_uvarint(buf)? {
            0 => return Ok(None),
            n => u64::from(n - 1),
        },
        false => match get_i32(buf)? {
            -1 => return Ok(None),
            n => u64::try_from(n).map_err(|_| MalformedRecord("negative array length"))?,
        },
    };
    match usize::try_from(len) {
        Ok(len) if len <= ARRAY_LEN_MAX && len <= buf.len() => Ok(Some(len)),
        _ => Err(MalformedRecord("array length out of bounds")),
    }
}

fn skip_tagged_fields(buf: &mut &[u8]) -> Result<(), MalformedRecord> {
    let count = get_uvarint(buf)?;
    for _ in 0..count.min(ARRAY_LEN_MAX as u32) {
        let _tag = get_uvarint(buf)?;
        let size = usize::try_from(get_uvarint(buf)?).unwrap_or(usize::MAX);
        if size > buf.len() {
            return Err(MalformedRecord("truncated tagged field"));
        }
        buf.advance(size);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ongoing() -> TxnMetadata {
        TxnMetadata {
            transactional_id: "tx".to_string(),
            producer_id: 4000,
            producer_epoch: 3,
            timeout_ms: 60_000,
            state: TxnState::Ongoing,
            partitions: [
                ("a".to_string(), 0),
                ("a".to_string(), 2),
                ("b".to_string(), 1),
            ]
            .into_iter()
            .collect(),
            last_update_ms: 1_700_000_000_123,
            start_ms: 1_700_000_000_000,
        }
    }

    #[test]
    fn a_value_reads_back_as_written() -> Result<(), MalformedRecord> {
        let metadata = ongoing();
        let record = decode(&key("tx"), Some(&value(&metadata)))?;
        assert_eq!(record.transactional_id, "tx");
        assert_eq!(record.metadata, Some(metadata));
        Ok(())
    }

    /// The bytes Kafka's generated `TransactionLogValue` writes at version 0 for the same
    /// metadata: a reordering of fields would break reading Kafka's logs.
    #[test]
    fn the_value_is_laid_out_as_kafkas_version_0() {
        let bytes = value(&ongoing());
        let mut expected = BytesMut::new();
        expected.put_i16(0);
        expected.put_i64(4000);
        expected.put_i16(3);
        expected.put_i32(60_000);
        expected.put_i8(1);
        expected.put_i32(2);
        expected.put_i16(1);
        expected.put_slice(b"a");
        expected.put_i32(2);
        expected.put_i32(0);
        expected.put_i32(2);
        expected.put_i16(1);
        expected.put_slice(b"b");
        expected.put_i32(1);
        expected.put_i32(1);
        expected.put_i64(1_700_000_000_123);
        expected.put_i64(1_700_000_000_000);
        assert_eq!(bytes, expected.freeze());
        assert_eq!(&key("tx")[..], &[0, 0, 0, 2, b't', b'x']);
    }

    #[test]
    fn an_empty_transaction_stores_a_null_partition_list() -> Result<(), MalformedRecord> {
        let mut metadata = ongoing();
        metadata.state = TxnState::Empty;
        metadata.partitions.clear();
        let bytes = value(&metadata);
        assert_eq!(&bytes[17..21], &(-1i32).to_be_bytes());
        assert_eq!(decode(&key("tx"), Some(&bytes))?.metadata, Some(metadata));
        Ok(())
    }

    #[test]
    fn a_flexible_version_1_value_is_read() -> Result<(), MalformedRecord> {
        let mut v = BytesMut::new();
        v.put_i16(1);
        v.put_i64(7);
        v.put_i16(2);
        v.put_i32(1000);
        v.put_i8(4);
        v.put_u8(2); // one topic
        v.put_u8(2); // compact "t"
        v.put_slice(b"t");
        v.put_u8(2); // one partition
        v.put_i32(5);
        v.put_u8(0); // topic's tagged fields
        v.put_i64(11);
        v.put_i64(10);
        v.put_u8(1); // one tagged field: previous producer id
        v.put_u8(0);
        v.put_u8(8);
        v.put_i64(6);
        let metadata = decode(&key("x"), Some(&v))?.metadata;
        let metadata = metadata.ok_or(MalformedRecord("none"))?;
        assert_eq!(metadata.state, TxnState::CompleteCommit);
        assert_eq!((metadata.producer_id, metadata.producer_epoch), (7, 2));
        assert_eq!(
            metadata.partitions.into_iter().collect::<Vec<_>>(),
            vec![("t".to_string(), 5)]
        );
        Ok(())
    }

    #[test]
    fn garbage_is_refused_not_misread() {
        let bytes = value(&ongoing());
        for cut in 0..bytes.len() {
            assert!(decode(&key("tx"), Some(&bytes[..cut])).is_err(), "{cut}");
        }
        assert!(decode(&[0, 1, 0, 0], None).is_err());
        let mut bad_status = bytes.to_vec();
        bad_status[16] = 42;
        assert!(decode(&key("tx"), Some(&bad_status)).is_err());
        assert_eq!(decode(&key("tx"), None).map(|r| r.metadata), Ok(None));
    }
}
