//! The controller quorum's state machine: committed metadata batches replayed into the
//! metadata image, which is published to every reader through a watch channel.
//!
//! Its snapshot is the image written out as records (`MetadataImage::to_records`), so
//! installing one is replaying it into the empty image. The newest snapshot is kept in
//! `<dir>/snapshot.json` (replaced atomically) before openraft may purge the log it covers,
//! and a restart starts from it: restart time follows the size of the cluster, not its age.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use openraft::storage::RaftStateMachine;
use openraft::{
    EntryPayload, ErrorSubject, ErrorVerb, RaftSnapshotBuilder, Snapshot, SnapshotMeta,
    StoredMembership,
};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use vltava_storage::FileSystem;

use super::files::{read_file, replace_file};
use super::{Applied, Entry, LogId, MetadataRaft, NodeId, StorageError};
use crate::delta::MetadataDelta;
use crate::image::MetadataImage;
use crate::records::MetadataRecord;

const SNAPSHOT_FILE: &str = "snapshot.json";

type Membership = StoredMembership<NodeId, openraft::BasicNode>;
type Meta = SnapshotMeta<NodeId, openraft::BasicNode>;

/// A snapshot as sent between voters: the image's records.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SnapshotBody {
    records: Vec<MetadataRecord>,
}

/// A snapshot as kept on disk: openraft's description of it and its body.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredSnapshot {
    meta: Meta,
    body: SnapshotBody,
}

impl StoredSnapshot {
    fn to_snapshot(&self) -> Result<Snapshot<MetadataRaft>, StorageError> {
        let bytes = serde_json::to_vec(&self.body)
            .map_err(|e| snapshot_error(Some(&self.meta), ErrorVerb::Read, e))?;
        Ok(Snapshot {
            meta: self.meta.clone(),
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}

fn snapshot_error(
    meta: Option<&Meta>,
    verb: ErrorVerb,
    error: impl std::fmt::Display,
) -> StorageError {
    StorageError::from_io_error(
        ErrorSubject::Snapshot(meta.map(Meta::signature)),
        verb,
        std::io::Error::other(error.to_string()),
    )
}

/// The newest snapshot, on disk and in memory; shared with snapshot builders.
#[derive(Debug)]
struct SnapshotStore {
    fs: Arc<dyn FileSystem>,
    dir: PathBuf,
    current: Mutex<Option<StoredSnapshot>>,
}

impl SnapshotStore {
    /// Writes `snapshot` durably, then makes it the current one.
    fn save(&self, snapshot: StoredSnapshot) -> Result<(), StorageError> {
        let write = |e: std::io::Error| snapshot_error(Some(&snapshot.meta), ErrorVerb::Write, e);
        let bytes = serde_json::to_vec(&snapshot).map_err(|e| write(std::io::Error::other(e)))?;
        replace_file(self.fs.as_ref(), &self.dir, SNAPSHOT_FILE, &bytes).map_err(write)?;
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(snapshot);
        Ok(())
    }

    fn current(&self) -> Option<StoredSnapshot> {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[derive(Debug)]
pub struct MetadataStateMachine {
    last_applied: Option<LogId>,
    membership: Membership,
    image: watch::Sender<Arc<MetadataImage>>,
    snapshots: Arc<SnapshotStore>,
    snapshots_built: u64,
}

/// Builds a snapshot of the image as it was when the builder was made.
#[derive(Debug)]
pub struct MetadataSnapshotBuilder {
    meta: Meta,
    image: Arc<MetadataImage>,
    snapshots: Arc<SnapshotStore>,
}

impl MetadataStateMachine {
    /// Opens the state machine in `dir`: the newest snapshot's image if there is one, else the
    /// empty image (openraft then replays the committed log).
    pub fn open(fs: Arc<dyn FileSystem>, dir: &Path) -> std::io::Result<MetadataStateMachine> {
        fs.create_dir_all(dir)?;
        let stored: Option<StoredSnapshot> = match read_file(fs.as_ref(), &dir.join(SNAPSHOT_FILE))?
        {
            Some(bytes) => Some(serde_json::from_slice(&bytes).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{SNAPSHOT_FILE}: {e}"),
                )
            })?),
            None => None,
        };
        let (image, last_applied, membership) = match &stored {
            Some(s) => (
                image_of(&s.meta, &s.body),
                s.meta.last_log_id,
                s.meta.last_membership.clone(),
            ),
            None => (MetadataImage::empty(), None, Membership::default()),
        };
        let (image, _) = watch::channel(Arc::new(image));
        Ok(MetadataStateMachine {
            last_applied,
            membership,
            image,
            snapshots: Arc::new(SnapshotStore {
                fs,
                dir: dir.to_path_buf(),
                current: Mutex::new(stored),
            }),
            snapshots_built: 0,
        })
    }

    /// Follow the published image: every applied batch sends the next one.
    pub fn subscribe(&self) -> watch::Receiver<Arc<MetadataImage>> {
        self.image.subscribe()
    }
}

/// Replays `records` (one log entry's, all at `offset`) onto `image`. A record the image
/// refuses is skipped and counted: the controller validated it when it wrote it, so a refusal
/// is a bug, and every voter skips the same record, so their images stay the same.
fn apply_batch(
    image: &MetadataImage,
    offset: i64,
    records: &[MetadataRecord],
) -> (MetadataImage, usize) {
    let mut delta = MetadataDelta::new(image);
    let mut refused = 0;
    for record in records {
        if let Err(error) = delta.replay(offset, record) {
            tracing::error!(offset, %error, ?record, "metadata record refused");
            refused += 1;
        }
    }
    (delta.apply().0, refused)
}

/// The image a snapshot describes, at the snapshot's offset.
fn image_of(meta: &Meta, body: &SnapshotBody) -> MetadataImage {
    let offset = meta.last_log_id.map_or(-1, |id| id.index as i64);
    let (mut image, refused) = apply_batch(&MetadataImage::empty(), offset.max(0), &body.records);
    if refused > 0 {
        tracing::error!(refused, "snapshot records refused");
    }
    image.offset = offset;
    image
}

impl RaftSnapshotBuilder<MetadataRaft> for MetadataSnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<MetadataRaft>, StorageError> {
        let stored = StoredSnapshot {
            meta: self.meta.clone(),
            body: SnapshotBody {
                records: self.image.to_records(),
            },
        };
        self.snapshots.save(stored.clone())?;
        stored.to_snapshot()
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
                    let (next, refused) = apply_batch(&image, offset, &batch.records);
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
            meta: Meta {
                last_log_id: self.last_applied,
                last_membership: self.membership.clone(),
                snapshot_id,
            },
            image: self.image.borrow().clone(),
            snapshots: self.snapshots.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &Meta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let body: SnapshotBody = serde_json::from_slice(&snapshot.into_inner())
            .map_err(|e| snapshot_error(Some(meta), ErrorVerb::Read, e))?;
        let image = image_of(meta, &body);
        self.snapshots.save(StoredSnapshot {
            meta: meta.clone(),
            body,
        })?;
        self.last_applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        self.image.send_replace(Arc::new(image));
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<MetadataRaft>>, StorageError> {
        self.snapshots
            .current()
            .map(|s| s.to_snapshot())
            .transpose()
    }
}
