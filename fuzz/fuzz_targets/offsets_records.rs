//! Arbitrary bytes as one `__consumer_offsets` record (the broker replays these on start):
//! `decode_offsets_record` must return, never panic; whatever it reads as an offset commit
//! or a group's metadata must encode back to bytes that decode to the same record.
//!
//! The first input byte splits the rest into key and value; its top bit makes the value null
//! (a tombstone).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vltava_group::{
    OffsetsRecord, decode_offsets_record, group_metadata_key, group_metadata_value, offset_key,
    offset_value,
};

fuzz_target!(|input: &[u8]| {
    let [split, rest @ ..] = input else {
        return;
    };
    let at = usize::from(split & 0x7f).min(rest.len());
    let (key, value) = rest.split_at(at);
    let value = (split & 0x80 == 0).then_some(value);
    let Ok(record) = decode_offsets_record(key, value) else {
        return;
    };
    let (key, value) = match &record {
        OffsetsRecord::Offset {
            group_id,
            partition,
            committed,
        } => (
            offset_key(group_id, partition),
            committed.as_ref().map(offset_value),
        ),
        OffsetsRecord::GroupMetadata { group_id, group } => (
            group_metadata_key(group_id),
            group.as_ref().map(group_metadata_value),
        ),
    };
    assert_eq!(decode_offsets_record(&key, value.as_deref()), Ok(record));
});
