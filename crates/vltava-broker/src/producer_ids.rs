//! Hands out producer ids for InitProducerId from blocks the controller allocates
//! (AllocateProducerIds): a block's end is in the metadata log before any id of it is used, so
//! ids are never reused, across restarts and brokers. A data directory from before the
//! metadata log kept them has `<data>/producer_ids.json`; the first block starts above it and
//! the file is then removed.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use tokio::sync::Mutex;
use vltava_cluster::quorum::active::{ControllerAnswer, ControllerRequest};

use crate::cluster::{ClusterLink, unexpected};
use crate::error::{BrokerError, Result};
use crate::metadata_file;

const PRODUCER_IDS_FILE: &str = "producer_ids.json";

#[derive(Debug, Deserialize)]
struct Persisted {
    /// Every id below this may have been handed out.
    next_block_start: i64,
}

#[derive(Debug)]
struct Block {
    next: i64,
    end: i64,
    /// Ids below this were handed out before the metadata log (from the old file).
    at_least: i64,
}

#[derive(Debug)]
pub struct ProducerIds {
    old_file: PathBuf,
    block: Mutex<Block>,
}

impl ProducerIds {
    pub fn open(data_dir: &Path) -> Result<Self> {
        let old_file = data_dir.join(PRODUCER_IDS_FILE);
        let at_least =
            metadata_file::load::<Persisted>(&old_file)?.map_or(0, |p| p.next_block_start);
        Ok(ProducerIds {
            old_file,
            block: Mutex::new(Block {
                next: 0,
                end: 0,
                at_least,
            }),
        })
    }

    /// The next id; asks the controller for a block when this one is used up (callers wait
    /// for it together).
    pub async fn next(&self, cluster: &ClusterLink) -> Result<i64> {
        let mut block = self.block.lock().await;
        if block.next == block.end {
            let request = ControllerRequest::AllocateProducerIds {
                broker_id: cluster.broker_id(),
                broker_epoch: cluster.broker_epoch(),
                at_least: block.at_least,
            };
            let allocated = match cluster.call(request).await? {
                ControllerAnswer::ProducerIds(allocated) => allocated,
                other => return Err(unexpected(other)),
            };
            if block.at_least > 0 {
                // The metadata log now holds a floor above every id the old file covered.
                std::fs::remove_file(&self.old_file).map_err(|source| BrokerError::MetadataIo {
                    path: self.old_file.clone(),
                    source,
                })?;
                block.at_least = 0;
            }
            block.next = allocated.first;
            block.end = allocated.first + allocated.size;
        }
        let id = block.next;
        block.next += 1;
        Ok(id)
    }
}
