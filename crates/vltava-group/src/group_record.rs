//! The group metadata record of `__consumer_offsets`: a classic group's generation, leader,
//! members and their assignments, in Kafka's format (key version 2: the group id; value
//! version 3). The coordinator writes it when a group becomes Stable, so that the coordinator
//! that takes the partition over (after a failover or a controlled shutdown) knows the
//! generation and its members, whose heartbeats and commits then go on without a rebalance.
//! A tombstone is written when the group empties.
//!
//! | field | versions |
//! |---|---|
//! | string protocol type, i32 generation, nullable string protocol, nullable string leader | 0+ |
//! | i64 current state timestamp (-1: unknown) | 2+ |
//! | i32 count, then per member: string member id, nullable string instance id (3+), string client id, string client host, i32 rebalance timeout (1+), i32 session timeout, bytes subscription, bytes assignment | 0+ |
//!
//! Versions 0 to 3 are read; version 4 (flexible) and later are refused as malformed, which
//! the loader skips: the group's members then rejoin, as they would with no record at all.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::codec::{get_i16, get_i32, get_i64, get_string, put_string};
use crate::ids::GroupId;
use crate::offsets_log::MalformedRecord;

const GROUP_METADATA_VALUE_VERSION: i16 = 3;
/// The first version whose members carry `rebalanceTimeout`.
const REBALANCE_TIMEOUT_VERSION: i16 = 1;
const STATE_TIMESTAMP_VERSION: i16 = 2;
const INSTANCE_ID_VERSION: i16 = 3;
/// Smallest encoding of one member (four empty strings, a null, two i32s, two empty byte
/// arrays): a count claiming more members than the bytes left can hold is refused before
/// anything is allocated for them.
const MEMBER_BYTES_MIN: usize = 4 * 2 + 2 + 2 * 4 + 2 * 4;

/// A Stable classic group as its record stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupSnapshot {
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub members: Vec<MemberSnapshot>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberSnapshot {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    /// The member's metadata for the group's protocol.
    pub subscription: Bytes,
    pub assignment: Bytes,
}

/// What a call changed of a group's record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupChange {
    /// The group is Stable with this generation and these members.
    Stable(GroupSnapshot),
    /// The group emptied: its record is deleted (a tombstone).
    Emptied,
}

pub(crate) const GROUP_METADATA_KEY_VERSION: i16 = 2;

pub fn group_metadata_key(group_id: &GroupId) -> Bytes {
    let mut key = BytesMut::new();
    key.put_i16(GROUP_METADATA_KEY_VERSION);
    put_string(&mut key, group_id.as_str());
    key.freeze()
}

pub fn group_metadata_value(group: &GroupSnapshot) -> Bytes {
    let mut value = BytesMut::new();
    value.put_i16(GROUP_METADATA_VALUE_VERSION);
    put_string(&mut value, &group.protocol_type);
    value.put_i32(group.generation);
    put_nullable_string(&mut value, group.protocol.as_deref());
    put_nullable_string(&mut value, group.leader.as_deref());
    value.put_i64(-1);
    value.put_i32(i32::try_from(group.members.len()).unwrap_or(i32::MAX));
    for member in &group.members {
        put_string(&mut value, &member.member_id);
        put_nullable_string(&mut value, member.group_instance_id.as_deref());
        put_string(&mut value, &member.client_id);
        put_string(&mut value, &member.client_host);
        value.put_i32(member.rebalance_timeout_ms);
        value.put_i32(member.session_timeout_ms);
        put_bytes(&mut value, &member.subscription);
        put_bytes(&mut value, &member.assignment);
    }
    value.freeze()
}

pub(crate) fn decode_group_metadata_value(
    mut value: &[u8],
) -> Result<GroupSnapshot, MalformedRecord> {
    let version = get_i16(&mut value)?;
    if !(0..=GROUP_METADATA_VALUE_VERSION).contains(&version) {
        return Err(MalformedRecord("unsupported group metadata value version"));
    }
    let protocol_type = get_string(&mut value)?;
    let generation = get_i32(&mut value)?;
    let protocol = get_nullable_string(&mut value)?;
    let leader = get_nullable_string(&mut value)?;
    if version >= STATE_TIMESTAMP_VERSION {
        get_i64(&mut value)?;
    }
    let count = usize::try_from(get_i32(&mut value)?)
        .map_err(|_| MalformedRecord("negative member count"))?;
    if count > value.len() / MEMBER_BYTES_MIN {
        return Err(MalformedRecord("more members than bytes"));
    }
    let mut members = Vec::with_capacity(count);
    for _ in 0..count {
        let member_id = get_string(&mut value)?;
        let group_instance_id = match version >= INSTANCE_ID_VERSION {
            true => get_nullable_string(&mut value)?,
            false => None,
        };
        let client_id = get_string(&mut value)?;
        let client_host = get_string(&mut value)?;
        let rebalance_timeout_ms = match version >= REBALANCE_TIMEOUT_VERSION {
            true => Some(get_i32(&mut value)?),
            false => None,
        };
        let session_timeout_ms = get_i32(&mut value)?;
        members.push(MemberSnapshot {
            member_id,
            group_instance_id,
            client_id,
            client_host,
            // Kafka takes a version 0 member's session timeout for its rebalance timeout.
            rebalance_timeout_ms: rebalance_timeout_ms.unwrap_or(session_timeout_ms),
            session_timeout_ms,
            subscription: get_bytes(&mut value)?,
            assignment: get_bytes(&mut value)?,
        });
    }
    Ok(GroupSnapshot {
        protocol_type,
        generation,
        protocol,
        leader,
        members,
    })
}

fn put_nullable_string(buf: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => put_string(buf, s),
        None => buf.put_i16(-1),
    }
}

fn put_bytes(buf: &mut BytesMut, bytes: &[u8]) {
    // Subscriptions and assignments come from requests far below i32::MAX bytes.
    buf.put_i32(i32::try_from(bytes.len()).unwrap_or(i32::MAX));
    buf.put_slice(bytes);
}

fn get_nullable_string(buf: &mut &[u8]) -> Result<Option<String>, MalformedRecord> {
    match buf.first_chunk::<2>().map(|b| i16::from_be_bytes(*b)) {
        Some(-1) => {
            buf.advance(2);
            Ok(None)
        }
        _ => Ok(Some(get_string(buf)?)),
    }
}

fn get_bytes(buf: &mut &[u8]) -> Result<Bytes, MalformedRecord> {
    let len = usize::try_from(get_i32(buf)?).map_err(|_| MalformedRecord("null bytes"))?;
    if buf.len() < len {
        return Err(MalformedRecord("truncated bytes"));
    }
    let (bytes, rest) = buf.split_at(len);
    *buf = rest;
    Ok(Bytes::copy_from_slice(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offsets_log::{OffsetsRecord, decode};

    fn sample() -> GroupSnapshot {
        GroupSnapshot {
            protocol_type: "consumer".into(),
            generation: 7,
            protocol: Some("range".into()),
            leader: Some("a-1".into()),
            members: vec![
                MemberSnapshot {
                    member_id: "a-1".into(),
                    group_instance_id: None,
                    client_id: "a".into(),
                    client_host: "/127.0.0.1".into(),
                    rebalance_timeout_ms: 300_000,
                    session_timeout_ms: 45_000,
                    subscription: Bytes::from_static(b"sub-a"),
                    assignment: Bytes::from_static(b"asg-a"),
                },
                MemberSnapshot {
                    member_id: "b-2".into(),
                    group_instance_id: Some("b".into()),
                    client_id: "b".into(),
                    client_host: "/127.0.0.2".into(),
                    rebalance_timeout_ms: 60_000,
                    session_timeout_ms: 10_000,
                    subscription: Bytes::new(),
                    assignment: Bytes::from_static(b"asg-b"),
                },
            ],
        }
    }

    #[test]
    fn a_group_round_trips_and_a_tombstone_forgets_it() {
        let group_id = GroupId::new("payments");
        let key = group_metadata_key(&group_id);
        let value = group_metadata_value(&sample());
        assert_eq!(
            decode(&key, Some(&value)),
            Ok(OffsetsRecord::GroupMetadata {
                group_id: group_id.clone(),
                group: Some(sample())
            })
        );
        assert_eq!(
            decode(&key, None),
            Ok(OffsetsRecord::GroupMetadata {
                group_id,
                group: None
            })
        );
    }

    #[test]
    fn the_bytes_are_kafkas_group_metadata_v2_key_and_v3_value() {
        let key = group_metadata_key(&GroupId::new("g"));
        assert_eq!(&key[..], &[0, 2, 0, 1, b'g']);
        let empty = GroupSnapshot {
            protocol_type: "consumer".into(),
            generation: 1,
            protocol: None,
            leader: None,
            members: Vec::new(),
        };
        let mut expected = vec![0, 3, 0, 8];
        expected.extend_from_slice(b"consumer");
        expected.extend_from_slice(&[0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]);
        expected.extend_from_slice(&(-1i64).to_be_bytes());
        expected.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(&group_metadata_value(&empty)[..], &expected[..]);
    }

    #[test]
    fn truncated_lying_or_newer_values_are_refused_not_misread() {
        let value = group_metadata_value(&sample());
        for cut in 0..value.len() {
            assert!(
                decode_group_metadata_value(&value[..cut]).is_err(),
                "cut {cut}"
            );
        }
        let mut lying = group_metadata_value(&GroupSnapshot {
            members: Vec::new(),
            ..sample()
        })
        .to_vec();
        let count_at = lying.len() - 4;
        lying[count_at..].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(decode_group_metadata_value(&lying).is_err());
        let mut newer = value.to_vec();
        newer[..2].copy_from_slice(&4i16.to_be_bytes());
        assert!(decode_group_metadata_value(&newer).is_err());
    }
}
