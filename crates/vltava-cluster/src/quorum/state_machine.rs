//! The controller quorum's state machine: committed metadata batches replayed into the
//! metadata image, which is published to every reader through a watch channel. Its snapshot is
//! the image written out as records (`MetadataImage::to_records`), so installing a snapshot is
//! replaying it into the empty image.

use std::io::Cursor;
use std::sync::{Arc, Mutex};

use openraft::storage::RaftStateMachine;
use openraft::{
    EntryPayload, ErrorSubject, ErrorVerb, RaftSnapshotBuilder, Snapshot, SnapshotMeta,
    StoredMembership,
};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::{Applied, Entry, LogId, MetadataRaft, NodeId, StorageError};
use crate::delta::MetadataDelta;
use crate::image::MetadataImage;
use crate::records::MetadataRecord;

type Membership = StoredMembership<NodeId, openraft::BasicNode>;

/// A snapshot as sent between voters: the state machine's position and the image's records.
#[derive(Debug, Serialize, Deserialize)]
struct SnapshotBody {
    last_applied: Option<LogId>,
    membership: Membership,
    records: Vec<MetadataRecord>,
}

#[derive(Debug)]
pub struct MetadataStateMachine {
    last_applied: Option<LogId>,
    membership: Membership,
    image: watch::Sender<Arc<MetadataImage>>,
    /// The newest snapshot, built here or received from the leader; shared with builders.
    snapshot: Arc<Mutex<Option<StoredSnapshot>>>,
    snapshots_built: u64,
}

type SnapshotMetaOf = SnapshotMeta<NodeId, openraft::BasicNode>;

#[derive(Debug, Clone)]
struct StoredSnapshot {
    meta: SnapshotMetaOf,
    bytes: Vec<u8>,
}

impl StoredSnapshot {
    fn to_snapshot(&self) -> Snapshot<MetadataRaft> {
        Snapshot {
            meta: self.meta.clone(),
            snapshot: Box::new(Cursor::new(self.bytes.clone())),
        }
    }
}

fn keep(slot: &Mutex<Option<StoredSnapshot>>, snapshot: StoredSnapshot) {
    *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(snapshot);
}

/// Builds a snapshot of the image as it was when the builder was made.
#[derive(Debug)]
pub struct MetadataSnapshotBuilder {
    last_applied: Option<LogId>,
    membership: Membership,
    image: Arc<MetadataImage>,
    snapshot_id: String,
    built: Arc<Mutex<Option<StoredSnapshot>>>,
}

impl MetadataStateMachine {
    pub fn new() -> MetadataStateMachine {
        let (image, _) = watch::channel(Arc::new(MetadataImage::empty()));
        MetadataStateMachine {
            last_applied: None,
            membership: Membership::default(),
            image,
            snapshot: Arc::default(),
            snapshots_built: 0,
        }
    }

    /// Follow the published image: every applied batch sends the next one.
    pub fn subscribe(&self) -> watch::Receiver<Arc<MetadataImage>> {
        self.image.subscribe()
    }

    fn apply_batch(
        image: &MetadataImage,
        offset: i64,
        records: &[MetadataRecord],
    ) -> (MetadataImage, usize) {
        let mut delta = MetadataDelta::new(image);
        let mut refused = 0;
        for record in records {
            if let Err(error) = delta.replay(offset, record) {
                // The controller validated this record when it wrote it: refusing it here means
                // a bug, and skipping it keeps every node's image the same (they all skip it).
                tracing::error!(offset, %error, ?record, "metadata record refused");
                refused += 1;
            }
        }
        (delta.apply().0, refused)
    }
}

impl Default for MetadataStateMachine {
    fn default() -> Self {
        MetadataStateMachine::new()
    }
}

impl RaftSnapshotBuilder<MetadataRaft> for MetadataSnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<MetadataRaft>, StorageError> {
        let body = SnapshotBody {
            last_applied: self.last_applied,
            membership: self.membership.clone(),
            records: self.image.to_records(),
        };
        let bytes = serde_json::to_vec(&body).map_err(|e| {
            StorageError::from_io_error(
                ErrorSubject::Snapshot(None),
                ErrorVerb::Write,
                std::io::Error::other(e),
            )
        })?;
        let meta = SnapshotMeta {
            last_log_id: self.last_applied,
            last_membership: self.membership.clone(),
            snapshot_id: self.snapshot_id.clone(),
        };
        let stored = StoredSnapshot { meta, bytes };
        keep(&self.built, stored.clone());
        Ok(stored.to_snapshot())
    }
}

impl RaftStateMachine<MetadataRaft> for MetadataStateMachine {
    type SnapshotBuilder = MetadataSnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, Membership), StorageError> {
        Ok((self.last_applied, self.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Applied>, StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut image = self.image.borrow().clone();
        let mut answers = Vec::new();
        for entry in entries {
            let offset = entry.log_id.index as i64;
            self.last_applied = Some(entry.log_id);
            let refused = match &entry.payload {
                EntryPayload::Blank => 0,
                EntryPayload::Normal(batch) => {
                    let (next, refused) = Self::apply_batch(&image, offset, &batch.records);
                    image = Arc::new(next);
                    refused
                }
                EntryPayload::Membership(membership) => {
                    self.membership = StoredMembership::new(Some(entry.log_id), membership.clone());
                    0
                }
            };
            answers.push(Applied { offset, refused });
        }
        self.image.send_replace(image);
        Ok(answers)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.snapshots_built += 1;
        let snapshot_id = match self.last_applied {
            Some(id) => format!(
                "{}-{}-{}",
                id.leader_id.term, id.index, self.snapshots_built
            ),
            None => format!("empty-{}", self.snapshots_built),
        };
        MetadataSnapshotBuilder {
            last_applied: self.last_applied,
            membership: self.membership.clone(),
            image: self.image.borrow().clone(),
            snapshot_id,
            built: self.snapshot.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, openraft::BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let bytes = snapshot.into_inner();
        let read_error = |e: serde_json::Error| {
            StorageError::from_io_error(
                ErrorSubject::Snapshot(Some(meta.signature())),
                ErrorVerb::Read,
                std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            )
        };
        let body: SnapshotBody = serde_json::from_slice(&bytes).map_err(read_error)?;
        let offset = meta.last_log_id.map_or(-1, |id| id.index as i64);
        let (image, refused) =
            Self::apply_batch(&MetadataImage::empty(), offset.max(0), &body.records);
        if refused > 0 {
            tracing::error!(refused, "snapshot records refused");
        }
        let mut image = image;
        image.offset = offset;
        self.last_applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        self.image.send_replace(Arc::new(image));
        keep(
            &self.snapshot,
            StoredSnapshot {
                meta: meta.clone(),
                bytes,
            },
        );
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<MetadataRaft>>, StorageError> {
        let slot = self.snapshot.lock().unwrap_or_else(|e| e.into_inner());
        Ok(slot.as_ref().map(StoredSnapshot::to_snapshot))
    }
}
