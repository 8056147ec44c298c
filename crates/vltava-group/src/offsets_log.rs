//! The records of `__consumer_offsets`, in Kafka's own format so Kafka's tools can read them
//! (`kafka-console-consumer --formatter ...OffsetsMessageFormatter`).
//!
//! | record | key (version, fields) | value |
//! |---|---|---|
//! | offset commit | i16 1, string group, string topic, i32 partition | i16 3, i64 offset, i32 leader epoch, string metadata, i64 commit timestamp; null = deleted |
//! | group metadata | i16 2, string group | see `group_record` |
//!
//! Strings are Kafka's non-flexible strings: i16 byte length, then UTF-8. Values of versions
//! 0 to 3 are read as such. From version 4 on the value is flexible (compact metadata string,
//! then tagged fields) and, by KIP-915, later versions may only add tagged fields: so any
//! version of 4 or more is read as version 4 and its tagged fields are left unread, as Kafka
//! reads a newer value with the newest schema it knows. A negative version, an unknown key
//! version or a record cut short is refused as malformed rather than misread; the loader
//! skips such records (KIP-915 skips unknown key versions too).

use bytes::{BufMut, Bytes, BytesMut};

use crate::codec::{
    CodecError, get_compact_string, get_i16, get_i32, get_i64, get_string, put_string,
};
use crate::group_record::{GROUP_METADATA_KEY_VERSION, GroupSnapshot, decode_group_metadata_value};
use crate::ids::GroupId;
use crate::offsets::{CommittedOffset, TopicPartition};

/// `offsets.topic.num.partitions`'s default in Kafka.
pub const OFFSETS_TOPIC_PARTITIONS_DEFAULT: i32 = 50;
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

const OFFSET_COMMIT_KEY_VERSION: i16 = 1;
const OFFSET_COMMIT_VALUE_VERSION: i16 = 3;
/// The first flexible offset commit value version (KIP-915): compact strings, tagged fields.
const OFFSET_COMMIT_VALUE_FLEXIBLE_VERSION: i16 = 4;

/// One record of `__consumer_offsets` that vltava acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OffsetsRecord {
    /// A commit, or its deletion when `committed` is `None`.
    Offset {
        group_id: GroupId,
        partition: TopicPartition,
        committed: Option<CommittedOffset>,
    },
    /// A classic group's membership, or its deletion when `group` is `None`.
    GroupMetadata {
        group_id: GroupId,
        group: Option<GroupSnapshot>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed __consumer_offsets record: {0}")]
pub struct MalformedRecord(pub(crate) &'static str);

/// The partition of `__consumer_offsets` that holds a group: Kafka's
/// `Utils.abs(groupId.hashCode()) % partitions`, so a group lands where Kafka puts it.
pub fn offsets_partition_for(group_id: &GroupId, partitions: i32) -> i32 {
    let hash = group_id.as_str().encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    });
    (hash & 0x7fff_ffff) % partitions.max(1)
}

pub fn offset_key(group_id: &GroupId, partition: &TopicPartition) -> Bytes {
    let mut key = BytesMut::new();
    key.put_i16(OFFSET_COMMIT_KEY_VERSION);
    put_string(&mut key, group_id.as_str());
    put_string(&mut key, &partition.topic);
    key.put_i32(partition.partition);
    key.freeze()
}

pub fn offset_value(committed: &CommittedOffset) -> Bytes {
    let mut value = BytesMut::new();
    value.put_i16(OFFSET_COMMIT_VALUE_VERSION);
    value.put_i64(committed.offset);
    value.put_i32(committed.leader_epoch);
    put_string(&mut value, &committed.metadata);
    value.put_i64(committed.commit_timestamp_ms);
    value.freeze()
}

/// Decodes one record's key and value (`None` value: a tombstone).
pub fn decode(key: &[u8], value: Option<&[u8]>) -> Result<OffsetsRecord, MalformedRecord> {
    let mut key = key;
    match get_i16(&mut key)? {
        0 | OFFSET_COMMIT_KEY_VERSION => {
            let group_id = GroupId::new(get_string(&mut key)?);
            let topic = get_string(&mut key)?;
            let partition = get_i32(&mut key)?;
            let committed = value.map(decode_offset_value).transpose()?;
            Ok(OffsetsRecord::Offset {
                group_id,
                partition: TopicPartition { topic, partition },
                committed,
            })
        }
        GROUP_METADATA_KEY_VERSION => Ok(OffsetsRecord::GroupMetadata {
            group_id: GroupId::new(get_string(&mut key)?),
            group: value.map(decode_group_metadata_value).transpose()?,
        }),
        _ => Err(MalformedRecord("unknown key version")),
    }
}

fn decode_offset_value(mut value: &[u8]) -> Result<CommittedOffset, MalformedRecord> {
    let version = get_i16(&mut value)?;
    if version < 0 {
        return Err(MalformedRecord("negative offset value version"));
    }
    let offset = get_i64(&mut value)?;
    let leader_epoch = if version >= 3 {
        get_i32(&mut value)?
    } else {
        -1
    };
    let metadata = if version >= OFFSET_COMMIT_VALUE_FLEXIBLE_VERSION {
        get_compact_string(&mut value)?
    } else {
        get_string(&mut value)?
    };
    let commit_timestamp_ms = get_i64(&mut value)?;
    Ok(CommittedOffset {
        offset,
        leader_epoch,
        metadata,
        commit_timestamp_ms,
    })
}

impl From<CodecError> for MalformedRecord {
    fn from(error: CodecError) -> Self {
        MalformedRecord(error.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (GroupId, TopicPartition, CommittedOffset) {
        (
            GroupId::new("payments"),
            TopicPartition {
                topic: "orders".into(),
                partition: 7,
            },
            CommittedOffset {
                offset: 42,
                leader_epoch: 3,
                metadata: "m".into(),
                commit_timestamp_ms: 1_700_000_000_000,
            },
        )
    }

    #[test]
    fn an_offset_commit_round_trips() {
        let (group_id, partition, committed) = sample();
        let key = offset_key(&group_id, &partition);
        let value = offset_value(&committed);
        let decoded = decode(&key, Some(&value));
        assert_eq!(
            decoded,
            Ok(OffsetsRecord::Offset {
                group_id,
                partition,
                committed: Some(committed)
            })
        );
    }

    #[test]
    fn the_bytes_are_kafkas_offset_commit_v1_key_and_v3_value() {
        let (group_id, partition, committed) = sample();
        let key = offset_key(&group_id, &partition);
        let mut expected = vec![0, 1, 0, 8];
        expected.extend_from_slice(b"payments");
        expected.extend_from_slice(&[0, 6]);
        expected.extend_from_slice(b"orders");
        expected.extend_from_slice(&[0, 0, 0, 7]);
        assert_eq!(&key[..], &expected[..]);
        let value = offset_value(&committed);
        assert_eq!(&value[..2], &[0, 3]);
        assert_eq!(value.len(), 2 + 8 + 4 + 2 + 1 + 8);
    }

    #[test]
    fn a_newer_flexible_value_is_read_as_version_4_ignoring_its_tagged_fields() {
        let (group_id, partition, committed) = sample();
        let key = offset_key(&group_id, &partition);
        for version in [4i16, 9] {
            let mut value = BytesMut::new();
            value.put_i16(version);
            value.put_i64(committed.offset);
            value.put_i32(committed.leader_epoch);
            value.put_u8(2); // compact string "m": length + 1
            value.put_slice(b"m");
            value.put_i64(committed.commit_timestamp_ms);
            value.put_slice(&[1, 42, 2, b'x', b'x']); // one unknown tagged field
            assert_eq!(
                decode(&key, Some(&value)),
                Ok(OffsetsRecord::Offset {
                    group_id: group_id.clone(),
                    partition: partition.clone(),
                    committed: Some(committed.clone())
                }),
                "version {version}"
            );
        }
    }

    #[test]
    fn a_tombstone_deletes() {
        let (group_id, partition, _) = sample();
        let key = offset_key(&group_id, &partition);
        assert!(matches!(
            decode(&key, None),
            Ok(OffsetsRecord::Offset {
                committed: None,
                ..
            })
        ));
    }

    #[test]
    fn truncated_or_unknown_records_are_refused_not_misread() {
        let (group_id, partition, committed) = sample();
        let key = offset_key(&group_id, &partition);
        let value = offset_value(&committed);
        for cut in 0..key.len() {
            assert!(decode(&key[..cut], Some(&value)).is_err());
        }
        for cut in 0..value.len() {
            assert!(decode(&key, Some(&value[..cut])).is_err());
        }
        assert!(decode(&[0, 9], None).is_err());
        let mut negative = value.to_vec();
        negative[..2].copy_from_slice(&(-1i16).to_be_bytes());
        assert!(decode(&key, Some(&negative)).is_err());
        assert_eq!(
            decode(&[0, 2, 0, 1, b'g'], None),
            Ok(OffsetsRecord::GroupMetadata {
                group_id: GroupId::new("g"),
                group: None
            })
        );
    }

    #[test]
    fn groups_land_on_the_partition_kafka_chooses() {
        // Java: Math.abs("payments".hashCode()) % 50, and a negative hash code.
        assert_eq!("payments".encode_utf16().count(), 8);
        let hash = "payments"
            .bytes()
            .fold(0i32, |h, b| h.wrapping_mul(31).wrapping_add(i32::from(b)));
        assert_eq!(
            offsets_partition_for(&GroupId::new("payments"), 50),
            (hash & 0x7fff_ffff) % 50
        );
        // "polygenelubricants".hashCode() == Integer.MIN_VALUE in Java.
        assert_eq!(
            offsets_partition_for(&GroupId::new("polygenelubricants"), 50),
            0
        );
    }
}
