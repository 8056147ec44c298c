//! AlterPartition (KIP-497): a partition's leader asks for its ISR to shrink (a follower fell
//! behind) or expand (a follower caught up). Kafka's `ReplicationControlManager.alterPartition`
//! checks, in its order: the broker is current, the partition exists, the request comes from
//! its leader in the current leader epoch, it was made on the current partition epoch, and
//! every replica joining the ISR may (is a live replica).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::ControllerError;
use super::brokers::current;
use super::reassignment;
use crate::image::MetadataImage;
use crate::records::{BrokerId, MetadataRecord, PartitionChange};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlterPartition {
    pub broker_id: BrokerId,
    pub broker_epoch: i64,
    pub topic_id: Uuid,
    pub partition_id: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub isr: Vec<BrokerId>,
}

pub fn alter_partition(
    image: &MetadataImage,
    request: AlterPartition,
) -> Result<Vec<MetadataRecord>, ControllerError> {
    current(image, request.broker_id, request.broker_epoch)?;
    let partition = image
        .topics_by_id
        .get(&request.topic_id)
        .and_then(|t| t.partitions.get(&request.partition_id))
        .ok_or(ControllerError::UnknownTopicId(request.topic_id))?;
    if partition.leader != request.broker_id {
        return Err(ControllerError::NotLeader(request.broker_id));
    }
    if request.leader_epoch != partition.leader_epoch {
        return Err(ControllerError::FencedLeaderEpoch {
            got: request.leader_epoch,
            current: partition.leader_epoch,
        });
    }
    if request.partition_epoch != partition.partition_epoch {
        return Err(ControllerError::InvalidUpdateVersion {
            got: request.partition_epoch,
            current: partition.partition_epoch,
        });
    }
    let ineligible = request.isr.iter().copied().find(|b| {
        let joins = !partition.isr.contains(b);
        !partition.replicas.contains(b) || (joins && !image.can_lead(*b))
    });
    if let Some(broker) = ineligible {
        return Err(ControllerError::IneligibleReplica(broker));
    }
    if !request.isr.contains(&request.broker_id) {
        return Err(ControllerError::IneligibleReplica(request.broker_id));
    }
    let mut after = partition.clone();
    after.isr = request.isr.clone();
    // The ISR change that brings the last adding replica in completes its reassignment.
    if let Some(done) = reassignment::complete(image, &after) {
        return Ok(vec![MetadataRecord::PartitionChange(
            reassignment::change_to(request.topic_id, request.partition_id, partition, &done),
        )]);
    }
    Ok(vec![MetadataRecord::PartitionChange(PartitionChange {
        topic_id: request.topic_id,
        partition_id: request.partition_id,
        isr: Some(request.isr),
        ..PartitionChange::default()
    })])
}
