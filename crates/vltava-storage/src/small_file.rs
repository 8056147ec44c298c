//! Small files a partition keeps beside its segments (the partition checkpoint, the leader
//! epoch cache), read whole and replaced whole: written to a temp file, fsynced, renamed over
//! the old one, and the directory fsynced, so that a crash leaves the old file or the new one.

use std::path::Path;

use crate::error::{Result, io_at};
use crate::fs::FileSystem;

/// The bytes of `path`; `None` if there is no such file or it is longer than `len_max` (a
/// damaged file is not a reason to allocate).
pub(crate) fn read(fs: &dyn FileSystem, path: &Path, len_max: u64) -> Result<Option<Vec<u8>>> {
    if !fs.exists(path) {
        return Ok(None);
    }
    let file = fs.open(path, false).map_err(io_at(path))?;
    let len = file.len().map_err(io_at(path))?;
    if len > len_max {
        tracing::warn!(path = %path.display(), len, "ignoring an oversized file");
        return Ok(None);
    }
    let mut bytes = vec![0u8; len as usize];
    file.read_at(&mut bytes, 0).map_err(io_at(path))?;
    Ok(Some(bytes))
}

/// Durably replaces `path` (in `dir`) by `bytes`, through `temp`.
pub(crate) fn replace(
    fs: &dyn FileSystem,
    dir: &Path,
    temp: &Path,
    path: &Path,
    bytes: &[u8],
) -> Result<()> {
    let file = fs.open(temp, true).map_err(io_at(temp))?;
    file.set_len(0).map_err(io_at(temp))?;
    file.append(bytes).map_err(io_at(temp))?;
    file.sync_data().map_err(io_at(temp))?;
    fs.rename(temp, path).map_err(io_at(path))?;
    fs.sync_dir(dir).map_err(io_at(dir))
}
