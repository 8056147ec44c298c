//! A follower's append: the leader's batches land byte for byte, offsets and leader epochs
//! included, the epochs reach the leader epoch cache, and anything that would not continue the
//! log is refused without a byte written.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;

use vltava_storage::{AppendOptions, Log, SimFs};

/// Batches as a leader writes them: `count` batches of 3 records in `epoch` from `base`.
fn leader_batches(epoch: i32, base: i64, count: usize) -> Vec<u8> {
    let fs = SimFs::new();
    let mut leader = open(&fs, small_config());
    if base > 0 {
        leader.truncate_fully_and_start_at(base).unwrap();
    }
    for _ in 0..count {
        let mut bytes = batch(3, 1_000, 40);
        let options = AppendOptions {
            leader_epoch: epoch,
            now_ms: 0,
        };
        leader.append(&mut bytes, options).unwrap();
    }
    read_all(&leader, base)
        .into_iter()
        .flat_map(|(_, _, bytes)| bytes)
        .collect()
}

fn follower(fs: &SimFs) -> Log {
    open(fs, small_config())
}

#[test]
fn a_followers_log_holds_the_leaders_batches_unchanged() {
    let fs = SimFs::new();
    let mut log = follower(&fs);
    let fetched = leader_batches(4, 0, 3);

    let info = log.append_as_follower(&fetched, 0).unwrap();

    assert_eq!((info.base_offset, info.last_offset), (0, 8));
    assert_eq!(log.log_end_offset(), 9);
    let stored: Vec<u8> = read_all(&log, 0).into_iter().flat_map(|b| b.2).collect();
    assert_eq!(stored, fetched);
    assert_eq!(log.end_offset_for_epoch(4).unwrap(), (4, 9));
}

#[test]
fn the_epochs_of_replicated_batches_survive_a_reopen() {
    let fs = SimFs::new();
    let mut log = follower(&fs);
    log.append_as_follower(&leader_batches(1, 0, 2), 0).unwrap();
    log.append_as_follower(&leader_batches(3, 6, 1), 0).unwrap();
    flush(&mut log);
    drop(log);

    let log = follower(&fs);

    assert_eq!(log.log_end_offset(), 9);
    assert_eq!(log.end_offset_for_epoch(1).unwrap(), (1, 6));
    assert_eq!(log.end_offset_for_epoch(2).unwrap(), (1, 6));
    assert_eq!(log.end_offset_for_epoch(3).unwrap(), (3, 9));
}

#[test]
fn batches_that_do_not_continue_the_log_are_refused_whole() {
    let fs = SimFs::new();
    let mut log = follower(&fs);
    log.append_as_follower(&leader_batches(1, 0, 2), 0).unwrap();

    // Offsets 0.. again: already in the log.
    assert!(log.append_as_follower(&leader_batches(1, 0, 1), 0).is_err());
    // A corrupt batch after a good one: neither is written.
    let mut corrupt = leader_batches(1, 6, 2);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    assert!(log.append_as_follower(&corrupt, 0).is_err());

    assert_eq!(log.log_end_offset(), 6);
}

#[test]
fn a_gap_left_by_the_leaders_cleaner_is_kept() {
    let fs = SimFs::new();
    let mut log = follower(&fs);
    log.append_as_follower(&leader_batches(1, 0, 1), 0).unwrap();

    log.append_as_follower(&leader_batches(1, 10, 1), 0)
        .unwrap();

    assert_eq!(log.log_end_offset(), 13);
    let bases: Vec<i64> = read_all(&log, 0).into_iter().map(|b| b.0).collect();
    assert_eq!(bases, vec![0, 10]);
}

#[test]
fn a_log_started_over_continues_at_the_leaders_log_start() {
    let fs = SimFs::new();
    let mut log = follower(&fs);
    log.append_as_follower(&leader_batches(1, 0, 1), 0).unwrap();

    log.truncate_fully_and_start_at(100).unwrap();
    log.append_as_follower(&leader_batches(2, 100, 1), 0)
        .unwrap();
    flush(&mut log);
    drop(log);
    let log = follower(&fs);

    assert_eq!((log.log_start_offset(), log.log_end_offset()), (100, 103));
}
