//! Hands out producer ids for InitProducerId. Ids are never reused across restarts: before a
//! block of ids is handed out, its end is persisted in `<data>/producer_ids.json`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::metadata_file;

const PRODUCER_IDS_FILE: &str = "producer_ids.json";
/// Ids reserved per write of the file (Kafka's controller hands out blocks of 1000 too).
pub const PRODUCER_ID_BLOCK_SIZE: i64 = 1000;

#[derive(Debug, Serialize, Deserialize)]
struct Persisted {
    /// Every id below this may have been handed out.
    next_block_start: i64,
}

#[derive(Debug)]
struct Block {
    next: i64,
    end: i64,
}

#[derive(Debug)]
pub struct ProducerIds {
    path: PathBuf,
    block: Mutex<Block>,
}

impl ProducerIds {
    pub fn open(data_dir: &Path) -> Result<Self> {
        let path = data_dir.join(PRODUCER_IDS_FILE);
        let start = metadata_file::load::<Persisted>(&path)?.map_or(0, |p| p.next_block_start);
        // The block is empty: the first request reserves a fresh one starting at `start`.
        Ok(ProducerIds {
            path,
            block: Mutex::new(Block {
                next: start,
                end: start,
            }),
        })
    }

    pub fn next(&self) -> Result<i64> {
        let mut block = self.block.lock().unwrap_or_else(|e| e.into_inner());
        if block.next == block.end {
            let end = block.end + PRODUCER_ID_BLOCK_SIZE;
            metadata_file::save(
                &self.path,
                &Persisted {
                    next_block_start: end,
                },
            )?;
            block.end = end;
        }
        let id = block.next;
        block.next += 1;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_not_reused_after_restart() -> Result<()> {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = ProducerIds::open(dir.path())?;
        let a = first.next()?;
        let b = first.next()?;
        assert_eq!(b, a + 1);
        drop(first);
        let second = ProducerIds::open(dir.path())?;
        assert!(second.next()? > b);
        Ok(())
    }
}
