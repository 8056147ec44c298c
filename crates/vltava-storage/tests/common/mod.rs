//! Helpers shared by the integration tests: a log on the simulated filesystem and batches
//! with arbitrary record bytes.
#![allow(dead_code, clippy::unwrap_used)]

pub mod kv;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use vltava_storage::{AppendInfo, AppendOptions, FlushScope, Log, LogConfig, SimFs, TestBatch};

pub fn dir() -> PathBuf {
    PathBuf::from("/data/topic-0")
}

pub fn small_config() -> LogConfig {
    LogConfig {
        segment_bytes: 4096,
        index_interval_bytes: 256,
        ..LogConfig::default()
    }
}

pub fn open(fs: &SimFs, config: LogConfig) -> Log {
    Log::open(Arc::new(fs.clone()), &dir(), config, 0).unwrap()
}

/// A batch of `records` records with `payload` record bytes, all stamped `timestamp`.
pub fn batch(records: i32, timestamp: i64, payload: usize) -> Vec<u8> {
    let bytes: Vec<u8> = (0..payload).map(|i| (i % 251) as u8).collect();
    TestBatch::new(records, timestamp, &bytes).encode()
}

pub fn append(log: &mut Log, batch: &[u8], now_ms: i64) -> AppendInfo {
    let mut bytes = batch.to_vec();
    log.append(
        &mut bytes,
        AppendOptions {
            leader_epoch: 1,
            now_ms,
        },
    )
    .unwrap()
}

pub fn flush(log: &mut Log) {
    if let Some(pending) = log.prepare_flush(FlushScope::Full).unwrap() {
        pending.sync().unwrap();
        log.complete_flush(pending);
    }
}

/// Every batch header (base offset, last offset) from `start` to the log end.
pub fn read_all(log: &Log, start: i64) -> Vec<(i64, i64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut next = start;
    while next < log.log_end_offset() {
        let bytes = log
            .read(next, i64::MAX, 1 << 20, true)
            .unwrap()
            .read()
            .unwrap();
        assert!(!bytes.is_empty(), "empty read at {next}");
        let mut at = 0;
        while at < bytes.len() {
            let h = vltava_storage::BatchHeader::parse(&bytes[at..]).unwrap();
            out.push((
                h.base_offset,
                h.last_offset(),
                bytes[at..at + h.total_size()].to_vec(),
            ));
            next = h.last_offset() + 1;
            at += h.total_size();
        }
    }
    out
}

pub fn files(fs: &SimFs, dir: &Path) -> Vec<String> {
    use vltava_storage::FileSystem;
    let mut names: Vec<String> = fs
        .read_dir(dir)
        .unwrap()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
