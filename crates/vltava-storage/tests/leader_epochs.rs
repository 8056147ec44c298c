//! The leader epoch cache always describes the data the log holds: across reopen, power loss
//! (an epoch whose data was lost goes with it), a missing file (rebuilt from the batches) and
//! a log start offset moved by DeleteRecords.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;

use vltava_storage::{AppendOptions, FileSystem, LeaderEpochs, Log, SimFs, names};

fn append_at_epoch(log: &mut Log, leader_epoch: i32, records: i32) -> i64 {
    let mut bytes = batch(records, 1_000, 40);
    log.append(
        &mut bytes,
        AppendOptions {
            leader_epoch,
            now_ms: 0,
        },
    )
    .unwrap()
    .base_offset
}

/// The cache the log's batches imply: each epoch from its first batch, the first raised to the
/// log start offset.
fn implied_by_the_data(log: &Log) -> LeaderEpochs {
    let mut epochs = LeaderEpochs::default();
    for (base, _, bytes) in read_all(log, log.log_start_offset()) {
        let header = vltava_storage::BatchHeader::parse(&bytes).unwrap();
        epochs.assign(header.partition_leader_epoch, base);
    }
    epochs.truncate_from_start(log.log_start_offset());
    epochs
}

#[test]
fn epochs_survive_reopen_and_go_with_data_a_power_loss_took() {
    for seed in 0..64 {
        let fs = SimFs::new();
        let mut log = open(&fs, small_config());
        append_at_epoch(&mut log, 1, 3);
        append_at_epoch(&mut log, 1, 2);
        let epoch_4_start = append_at_epoch(&mut log, 4, 5);
        flush(&mut log);
        let epoch_7_start = append_at_epoch(&mut log, 7, 4);
        append_at_epoch(&mut log, 7, 1);
        assert_eq!(log.end_offset_for_epoch(4).unwrap(), (4, epoch_7_start));
        drop(log);
        fs.crash(seed);

        let log = open(&fs, small_config());
        assert_eq!(
            *log.leader_epochs(),
            implied_by_the_data(&log),
            "seed {seed}"
        );
        let epoch_4_end = if log.log_end_offset() > epoch_7_start {
            epoch_7_start
        } else {
            log.log_end_offset()
        };
        assert_eq!(log.end_offset_for_epoch(4).unwrap(), (4, epoch_4_end));
        assert_eq!(log.end_offset_for_epoch(2).unwrap(), (1, epoch_4_start));
        assert_eq!(log.end_offset_for_epoch(9).unwrap(), (-1, -1));
    }
}

#[test]
fn a_log_without_the_file_rebuilds_it_from_its_batches() {
    let fs = SimFs::new();
    let mut log = open(&fs, small_config());
    for epoch in [0, 0, 2, 5, 5] {
        append_at_epoch(&mut log, epoch, 20);
    }
    flush(&mut log);
    let before = log.leader_epochs().clone();
    assert_eq!(before.entries().len(), 3);
    drop(log);
    fs.remove_file(&names::leader_epochs_file(&dir())).unwrap();

    let log = open(&fs, small_config());
    assert_eq!(*log.leader_epochs(), before);
    assert!(fs.exists(&names::leader_epochs_file(&dir())));
}

#[test]
fn moving_the_log_start_offset_drops_the_epochs_below_it() {
    let fs = SimFs::new();
    let mut log = open(&fs, small_config());
    append_at_epoch(&mut log, 1, 10);
    let epoch_3_start = append_at_epoch(&mut log, 3, 10);
    append_at_epoch(&mut log, 6, 10);
    flush(&mut log);
    log.set_log_start_offset(epoch_3_start + 4).unwrap();
    let first = log.leader_epochs().entries()[0];
    assert_eq!((first.epoch, first.start_offset), (3, epoch_3_start + 4));
    log.checkpoint().unwrap();
    drop(log);

    let log = open(&fs, small_config());
    assert_eq!(*log.leader_epochs(), implied_by_the_data(&log));
    assert_eq!(
        log.leader_epochs().entries()[0].start_offset,
        epoch_3_start + 4
    );
}

#[test]
fn a_new_leader_names_its_epoch_before_writing_any_data() {
    let fs = SimFs::new();
    let mut log = open(&fs, small_config());
    append_at_epoch(&mut log, 2, 10);
    log.assign_leader_epoch(5);
    // A consumer that read epoch 2 learns it ended at the log end; epoch 5 is current.
    assert_eq!(log.end_offset_for_epoch(2).unwrap(), (2, 10));
    assert_eq!(log.end_offset_for_epoch(5).unwrap(), (5, 10));
    let epoch_5_start = append_at_epoch(&mut log, 5, 3);
    assert_eq!(epoch_5_start, 10);
    flush(&mut log);
    drop(log);
    let log = open(&fs, small_config());
    assert_eq!(*log.leader_epochs(), implied_by_the_data(&log));
    assert_eq!(log.end_offset_for_epoch(2).unwrap(), (2, 10));
}
