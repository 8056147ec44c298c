//! The topic admin requests as decisions. CreateTopics: the topic record, then one partition
//! record per partition with its placed replicas, every replica in the ISR, the first replica
//! leading at epoch 0. DeleteTopics, CreatePartitions and topic config changes likewise. The
//! broker that received the request has already checked what it can check alone (names,
//! config values, partition counts going up); the controller checks what needs the image.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::ControllerError;
use super::placement::place_replicas;
use crate::image::{MetadataImage, TopicImage};
use crate::records::{BrokerId, ConfigResource, MetadataRecord, NO_LEADER, PartitionRecord};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewTopic {
    pub name: String,
    pub topic_id: Uuid,
    pub partitions: i32,
    pub replication_factor: i16,
    pub configs: BTreeMap<String, String>,
    /// The replicas of each partition, in order, when the client named them (CreateTopics'
    /// manual assignment); empty: placed by the controller.
    #[serde(default)]
    pub assignments: Vec<Vec<BrokerId>>,
}

pub fn create_topic(
    image: &MetadataImage,
    topic: NewTopic,
) -> Result<Vec<MetadataRecord>, ControllerError> {
    if image.topic(&topic.name).is_some() {
        return Err(ControllerError::TopicExists(topic.name));
    }
    let placed = if topic.assignments.is_empty() {
        // Successive topics start their first leader on successive brokers.
        let start = image.topics_by_id.len();
        place_replicas(image, topic.partitions, topic.replication_factor, start)?
    } else {
        registered(image, &topic.assignments)?;
        topic.assignments
    };
    let mut records = vec![MetadataRecord::Topic {
        name: topic.name.clone(),
        topic_id: topic.topic_id,
    }];
    for (partition_id, replicas) in (0..).zip(placed) {
        records.push(new_partition(topic.topic_id, partition_id, replicas));
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

/// A manual assignment may name any registered broker, fenced or not (as Kafka's controller
/// checks it); the broker that received the request has checked its shape.
fn registered(image: &MetadataImage, assignments: &[Vec<BrokerId>]) -> Result<(), ControllerError> {
    match assignments
        .iter()
        .flatten()
        .find(|broker| !image.brokers.contains_key(broker))
    {
        Some(&unknown) => Err(ControllerError::UnregisteredBroker(unknown)),
        None => Ok(()),
    }
}

/// A new partition: every replica in the ISR, the first leading at epoch 0.
fn new_partition(topic_id: Uuid, partition_id: i32, replicas: Vec<BrokerId>) -> MetadataRecord {
    MetadataRecord::Partition(PartitionRecord {
        topic_id,
        partition_id,
        isr: replicas.clone(),
        leader: replicas.first().copied().unwrap_or(NO_LEADER),
        replicas,
        leader_epoch: 0,
        partition_epoch: 0,
        eligible_leader_replicas: Vec::new(),
        last_known_elr: Vec::new(),
        recovering_replicas: Vec::new(),
        adding_replicas: Vec::new(),
        removing_replicas: Vec::new(),
    })
}

fn existing<'a>(image: &'a MetadataImage, name: &str) -> Result<&'a TopicImage, ControllerError> {
    image
        .topic(name)
        .map(|t| t.as_ref())
        .ok_or_else(|| ControllerError::UnknownTopic(name.to_string()))
}

/// DeleteTopics: the topic, its partitions and its configs go with one record.
pub fn delete_topic(
    image: &MetadataImage,
    name: &str,
) -> Result<Vec<MetadataRecord>, ControllerError> {
    let topic = existing(image, name)?;
    Ok(vec![MetadataRecord::RemoveTopic {
        topic_id: topic.topic_id,
    }])
}

/// CreatePartitions: the partitions from the topic's count up to `count`, as `assignments`
/// name their replicas or, without them, placed with the replication factor of its first
/// partition, leaders continuing the rotation.
pub fn create_partitions(
    image: &MetadataImage,
    name: &str,
    count: i32,
    assignments: Vec<Vec<BrokerId>>,
) -> Result<Vec<MetadataRecord>, ControllerError> {
    let topic = existing(image, name)?;
    let current = i32::try_from(topic.partitions.len()).unwrap_or(i32::MAX);
    if count <= current {
        return Err(ControllerError::InvalidPartitions);
    }
    let replication_factor = topic
        .partitions
        .values()
        .next()
        .map_or(1, |p| i16::try_from(p.replicas.len()).unwrap_or(i16::MAX));
    let placed = if assignments.is_empty() {
        place_replicas(image, count - current, replication_factor, current as usize)?
    } else {
        registered(image, &assignments)?;
        assignments
    };
    Ok((current..)
        .zip(placed)
        .map(|(partition_id, replicas)| new_partition(topic.topic_id, partition_id, replicas))
        .collect())
}

/// The configs of a topic, a broker or the broker default replaced by `configs`
/// (AlterConfigs and IncrementalAlterConfigs both arrive here as the whole new set, checked by
/// the broker that received them): records for the values that change and removals for the
/// names that go. A topic must exist.
pub fn set_configs(
    image: &MetadataImage,
    resource: ConfigResource,
    configs: BTreeMap<String, String>,
) -> Result<Vec<MetadataRecord>, ControllerError> {
    if let ConfigResource::Topic(name) = &resource {
        existing(image, name)?;
    }
    let current = image.configs.get(&resource).cloned().unwrap_or_default();
    let removed = current
        .keys()
        .filter(|k| !configs.contains_key(*k))
        .map(|k| (k.clone(), None));
    let changed = configs
        .iter()
        .filter(|(k, v)| current.get(*k) != Some(v))
        .map(|(k, v)| (k.clone(), Some(v.clone())));
    Ok(removed
        .chain(changed)
        .map(|(name, value)| MetadataRecord::Config {
            resource: resource.clone(),
            name,
            value,
        })
        .collect())
}
