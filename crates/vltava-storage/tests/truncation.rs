//! Truncating a log from its end (a follower dropping a divergent suffix): the suffix never
//! comes back, not after reopening, not after power loss, not through a flush or checkpoint
//! prepared before the truncation and completed after it; and the log goes on from the cut.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;

use vltava_storage::{AppendOptions, BatchHeader, FlushScope, Log, LogConfig, SimFs};

/// Old data is stamped with this timestamp, data written after the truncation with another.
const OLD: i64 = 1_000;
const NEW: i64 = 2_000;

fn append_batch(log: &mut Log, epoch: i32, records: i32, timestamp: i64) -> i64 {
    let mut bytes = batch(records, timestamp, 60);
    log.append(
        &mut bytes,
        AppendOptions {
            leader_epoch: epoch,
            now_ms: 0,
        },
    )
    .unwrap()
    .base_offset
}

/// (base offset, last offset, timestamp) of every batch from the log start.
fn batches(log: &Log) -> Vec<(i64, i64, i64)> {
    read_all(log, log.log_start_offset())
        .into_iter()
        .map(|(base, last, bytes)| {
            (
                base,
                last,
                BatchHeader::parse(&bytes).unwrap().max_timestamp,
            )
        })
        .collect()
}

/// About two batches per segment, so that a cut and the data after it span several.
fn tiny_segments() -> LogConfig {
    LogConfig {
        segment_bytes: 1000,
        ..small_config()
    }
}

/// Ten batches of five records (offsets 0..50) over several segments, all flushed.
fn old_log(fs: &SimFs) -> Log {
    let mut log = open(fs, tiny_segments());
    for _ in 0..10 {
        append_batch(&mut log, 1, 5, OLD);
    }
    flush(&mut log);
    log
}

#[test]
fn the_batch_holding_the_target_and_all_after_it_go_and_the_log_goes_on_from_there() {
    let fs = SimFs::new();
    let mut log = old_log(&fs);
    log.truncate_to(23).unwrap();
    assert_eq!(log.log_end_offset(), 20, "cut at the batch holding 23");
    assert_eq!(batches(&log).last().unwrap().1, 19);
    assert_eq!(append_batch(&mut log, 2, 5, NEW), 20);
    assert_eq!(log.end_offset_for_epoch(1).unwrap(), (1, 20));
    flush(&mut log);
    drop(log);

    let log = open(&fs, tiny_segments());
    let seen = batches(&log);
    assert_eq!(seen.len(), 5);
    assert!(
        seen[..4].iter().all(|b| b.2 == OLD) && seen[4].2 == NEW,
        "{seen:?}"
    );
    assert_eq!(log.end_offset_for_epoch(1).unwrap(), (1, 20));
    assert_eq!(log.end_offset_for_epoch(2).unwrap(), (2, 25));
}

#[test]
fn a_target_at_the_log_start_empties_the_log_there() {
    let fs = SimFs::new();
    let mut log = old_log(&fs);
    log.truncate_to(0).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 0));
    assert!(log.leader_epochs().entries().is_empty());
    assert_eq!(append_batch(&mut log, 3, 2, NEW), 0);
    flush(&mut log);
    drop(log);
    let log = open(&fs, tiny_segments());
    assert_eq!(batches(&log), vec![(0, 1, NEW)]);
}

/// A flush and a checkpoint prepared before the truncation complete after it, while new data
/// is written; then power fails at a seeded moment. What survives is old data below the cut
/// and new data after it, contiguous, never the old suffix, and every new batch a completed
/// flush acknowledged.
#[test]
fn nothing_prepared_before_a_truncation_makes_the_new_data_look_durable() {
    for seed in 0..64 {
        let fs = SimFs::new();
        let mut log = old_log(&fs);
        append_batch(&mut log, 1, 5, OLD); // 50..55, unflushed
        let stale_flush = log.prepare_flush(FlushScope::Full).unwrap().unwrap();
        let stale_checkpoint = log.prepare_checkpoint().unwrap();
        log.truncate_to(30).unwrap();
        for _ in 0..3 {
            append_batch(&mut log, 2, 5, NEW); // 30..45, unflushed
        }
        stale_flush.sync().unwrap();
        log.complete_flush(stale_flush);
        stale_checkpoint.write().unwrap();
        assert_eq!(
            log.durable_offset(),
            30,
            "seed {seed}: a stale flush moved it"
        );
        let acked = if seed % 2 == 0 {
            flush(&mut log);
            log.durable_offset()
        } else {
            30
        };
        drop(log);
        fs.crash(seed);

        let log = open(&fs, tiny_segments());
        let seen = batches(&log);
        let mut next = 0;
        for &(base, last, timestamp) in &seen {
            assert_eq!(base, next, "seed {seed}: not contiguous: {seen:?}");
            let expected = if base < 30 { OLD } else { NEW };
            assert_eq!(
                timestamp, expected,
                "seed {seed}: old suffix came back: {seen:?}"
            );
            next = last + 1;
        }
        assert!(
            log.log_end_offset() >= acked,
            "seed {seed}: lost acknowledged data"
        );
    }
}

#[test]
fn a_truncation_at_the_log_end_drops_an_epoch_begun_there_with_nothing_written() {
    let fs = SimFs::new();
    let mut log = old_log(&fs);
    // This broker led in epoch 7 from offset 50 and wrote nothing before it lost the lead.
    log.assign_leader_epoch(7);
    assert_eq!(log.leader_epochs().latest_epoch(), Some(7));
    log.truncate_to(log.log_end_offset()).unwrap();
    assert_eq!(
        log.leader_epochs().latest_epoch(),
        Some(1),
        "kept, the next fetch would name epoch 7 and diverge again, for ever"
    );
    assert_eq!(batches(&log).len(), 10, "no data goes");
}
