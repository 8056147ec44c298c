//! Cleaner throughput on the real filesystem: MB of closed segments compacted per second.
//! Ignored by default (it writes ~100 MB); run with
//! `cargo test --release -p vltava-storage --test compaction_throughput -- --ignored --nocapture`.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;
use common::kv::kv_batch;

use std::sync::Arc;
use std::time::Instant;

use kafka_protocol::records::Compression;
use vltava_storage::{
    AppendOptions, CleanOptions, CleanupPolicy, FlushScope, Log, LogConfig, RealFs,
};

const LOG_BYTES: u64 = 100 * 1024 * 1024;
const KEYS: usize = 10_000;
const RECORDS_PER_BATCH: usize = 100;
const VALUE_BYTES: usize = 100;

fn measure(compression: Compression) {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: 16 * 1024 * 1024,
        cleanup_policy: CleanupPolicy::COMPACT,
        ..LogConfig::default()
    };
    let mut log = Log::open(Arc::new(RealFs), dir.path(), config, 0).unwrap();
    let value = common::kv::noise(VALUE_BYTES);
    let mut i = 0usize;
    while log.size_bytes() < LOG_BYTES {
        let keys: Vec<String> = (0..RECORDS_PER_BATCH)
            .map(|j| format!("key-{}", (i + j) % KEYS))
            .collect();
        let pairs: Vec<(&str, Option<&str>)> = keys
            .iter()
            .map(|k| (k.as_str(), Some(value.as_str())))
            .collect();
        let mut batch = kv_batch(log.log_end_offset(), &pairs, i as i64, compression);
        // The append time matches the records' timestamps (`i`), inside
        // message.timestamp.after.max.ms.
        let opts = AppendOptions {
            leader_epoch: 0,
            now_ms: i as i64,
        };
        log.append(&mut batch, opts).unwrap();
        i += RECORDS_PER_BATCH;
    }
    let pending = log.prepare_flush(FlushScope::Full).unwrap().unwrap();
    pending.sync().unwrap();
    log.complete_flush(pending);
    let options = CleanOptions {
        force: true,
        ..CleanOptions::default()
    };
    let started = Instant::now();
    let stats = log.clean(1, options).unwrap();
    let secs = started.elapsed().as_secs_f64();
    let mb = stats.bytes_scanned as f64 / 1e6;
    println!(
        "{compression:?}: cleaned {mb:.1} MB ({} segments, {} records removed) into {:.1} MB in {secs:.2} s: {:.0} MB/s",
        stats.segments_scanned,
        stats.records_removed,
        stats.bytes_written as f64 / 1e6,
        mb / secs
    );
}

#[test]
#[ignore = "writes ~100 MB per codec; run by hand for bench/RESULTS.md"]
fn cleaner_throughput() {
    for compression in [Compression::None, Compression::Lz4, Compression::Zstd] {
        measure(compression);
    }
}
