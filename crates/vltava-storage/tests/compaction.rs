//! Log compaction: the latest record of each key survives with its offset, older ones go,
//! tombstones go only after delete.retention.ms from their first clean, and the cleaner runs
//! only when the dirty ratio or a lag says so. Guards against: the cleaner dropping a live
//! key, renumbering offsets, breaking compressed batches or producer sequences, deleting
//! tombstones before consumers could see them, and reads stalling on a gap.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;
use common::*;

use common::kv::*;
use kafka_protocol::records::Compression;
use vltava_storage::{
    BatchHeader, CleanOptions, CleanupPolicy, Log, LogConfig, SimFs, StorageError,
};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

fn compacted() -> LogConfig {
    LogConfig {
        segment_bytes: 2048,
        index_interval_bytes: 256,
        cleanup_policy: CleanupPolicy::COMPACT,
        delete_retention_ms: DAY_MS,
        min_cleanable_dirty_ratio: 0.5,
        ..LogConfig::default()
    }
}

fn force() -> CleanOptions {
    CleanOptions {
        force: true,
        ..CleanOptions::default()
    }
}

/// 40 keys written 10 times each over many segments, the last round in the active segment.
fn churn(log: &mut Log, compression: Compression) {
    for round in 0..10 {
        for chunk in 0..8 {
            let pairs: Vec<(String, String)> = (0..5)
                .map(|i| (format!("k{}", chunk * 5 + i), format!("v{round}")))
                .collect();
            let refs: Vec<(&str, Option<&str>)> = pairs
                .iter()
                .map(|(k, v)| (k.as_str(), Some(v.as_str())))
                .collect();
            put(log, &refs, 1000 + round, compression);
        }
    }
    flush(log);
}

#[test]
fn cleaning_keeps_the_latest_record_per_key_at_its_offset() {
    for compression in [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let fs = SimFs::new();
        let mut log = open(&fs, compacted());
        churn(&mut log, compression);
        // Roll past the churn so that all of it lies in closed segments.
        for _ in 0..2 {
            put(&mut log, &[("pad", Some(&noise(1500)))], 1500, compression);
        }
        flush(&mut log);
        let before = consume(&log);
        let size_before = log.size_bytes();
        let stats = log.clean(2000, force()).unwrap();
        let after = consume(&log);
        assert!(stats.records_removed > 0, "{compression:?}: {stats:?}");
        assert_eq!(latest(&after), latest(&before), "{compression:?}");
        assert!(log.size_bytes() < size_before, "{compression:?}");
        // Every surviving record is the very record that was written, at its offset.
        for record in &after {
            assert!(
                before.contains(record),
                "{compression:?}: {record:?} is new"
            );
        }
        // In the cleaned range no key appears twice.
        let mut keys: Vec<&String> = after
            .iter()
            .filter(|r| r.1 != "pad")
            .map(|r| &r.1)
            .collect();
        keys.sort();
        let n = keys.len();
        keys.dedup();
        assert_eq!(keys.len(), n, "{compression:?}: a key survived twice");
        // Batches keep the codec, and the reopened log reads the same.
        let (_, _, first) = &read_all(&log, 0)[0];
        let codec = BatchHeader::parse(first).unwrap().compression();
        assert_eq!(codec, compression as u8);
        drop(log);
        let log = open(&fs, compacted());
        assert_eq!(consume(&log), after, "{compression:?} after reopen");
    }
}

#[test]
fn a_fetch_in_a_gap_skips_to_the_next_record() {
    let fs = SimFs::new();
    let mut log = open(&fs, compacted());
    churn(&mut log, Compression::None);
    log.clean(2000, force()).unwrap();
    let after = consume(&log);
    let offsets: Vec<i64> = after.iter().map(|r| r.0).collect();
    let gap = (0..log.log_end_offset())
        .find(|o| !offsets.contains(o))
        .unwrap();
    let next = *offsets.iter().find(|o| **o > gap).unwrap();
    let bytes = log
        .read(gap, i64::MAX, 1 << 20, true)
        .unwrap()
        .read()
        .unwrap();
    let header = BatchHeader::parse(&bytes).unwrap();
    assert!(header.base_offset <= next && header.last_offset() >= next);
}

#[test]
fn batch_headers_keep_producer_sequences_and_last_offsets() {
    let fs = SimFs::new();
    let mut log = open(&fs, compacted());
    churn(&mut log, Compression::Lz4);
    let mut before = Vec::new();
    log.for_each_batch_header(|h| before.push(*h)).unwrap();
    log.clean(2000, force()).unwrap();
    let mut after = Vec::new();
    log.for_each_batch_header(|h| after.push(*h)).unwrap();
    assert!(after.len() < before.len(), "whole batches were superseded");
    for h in &after {
        let original = before
            .iter()
            .find(|b| b.base_offset == h.base_offset)
            .unwrap();
        assert_eq!(
            (h.last_offset(), h.producer_id, h.producer_epoch),
            (original.last_offset(), 7, 0)
        );
        assert_eq!(
            (h.base_sequence, h.last_sequence(), h.max_timestamp),
            (
                original.base_sequence,
                original.last_sequence(),
                original.max_timestamp
            )
        );
    }
}

#[test]
fn tombstones_survive_delete_retention_after_their_first_clean_then_go() {
    let fs = SimFs::new();
    let mut log = open(&fs, compacted());
    for i in 0..30 {
        put(
            &mut log,
            &[
                ("a", Some("1")),
                ("b", Some("1")),
                ("filler", Some(&"x".repeat(100))),
            ],
            i,
            Compression::None,
        );
    }
    put(&mut log, &[("a", None)], 50, Compression::Gzip);
    for i in 0..30 {
        put(
            &mut log,
            &[("filler", Some(&"y".repeat(200)))],
            60 + i,
            Compression::None,
        );
    }
    flush(&mut log);
    let t0 = 10_000;
    log.clean(t0, force()).unwrap();
    let seen = latest(&consume(&log));
    assert_eq!(seen.get("a"), Some(&None), "the tombstone is kept at first");
    assert_eq!(seen.get("b"), Some(&Some("1".into())));
    // Timestamps of records in a batch with a delete horizon still read back as written.
    let tomb = consume(&log).into_iter().find(|r| r.1 == "a").unwrap();
    assert_eq!(tomb.3, 50);
    log.clean(t0 + DAY_MS - 1, force()).unwrap();
    assert_eq!(latest(&consume(&log)).get("a"), Some(&None));
    let stats = log.clean(t0 + DAY_MS, force()).unwrap();
    assert_eq!(stats.tombstones_removed, 1);
    let seen = latest(&consume(&log));
    assert!(!seen.contains_key("a"), "deleted key gone: {seen:?}");
    assert_eq!(seen.get("b"), Some(&Some("1".into())));
}

#[test]
fn the_horizon_of_a_tombstone_makes_the_log_due_without_new_writes() {
    let fs = SimFs::new();
    let mut log = open(&fs, compacted());
    for i in 0..20 {
        put(
            &mut log,
            &[("a", Some(&"v".repeat(200)))],
            i,
            Compression::None,
        );
    }
    put(&mut log, &[("a", None)], 30, Compression::None);
    for i in 0..20 {
        put(
            &mut log,
            &[("z", Some(&"w".repeat(200)))],
            40 + i,
            Compression::None,
        );
    }
    flush(&mut log);
    let options = CleanOptions::default();
    assert!(log.clean(1000, options).unwrap().records_removed > 0);
    assert_eq!(
        log.clean(2000, options).unwrap(),
        Default::default(),
        "nothing dirty"
    );
    let stats = log.clean(1000 + DAY_MS, options).unwrap();
    assert_eq!(stats.tombstones_removed, 1);
}

#[test]
fn dirty_ratio_and_compaction_lags_decide_when_to_clean() {
    let fs = SimFs::new();
    let config = LogConfig {
        min_cleanable_dirty_ratio: 0.9,
        ..compacted()
    };
    let mut log = open(&fs, config.clone());
    churn(&mut log, Compression::None);
    let options = CleanOptions::default();
    // Everything is dirty at first: ratio 1.0.
    assert!(log.clean(2000, options).unwrap().segments_scanned > 0);
    // A little more data: dirty share below 0.9, so no clean.
    for i in 0..12 {
        put(
            &mut log,
            &[("k1", Some(&"n".repeat(150)))],
            3000 + i,
            Compression::None,
        );
    }
    flush(&mut log);
    assert_eq!(log.clean(4000, options).unwrap(), Default::default());
    // max.compaction.lag.ms forces it once the oldest dirty segment is old enough.
    log.set_config(LogConfig {
        max_compaction_lag_ms: 500,
        ..config.clone()
    });
    assert_eq!(log.clean(3200, options).unwrap(), Default::default());
    assert!(log.clean(5000, options).unwrap().segments_scanned > 0);
    // min.compaction.lag.ms: segments with records newer than the lag are not cleaned.
    let fs = SimFs::new();
    let mut log = open(
        &fs,
        LogConfig {
            min_compaction_lag_ms: 1000,
            ..compacted()
        },
    );
    churn(&mut log, Compression::None);
    assert_eq!(log.clean(1500, options).unwrap(), Default::default());
    assert!(log.clean(2100, options).unwrap().segments_scanned > 0);
}

#[test]
fn only_compacted_logs_are_cleaned_and_compact_only_logs_skip_time_retention() {
    let fs = SimFs::new();
    let mut log = open(
        &fs,
        LogConfig {
            cleanup_policy: CleanupPolicy::DELETE,
            ..compacted()
        },
    );
    churn(&mut log, Compression::None);
    assert_eq!(log.clean(2000, force()).unwrap(), Default::default());
    let fs = SimFs::new();
    let mut log = open(
        &fs,
        LogConfig {
            retention_ms: 10,
            ..compacted()
        },
    );
    churn(&mut log, Compression::None);
    assert_eq!(log.apply_retention(1_000_000).unwrap(), 0);
}

#[test]
fn keyless_records_control_batches_and_active_segment_are_kept() {
    let fs = SimFs::new();
    let mut log = open(&fs, compacted());
    // Opaque record bytes (no parseable records): kept verbatim.
    append(&mut log, &batch(3, 5, 40), 5);
    churn(&mut log, Compression::None);
    let active_before = read_all(&log, 0).last().unwrap().clone();
    log.clean(2000, force()).unwrap();
    let after = read_all(&log, 0);
    assert_eq!(after[0].2, batch_with_offset(batch(3, 5, 40), 0));
    assert_eq!(after.last().unwrap(), &active_before);
}

fn batch_with_offset(mut bytes: Vec<u8>, offset: i64) -> Vec<u8> {
    vltava_storage::set_base_offset(&mut bytes, offset);
    vltava_storage::set_partition_leader_epoch(&mut bytes, 1);
    bytes
}

#[test]
fn a_log_whose_cleaned_segments_end_in_gaps_reopens_whole() {
    let fs = SimFs::new();
    let mut log = open(&fs, compacted());
    // Each segment ends with records superseded later, so cleaned segments end early; some
    // segments lose every record.
    churn(&mut log, Compression::Snappy);
    log.clean(2000, force()).unwrap();
    let after = consume(&log);
    let end = log.log_end_offset();
    drop(log);
    let mut log = open(&fs, compacted());
    assert_eq!(consume(&log), after);
    assert_eq!(log.log_end_offset(), end);
    // And appends continue at the end.
    put(&mut log, &[("new", Some("1"))], 5000, Compression::None);
    assert_eq!(consume(&log).last().unwrap().0, end);
    // A second clean over cleaned segments changes nothing more.
    let stats = log.clean(6000, force()).unwrap();
    assert_eq!((stats.records_removed, stats.segments_rewritten), (0, 0));
}

#[test]
fn a_failed_fsync_during_cleaning_takes_the_log_offline() {
    let fs = SimFs::new();
    let mut log = open(&fs, compacted());
    churn(&mut log, Compression::None);
    fs.fail_next_sync();
    assert!(log.clean(2000, force()).is_err());
    assert!(matches!(
        log.read(0, i64::MAX, 100, true),
        Err(StorageError::LogOffline { .. })
    ));
    drop(log);
    let log = open(&fs, compacted());
    assert_eq!(latest(&consume(&log)).len(), 40);
}

/// `.log` files in the log's directory.
fn segment_files(fs: &SimFs) -> usize {
    use vltava_storage::FileSystem;
    fs.read_dir(&dir())
        .unwrap()
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .count()
}

#[test]
fn segments_the_cleaner_empties_go_but_the_log_start_offset_stays() {
    let fs = SimFs::new();
    let mut log = open(&fs, compacted());
    // Three segments' worth of the same ten keys, then a fourth round that supersedes all of
    // them and closes by the padding after it.
    for round in 0..4 {
        for _ in 0..4 {
            let value = format!("r{round}-{}", noise(60));
            let pairs: Vec<(String, String)> =
                (0..10).map(|i| (format!("k{i}"), value.clone())).collect();
            let refs: Vec<(&str, Option<&str>)> = pairs
                .iter()
                .map(|(k, v)| (k.as_str(), Some(v.as_str())))
                .collect();
            put(&mut log, &refs, 1000 + round, Compression::None);
        }
    }
    for _ in 0..2 {
        put(
            &mut log,
            &[("pad", Some(&noise(1500)))],
            1500,
            Compression::None,
        );
    }
    flush(&mut log);
    let before = consume(&log);
    let files_before = segment_files(&fs);

    log.clean(2000, force()).unwrap();
    // Retention passes must not treat the emptied first segment as below the log start.
    for _ in 0..3 {
        assert_eq!(log.apply_retention(3000).unwrap(), 0);
    }

    assert_eq!(log.log_start_offset(), 0);
    assert!(
        segment_files(&fs) < files_before,
        "no emptied segment was removed"
    );
    let after = consume(&log);
    assert_eq!(latest(&after), latest(&before));
    // A read at offset 0, compacted away, answers with the first record after it.
    let bytes = log
        .read(0, i64::MAX, 1 << 20, true)
        .unwrap()
        .read()
        .unwrap();
    let header = BatchHeader::parse(&bytes).unwrap();
    assert!(header.last_offset() >= after[0].0 && header.base_offset <= after[0].0);
    drop(log);
    let log = open(&fs, compacted());
    assert_eq!(log.log_start_offset(), 0);
    assert_eq!(consume(&log), after);
}

#[test]
fn under_compact_delete_time_retention_passes_a_segment_the_cleaner_emptied() {
    let fs = SimFs::new();
    let config = LogConfig {
        cleanup_policy: CleanupPolicy {
            compact: true,
            delete: true,
        },
        retention_ms: 60_000,
        ..compacted()
    };
    let mut log = open(&fs, config.clone());
    churn(&mut log, Compression::None);
    log.clean(2000, force()).unwrap();
    // Before retention.ms nothing goes, the emptied first segment included.
    assert_eq!(log.apply_retention(2000).unwrap(), 0);
    assert_eq!(log.log_start_offset(), 0);
    // Once every record is past retention.ms, every closed segment goes, emptied or not;
    // after a reopen too (the emptied segment then has no timestamp at all).
    drop(log);
    let mut log = open(&fs, config);
    let deleted = log.apply_retention(1_000_000).unwrap();
    assert!(deleted > 0);
    assert!(log.log_start_offset() > 0);
}

/// A clean planned before a truncation is not swapped in after it: its copies describe
/// offsets the truncation may have rewritten.
#[test]
fn a_clean_prepared_before_a_truncation_is_dropped() {
    let fs = SimFs::new();
    let mut log = open(&fs, compacted());
    churn(&mut log, Compression::None);
    for _ in 0..2 {
        put(
            &mut log,
            &[("pad", Some(&noise(1500)))],
            1500,
            Compression::None,
        );
    }
    flush(&mut log);
    let prepared = log.prepare_clean(2000, force()).unwrap().expect("due");
    let cleaned = prepared.run().unwrap();
    let cut = log.log_end_offset() - 1;
    log.truncate_to(cut).unwrap();
    let before = consume(&log);
    let size_before = log.size_bytes();
    let stats = log.complete_clean(cleaned).unwrap();
    assert!(
        stats.records_removed > 0,
        "the clean itself removed records: {stats:?}"
    );
    assert_eq!(
        log.size_bytes(),
        size_before,
        "a stale clean was swapped in"
    );
    assert_eq!(consume(&log), before);
}
