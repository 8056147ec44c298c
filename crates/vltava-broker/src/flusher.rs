//! Group commit: flusher threads fsync partitions that have unsynced appends. Every append made
//! while an fsync runs is covered by the next one, so many producers share each fsync.
//!
//! Several threads, because one fdatasync waits ~0.3 ms on the device whatever it covers: with
//! one thread, a request spread over many partitions waits for their fsyncs one after another,
//! while the device (and ext4's journal, which folds concurrent syncs into one commit) serves
//! several at once. A partition may be synced by two threads at once (an append during one
//! fsync queues it again); that is safe, the recovery point and high watermark only move up.
//!
//! A failed fsync is fatal to its log directory (`crate::log_dir`): the high watermark stops,
//! acks=all producers waiting on it get KAFKA_STORAGE_ERROR at once, nothing is retried blindly.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Instant;

use crate::metrics::BrokerMetrics;
use crate::partition::Partition;

/// Flusher threads when the configuration does not say.
pub const FLUSH_THREADS_DEFAULT: usize = 4;

#[derive(Debug, Clone)]
pub struct Flusher {
    queue: mpsc::Sender<Arc<Partition>>,
}

impl Flusher {
    /// Starts `threads` flusher threads (at least one); they end when every `Flusher` handle
    /// is dropped.
    pub fn start(threads: usize, metrics: Arc<BrokerMetrics>) -> std::io::Result<Self> {
        let (queue, pending) = mpsc::channel::<Arc<Partition>>();
        let pending = Arc::new(Mutex::new(pending));
        for n in 0..threads.max(1) {
            let pending = pending.clone();
            let metrics = metrics.clone();
            thread::Builder::new()
                .name(format!("vltava-flusher-{n}"))
                .spawn(move || run(&pending, &metrics))?;
        }
        Ok(Flusher { queue })
    }

    /// Asks for `partition` to be fsynced soon. The queue holds each partition at most once,
    /// so it is bounded by the number of partitions.
    pub fn request(&self, partition: &Arc<Partition>) {
        if partition.needs_flush() && partition.mark_flush_queued() {
            // The receivers live as long as any sender, so this cannot fail while we exist.
            let _ = self.queue.send(partition.clone());
        }
    }
}

fn run(pending: &Mutex<mpsc::Receiver<Arc<Partition>>>, metrics: &BrokerMetrics) {
    loop {
        // One thread waits in `recv` holding the lock; the others wait for the lock. A
        // poisoned lock only means another flusher panicked; the receiver is still whole.
        let next = pending.lock().unwrap_or_else(|e| e.into_inner()).recv();
        let Ok(partition) = next else {
            return;
        };
        // Cleared before the fsync: an append that lands during it queues the partition again.
        partition.clear_flush_queued();
        let started = Instant::now();
        match partition.flush() {
            Ok(records) => metrics.observe_fsync(started.elapsed(), records),
            Err(error) => tracing::error!(
                topic = %partition.topic,
                partition = partition.index,
                %error,
                "fsync failed; the log directory is offline"
            ),
        }
    }
}
