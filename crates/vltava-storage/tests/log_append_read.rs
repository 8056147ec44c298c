//! Append and read through the public Log API: offsets are assigned in place, reads return
//! whole batches within the byte and offset limits, and out-of-range offsets are refused.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;
use common::*;
use vltava_storage::{AppendOptions, BatchHeader, LogConfig, SimFs, StorageError};

#[test]
fn append_assigns_offsets_and_read_returns_the_same_bytes() {
    let fs = SimFs::new();
    let mut log = open(&fs, LogConfig::default());
    let a = append(&mut log, &batch(3, 10, 50), 0);
    let b = append(&mut log, &batch(2, 11, 50), 0);
    assert_eq!(
        (a.base_offset, a.last_offset, b.base_offset, b.last_offset),
        (0, 2, 3, 4)
    );
    assert_eq!(log.log_end_offset(), 5);
    let bytes = log
        .read(0, i64::MAX, 1 << 20, false)
        .unwrap()
        .read()
        .unwrap();
    let first = BatchHeader::parse(&bytes).unwrap();
    assert_eq!((first.base_offset, first.partition_leader_epoch), (0, 1));
    let second = BatchHeader::parse(&bytes[first.total_size()..]).unwrap();
    assert_eq!(second.base_offset, 3);
    assert_eq!(bytes.len(), first.total_size() + second.total_size());
}

#[test]
fn several_batches_in_one_append_get_consecutive_offsets() {
    let fs = SimFs::new();
    let mut log = open(&fs, LogConfig::default());
    let mut bytes = batch(2, 5, 10);
    bytes.extend(batch(4, 7, 10));
    let info = log
        .append(
            &mut bytes,
            AppendOptions {
                leader_epoch: 0,
                now_ms: 0,
            },
        )
        .unwrap();
    assert_eq!(
        (
            info.base_offset,
            info.last_offset,
            info.batch_count,
            info.max_timestamp
        ),
        (0, 5, 2, 7)
    );
    let batches = read_all(&log, 0);
    assert_eq!(
        batches.iter().map(|b| (b.0, b.1)).collect::<Vec<_>>(),
        vec![(0, 1), (2, 5)]
    );
}

#[test]
fn an_invalid_batch_in_an_append_writes_nothing() {
    let fs = SimFs::new();
    let mut log = open(&fs, LogConfig::default());
    let mut bytes = batch(2, 5, 10);
    let mut bad = batch(1, 5, 10);
    bad[70] ^= 1;
    bytes.extend(bad);
    let err = log.append(
        &mut bytes,
        AppendOptions {
            leader_epoch: 0,
            now_ms: 0,
        },
    );
    assert!(matches!(err, Err(StorageError::CorruptBatch { .. })));
    assert_eq!((log.log_end_offset(), log.size_bytes()), (0, 0));
    let mut big = batch(1, 0, 2_000_000);
    let err = log.append(
        &mut big,
        AppendOptions {
            leader_epoch: 0,
            now_ms: 0,
        },
    );
    assert!(matches!(err, Err(StorageError::MessageTooLarge { .. })));
}

#[test]
fn read_stops_at_max_bytes_on_a_batch_boundary_unless_min_one_batch() {
    let fs = SimFs::new();
    let mut log = open(&fs, LogConfig::default());
    let size = batch(1, 0, 100).len();
    for _ in 0..10 {
        append(&mut log, &batch(1, 0, 100), 0);
    }
    assert_eq!(
        log.read(0, i64::MAX, size * 3 + 5, false).unwrap().len(),
        size * 3
    );
    assert_eq!(log.read(4, i64::MAX, size - 1, false).unwrap().len(), 0);
    assert_eq!(log.read(4, i64::MAX, size - 1, true).unwrap().len(), size);
    assert_eq!(
        log.read(4, i64::MAX, 1 << 20, true).unwrap().len(),
        size * 6
    );
}

#[test]
fn read_returns_only_batches_below_max_offset() {
    let fs = SimFs::new();
    let mut log = open(&fs, LogConfig::default());
    let size = batch(3, 0, 10).len();
    for _ in 0..4 {
        append(&mut log, &batch(3, 0, 10), 0);
    }
    // Batches hold offsets 0-2, 3-5, 6-8, 9-11; the one holding offset 7 is not whole below 8.
    assert_eq!(log.read(0, 8, 1 << 20, true).unwrap().len(), size * 2);
    assert_eq!(log.read(4, 9, 1 << 20, true).unwrap().len(), size * 2);
    assert!(log.read(6, 6, 1 << 20, true).unwrap().is_empty());
    // Reading from the middle of a batch returns the whole batch.
    let bytes = log
        .read(4, i64::MAX, 1 << 20, false)
        .unwrap()
        .read()
        .unwrap();
    assert_eq!(BatchHeader::parse(&bytes).unwrap().base_offset, 3);
}

#[test]
fn offsets_outside_the_log_are_out_of_range_and_the_end_is_empty() {
    let fs = SimFs::new();
    let mut log = open(&fs, LogConfig::default());
    append(&mut log, &batch(5, 0, 10), 0);
    assert!(log.read(5, i64::MAX, 100, true).unwrap().is_empty());
    let err = log.read(6, i64::MAX, 100, true);
    assert!(matches!(
        err,
        Err(StorageError::OffsetOutOfRange {
            requested: 6,
            log_start: 0,
            log_end: 5
        })
    ));
    assert!(matches!(
        log.read(-1, i64::MAX, 100, true),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
}

#[test]
fn segments_roll_by_size_and_reads_cross_them() {
    let fs = SimFs::new();
    let mut log = open(&fs, small_config());
    for i in 0..100 {
        append(&mut log, &batch(2, i, 150), 0);
    }
    let logs = files(&fs, &dir())
        .into_iter()
        .filter(|f| f.ends_with(".log"))
        .count();
    assert!(logs > 3, "expected several segments, got {logs}");
    let batches = read_all(&log, 0);
    assert_eq!(batches.len(), 100);
    assert!(batches.windows(2).all(|w| w[1].0 == w[0].1 + 1));
}

#[test]
fn segments_roll_by_time_on_append_and_when_idle() {
    let fs = SimFs::new();
    let config = LogConfig {
        segment_ms: 1000,
        ..LogConfig::default()
    };
    let mut log = open(&fs, config);
    append(&mut log, &batch(1, 0, 10), 0);
    append(&mut log, &batch(1, 0, 10), 999);
    append(&mut log, &batch(1, 0, 10), 1000);
    let logs = |fs: &SimFs| {
        files(fs, &dir())
            .into_iter()
            .filter(|f| f.ends_with(".log"))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        logs(&fs),
        vec!["00000000000000000000.log", "00000000000000000002.log"]
    );
    log.roll_if_due(1500).unwrap();
    assert_eq!(logs(&fs).len(), 2);
    log.roll_if_due(2000).unwrap();
    assert_eq!(logs(&fs).last().unwrap(), "00000000000000000003.log");
    // An empty active segment is not rolled.
    log.roll_if_due(10_000).unwrap();
    assert_eq!(logs(&fs).len(), 3);
}

#[test]
fn every_offset_is_found_through_the_index_after_many_appends() {
    let fs = SimFs::new();
    let config = LogConfig {
        index_interval_bytes: 128,
        ..LogConfig::default()
    };
    let mut log = open(&fs, config);
    let mut rng_size = 7usize;
    for i in 0..500 {
        rng_size = (rng_size * 31 + 17) % 300;
        append(&mut log, &batch(1 + (i % 4), i64::from(i), rng_size), 0);
    }
    for offset in 0..log.log_end_offset() {
        let bytes = log.read(offset, i64::MAX, 1, true).unwrap().read().unwrap();
        let h = BatchHeader::parse(&bytes).unwrap();
        assert!(
            h.base_offset <= offset && offset <= h.last_offset(),
            "offset {offset}"
        );
        assert_eq!(bytes.len(), h.total_size());
    }
}

#[test]
fn offset_for_timestamp_finds_the_first_batch_at_or_after_it() {
    let fs = SimFs::new();
    let mut log = open(&fs, small_config());
    for i in 0..200i64 {
        // Timestamps 0, 10, 20 ... with one late batch carrying an old timestamp.
        let ts = if i == 50 { 5 } else { i * 10 };
        append(&mut log, &batch(2, ts, 60), 0);
    }
    assert_eq!(log.offset_for_timestamp(0).unwrap(), Some((0, 0)));
    assert_eq!(log.offset_for_timestamp(15).unwrap(), Some((4, 20)));
    assert_eq!(log.offset_for_timestamp(1234).unwrap(), Some((248, 1240)));
    assert_eq!(log.offset_for_timestamp(1990).unwrap(), Some((398, 1990)));
    assert_eq!(log.offset_for_timestamp(1991).unwrap(), None);
    assert_eq!(log.max_timestamp(), Some((398, 1990)));
}
