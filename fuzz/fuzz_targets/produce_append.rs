//! Arbitrary bytes as one produce partition's records, through what the broker does with them:
//! `validate_batches`, then `Log::append` on a simulated filesystem, which checks every record's
//! timestamp against `message.timestamp.before/after.max.ms` (decompressing compressed
//! batches) or stamps LogAppendTime. Neither may panic or allocate beyond the budget, and an
//! append either takes all the batches or refuses them all.
//!
//! The first input byte picks the mode: bit 0 LogAppendTime (else CreateTime), bit 1 tight
//! limits of one hour either side (else Kafka's defaults). CRCs are always fixed up, so the
//! fuzzer reaches the records behind them.
#![no_main]

use std::path::Path;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use vltava_fuzz::alloc_guard::{OnExceed, measure};
use vltava_fuzz::batches::fix_crcs;
use vltava_storage::batch::validate_batches;
use vltava_storage::{AppendOptions, Log, LogConfig, SimFs, TimestampType};

/// Kafka's default `message.max.bytes` (1 MiB + 12 bytes of log overhead), the broker's default.
const MAX_BATCH_BYTES: usize = 1024 * 1024 + 12;
const NOW_MS: i64 = 1_700_000_000_000;
const HOUR_MS: i64 = 3_600_000;
/// zstd's decoder reads through a fixed buffer of about 128 KiB (ZSTD_DStreamInSize) for each
/// compressed batch it opens: a constant cost, not an amplification of the input, so the
/// budget (1 KiB per input byte) gets that many input bytes more.
const ZSTD_DECODER_BUFFER_INPUT_BYTES: usize = 132;

fuzz_target!(|input: &[u8]| {
    let [mode, rest @ ..] = input else {
        return;
    };
    let mut data = rest.to_vec();
    fix_crcs(&mut data);
    if validate_batches(&data, MAX_BATCH_BYTES).is_err() {
        return;
    }
    let mut config = LogConfig::default();
    if mode & 1 == 1 {
        config.message_timestamp_type = TimestampType::LogAppendTime;
    }
    if mode & 2 == 2 {
        config.message_timestamp_before_max_ms = HOUR_MS;
        config.message_timestamp_after_max_ms = HOUR_MS;
    }
    let fs = Arc::new(SimFs::new());
    let Ok(mut log) = Log::open(fs, Path::new("/fuzz/topic-0"), config, 0) else {
        return;
    };
    let budget_input_bytes = data.len() + ZSTD_DECODER_BUFFER_INPUT_BYTES;
    let (result, _) = measure(budget_input_bytes, OnExceed::Abort, || {
        let options = AppendOptions {
            leader_epoch: 0,
            now_ms: NOW_MS,
        };
        log.append(&mut data, options).map(|info| info.last_offset)
    });
    match result {
        Ok(last_offset) => assert_eq!(log.log_end_offset(), last_offset + 1),
        Err(_) => assert_eq!(log.log_end_offset(), 0, "a refused append wrote something"),
    }
});
