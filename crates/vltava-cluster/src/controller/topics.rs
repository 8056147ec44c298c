//! CreateTopics as a decision: the topic record, then one partition record per partition with
//! its placed replicas, every replica in the ISR, the first replica leading at epoch 0.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::ControllerError;
use super::placement::place_replicas;
use crate::image::MetadataImage;
use crate::records::{ConfigResource, MetadataRecord, NO_LEADER, PartitionRecord};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewTopic {
    pub name: String,
    pub topic_id: Uuid,
    pub partitions: i32,
    pub replication_factor: i16,
    pub configs: BTreeMap<String, String>,
}

pub fn create_topic(
    image: &MetadataImage,
    topic: NewTopic,
) -> Result<Vec<MetadataRecord>, ControllerError> {
    if image.topic(&topic.name).is_some() {
        return Err(ControllerError::TopicExists(topic.name));
    }
    // Successive topics start their first leader on successive brokers.
    let start = image.topics_by_id.len();
    let placed = place_replicas(image, topic.partitions, topic.replication_factor, start)?;
    let mut records = vec![MetadataRecord::Topic {
        name: topic.name.clone(),
        topic_id: topic.topic_id,
    }];
    for (partition_id, replicas) in (0..).zip(placed) {
        records.push(MetadataRecord::Partition(PartitionRecord {
            topic_id: topic.topic_id,
            partition_id,
            isr: replicas.clone(),
            leader: replicas.first().copied().unwrap_or(NO_LEADER),
            replicas,
            leader_epoch: 0,
            partition_epoch: 0,
            eligible_leader_replicas: Vec::new(),
            last_known_elr: Vec::new(),
        }));
    }
    for (name, value) in topic.configs {
        records.push(MetadataRecord::Config {
            resource: ConfigResource::Topic(topic.name.clone()),
            name,
            value: Some(value),
        });
    }
    Ok(records)
}
