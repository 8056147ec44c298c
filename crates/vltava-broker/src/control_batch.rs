//! Transaction markers: Kafka's control batches (`ControlRecordType`, `EndTransactionMarker`).
//! A marker is a batch with the transactional and control attributes set, of one record whose
//! key is `i16 version 0, i16 type` (0 ABORT, 1 COMMIT) and whose value is `i16 version 0,
//! i32 coordinator epoch`. It ends its producer's transaction in the partition.

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::Result;
use crate::internal_topic::{BatchProducer, encode_batch};

const CONTROL_KEY_VERSION: i16 = 0;
const MARKER_VALUE_VERSION: i16 = 0;
const ABORT: i16 = 0;
const COMMIT: i16 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlType {
    Abort,
    Commit,
}

impl ControlType {
    pub fn from_commit(commit: bool) -> Self {
        match commit {
            true => ControlType::Commit,
            false => ControlType::Abort,
        }
    }
}

/// The marker batch ending `producer_id`'s transaction.
pub fn marker_batch(
    producer_id: i64,
    producer_epoch: i16,
    coordinator_epoch: i32,
    marker: ControlType,
    now_ms: i64,
) -> Result<Bytes> {
    let mut key = BytesMut::with_capacity(4);
    key.put_i16(CONTROL_KEY_VERSION);
    key.put_i16(match marker {
        ControlType::Abort => ABORT,
        ControlType::Commit => COMMIT,
    });
    let mut value = BytesMut::with_capacity(6);
    value.put_i16(MARKER_VALUE_VERSION);
    value.put_i32(coordinator_epoch);
    let producer = BatchProducer {
        producer_id,
        producer_epoch,
        transactional: true,
        control: true,
    };
    encode_batch(&[(key.freeze(), Some(value.freeze()))], producer, now_ms)
}

/// The type of a control record from its key; `None` for an unknown version or type (Kafka
/// skips unknown control types).
pub fn control_type(key: &[u8]) -> Option<ControlType> {
    let version = i16::from_be_bytes([*key.first()?, *key.get(1)?]);
    let kind = i16::from_be_bytes([*key.get(2)?, *key.get(3)?]);
    match (version, kind) {
        (CONTROL_KEY_VERSION, ABORT) => Some(ControlType::Abort),
        (CONTROL_KEY_VERSION, COMMIT) => Some(ControlType::Commit),
        _ => None,
    }
}

/// The marker type of a whole control batch as stored (uncompressed, one record): the
/// record's key is read in place, without decoding the batch.
pub fn batch_control_type(batch: &[u8]) -> Option<ControlType> {
    // After the 61-byte v2 header a record is: varint length, i8 attributes, varint
    // timestamp delta, varint offset delta, varint key length, key.
    let mut at = vltava_storage::batch::HEADER_BYTES;
    skip_varint(batch, &mut at)?;
    at += 1;
    skip_varint(batch, &mut at)?;
    skip_varint(batch, &mut at)?;
    let key_len = usize::try_from(read_varint(batch, &mut at)?).ok()?;
    control_type(batch.get(at..at.checked_add(key_len)?)?)
}

fn skip_varint(bytes: &[u8], at: &mut usize) -> Option<()> {
    read_varint(bytes, at).map(|_| ())
}

/// A zig-zag varint, as record fields are stored.
fn read_varint(bytes: &[u8], at: &mut usize) -> Option<i64> {
    let mut raw = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*at)?;
        *at += 1;
        raw |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some((raw >> 1) as i64 ^ -((raw & 1) as i64));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use vltava_storage::batch::BatchHeader;

    #[test]
    fn a_marker_is_a_transactional_control_batch_of_its_producer() -> Result<()> {
        let batch = marker_batch(42, 3, 7, ControlType::Commit, 1_000)?;
        let header = BatchHeader::parse(&batch)?;
        assert!(header.is_control() && header.is_transactional());
        assert_eq!((header.producer_id, header.producer_epoch), (42, 3));
        assert_eq!(header.records_count, 1);
        assert_eq!(batch_control_type(&batch), Some(ControlType::Commit));
        let abort = marker_batch(42, 3, 7, ControlType::Abort, 1_000)?;
        assert_eq!(batch_control_type(&abort), Some(ControlType::Abort));
        Ok(())
    }

    #[test]
    fn unknown_control_keys_are_not_taken_for_markers() {
        assert_eq!(control_type(&[0, 0, 0, 1]), Some(ControlType::Commit));
        assert_eq!(control_type(&[0, 0, 0, 5]), None);
        assert_eq!(control_type(&[0, 1, 0, 1]), None);
        assert_eq!(control_type(&[0, 0]), None);
        assert_eq!(batch_control_type(&[0; 10]), None);
    }
}
