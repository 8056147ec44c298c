//! Group commit: one thread fsyncs partitions that have unsynced appends. Every append made
//! while an fsync runs is covered by the next one, so many producers share each fsync.
//!
//! A failed fsync is fatal to its log (`vltava-storage` takes it offline): the high watermark
//! stops, acks=all producers time out or get KAFKA_STORAGE_ERROR, nothing is retried blindly.

use std::sync::Arc;
use std::sync::mpsc;
use std::thread;

use crate::partition::Partition;

#[derive(Debug, Clone)]
pub struct Flusher {
    queue: mpsc::Sender<Arc<Partition>>,
}

impl Flusher {
    /// Starts the flusher thread; it ends when every `Flusher` handle is dropped.
    pub fn start() -> std::io::Result<Self> {
        let (queue, pending) = mpsc::channel::<Arc<Partition>>();
        thread::Builder::new()
            .name("vltava-flusher".into())
            .spawn(move || run(pending))?;
        Ok(Flusher { queue })
    }

    /// Asks for `partition` to be fsynced soon. The queue holds each partition at most once,
    /// so it is bounded by the number of partitions.
    pub fn request(&self, partition: &Arc<Partition>) {
        if partition.needs_flush() && partition.mark_flush_queued() {
            // The receiver lives as long as any sender, so this cannot fail while we exist.
            let _ = self.queue.send(partition.clone());
        }
    }
}

fn run(pending: mpsc::Receiver<Arc<Partition>>) {
    while let Ok(partition) = pending.recv() {
        // Cleared before the fsync: an append that lands during it queues the partition again.
        partition.clear_flush_queued();
        if let Err(error) = partition.flush() {
            tracing::error!(
                topic = %partition.topic,
                partition = partition.index,
                %error,
                "fsync failed; the partition's log is offline"
            );
        }
    }
}
