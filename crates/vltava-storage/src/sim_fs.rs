//! An in-memory [`FileSystem`] that can simulate power loss.
//!
//! For every file it keeps the bytes made durable by the last `sync_data` and the current
//! bytes; for every directory entry the durable and the current binding. [`SimFs::crash`]
//! reverts to the durable state, keeping a seeded random part of what was not synced — the
//! way a real disk may have written back some dirty pages, with the last page torn. Handles
//! opened before a crash fail afterwards, like file descriptors of a process that died.
//!
//! Directories themselves are treated as durable once created (the log's parent directory
//! is created once by the broker; only the files inside churn).

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::fs::{FileSystem, LogFile};

/// Size of the page that may be torn at the end of a partially persisted tail.
const PAGE_BYTES: usize = 4096;

/// A handle to a simulated filesystem; clones share the same state.
#[derive(Debug, Clone, Default)]
pub struct SimFs {
    state: Arc<Mutex<State>>,
    /// Kept apart from `state`: a sync waiting here must not stop other operations.
    gate: Arc<SyncGate>,
}

/// Holds every `sync_data` and `sync_dir` while closed, like a disk stuck in a long fsync,
/// so that a test can check what goes on meanwhile. Open by default.
#[derive(Debug, Default)]
pub struct SyncGate {
    state: Mutex<GateState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct GateState {
    closed: bool,
    /// Syncs waiting at the closed gate now.
    waiting: usize,
}

impl SyncGate {
    fn lock(&self) -> MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Lets every held sync and every later one through.
    pub fn open(&self) {
        self.lock().closed = false;
        self.changed.notify_all();
    }

    /// Waits until a sync is held at the gate; false if none arrived within `timeout`.
    pub fn wait_for_held_sync(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        while state.waiting == 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = match self.changed.wait_timeout(state, left) {
                Ok((state, _)) => state,
                Err(e) => e.into_inner().0,
            };
        }
        true
    }

    fn pass(&self) {
        let mut state = self.lock();
        state.waiting += 1;
        self.changed.notify_all();
        while state.closed {
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        state.waiting -= 1;
    }
}

#[derive(Debug, Default)]
struct Inode {
    synced: Vec<u8>,
    current: Vec<u8>,
}

#[derive(Debug, Default)]
struct State {
    inodes: HashMap<u64, Inode>,
    next_inode: u64,
    /// Name → inode as a process sees it now.
    names: HashMap<PathBuf, u64>,
    /// Name → inode as it would be after a crash (made durable by `sync_dir`).
    durable_names: HashMap<PathBuf, u64>,
    dirs: BTreeSet<PathBuf>,
    /// Bumped by every crash; handles from an older generation fail.
    generation: u64,
    fail_next_sync: bool,
    fail_writes: bool,
    /// Mutating operations (writes, syncs, creates, renames, removes) so far.
    ops: u64,
    /// Once `ops` reaches this, every mutating operation fails: the process is as good as
    /// dead, and the test crashes the filesystem next.
    ops_max: Option<u64>,
}

#[derive(Debug)]
struct SimFile {
    fs: SimFs,
    inode: u64,
    generation: u64,
    path: PathBuf,
}

/// A small deterministic generator (SplitMix64): crash outcomes depend only on the seed, on
/// every platform and version (the replication simulation draws its schedules from it too).
#[derive(Debug)]
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..=max`.
    pub fn upto(&mut self, max: usize) -> usize {
        (self.next_u64() % (max as u64 + 1)) as usize
    }
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{} not found", path.display()),
    )
}

fn injected(what: &str) -> io::Error {
    io::Error::other(format!("injected {what} failure"))
}

impl SimFs {
    pub fn new() -> SimFs {
        SimFs::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means a test thread panicked; the state is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Close the sync gate: every `sync_data` and `sync_dir` from now on blocks until the
    /// returned gate is opened.
    pub fn hold_syncs(&self) -> Arc<SyncGate> {
        self.gate.lock().closed = true;
        self.gate.clone()
    }

    /// Make the next `sync_data` or `sync_dir` fail.
    pub fn fail_next_sync(&self) {
        self.lock().fail_next_sync = true;
    }

    /// Mutating operations so far (for picking a crash point inside an operation).
    pub fn ops(&self) -> u64 {
        self.lock().ops
    }

    /// Let `count` more mutating operations succeed and fail every one after them, until
    /// the next [`SimFs::crash`]: a process killed in the middle of what it was doing.
    pub fn die_after_ops(&self, count: u64) {
        let mut state = self.lock();
        state.ops_max = Some(state.ops + count);
    }

    /// Make every write (append, write_at, set_len) fail while `fail` is true.
    pub fn fail_writes(&self, fail: bool) {
        self.lock().fail_writes = fail;
    }

    /// Simulate power loss. Every file reverts to its synced bytes plus a seeded random
    /// prefix of the unsynced ones, whose last page may be partly garbage; every directory
    /// entry changed since the last `sync_dir` keeps its new or its old binding at random.
    pub fn crash(&self, seed: u64) {
        let mut rng = SplitMix(seed);
        let mut state = self.lock();
        state.generation += 1;
        state.fail_next_sync = false;
        state.fail_writes = false;
        state.ops_max = None;
        let mut paths: Vec<PathBuf> = state
            .names
            .keys()
            .chain(state.durable_names.keys())
            .cloned()
            .collect();
        paths.sort();
        paths.dedup();
        let mut names = HashMap::new();
        for path in paths {
            let now = state.names.get(&path).copied();
            let durable = state.durable_names.get(&path).copied();
            let kept = if now == durable || rng.next_u64().is_multiple_of(2) {
                now
            } else {
                durable
            };
            if let Some(inode) = kept {
                names.insert(path, inode);
            }
        }
        let mut inode_ids: Vec<u64> = state.inodes.keys().copied().collect();
        inode_ids.sort_unstable();
        for id in inode_ids {
            if let Some(inode) = state.inodes.get_mut(&id) {
                let content = crash_content(inode, &mut rng);
                inode.synced = content.clone();
                inode.current = content;
            }
        }
        let live: BTreeSet<u64> = names.values().copied().collect();
        state.inodes.retain(|id, _| live.contains(id));
        state.durable_names = names.clone();
        state.names = names;
    }

    /// The current bytes of a file, for tests that inspect or damage what is on "disk".
    pub fn contents(&self, path: &Path) -> Option<Vec<u8>> {
        let state = self.lock();
        let inode = state.names.get(path)?;
        state.inodes.get(inode).map(|i| i.current.clone())
    }

    /// Replace a file's bytes, as durable ones (for corruption tests).
    pub fn set_contents(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let mut state = self.lock();
        let id = *state.names.get(path).ok_or_else(|| not_found(path))?;
        let inode = state.inodes.get_mut(&id).ok_or_else(|| not_found(path))?;
        inode.current = bytes.to_vec();
        inode.synced = bytes.to_vec();
        Ok(())
    }
}

/// What a file holds after power loss.
fn crash_content(inode: &Inode, rng: &mut SplitMix) -> Vec<u8> {
    // One time in four nothing unsynced reaches the disk.
    if inode.synced == inode.current || rng.next_u64().is_multiple_of(4) {
        return inode.synced.clone();
    }
    // Otherwise the disk holds the current bytes up to a random point past what they share
    // with the synced ones (a truncation may have been written back too), and the last page
    // of that unsynced part may be torn.
    let common = inode
        .synced
        .iter()
        .zip(&inode.current)
        .take_while(|(a, b)| a == b)
        .count();
    let keep = common + rng.upto(inode.current.len() - common);
    let mut out = inode.current[..keep].to_vec();
    if keep > common && rng.next_u64().is_multiple_of(2) {
        let page_start = ((keep - 1) / PAGE_BYTES * PAGE_BYTES).max(common);
        let from = page_start + rng.upto(keep - 1 - page_start);
        let to = from + rng.upto(keep - from);
        for byte in &mut out[from..to] {
            *byte = rng.next_u64() as u8;
        }
    }
    out
}

impl State {
    fn check_dir(&self, path: &Path) -> io::Result<()> {
        match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() && !self.dirs.contains(parent) => {
                Err(not_found(parent))
            }
            _ => Ok(()),
        }
    }

    /// Count one mutating operation; fail it if the process is "dead".
    fn op(&mut self) -> io::Result<()> {
        self.ops += 1;
        match self.ops_max {
            Some(max) if self.ops > max => Err(injected("operation (process died)")),
            _ => Ok(()),
        }
    }

    fn take_sync_failure(&mut self) -> io::Result<()> {
        self.op()?;
        if std::mem::take(&mut self.fail_next_sync) {
            Err(injected("fsync"))
        } else {
            Ok(())
        }
    }
}

impl FileSystem for SimFs {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut state = self.lock();
        for dir in path.ancestors() {
            if !dir.as_os_str().is_empty() {
                state.dirs.insert(dir.to_path_buf());
            }
        }
        Ok(())
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        let state = self.lock();
        if !state.dirs.contains(path) {
            return Err(not_found(path));
        }
        let files = state
            .names
            .keys()
            .filter(|p| p.parent() == Some(path))
            .cloned();
        let dirs = state
            .dirs
            .iter()
            .filter(|p| p.parent() == Some(path))
            .cloned();
        Ok(files.chain(dirs).collect())
    }

    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn LogFile>> {
        let mut state = self.lock();
        state.check_dir(path)?;
        let inode = match state.names.get(path) {
            Some(inode) => *inode,
            None if create => {
                state.op()?;
                let id = state.next_inode;
                state.next_inode += 1;
                state.inodes.insert(id, Inode::default());
                state.names.insert(path.to_path_buf(), id);
                id
            }
            None => return Err(not_found(path)),
        };
        let generation = state.generation;
        Ok(Arc::new(SimFile {
            fs: self.clone(),
            inode,
            generation,
            path: path.to_path_buf(),
        }))
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut state = self.lock();
        state.op()?;
        state
            .names
            .remove(path)
            .map(|_| ())
            .ok_or_else(|| not_found(path))
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut state = self.lock();
        if !state.dirs.contains(path) {
            return Err(not_found(path));
        }
        // Removing a whole directory is modelled as immediately durable: topic deletion is
        // not part of the crash model.
        state.names.retain(|p, _| !p.starts_with(path));
        state.durable_names.retain(|p, _| !p.starts_with(path));
        state.dirs.retain(|p| !p.starts_with(path));
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut state = self.lock();
        state.op()?;
        state.check_dir(to)?;
        let inode = state.names.remove(from).ok_or_else(|| not_found(from))?;
        state.names.insert(to.to_path_buf(), inode);
        Ok(())
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        self.gate.pass();
        let mut state = self.lock();
        state.take_sync_failure()?;
        let state = &mut *state;
        state.durable_names.retain(|p, _| p.parent() != Some(path));
        for (p, inode) in &state.names {
            if p.parent() == Some(path) {
                state.durable_names.insert(p.clone(), *inode);
            }
        }
        Ok(())
    }

    fn exists(&self, path: &Path) -> bool {
        let state = self.lock();
        state.names.contains_key(path) || state.dirs.contains(path)
    }
}

impl SimFile {
    /// Run `f` on this file's inode, failing if a crash happened since it was opened.
    fn with<T>(&self, f: impl FnOnce(&mut State, u64) -> io::Result<T>) -> io::Result<T> {
        let mut state = self.fs.lock();
        if state.generation != self.generation {
            return Err(io::Error::other(format!(
                "{}: handle from before a crash",
                self.path.display()
            )));
        }
        f(&mut state, self.inode)
    }

    fn write(&self, f: impl FnOnce(&mut Vec<u8>)) -> io::Result<()> {
        self.with(|state, id| {
            state.op()?;
            if state.fail_writes {
                return Err(injected("write"));
            }
            let inode = state
                .inodes
                .get_mut(&id)
                .ok_or_else(|| io::Error::other("inode gone"))?;
            f(&mut inode.current);
            Ok(())
        })
    }
}

impl LogFile for SimFile {
    fn read_at(&self, buf: &mut [u8], position: u64) -> io::Result<()> {
        self.with(|state, id| {
            let inode = state
                .inodes
                .get(&id)
                .ok_or_else(|| io::Error::other("inode gone"))?;
            let start = usize::try_from(position).map_err(io::Error::other)?;
            let end = start
                .checked_add(buf.len())
                .filter(|end| *end <= inode.current.len());
            let end = end.ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
            buf.copy_from_slice(&inode.current[start..end]);
            Ok(())
        })
    }

    fn append(&self, data: &[u8]) -> io::Result<()> {
        self.write(|current| current.extend_from_slice(data))
    }

    fn write_at(&self, data: &[u8], position: u64) -> io::Result<()> {
        let start = usize::try_from(position).map_err(io::Error::other)?;
        self.write(|current| {
            if current.len() < start + data.len() {
                current.resize(start + data.len(), 0);
            }
            current[start..start + data.len()].copy_from_slice(data);
        })
    }

    fn len(&self) -> io::Result<u64> {
        self.with(|state, id| Ok(state.inodes.get(&id).map_or(0, |i| i.current.len() as u64)))
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let len = usize::try_from(len).map_err(io::Error::other)?;
        self.write(|current| current.resize(len, 0))
    }

    fn sync_data(&self) -> io::Result<()> {
        self.fs.gate.pass();
        self.with(|state, id| {
            state.take_sync_failure()?;
            let inode = state
                .inodes
                .get_mut(&id)
                .ok_or_else(|| io::Error::other("inode gone"))?;
            inode.synced = inode.current.clone();
            Ok(())
        })
    }
}
