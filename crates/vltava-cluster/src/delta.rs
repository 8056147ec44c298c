//! Replaying metadata records onto an image. Each record is checked against the state it
//! applies to before anything changes (validate, then commit): a record that does not fit —
//! a partition of an unknown topic, a stale broker epoch — is refused with a [`ReplayError`]
//! and leaves the delta as it was. The controller never writes such a record; a broker that
//! meets one logs it and goes on, so one bad record cannot stop the cluster.

use std::collections::BTreeSet;
use std::sync::Arc;

use uuid::Uuid;

use crate::image::{BrokerRegistration, MetadataImage, PartitionRegistration, TopicImage};
use crate::records::{BrokerId, MetadataRecord, PartitionChange, PartitionRecord};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    #[error("offset {offset} is before {last}")]
    OffsetWentBack { offset: i64, last: i64 },
    #[error("unknown broker {0}")]
    UnknownBroker(BrokerId),
    #[error("broker {broker_id}: epoch {got} is not its current epoch {current}")]
    StaleBrokerEpoch {
        broker_id: BrokerId,
        got: i64,
        current: i64,
    },
    #[error("topic {0} exists already")]
    TopicExists(String),
    #[error("topic id {0} exists already")]
    TopicIdExists(Uuid),
    #[error("unknown topic id {0}")]
    UnknownTopic(Uuid),
    #[error("unknown partition {partition_id} of topic id {topic_id}")]
    UnknownPartition { topic_id: Uuid, partition_id: i32 },
    #[error("producer ids may not go back from {current} to {got}")]
    ProducerIdsBackwards { current: i64, got: i64 },
    #[error("the cluster id is {current} and cannot become {got}")]
    ClusterIdChange { current: String, got: String },
}

/// The changes since `base`: replay records, then take the next image with [`apply`].
///
/// [`apply`]: MetadataDelta::apply
#[derive(Debug, Clone)]
pub struct MetadataDelta {
    next: MetadataImage,
    changed_topics: BTreeSet<Uuid>,
    removed_topics: Vec<Arc<TopicImage>>,
    changed_brokers: BTreeSet<BrokerId>,
}

/// What moved between two images, for whoever acts on it (the replica manager starts or stops
/// leading or following the changed partitions).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub changed_topics: BTreeSet<Uuid>,
    pub removed_topics: Vec<Arc<TopicImage>>,
    pub changed_brokers: BTreeSet<BrokerId>,
}

impl MetadataDelta {
    pub fn new(base: &MetadataImage) -> MetadataDelta {
        MetadataDelta {
            next: base.clone(),
            changed_topics: BTreeSet::new(),
            removed_topics: Vec::new(),
            changed_brokers: BTreeSet::new(),
        }
    }

    /// Applies a record at metadata log `offset`. The records of one log entry share its
    /// offset, so an offset may repeat but never go back.
    pub fn replay(&mut self, offset: i64, record: &MetadataRecord) -> Result<(), ReplayError> {
        if offset < self.next.offset {
            return Err(ReplayError::OffsetWentBack {
                offset,
                last: self.next.offset,
            });
        }
        self.replay_record(record)?;
        self.next.offset = offset;
        Ok(())
    }

    /// The image with every replayed record, and what changed.
    pub fn apply(self) -> (MetadataImage, Changes) {
        let changes = Changes {
            changed_topics: self.changed_topics,
            removed_topics: self.removed_topics,
            changed_brokers: self.changed_brokers,
        };
        (self.next, changes)
    }

    /// The image as it stands, without ending the delta.
    pub fn image(&self) -> &MetadataImage {
        &self.next
    }

    fn replay_record(&mut self, record: &MetadataRecord) -> Result<(), ReplayError> {
        match record {
            MetadataRecord::RegisterBroker(r) => {
                Arc::make_mut(&mut self.next.brokers)
                    .insert(r.broker_id, BrokerRegistration::from_record(r));
                self.changed_brokers.insert(r.broker_id);
            }
            MetadataRecord::UnregisterBroker {
                broker_id,
                broker_epoch,
            } => {
                self.current_broker(*broker_id, *broker_epoch)?;
                Arc::make_mut(&mut self.next.brokers).remove(broker_id);
                self.changed_brokers.insert(*broker_id);
            }
            MetadataRecord::BrokerRegistrationChange {
                broker_id,
                broker_epoch,
                fenced,
                in_controlled_shutdown,
            } => {
                self.current_broker(*broker_id, *broker_epoch)?;
                let brokers = Arc::make_mut(&mut self.next.brokers);
                if let Some(broker) = brokers.get_mut(broker_id) {
                    broker.fenced = fenced.unwrap_or(broker.fenced);
                    broker.in_controlled_shutdown =
                        in_controlled_shutdown.unwrap_or(broker.in_controlled_shutdown);
                }
                self.changed_brokers.insert(*broker_id);
            }
            MetadataRecord::ClusterId { cluster_id } => match &self.next.cluster_id {
                Some(current) if current != cluster_id => {
                    return Err(ReplayError::ClusterIdChange {
                        current: current.clone(),
                        got: cluster_id.clone(),
                    });
                }
                _ => self.next.cluster_id = Some(cluster_id.clone()),
            },
            MetadataRecord::Topic { name, topic_id } => self.add_topic(name, *topic_id)?,
            MetadataRecord::RemoveTopic { topic_id } => self.remove_topic(*topic_id)?,
            MetadataRecord::Partition(p) => self.put_partition(p)?,
            MetadataRecord::PartitionChange(c) => self.change_partition(c)?,
            MetadataRecord::Config {
                resource,
                name,
                value,
            } => {
                let configs = Arc::make_mut(&mut self.next.configs);
                match value {
                    Some(value) => {
                        configs
                            .entry(resource.clone())
                            .or_default()
                            .insert(name.clone(), value.clone());
                    }
                    None => {
                        if let Some(set) = configs.get_mut(resource) {
                            set.remove(name);
                            if set.is_empty() {
                                configs.remove(resource);
                            }
                        }
                    }
                }
            }
            MetadataRecord::ProducerIds {
                next_producer_id, ..
            } => {
                if *next_producer_id < self.next.next_producer_id {
                    return Err(ReplayError::ProducerIdsBackwards {
                        current: self.next.next_producer_id,
                        got: *next_producer_id,
                    });
                }
                self.next.next_producer_id = *next_producer_id;
            }
            MetadataRecord::UserScramCredential(credential) => {
                Arc::make_mut(&mut self.next.scram_credentials).insert(
                    (credential.user.clone(), credential.mechanism),
                    credential.clone(),
                );
            }
            MetadataRecord::RemoveUserScramCredential { user, mechanism } => {
                Arc::make_mut(&mut self.next.scram_credentials).remove(&(user.clone(), *mechanism));
            }
            MetadataRecord::AccessControlEntry { id, acl } => {
                Arc::make_mut(&mut self.next.acls).insert(*id, acl.clone());
            }
            MetadataRecord::RemoveAccessControlEntry { id } => {
                Arc::make_mut(&mut self.next.acls).remove(id);
            }
            MetadataRecord::ClientQuota { entity, key, value } => {
                let quotas = Arc::make_mut(&mut self.next.client_quotas);
                match value {
                    Some(value) => {
                        quotas
                            .entry(entity.clone())
                            .or_default()
                            .insert(key.clone(), *value);
                    }
                    None => {
                        if let Some(keys) = quotas.get_mut(entity) {
                            keys.remove(key);
                            if keys.is_empty() {
                                quotas.remove(entity);
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn current_broker(&self, broker_id: BrokerId, epoch: i64) -> Result<(), ReplayError> {
        let broker = self
            .next
            .brokers
            .get(&broker_id)
            .ok_or(ReplayError::UnknownBroker(broker_id))?;
        if broker.broker_epoch != epoch {
            return Err(ReplayError::StaleBrokerEpoch {
                broker_id,
                got: epoch,
                current: broker.broker_epoch,
            });
        }
        Ok(())
    }

    fn add_topic(&mut self, name: &str, topic_id: Uuid) -> Result<(), ReplayError> {
        if self.next.topic_ids_by_name.contains_key(name) {
            return Err(ReplayError::TopicExists(name.to_string()));
        }
        if self.next.topics_by_id.contains_key(&topic_id) {
            return Err(ReplayError::TopicIdExists(topic_id));
        }
        let topic = TopicImage {
            name: name.to_string(),
            topic_id,
            partitions: Default::default(),
        };
        Arc::make_mut(&mut self.next.topics_by_id).insert(topic_id, Arc::new(topic));
        Arc::make_mut(&mut self.next.topic_ids_by_name).insert(name.to_string(), topic_id);
        self.changed_topics.insert(topic_id);
        Ok(())
    }

    fn remove_topic(&mut self, topic_id: Uuid) -> Result<(), ReplayError> {
        let topic = Arc::make_mut(&mut self.next.topics_by_id)
            .remove(&topic_id)
            .ok_or(ReplayError::UnknownTopic(topic_id))?;
        Arc::make_mut(&mut self.next.topic_ids_by_name).remove(&topic.name);
        let configs = Arc::make_mut(&mut self.next.configs);
        configs.remove(&crate::records::ConfigResource::Topic(topic.name.clone()));
        self.changed_topics.remove(&topic_id);
        self.removed_topics.push(topic);
        Ok(())
    }

    fn topic_mut(&mut self, topic_id: Uuid) -> Result<&mut TopicImage, ReplayError> {
        let topics = Arc::make_mut(&mut self.next.topics_by_id);
        let topic = topics
            .get_mut(&topic_id)
            .ok_or(ReplayError::UnknownTopic(topic_id))?;
        self.changed_topics.insert(topic_id);
        Ok(Arc::make_mut(topic))
    }

    fn put_partition(&mut self, p: &PartitionRecord) -> Result<(), ReplayError> {
        let topic = self.topic_mut(p.topic_id)?;
        topic
            .partitions
            .insert(p.partition_id, PartitionRegistration::from_record(p));
        Ok(())
    }

    fn change_partition(&mut self, c: &PartitionChange) -> Result<(), ReplayError> {
        if !self
            .next
            .topics_by_id
            .get(&c.topic_id)
            .ok_or(ReplayError::UnknownTopic(c.topic_id))?
            .partitions
            .contains_key(&c.partition_id)
        {
            return Err(ReplayError::UnknownPartition {
                topic_id: c.topic_id,
                partition_id: c.partition_id,
            });
        }
        let topic = self.topic_mut(c.topic_id)?;
        let Some(partition) = topic.partitions.get_mut(&c.partition_id) else {
            return Ok(());
        };
        if let Some(leader) = c.leader {
            partition.leader = leader;
            partition.leader_epoch += 1;
        }
        if let Some(isr) = &c.isr {
            partition.isr = isr.clone();
        }
        if let Some(replicas) = &c.replicas {
            partition.replicas = replicas.clone();
        }
        if let Some(elr) = &c.eligible_leader_replicas {
            partition.eligible_leader_replicas = elr.clone();
        }
        if let Some(last_known) = &c.last_known_elr {
            partition.last_known_elr = last_known.clone();
        }
        if let Some(recovering) = &c.recovering_replicas {
            partition.recovering_replicas = recovering.clone();
        }
        if let Some(adding) = &c.adding_replicas {
            partition.adding_replicas = adding.clone();
        }
        if let Some(removing) = &c.removing_replicas {
            partition.removing_replicas = removing.clone();
        }
        // A replica back in the ISR has caught up: it has recovered.
        let isr = &partition.isr;
        partition.recovering_replicas.retain(|b| !isr.contains(b));
        partition.partition_epoch += 1;
        Ok(())
    }
}
