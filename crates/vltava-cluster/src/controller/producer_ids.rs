//! Producer ids handed out in blocks (Kafka's AllocateProducerIds, KIP-730): the controller
//! records the end of each block in the metadata log before the broker uses any id of it, so
//! no id is given twice, across brokers and restarts.

use serde::{Deserialize, Serialize};

use super::ControllerError;
use super::brokers::{Decision, current};
use crate::image::MetadataImage;
use crate::records::{BrokerId, MetadataRecord};

/// Ids per block, as Kafka's controller hands them out.
pub const PRODUCER_ID_BLOCK_SIZE: i64 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerIdBlock {
    pub first: i64,
    pub size: i64,
}

/// The next block for a broker; `at_least` carries ids a broker handed out before the metadata
/// log kept them (its old `producer_ids.json`).
pub fn allocate_producer_ids(
    image: &MetadataImage,
    broker_id: BrokerId,
    broker_epoch: i64,
    at_least: i64,
) -> Result<Decision<ProducerIdBlock>, ControllerError> {
    current(image, broker_id, broker_epoch)?;
    let first = image.next_producer_id.max(at_least).max(0);
    Ok(Decision {
        records: vec![MetadataRecord::ProducerIds {
            broker_id,
            broker_epoch,
            next_producer_id: first + PRODUCER_ID_BLOCK_SIZE,
        }],
        answer: ProducerIdBlock {
            first,
            size: PRODUCER_ID_BLOCK_SIZE,
        },
    })
}
