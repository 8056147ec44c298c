//! The file seam: everything the log does to a disk goes through these two traits, so that
//! tests can swap in [`crate::SimFs`], which loses unsynced bytes on a simulated crash.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Directory operations. Creates, renames and removes are durable only after `sync_dir`.
pub trait FileSystem: Send + Sync + std::fmt::Debug {
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// The entries of a directory, in any order.
    fn read_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>>;
    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn LogFile>>;
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    fn remove_dir_all(&self, path: &Path) -> io::Result<()>;
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Make the creates, renames and removes inside `path` durable.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
    fn exists(&self, path: &Path) -> bool;
}

/// An open file. Shared (`Arc`) so that a fetch can read a slice outside the log's lock.
// `len` is a fallible I/O query here, not a collection size; an `is_empty` would add nothing.
#[allow(clippy::len_without_is_empty)]
pub trait LogFile: Send + Sync + std::fmt::Debug {
    /// Fill `buf` from `position`; an early end of file is an error (`read_exact`).
    fn read_at(&self, buf: &mut [u8], position: u64) -> io::Result<()>;
    /// Write at the end of the file.
    fn append(&self, data: &[u8]) -> io::Result<()>;
    /// Write at `position` (index files).
    fn write_at(&self, data: &[u8], position: u64) -> io::Result<()>;
    fn len(&self) -> io::Result<u64>;
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Make the file's bytes durable (fdatasync).
    fn sync_data(&self) -> io::Result<()>;
    /// The operating system's file, for sending a range of it to a socket without reading it
    /// into memory (sendfile); `None` for a file that is not one (the simulated filesystem).
    fn os_file(&self) -> Option<BorrowedFd<'_>> {
        None
    }
    /// How many times the file was made shorter. A range read earlier is still the same bytes
    /// only while this has not moved: a shortened file may be appended to again.
    fn truncations(&self) -> u64 {
        0
    }
}

/// The real filesystem, through `std::fs`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealFs;

#[derive(Debug)]
struct RealFile {
    file: File,
    /// The file length as we know it: this process is the only writer of its log files, so
    /// caching it saves an `fstat` per append (the lock also orders concurrent appenders).
    len: Mutex<u64>,
    /// Counts `set_len` calls that shortened the file (see [`LogFile::truncations`]).
    truncations: AtomicU64,
}

impl RealFile {
    fn len_guard(&self) -> io::Result<std::sync::MutexGuard<'_, u64>> {
        self.len
            .lock()
            .map_err(|_| io::Error::other("file length lock poisoned"))
    }
}

impl FileSystem for RealFs {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        std::fs::read_dir(path)?
            .map(|e| e.map(|e| e.path()))
            .collect()
    }

    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn LogFile>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .open(path)?;
        let len = Mutex::new(file.metadata()?.len());
        Ok(Arc::new(RealFile {
            file,
            len,
            truncations: AtomicU64::new(0),
        }))
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_dir_all(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        // On Linux a directory's entries are made durable by fsync on the directory itself.
        File::open(path)?.sync_all()
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }
}

impl LogFile for RealFile {
    fn read_at(&self, buf: &mut [u8], position: u64) -> io::Result<()> {
        self.file.read_exact_at(buf, position)
    }

    fn append(&self, data: &[u8]) -> io::Result<()> {
        // One pwrite at the known end; no O_APPEND because index files also use write_at.
        let mut len = self.len_guard()?;
        self.file.write_all_at(data, *len)?;
        *len += data.len() as u64;
        Ok(())
    }

    fn write_at(&self, data: &[u8], position: u64) -> io::Result<()> {
        let mut len = self.len_guard()?;
        self.file.write_all_at(data, position)?;
        *len = (*len).max(position + data.len() as u64);
        Ok(())
    }

    fn len(&self) -> io::Result<u64> {
        Ok(*self.len_guard()?)
    }

    fn set_len(&self, new_len: u64) -> io::Result<()> {
        let mut len = self.len_guard()?;
        if new_len < *len {
            // Counted before the bytes go, so a sender that checks after sending sees it.
            self.truncations.fetch_add(1, Ordering::AcqRel);
        }
        self.file.set_len(new_len)?;
        *len = new_len;
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn os_file(&self) -> Option<BorrowedFd<'_>> {
        Some(self.file.as_fd())
    }

    fn truncations(&self) -> u64 {
        self.truncations.load(Ordering::Acquire)
    }
}
