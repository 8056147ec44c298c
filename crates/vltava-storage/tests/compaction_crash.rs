//! Power loss in the middle of a clean must leave a log that opens, and in which every key
//! reads back as its latest value before the clean: never an older value, never a lost
//! key (a deleted key may be absent or still a tombstone). Guards against: swapping
//! segments out of offset order, renames or index removals not made durable before the
//! next step, stale indexes next to a cleaned log, and recovery refusing cleaned gaps.
//!
//! The "process" dies after a seeded number of filesystem operations inside the clean,
//! then `SimFs::crash` drops unsynced bytes and directory changes. A calm phase follows:
//! a clean without faults must finish and change no latest value. A failure names its seed;
//! `VLTAVA_SEED=n` replays just that one.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;
use common::kv::*;
use common::*;

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::records::Compression;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use vltava_storage::{CleanOptions, CleanupPolicy, Log, LogConfig, SimFs};

const SEEDS: u64 = 300;
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// Workload knobs, in one place.
struct Options {
    batches_max: usize,
    keys: usize,
    tombstone_percent: u32,
    config: LogConfig,
}

fn options() -> Options {
    Options {
        batches_max: 120,
        keys: 25,
        tombstone_percent: 15,
        config: LogConfig {
            segment_bytes: 1500,
            index_interval_bytes: 200,
            cleanup_policy: CleanupPolicy::COMPACT,
            delete_retention_ms: DAY_MS,
            ..LogConfig::default()
        },
    }
}

const CODECS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

fn force() -> CleanOptions {
    CleanOptions {
        force: true,
        ..CleanOptions::default()
    }
}

/// Write a seeded workload, flush it, maybe clean it once (so tombstones get a horizon);
/// returns the log and the time of the clean to crash in.
fn build(fs: &SimFs, rng: &mut StdRng, opts: &Options) -> (Log, i64) {
    let mut log = open(fs, opts.config.clone());
    for i in 0..rng.random_range(10..opts.batches_max) {
        let pairs: Vec<(String, Option<String>)> = (0..rng.random_range(1..6))
            .map(|_| {
                let key = format!("key{}", rng.random_range(0..opts.keys));
                let value = (rng.random_range(0..100) >= opts.tombstone_percent)
                    .then(|| format!("{i}-{}", noise(rng.random_range(0..120))));
                (key, value)
            })
            .collect();
        let refs: Vec<(&str, Option<&str>)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_deref()))
            .collect();
        let codec = CODECS[rng.random_range(0..CODECS.len())];
        put(&mut log, &refs, i as i64, codec);
    }
    flush(&mut log);
    let mut now = 1_000;
    if rng.random_bool(0.5) {
        log.clean(now, force()).unwrap();
        now += DAY_MS;
    }
    (log, now)
}

/// Keys whose latest record has a value, with that value; and the deleted keys.
fn expected(seen: &Seen) -> (BTreeMap<String, String>, Vec<String>) {
    let mut live = BTreeMap::new();
    let mut deleted = Vec::new();
    for (key, value) in latest(seen) {
        match value {
            Some(v) => {
                live.insert(key, v);
            }
            None => deleted.push(key),
        }
    }
    (live, deleted)
}

fn check(log: &Log, before: &Seen) -> Result<(), String> {
    let seen = consume(log);
    for record in &seen {
        if !before.contains(record) {
            return Err(format!(
                "record {record:?} was never written at that offset"
            ));
        }
    }
    let (live, deleted) = expected(before);
    let now = latest(&seen);
    for (key, value) in &live {
        match now.get(key) {
            Some(Some(v)) if v == value => {}
            other => return Err(format!("key {key}: expected {value:?}, found {other:?}")),
        }
    }
    for key in &deleted {
        if let Some(Some(v)) = now.get(key) {
            return Err(format!("deleted key {key} came back as {v:?}"));
        }
    }
    Ok(())
}

fn reopen(fs: &SimFs, opts: &Options) -> Result<Log, String> {
    Log::open(Arc::new(fs.clone()), &dir(), opts.config.clone(), 0)
        .map_err(|e| format!("reopen failed: {e}"))
}

fn run_seed(seed: u64) -> Result<(), String> {
    let opts = options();
    // A dry run of the same workload counts the filesystem operations of a whole clean.
    let dry = SimFs::new();
    let (mut log, now) = build(&dry, &mut StdRng::seed_from_u64(seed), &opts);
    let start = dry.ops();
    log.clean(now, force()).unwrap();
    let clean_ops = dry.ops() - start;

    let fs = SimFs::new();
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut log, now) = build(&fs, &mut rng, &opts);
    let before = consume(&log);
    let mut crash_rng = StdRng::seed_from_u64(seed ^ 0x5eed);
    fs.die_after_ops(crash_rng.random_range(0..=clean_ops));
    let _ = log.clean(now, force()); // fails wherever the "process" died
    drop(log);
    fs.crash(seed);
    let log = reopen(&fs, &opts)?;
    check(&log, &before).map_err(|e| format!("after the crash: {e}"))?;
    // Calm phase: a clean without faults completes and keeps every latest value.
    let mut log = log;
    log.clean(now, force())
        .map_err(|e| format!("clean after recovery: {e}"))?;
    check(&log, &before).map_err(|e| format!("after a calm clean: {e}"))?;
    drop(log);
    fs.crash(seed.wrapping_add(1));
    let log = reopen(&fs, &opts)?;
    check(&log, &before).map_err(|e| format!("after a second crash: {e}"))
}

#[test]
fn power_loss_during_cleaning_keeps_the_latest_value_of_every_key() {
    let seeds: Vec<u64> = match std::env::var("VLTAVA_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        Some(seed) => vec![seed],
        None => (0..SEEDS).collect(),
    };
    for seed in seeds {
        if let Err(why) = run_seed(seed) {
            panic!("seed {seed}: {why} (replay with VLTAVA_SEED={seed})");
        }
    }
}
