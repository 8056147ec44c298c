//! Reopening, recovery from damaged segment tails and indexes, retention, the log start
//! offset, and a failed fsync taking the log offline.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;
use common::*;
use vltava_storage::{AppendOptions, FlushScope, LogConfig, SimFs, StorageError, names};

fn log_path(base: i64) -> std::path::PathBuf {
    names::log_file(&dir(), base)
}

#[test]
fn reopen_keeps_every_batch_and_offset() {
    let fs = SimFs::new();
    let mut log = open(&fs, small_config());
    for i in 0..60 {
        append(&mut log, &batch(3, i, 120), 0);
    }
    flush(&mut log);
    let before = read_all(&log, 0);
    drop(log);
    let log = open(&fs, small_config());
    assert_eq!(read_all(&log, 0), before);
    assert_eq!((log.log_end_offset(), log.recovery_point()), (180, 180));
    assert_eq!(log.offset_for_timestamp(30).unwrap(), Some((90, 30)));
}

#[test]
fn a_segment_cut_in_the_middle_of_a_batch_recovers_to_the_last_whole_batch() {
    let fs = SimFs::new();
    let mut log = open(&fs, LogConfig::default());
    for _ in 0..5 {
        append(&mut log, &batch(2, 0, 100), 0);
    }
    drop(log);
    let bytes = fs.contents(&log_path(0)).unwrap();
    fs.set_contents(&log_path(0), &bytes[..bytes.len() - 30])
        .unwrap();
    let mut log = open(&fs, LogConfig::default());
    assert_eq!(log.log_end_offset(), 8);
    assert_eq!(
        fs.contents(&log_path(0)).unwrap().len(),
        bytes.len() / 5 * 4
    );
    assert_eq!(append(&mut log, &batch(1, 0, 1), 0).base_offset, 8);
}

#[test]
fn a_corrupt_crc_in_the_tail_truncates_there() {
    let fs = SimFs::new();
    let mut log = open(&fs, small_config());
    for _ in 0..45 {
        append(&mut log, &batch(1, 0, 150), 0);
    }
    let active_base = log.log_end_offset() - 3;
    drop(log);
    // Damage a record byte of the third-last batch, in the last segment.
    let size = batch(1, 0, 150).len();
    let last = files(&fs, &dir())
        .into_iter()
        .rfind(|f| f.ends_with(".log"))
        .unwrap();
    let path = dir().join(last);
    let mut bytes = fs.contents(&path).unwrap();
    let at = bytes.len() - 3 * size + 70;
    bytes[at] ^= 0x55;
    fs.set_contents(&path, &bytes).unwrap();
    let log = open(&fs, small_config());
    assert_eq!(log.log_end_offset(), active_base);
    assert_eq!(read_all(&log, 0).len() as i64, active_base);
}

#[test]
fn deleted_or_corrupt_indexes_are_rebuilt_from_the_log() {
    let fs = SimFs::new();
    let config = LogConfig {
        index_interval_bytes: 100,
        ..LogConfig::default()
    };
    let mut log = open(&fs, config.clone());
    for i in 0..100 {
        append(&mut log, &batch(1, i, 80), 0);
    }
    flush(&mut log);
    log.checkpoint().unwrap();
    drop(log);
    use vltava_storage::FileSystem;
    fs.remove_file(&names::offset_index_file(&dir(), 0))
        .unwrap();
    fs.set_contents(&names::time_index_file(&dir(), 0), &[1, 2, 3])
        .unwrap();
    let log = open(&fs, config);
    assert!(
        fs.contents(&names::offset_index_file(&dir(), 0))
            .unwrap()
            .len()
            >= 8 * 50
    );
    assert_eq!(
        fs.contents(&names::time_index_file(&dir(), 0))
            .unwrap()
            .len()
            % 12,
        0
    );
    assert_eq!(read_all(&log, 0).len(), 100);
    assert_eq!(log.offset_for_timestamp(77).unwrap(), Some((77, 77)));
}

#[test]
fn trusted_segments_below_the_checkpoint_load_without_a_scan_and_stay_readable() {
    let fs = SimFs::new();
    let mut log = open(&fs, small_config());
    for i in 0..100 {
        append(&mut log, &batch(1, i, 100), 0);
    }
    flush(&mut log);
    log.checkpoint().unwrap();
    drop(log);
    let log = open(&fs, small_config());
    assert_eq!(read_all(&log, 0).len(), 100);
    assert_eq!(log.max_timestamp(), Some((99, 99)));
}

#[test]
fn retention_by_time_deletes_old_closed_segments_and_moves_log_start() {
    let fs = SimFs::new();
    let config = LogConfig {
        retention_ms: 1000,
        ..small_config()
    };
    let mut log = open(&fs, config.clone());
    for i in 0..100 {
        append(&mut log, &batch(1, i * 100, 150), 0);
    }
    let deleted = log.apply_retention(5_000).unwrap();
    assert!(deleted > 0);
    let start = log.log_start_offset();
    assert!(start > 0 && start < 40, "log start {start}");
    assert!(matches!(
        log.read(0, i64::MAX, 100, true),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
    assert_eq!(read_all(&log, start).first().unwrap().0, start);
    // Everything expired: all closed segments go, the active one stays.
    log.apply_retention(1_000_000).unwrap();
    assert_eq!(
        files(&fs, &dir())
            .iter()
            .filter(|f| f.ends_with(".log"))
            .count(),
        1
    );
    assert!(log.log_end_offset() > log.log_start_offset());
    let start = log.log_start_offset();
    drop(log);
    assert_eq!(open(&fs, config).log_start_offset(), start);
}

#[test]
fn retention_by_size_keeps_the_log_under_the_limit_but_never_deletes_the_active_segment() {
    let fs = SimFs::new();
    let config = LogConfig {
        retention_bytes: 10_000,
        retention_ms: -1,
        ..small_config()
    };
    let mut log = open(&fs, config);
    for i in 0..200 {
        append(&mut log, &batch(1, i, 150), 0);
    }
    assert!(log.apply_retention(0).unwrap() > 0);
    assert!(log.size_bytes() <= 10_000 + 4096);
    assert!(log.log_start_offset() > 0);
    log.set_config(LogConfig {
        retention_bytes: 0,
        ..log.config().clone()
    });
    log.apply_retention(0).unwrap();
    assert_eq!(
        files(&fs, &dir())
            .iter()
            .filter(|f| f.ends_with(".log"))
            .count(),
        1
    );
    assert_eq!(
        read_all(&log, log.log_start_offset()).last().unwrap().1,
        199
    );
}

#[test]
fn set_log_start_offset_is_durable_and_hides_older_offsets() {
    let fs = SimFs::new();
    let mut log = open(&fs, small_config());
    for _ in 0..50 {
        append(&mut log, &batch(1, 0, 150), 0);
    }
    flush(&mut log);
    log.set_log_start_offset(37).unwrap();
    assert!(matches!(
        log.set_log_start_offset(51),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
    assert!(matches!(
        log.read(36, i64::MAX, 100, true),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
    fs.crash(7);
    let log = open(&fs, small_config());
    assert_eq!(log.log_start_offset(), 37);
    assert_eq!(read_all(&log, 37).first().unwrap().0, 37);
}

#[test]
fn a_failed_fsync_takes_the_log_offline_until_reopened() {
    let fs = SimFs::new();
    let mut log = open(&fs, LogConfig::default());
    append(&mut log, &batch(1, 0, 10), 0);
    let pending = log.prepare_flush(FlushScope::Full).unwrap().unwrap();
    fs.fail_next_sync();
    assert!(matches!(pending.sync(), Err(StorageError::Io { .. })));
    log.complete_flush(pending);
    assert_eq!(log.recovery_point(), 0);
    let mut bytes = batch(1, 0, 10);
    let err = log.append(
        &mut bytes,
        AppendOptions {
            leader_epoch: 0,
            now_ms: 0,
        },
    );
    assert!(matches!(err, Err(StorageError::LogOffline { .. })));
    assert!(matches!(
        log.read(0, 1, 100, true),
        Err(StorageError::LogOffline { .. })
    ));
    drop(log);
    let log = open(&fs, LogConfig::default());
    assert_eq!(log.recovery_point(), log.log_end_offset());
}

#[test]
fn a_failed_write_takes_the_log_offline() {
    let fs = SimFs::new();
    let mut log = open(&fs, LogConfig::default());
    fs.fail_writes(true);
    let mut bytes = batch(1, 0, 10);
    assert!(matches!(
        log.append(
            &mut bytes,
            AppendOptions {
                leader_epoch: 0,
                now_ms: 0
            }
        ),
        Err(StorageError::Io { .. })
    ));
    fs.fail_writes(false);
    let mut bytes = batch(1, 0, 10);
    let err = log.append(
        &mut bytes,
        AppendOptions {
            leader_epoch: 0,
            now_ms: 0,
        },
    );
    assert!(matches!(err, Err(StorageError::LogOffline { .. })));
}

#[test]
fn the_real_filesystem_round_trips_and_delete_removes_the_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("topic-3");
    let fs: std::sync::Arc<dyn vltava_storage::FileSystem> =
        std::sync::Arc::new(vltava_storage::RealFs);
    let mut log = vltava_storage::Log::open(fs.clone(), &dir, small_config(), 0).unwrap();
    for i in 0..30 {
        append(&mut log, &batch(2, i, 200), 0);
    }
    flush(&mut log);
    drop(log);
    let log = vltava_storage::Log::open(fs, &dir, small_config(), 0).unwrap();
    assert_eq!(read_all(&log, 0).len(), 30);
    log.delete().unwrap();
    assert!(!dir.exists());
}
