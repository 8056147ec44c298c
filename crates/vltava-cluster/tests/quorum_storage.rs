//! The metadata log store and state machine against openraft's storage contracts, and the log
//! store across simulated crashes that drop unsynced bytes. A bug here loses committed
//! metadata or lets two controllers disagree about it.

// openraft's `StorageError` is large, and its storage traits and test suite fix that type.
#![allow(clippy::result_large_err)]

use std::path::Path;
use std::sync::Arc;

use openraft::storage::{RaftLogStorage, RaftLogStorageExt};
use openraft::testing::{StoreBuilder, Suite};
use openraft::{CommittedLeaderId, EntryPayload, RaftLogReader};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use vltava_cluster::quorum::log_store::MetadataLogStore;
use vltava_cluster::quorum::state_machine::MetadataStateMachine;
use vltava_cluster::quorum::{Entry, LogId, MetadataBatch, MetadataRaft, StorageError, Vote};
use vltava_storage::{FileSystem, RealFs, SimFs};

fn open_error(e: std::io::Error) -> StorageError {
    StorageError::from_io_error(openraft::ErrorSubject::Store, openraft::ErrorVerb::Read, e)
}

struct OnSimFs;

impl StoreBuilder<MetadataRaft, MetadataLogStore, MetadataStateMachine, ()> for OnSimFs {
    async fn build(&self) -> Result<((), MetadataLogStore, MetadataStateMachine), StorageError> {
        let fs: Arc<dyn FileSystem> = Arc::new(SimFs::new());
        let store = MetadataLogStore::open(fs.clone(), Path::new("/meta")).map_err(open_error)?;
        let state_machine =
            MetadataStateMachine::open(fs, Path::new("/meta")).map_err(open_error)?;
        Ok(((), store, state_machine))
    }
}

struct OnDisk;

impl StoreBuilder<MetadataRaft, MetadataLogStore, MetadataStateMachine, tempfile::TempDir>
    for OnDisk
{
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, MetadataLogStore, MetadataStateMachine), StorageError> {
        let dir = tempfile::tempdir().map_err(open_error)?;
        let meta = dir.path().join("meta");
        let store = MetadataLogStore::open(Arc::new(RealFs), &meta).map_err(open_error)?;
        let state_machine =
            MetadataStateMachine::open(Arc::new(RealFs), &meta).map_err(open_error)?;
        Ok((dir, store, state_machine))
    }
}

#[test]
fn log_store_and_state_machine_pass_openraft_storage_suite_on_sim_fs() -> Result<(), StorageError> {
    Suite::test_all(OnSimFs)
}

#[test]
fn log_store_and_state_machine_pass_openraft_storage_suite_on_disk() -> Result<(), StorageError> {
    Suite::test_all(OnDisk)
}

fn entry(term: u64, index: u64) -> Entry {
    Entry {
        log_id: LogId::new(CommittedLeaderId::new(term, 1), index),
        payload: EntryPayload::Normal(MetadataBatch::default()),
    }
}

/// What a store shows: its entries' (term, index), vote and last purged index.
#[derive(Debug, Clone, PartialEq, Eq)]
struct View {
    entries: Vec<(u64, u64)>,
    vote: Option<Vote>,
    purged: Option<u64>,
}

async fn view(store: &mut MetadataLogStore) -> Result<View, StorageError> {
    let entries = store.try_get_log_entries(..).await?;
    let state = store.get_log_state().await?;
    Ok(View {
        entries: entries
            .iter()
            .map(|e| (e.log_id.leader_id.term, e.log_id.index))
            .collect(),
        vote: store.read_vote().await?,
        purged: state.last_purged_log_id.map(|id| id.index),
    })
}

/// The schedule depends only on the seed.
struct Rng(StdRng);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(StdRng::seed_from_u64(seed))
    }
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

enum Op {
    Append(Vec<Entry>),
    Truncate(u64),
    Purge(u64),
    Vote(Vote),
}

fn pick_op(rng: &mut Rng, view: &View, term: &mut u64) -> Op {
    let first = view.entries.first().map(|e| e.1);
    let next = view
        .entries
        .last()
        .map(|e| e.1 + 1)
        .or(view.purged.map(|p| p + 1))
        .unwrap_or(0);
    match rng.below(10) {
        0..=5 => {
            if rng.below(4) == 0 {
                *term += 1;
            }
            let count = 1 + rng.below(3);
            Op::Append((next..next + count).map(|i| entry(*term, i)).collect())
        }
        6 if first.is_some() => {
            Op::Truncate(first.unwrap_or(0) + rng.below(next - first.unwrap_or(0)))
        }
        7 if first.is_some() => {
            Op::Purge(first.unwrap_or(0) + rng.below(next - first.unwrap_or(0)))
        }
        _ => Op::Vote(Vote::new(*term, 1 + rng.below(3))),
    }
}

/// The log id of the entry at `index` (term 0 when it is not there).
async fn log_id_at(store: &mut MetadataLogStore, index: u64) -> Result<LogId, StorageError> {
    let term = store
        .try_get_log_entries(index..=index)
        .await?
        .first()
        .map_or(0, |e| e.log_id.leader_id.term);
    Ok(LogId::new(CommittedLeaderId::new(term, 1), index))
}

async fn run(store: &mut MetadataLogStore, op: &Op) -> Result<(), StorageError> {
    match op {
        Op::Append(entries) => store.blocking_append(entries.clone()).await,
        Op::Truncate(index) => {
            let log_id = log_id_at(store, *index).await?;
            store.truncate(log_id).await
        }
        Op::Purge(index) => {
            let log_id = log_id_at(store, *index).await?;
            store.purge(log_id).await
        }
        Op::Vote(vote) => store.save_vote(vote).await,
    }
}

/// What the store must show after `op` completed.
fn after(before: &View, op: &Op) -> View {
    let mut view = before.clone();
    match op {
        Op::Append(entries) => view.entries.extend(
            entries
                .iter()
                .map(|e| (e.log_id.leader_id.term, e.log_id.index)),
        ),
        Op::Truncate(index) => view.entries.retain(|e| e.1 < *index),
        Op::Purge(index) => {
            view.entries.retain(|e| e.1 > *index);
            view.purged = Some(*index);
        }
        Op::Vote(vote) => view.vote = Some(*vote),
    }
    view
}

/// After a crash in the middle of `op`: the state before it or after it; for an append, the
/// entries before it and any prefix of the new ones (an unacknowledged entry may survive).
fn acceptable(survived: &View, before: &View, done: &View, op: &Op) -> bool {
    if survived == before || survived == done {
        return true;
    }
    matches!(op, Op::Append(_))
        && survived.vote == before.vote
        && survived.purged == before.purged
        && survived.entries.starts_with(&before.entries)
        && done.entries.starts_with(&survived.entries)
}

#[tokio::test]
async fn acknowledged_metadata_log_writes_survive_crashes() -> Result<(), StorageError> {
    let seed: u64 = std::env::var("VLTAVA_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed);
    let steps = 2000;
    let mut rng = Rng::new(seed);
    let sim = Arc::new(SimFs::new());
    let dir = Path::new("/meta");
    let mut store = MetadataLogStore::open(sim.clone(), dir).map_err(open_error)?;
    let mut term = 1;
    let (mut crashes, mut failed_ops, mut entries_max) = (0, 0, 0);
    for step in 0..steps {
        let before = view(&mut store).await?;
        let op = pick_op(&mut rng, &before, &mut term);
        let done = after(&before, &op);
        let dies = rng.below(4) == 0;
        if dies {
            sim.die_after_ops(rng.below(6));
        }
        let result = run(&mut store, &op).await;
        if result.is_ok() && !dies {
            assert_eq!(
                view(&mut store).await?,
                done,
                "seed {seed} step {step}: after the op"
            );
        }
        failed_ops += usize::from(result.is_err());
        entries_max = entries_max.max(before.entries.len());
        if dies || rng.below(8) == 0 {
            crashes += 1;
            sim.crash(rng.next());
            store = MetadataLogStore::open(sim.clone(), dir).map_err(open_error)?;
            let survived = view(&mut store).await?;
            if result.is_ok() {
                assert_eq!(
                    survived, done,
                    "seed {seed} step {step}: acknowledged, then crash"
                );
            } else {
                assert!(
                    acceptable(&survived, &before, &done, &op),
                    "seed {seed} step {step}: crash mid-op left {survived:?}, before {before:?}, after {done:?}"
                );
            }
        }
    }
    // The schedule must have exercised what it claims to.
    eprintln!(
        "seed {seed}: {steps} steps, {crashes} crashes, {failed_ops} ops cut short, up to {entries_max} entries"
    );
    assert!(crashes > steps / 8 && failed_ops > 0 && entries_max > 10);
    Ok(())
}
