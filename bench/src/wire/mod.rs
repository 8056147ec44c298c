//! Raw Kafka protocol load, bypassing librdkafka: the client costs a few instructions per
//! request, so the figures are the broker's. `wire-produce` resends one pre-encoded record batch;
//! `wire-fetch` reads a topic and counts records from the batch headers without decoding them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;

use crate::progress::Progress;

pub mod batch;
pub mod conn;
pub mod cpu;
pub mod fetch;
pub mod produce;
pub mod report;
pub mod topic;

/// Request versions both vltava and Kafka 4.x serve (Kafka 4 dropped Produce < 3 and
/// Fetch < 4); all flexible versions that still address topics by name.
pub const PRODUCE_VERSION: i16 = 9;
pub const FETCH_VERSION: i16 = 12;
pub const LIST_OFFSETS_VERSION: i16 = 7;
pub const METADATA_VERSION: i16 = 12;
pub const CREATE_TOPICS_VERSION: i16 = 7;

/// What a run has done so far, shared with whoever shows its progress (the `vltava-bench` lines
/// every few seconds, or `vltava bench`'s line on a terminal): records acknowledged or read, and
/// the records the run expects in all (0 until known, or for a run bounded by time).
#[derive(Debug, Default)]
pub struct Tally {
    pub records_done: AtomicU64,
    pub records_total: AtomicU64,
}

impl Tally {
    pub fn done(&self) -> u64 {
        self.records_done.load(Ordering::Relaxed)
    }

    pub fn total(&self) -> u64 {
        self.records_total.load(Ordering::Relaxed)
    }
}

/// How often `vltava-bench` looks at the tally; [`Progress`] prints every few seconds.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);

/// Runs a wire workload on a tokio runtime of its own, with the `vltava-bench` progress lines.
pub fn run_with_lines<T, F, Fut>(label: &'static str, work: F) -> anyhow::Result<T>
where
    F: FnOnce(Arc<Tally>) -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start a tokio runtime")?;
    runtime.block_on(async {
        let tally = Arc::new(Tally::default());
        let watcher = tokio::spawn(watch(label, tally.clone()));
        let result = work(tally).await;
        watcher.abort();
        result
    })
}

/// The `vltava-bench` progress lines of a wire run, until aborted.
async fn watch(label: &'static str, tally: std::sync::Arc<Tally>) {
    let mut progress = Progress::new(label, "records", tally.total());
    let mut interval = tokio::time::interval(PROGRESS_INTERVAL);
    loop {
        interval.tick().await;
        progress.set_total(tally.total());
        progress.tick(tally.done());
    }
}
