//! The metadata log on disk, as openraft's `RaftLogStorage` wants it: an append is acknowledged
//! only after it is fsynced, the vote is saved durably before it is answered, and the log never
//! has holes. See docs/storage-format.md ("Metadata log").
//!
//! `<dir>/raft.log` holds the entries back to back, each `length: u32, crc32c: u32, payload`
//! (the payload is the entry as JSON). Opening reads it up to the first torn or corrupt entry
//! and cuts it there: only an unacknowledged tail can be torn, because appends are acknowledged
//! after `fdatasync`. `<dir>/raft-state.json` holds the vote, the committed log id and the last
//! purged log id, replaced atomically (temporary file, fsync, rename, directory fsync).
//!
//! The whole log is kept in memory too: it is small (snapshots purge it) and reads of entries
//! for followers then never touch the disk. I/O is synchronous: metadata writes are rare and
//! small, and only the controller's Raft task waits on them.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{ErrorSubject, ErrorVerb, RaftLogId, RaftLogReader};
use serde::{Deserialize, Serialize};
use vltava_storage::{FileSystem, LogFile};

use super::files::{read_file, replace_file};
use super::{Entry, LogId, MetadataRaft, StorageError, Vote};

const LOG_FILE: &str = "raft.log";
const STATE_FILE: &str = "raft-state.json";
/// Per entry: payload length, then the CRC-32C of the payload.
const ENTRY_HEADER_BYTES: usize = 8;
/// An entry longer than this is corruption, not an entry: metadata batches are small.
pub const ENTRY_BYTES_MAX: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct RaftState {
    vote: Option<Vote>,
    committed: Option<LogId>,
    last_purged: Option<LogId>,
}

/// The entries in memory, shared with the log readers openraft asks for.
#[derive(Debug, Default)]
struct Entries {
    by_index: BTreeMap<u64, Entry>,
    /// Where each entry starts in `raft.log`, for truncation.
    position: BTreeMap<u64, u64>,
}

#[derive(Debug, Clone)]
pub struct MetadataLogReader {
    entries: Arc<Mutex<Entries>>,
}

#[derive(Debug)]
pub struct MetadataLogStore {
    fs: Arc<dyn FileSystem>,
    dir: PathBuf,
    file: Arc<dyn LogFile>,
    state: RaftState,
    entries: Arc<Mutex<Entries>>,
}

fn io_error(
    subject: ErrorSubject<u64>,
    verb: ErrorVerb,
) -> impl FnOnce(std::io::Error) -> StorageError {
    move |e| StorageError::from_io_error(subject, verb, e)
}

fn invalid(what: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what)
}

fn lock(entries: &Mutex<Entries>) -> MutexGuard<'_, Entries> {
    entries.lock().unwrap_or_else(|e| e.into_inner())
}

impl MetadataLogStore {
    /// Opens (creating) the log in `dir`, cutting a torn tail.
    pub fn open(fs: Arc<dyn FileSystem>, dir: &Path) -> std::io::Result<MetadataLogStore> {
        fs.create_dir_all(dir)?;
        let state = read_state(fs.as_ref(), &dir.join(STATE_FILE))?;
        let file = open_log_file(fs.as_ref(), dir)?;
        let entries = read_entries(file.as_ref(), state.last_purged)?;
        Ok(MetadataLogStore {
            fs,
            dir: dir.to_path_buf(),
            file,
            state,
            entries: Arc::new(Mutex::new(entries)),
        })
    }

    fn save_state(&self) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(&self.state).map_err(std::io::Error::other)?;
        replace_file(self.fs.as_ref(), &self.dir, STATE_FILE, &bytes)
    }

    /// Rewrites `raft.log` with the entries still held (after a purge), atomically.
    fn rewrite_log(&mut self) -> std::io::Result<()> {
        let mut entries = lock(&self.entries);
        let mut bytes = Vec::new();
        let mut positions = BTreeMap::new();
        for (index, entry) in &entries.by_index {
            positions.insert(*index, bytes.len() as u64);
            encode_entry(entry, &mut bytes)?;
        }
        replace_file(self.fs.as_ref(), &self.dir, LOG_FILE, &bytes)?;
        self.file = self.fs.open(&self.dir.join(LOG_FILE), false)?;
        entries.position = positions;
        Ok(())
    }
}

/// Opens `raft.log`, creating it durably: the new name is synced into its directory (and the
/// directory into its parent) before any append can be acknowledged.
fn open_log_file(fs: &dyn FileSystem, dir: &Path) -> std::io::Result<Arc<dyn LogFile>> {
    let path = dir.join(LOG_FILE);
    if fs.exists(&path) {
        return fs.open(&path, false);
    }
    let file = fs.open(&path, true)?;
    fs.sync_dir(dir)?;
    if let Some(parent) = dir.parent() {
        fs.sync_dir(parent)?;
    }
    Ok(file)
}

fn read_state(fs: &dyn FileSystem, path: &Path) -> std::io::Result<RaftState> {
    match read_file(fs, path)? {
        None => Ok(RaftState::default()),
        Some(bytes) => {
            serde_json::from_slice(&bytes).map_err(|e| invalid(format!("{STATE_FILE}: {e}")))
        }
    }
}

fn encode_entry(entry: &Entry, out: &mut Vec<u8>) -> std::io::Result<()> {
    let payload = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
    if payload.len() > ENTRY_BYTES_MAX {
        return Err(invalid(format!(
            "metadata entry of {} bytes",
            payload.len()
        )));
    }
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&crc32c::crc32c(&payload).to_be_bytes());
    out.extend_from_slice(&payload);
    Ok(())
}

/// Reads every whole entry; the first torn or corrupt one and everything after it is cut off
/// (and the cut made durable). Entries at or below `last_purged` are dropped: a purge saves
/// its log id before it rewrites the file, so a crash between the two leaves them behind.
fn read_entries(file: &dyn LogFile, last_purged: Option<LogId>) -> std::io::Result<Entries> {
    let len = file.len()?;
    let mut entries = Entries::default();
    let mut position = 0u64;
    let mut expected_index = last_purged.map(|id| id.index + 1);
    while let Some((entry, size)) = read_entry(file, position, len)? {
        let index = entry.get_log_id().index;
        position += size;
        if last_purged.is_some_and(|purged| index <= purged.index) {
            continue;
        }
        if expected_index.is_some_and(|expected| index != expected) {
            return Err(invalid(format!(
                "{LOG_FILE}: entry {index} where {expected_index:?} was expected (a hole)"
            )));
        }
        entries.position.insert(index, position - size);
        entries.by_index.insert(index, entry);
        expected_index = Some(index + 1);
    }
    if position < len {
        tracing::warn!(position, len, "metadata log: cutting a torn tail");
        file.set_len(position)?;
        file.sync_data()?;
    }
    Ok(entries)
}

/// The entry at `position` and its size, or `None` at the end or at a torn/corrupt entry.
fn read_entry(
    file: &dyn LogFile,
    position: u64,
    len: u64,
) -> std::io::Result<Option<(Entry, u64)>> {
    let header_end = position + ENTRY_HEADER_BYTES as u64;
    if header_end > len {
        return Ok(None);
    }
    let mut header = [0u8; ENTRY_HEADER_BYTES];
    file.read_at(&mut header, position)?;
    let length = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    if length > ENTRY_BYTES_MAX || header_end + length as u64 > len {
        return Ok(None);
    }
    let mut payload = vec![0u8; length];
    file.read_at(&mut payload, header_end)?;
    if crc32c::crc32c(&payload) != crc {
        return Ok(None);
    }
    match serde_json::from_slice::<Entry>(&payload) {
        Ok(entry) => Ok(Some((entry, (ENTRY_HEADER_BYTES + length) as u64))),
        Err(error) => {
            tracing::warn!(position, %error, "metadata log: an entry with a valid CRC does not decode");
            Ok(None)
        }
    }
}

fn entries_in(entries: &Mutex<Entries>, range: impl RangeBounds<u64>) -> Vec<Entry> {
    let entries = lock(entries);
    entries
        .by_index
        .range(range)
        .map(|(_, e)| e.clone())
        .collect()
}

impl RaftLogReader<MetadataRaft> for MetadataLogReader {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        Ok(entries_in(&self.entries, range))
    }
}

impl RaftLogReader<MetadataRaft> for MetadataLogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        Ok(entries_in(&self.entries, range))
    }
}

impl RaftLogStorage<MetadataRaft> for MetadataLogStore {
    type LogReader = MetadataLogReader;

    async fn get_log_state(&mut self) -> Result<LogState<MetadataRaft>, StorageError> {
        let entries = lock(&self.entries);
        let last = entries
            .by_index
            .values()
            .next_back()
            .map(|e| *e.get_log_id())
            .or(self.state.last_purged);
        Ok(LogState {
            last_purged_log_id: self.state.last_purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        MetadataLogReader {
            entries: self.entries.clone(),
        }
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        self.state.vote = Some(*vote);
        self.save_state()
            .map_err(io_error(ErrorSubject::Vote, ErrorVerb::Write))
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        Ok(self.state.vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        self.state.committed = committed;
        self.save_state()
            .map_err(io_error(ErrorSubject::Store, ErrorVerb::Write))
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.state.committed)
    }

    async fn append<I>(
        &mut self,
        new: I,
        callback: LogFlushed<MetadataRaft>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let write = io_error(ErrorSubject::Logs, ErrorVerb::Write);
        let result = (|| {
            let mut bytes = Vec::new();
            let start = self.file.len()?;
            let mut added = Vec::new();
            for entry in new {
                let position = start + bytes.len() as u64;
                encode_entry(&entry, &mut bytes)?;
                added.push((position, entry));
            }
            self.file.append(&bytes)?;
            self.file.sync_data()?;
            let mut entries = lock(&self.entries);
            for (position, entry) in added {
                let index = entry.get_log_id().index;
                entries.position.insert(index, position);
                entries.by_index.insert(index, entry);
            }
            Ok::<(), std::io::Error>(())
        })();
        match result {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(error) => {
                // The disk refused the write: openraft stops this node (a failed fsync is
                // fatal to the log, never retried blindly).
                let reported = std::io::Error::new(error.kind(), error.to_string());
                callback.log_io_completed(Err(reported));
                Err(write(error))
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let write = io_error(ErrorSubject::Logs, ErrorVerb::Delete);
        let mut entries = lock(&self.entries);
        let Some(&position) = entries
            .position
            .range(log_id.index..)
            .next()
            .map(|(_, p)| p)
        else {
            return Ok(());
        };
        self.file.set_len(position).map_err(write)?;
        self.file
            .sync_data()
            .map_err(io_error(ErrorSubject::Logs, ErrorVerb::Delete))?;
        entries.by_index.split_off(&log_id.index);
        entries.position.split_off(&log_id.index);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        // The purged id is saved first: should the rewrite not happen, open drops the entries.
        self.state.last_purged = Some(log_id);
        self.save_state()
            .map_err(io_error(ErrorSubject::Logs, ErrorVerb::Delete))?;
        {
            let mut entries = lock(&self.entries);
            let kept = entries.by_index.split_off(&(log_id.index + 1));
            entries.by_index = kept;
        }
        self.rewrite_log()
            .map_err(io_error(ErrorSubject::Logs, ErrorVerb::Delete))
    }
}
