//! Writes the group records the coordinator makes due (a group's generation and members when
//! it becomes Stable, a tombstone when it empties) to the group's `__consumer_offsets`
//! partition, in the order they were made, from one task. The requests that caused them are
//! answered without waiting for the write: a record lost to a crash only costs a rebalance (the
//! next coordinator does not know the group, and its members rejoin), never an offset. A
//! graceful shutdown waits for the queue, so a handed-over group goes on without one.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use vltava_group::{GroupChange, GroupId, group_metadata_key, group_metadata_value};

use super::GroupCoordinator;
use crate::broker::Broker;
use crate::internal_topic::BatchProducer;

/// How long a shutdown waits for the queued group records.
const FLUSH_WAIT: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub(super) enum Queued {
    Record(GroupId, GroupChange),
    /// Answered once every record queued before it is written (or failed).
    Flush(oneshot::Sender<()>),
}

/// Both ends of the queue; the task takes the receiving end when it starts.
#[derive(Debug)]
pub(super) struct GroupRecordQueue {
    sender: mpsc::UnboundedSender<Queued>,
    receiver: std::sync::Mutex<Option<mpsc::UnboundedReceiver<Queued>>>,
}

impl Default for GroupRecordQueue {
    fn default() -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        Self {
            sender,
            receiver: std::sync::Mutex::new(Some(receiver)),
        }
    }
}

impl GroupRecordQueue {
    pub(super) fn push(&self, changes: Vec<(GroupId, GroupChange)>) {
        for (group_id, change) in changes {
            // Fails only once the writer is gone, at shutdown: nothing to write to any more.
            let _ = self.sender.send(Queued::Record(group_id, change));
        }
    }
}

impl GroupCoordinator {
    /// Writes queued group records until the broker stops. Runs for the broker's lifetime.
    pub async fn write_group_records(&self, broker: &Broker) {
        let receiver = self
            .records
            .receiver
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let Some(mut receiver) = receiver else {
            return;
        };
        while let Some(queued) = receiver.recv().await {
            match queued {
                Queued::Record(group_id, change) => {
                    let value = match &change {
                        GroupChange::Stable(group) => Some(group_metadata_value(group)),
                        GroupChange::Emptied => None,
                    };
                    let record = [(group_metadata_key(&group_id), value)];
                    // Refused when the group moved to another coordinator meanwhile: that one
                    // writes its own records.
                    if let Err(error) = self
                        .append_durably(broker, &group_id, &record, BatchProducer::NONE)
                        .await
                    {
                        tracing::debug!(group = %group_id, %error, "group record not written");
                    }
                }
                Queued::Flush(done) => {
                    let _ = done.send(());
                }
            }
        }
    }

    /// Waits (bounded) until the group records queued so far are written: before a graceful
    /// shutdown hands the groups over.
    pub async fn flush_group_records(&self) {
        let (done, written) = oneshot::channel();
        if self.records.sender.send(Queued::Flush(done)).is_ok()
            && tokio::time::timeout(FLUSH_WAIT, written).await.is_err()
        {
            tracing::warn!("group records not all written before the shutdown");
        }
    }
}
