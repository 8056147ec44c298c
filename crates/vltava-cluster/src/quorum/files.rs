//! Small files of the quorum (`raft-state.json`, `snapshot.json`): read whole, replaced whole
//! and atomically through the storage seam, so the simulated disk can crash them too.

use std::path::Path;

use vltava_storage::FileSystem;

/// Writes `name` in `dir` as `bytes` so that a crash leaves the old or the new content:
/// a temporary file, fsynced, renamed over the old one, the directory fsynced.
pub fn replace_file(
    fs: &dyn FileSystem,
    dir: &Path,
    name: &str,
    bytes: &[u8],
) -> std::io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let file = fs.open(&tmp, true)?;
    file.set_len(0)?;
    file.append(bytes)?;
    file.sync_data()?;
    fs.rename(&tmp, &dir.join(name))?;
    fs.sync_dir(dir)
}

/// The whole file, or `None` when it does not exist.
pub fn read_file(fs: &dyn FileSystem, path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    if !fs.exists(path) {
        return Ok(None);
    }
    let file = fs.open(path, false)?;
    let mut bytes = vec![0u8; usize::try_from(file.len()?).map_err(std::io::Error::other)?];
    file.read_at(&mut bytes, 0)?;
    Ok(Some(bytes))
}
