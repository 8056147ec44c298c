//! Encodes a Fetch response with its records left in their segment files: the encoded bytes
//! go into the connection's buffer, and each partition's records field gets its length prefix
//! there and a split point, where the writer puts the file's bytes (server/send_file.rs).
//! This is Kafka's `FetchResponse.toSend` with `MultiRecordsSend`: the response's other fields
//! are encoded as usual, the records are sent from the file.
//!
//! kafka-protocol encodes whole messages, so each level (response, topic, partition) is
//! encoded with its array or records left empty, and the empty encoding is replaced by the real
//! length: the fields after an array or the records are only tagged fields, whose encoding is
//! known (checked here, and against kafka-protocol's own encoding in the tests).

use anyhow::{Context, ensure};
use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::FetchResponse;
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::protocol::Encodable;
use vltava_storage::ReadSlice;

/// The first flexible Fetch version (compact arrays and bytes, tagged fields).
const FLEXIBLE_VERSION: i16 = 12;
/// The first version with error_code and session_id before the topics.
const SESSION_VERSION: i16 = 7;

/// Where a file range goes: after `at` bytes of the buffer (counted from the frame's start).
#[derive(Debug)]
pub struct Split {
    pub at: usize,
    pub records: ReadSlice,
}

/// Appends `response` (version `version`) to `buffer`, leaving out the bytes of `records`
/// (one per partition, in the response's order; their records fields are empty) and saying
/// where each goes. A partition whose tagged fields are set gets its bytes read into the
/// buffer instead (a diverging epoch or a current leader comes with no records anyway).
pub fn encode(
    buffer: &mut BytesMut,
    version: i16,
    mut response: FetchResponse,
    records: Vec<ReadSlice>,
) -> anyhow::Result<Vec<Split>> {
    let flexible = version >= FLEXIBLE_VERSION;
    let topics = std::mem::take(&mut response.responses);
    let start = buffer.len();
    response.encode(buffer, version)?;
    // throttle_time_ms, then (v7+) error_code and session_id, then the topics array.
    let head = match version >= SESSION_VERSION {
        true => 4 + 2 + 4,
        false => 4,
    };
    let tail = cut_empty(buffer, start + head, flexible)?;
    put_length(buffer, flexible, topics.len())?;
    let mut slices = records.into_iter();
    let mut splits = Vec::new();
    for mut topic in topics {
        let partitions = std::mem::take(&mut topic.partitions);
        ensure!(
            topic.unknown_tagged_fields.is_empty(),
            "a fetched topic with tagged fields"
        );
        topic.encode(buffer, version)?;
        // The partitions array is last but for the (empty) tagged fields.
        replace_last_length(buffer, flexible, partitions.len())?;
        for partition in partitions {
            let slice = slices
                .next()
                .context("fewer record slices than partitions")?;
            encode_partition(buffer, version, partition, slice, &mut splits)?;
        }
        buffer.put_slice(plain_tail(flexible));
    }
    ensure!(
        slices.next().is_none(),
        "more record slices than partitions"
    );
    buffer.extend_from_slice(&tail);
    Ok(splits)
}

fn encode_partition(
    buffer: &mut BytesMut,
    version: i16,
    mut partition: PartitionData,
    records: ReadSlice,
    splits: &mut Vec<Split>,
) -> anyhow::Result<()> {
    let flexible = version >= FLEXIBLE_VERSION;
    ensure!(
        partition.records.as_ref().is_none_or(|r| r.is_empty()),
        "a fetched partition with records both in memory and in a file"
    );
    if records.is_empty() {
        partition.encode(buffer, version)?;
        return Ok(());
    }
    let untagged = partition.diverging_epoch == Default::default()
        && partition.current_leader == Default::default()
        && partition.snapshot_id == Default::default()
        && partition.unknown_tagged_fields.is_empty();
    if !untagged {
        partition.records = Some(records.read()?);
        partition.encode(buffer, version)?;
        return Ok(());
    }
    partition.records = Some(bytes::Bytes::new());
    partition.encode(buffer, version)?;
    // The records field is last but for the (empty) tagged fields.
    replace_last_length(buffer, flexible, records.len())?;
    splits.push(Split {
        at: buffer.len(),
        records,
    });
    buffer.put_slice(plain_tail(flexible));
    Ok(())
}

/// The length of an empty array or of empty (not null) records: a compact length of 0 is the
/// varint 1, a classic one the int32 0.
fn empty_length(flexible: bool) -> &'static [u8] {
    match flexible {
        true => &[1],
        false => &[0, 0, 0, 0],
    }
}

/// Replaces the empty length and empty tagged fields that end `buffer` with `len`, after which
/// the caller writes the field's content and the tagged fields again.
fn replace_last_length(buffer: &mut BytesMut, flexible: bool, len: usize) -> anyhow::Result<()> {
    let at = buffer
        .len()
        .saturating_sub(plain_tail(flexible).len() + empty_length(flexible).len());
    let tail = cut_empty(buffer, at, flexible)?;
    ensure!(tail == plain_tail(flexible), "unexpected tagged fields");
    put_length(buffer, flexible, len)
}

/// Checks that `buffer` holds an empty length at `at`, removes it and everything after it, and
/// returns what came after it.
fn cut_empty(buffer: &mut BytesMut, at: usize, flexible: bool) -> anyhow::Result<Vec<u8>> {
    let empty = empty_length(flexible);
    let found = buffer.get(at..at + empty.len());
    ensure!(
        found == Some(empty),
        "no empty field where expected in the fetch response"
    );
    let tail = buffer[at + empty.len()..].to_vec();
    buffer.truncate(at);
    Ok(tail)
}

/// What follows an empty records field or a topic's partitions when no tagged field is set:
/// an empty tagged-fields section (a count of 0) in flexible versions, nothing before.
fn plain_tail(flexible: bool) -> &'static [u8] {
    match flexible {
        true => &[0],
        false => &[],
    }
}

/// The length of an array or of records: a compact length (varint of length + 1) or an int32.
fn put_length(buffer: &mut BytesMut, flexible: bool, len: usize) -> anyhow::Result<()> {
    if flexible {
        let mut value = u32::try_from(len)?
            .checked_add(1)
            .context("length too large")?;
        while value >= 0x80 {
            buffer.put_u8((value as u8) | 0x80);
            value >>= 7;
        }
        buffer.put_u8(value as u8);
    } else {
        buffer.put_i32(i32::try_from(len)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Guards against a frame whose records sit at the wrong place or under the wrong length:
    //! the split encoding, with the file bytes put where it says, must be byte for byte what
    //! kafka-protocol encodes with the records in memory, in every Fetch version served.
    use std::path::Path;
    use std::sync::Arc;

    use bytes::Bytes;
    use kafka_protocol::messages::fetch_response::{
        AbortedTransaction, FetchableTopicResponse, LeaderIdAndEpoch, NodeEndpoint,
    };
    use kafka_protocol::messages::{BrokerId, ProducerId, TopicName};
    use kafka_protocol::protocol::StrBytes;
    use vltava_storage::{AppendOptions, Log, LogConfig, SimFs, TestBatch};

    use super::*;

    fn slices() -> (Log, Vec<ReadSlice>) {
        let mut log = Log::open(
            Arc::new(SimFs::new()),
            Path::new("/t-0"),
            LogConfig::default(),
            0,
        )
        .expect("open");
        let options = AppendOptions {
            leader_epoch: 0,
            now_ms: 0,
        };
        for (count, payload) in [(3, &b"abc"[..]), (1, b"x"), (200, &[7u8; 300][..])] {
            let mut batch = TestBatch::new(count, 0, payload).encode();
            log.append(&mut batch, options).expect("append");
        }
        let end = log.log_end_offset();
        let all = log.read(0, end, usize::MAX, true).expect("read");
        let first = log.read(0, end, 1, true).expect("read");
        let last = log.read(4, end, usize::MAX, true).expect("read");
        (
            log,
            vec![all, ReadSlice::empty(), first, last, ReadSlice::empty()],
        )
    }

    fn partition(index: i32) -> PartitionData {
        PartitionData::default()
            .with_partition_index(index)
            .with_high_watermark(204)
            .with_last_stable_offset(204)
            .with_log_start_offset(0)
            .with_records(Some(Bytes::new()))
    }

    fn response(version: i16) -> FetchResponse {
        let mut errored = partition(2).with_error_code(6);
        if version >= FLEXIBLE_VERSION {
            errored = errored.with_current_leader(
                LeaderIdAndEpoch::default()
                    .with_leader_id(BrokerId(2))
                    .with_leader_epoch(5),
            );
        }
        let aborted = vec![
            AbortedTransaction::default()
                .with_producer_id(ProducerId(9))
                .with_first_offset(1),
        ];
        let topic = |name: &str, partitions| {
            FetchableTopicResponse::default()
                .with_topic(TopicName(StrBytes::from_string(name.to_string())))
                .with_topic_id(uuid::Uuid::from_u128(7))
                .with_partitions(partitions)
        };
        let mut response = FetchResponse::default().with_responses(vec![
            topic("a", vec![partition(0), partition(1), errored]),
            topic(
                "b",
                vec![
                    partition(0).with_aborted_transactions(Some(aborted)),
                    partition(3),
                ],
            ),
        ]);
        if version >= SESSION_VERSION {
            response = response.with_session_id(12).with_throttle_time_ms(3);
        }
        if version >= 16 {
            response = response.with_node_endpoints(vec![
                NodeEndpoint::default()
                    .with_node_id(BrokerId(2))
                    .with_host(StrBytes::from_static_str("h"))
                    .with_port(9092),
            ]);
        }
        response
    }

    #[test]
    fn records_from_files_land_where_kafka_protocol_puts_them_in_every_version() {
        let (_log, slices) = slices();
        for version in 4..=18 {
            let response = response(version);
            let mut in_memory = response.clone();
            let mut slice = slices.iter();
            for topic in &mut in_memory.responses {
                for partition in &mut topic.partitions {
                    let bytes = slice.next().expect("slice").read().expect("read");
                    partition.records = Some(bytes);
                }
            }
            let mut expected = BytesMut::new();
            in_memory.encode(&mut expected, version).expect("encode");

            let mut buffer = BytesMut::new();
            let splits = encode(&mut buffer, version, response, slices.clone()).expect("split");
            // The errored partition's current leader is a tagged field: its bytes are read.
            let from_files = if version >= FLEXIBLE_VERSION { 2 } else { 3 };
            assert_eq!(splits.len(), from_files, "version {version}");
            let mut frame = Vec::new();
            let mut from = 0;
            for split in &splits {
                frame.extend_from_slice(&buffer[from..split.at]);
                frame.extend_from_slice(&split.records.read().expect("read"));
                from = split.at;
            }
            frame.extend_from_slice(&buffer[from..]);
            assert_eq!(frame, expected.to_vec(), "version {version}");
        }
    }
}
