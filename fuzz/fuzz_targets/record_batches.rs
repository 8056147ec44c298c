//! Arbitrary bytes as the records of one produce partition: `validate_batches` must return,
//! never panic, stay within the allocation budget, and whatever it accepts must be whole v2
//! batches laid back to back that cover the input exactly, each with a matching CRC-32C.
//!
//! The first input byte picks a mode: odd means "fix the CRCs up" before validating, so the
//! fuzzer also reaches the checks behind the CRC (compression codec, negative counts); even
//! means validate the rest of the input as it is.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vltava_fuzz::alloc_guard::{OnExceed, measure};
use vltava_fuzz::batches::fix_crcs;
use vltava_storage::batch::{BatchHeader, HEADER_BYTES, MAGIC_V2, compute_crc, validate_batches};

/// Kafka's default `message.max.bytes` (1 MiB + 12 bytes of log overhead), the broker's default.
const MAX_BATCH_BYTES: usize = 1024 * 1024 + 12;

fuzz_target!(|input: &[u8]| {
    let [mode, rest @ ..] = input else {
        return;
    };
    let mut data = rest.to_vec();
    if mode & 1 == 1 {
        fix_crcs(&mut data);
    }
    let (result, _) = measure(data.len(), OnExceed::Abort, || {
        validate_batches(&data, MAX_BATCH_BYTES).map_err(|error| error.to_string())
    });
    let Ok(headers) = result else {
        return;
    };
    let mut position = 0;
    for header in &headers {
        let size = header.total_size();
        assert!((HEADER_BYTES..=MAX_BATCH_BYTES).contains(&size));
        let batch = &data[position..position + size];
        assert_eq!(BatchHeader::parse(batch).ok().as_ref(), Some(header));
        assert_eq!(header.magic, MAGIC_V2);
        assert_eq!(compute_crc(batch), header.crc);
        assert!(header.compression() <= 4);
        assert!(header.records_count >= 0 && header.last_offset_delta >= 0);
        // What the produce path computes from an accepted header (producer state).
        let _ = (
            header.last_sequence(),
            header.is_transactional(),
            header.is_control(),
        );
        position += size;
    }
    assert_eq!(
        position,
        data.len(),
        "accepted batches must cover the input exactly"
    );
});
