//! The broker's own small JSON files (`meta.json`, `topics.json`, `producer_ids.json`,
//! `broker-configs.json`; see docs/storage-format.md): read whole at start, replaced whole and
//! atomically on change, so a crash leaves either the old or the new content, never a mix.

use std::io::{ErrorKind, Write};
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{BrokerError, Result};

/// Reads and parses `path`; `None` when the file does not exist (a fresh data directory).
pub fn load<T: DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    let error = |source| BrokerError::MetadataIo {
        path: path.to_path_buf(),
        source,
    };
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| error(std::io::Error::new(ErrorKind::InvalidData, e))),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(source) => Err(error(source)),
    }
}

/// Replaces `path` with `value` as pretty JSON: written to `<path>.tmp`, fsynced, renamed over
/// `path`, and the directory fsynced, so the new content is durable when this returns.
pub fn save<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let error = |source| BrokerError::MetadataIo {
        path: path.to_path_buf(),
        source,
    };
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| error(std::io::Error::other(e)))?;
    write_atomically(path, &bytes).map_err(error)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_value_loads_back_and_missing_file_is_none() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.json");
        assert_eq!(load::<Vec<i32>>(&path).expect("load"), None);
        save(&path, &vec![1, 2, 3]).expect("save");
        assert_eq!(load::<Vec<i32>>(&path).expect("load"), Some(vec![1, 2, 3]));
        assert!(!path.with_extension("tmp").exists());
    }

    #[test]
    fn unparsable_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.json");
        std::fs::write(&path, b"{not json").expect("write");
        let error = load::<Vec<i32>>(&path).expect_err("must fail");
        assert!(error.to_string().contains("x.json") || format!("{error:?}").contains("x.json"));
    }
}
