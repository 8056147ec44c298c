//! The metadata image: the cluster as of one offset of the metadata log. Immutable; the next
//! image comes from a [`crate::MetadataDelta`]. Parts that did not change are shared between
//! images (`Arc`), so publishing an image after a small change copies little.

use std::collections::BTreeMap;
use std::sync::Arc;

use uuid::Uuid;

use crate::acl::AclBinding;
use crate::quotas::ClientQuotas;
use crate::records::{
    BrokerId, ConfigResource, Endpoint, MetadataRecord, NO_LEADER, PartitionRecord, RegisterBroker,
};
use crate::scram::{ScramCredential, ScramMechanism};

/// A broker as the controller knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerRegistration {
    pub broker_id: BrokerId,
    pub incarnation_id: Uuid,
    pub broker_epoch: i64,
    pub endpoints: Vec<Endpoint>,
    pub rack: Option<String>,
    pub log_dirs: Vec<Uuid>,
    /// A fenced broker leads nothing and is left out of Metadata answers.
    pub fenced: bool,
    pub in_controlled_shutdown: bool,
}

/// One partition's replicas, leader and ISR, with the epochs that order their changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionRegistration {
    pub replicas: Vec<BrokerId>,
    pub isr: Vec<BrokerId>,
    pub leader: BrokerId,
    /// Bumped on every leader change (KIP-101/KIP-320 fencing of stale leaders).
    pub leader_epoch: i32,
    /// Bumped on every change (AlterPartition requests carry it to detect stale ISR updates).
    pub partition_epoch: i32,
    pub eligible_leader_replicas: Vec<BrokerId>,
    pub last_known_elr: Vec<BrokerId>,
    /// Replicas that lost their log and have not been in the ISR since.
    pub recovering_replicas: Vec<BrokerId>,
    /// A reassignment in progress: `replicas` holds the target's replicas first, then the ones
    /// being removed; the adding ones are not in the ISR yet.
    pub adding_replicas: Vec<BrokerId>,
    pub removing_replicas: Vec<BrokerId>,
}

impl PartitionRegistration {
    pub fn has_leader(&self) -> bool {
        self.leader != NO_LEADER
    }

    pub fn is_reassigning(&self) -> bool {
        !self.adding_replicas.is_empty() || !self.removing_replicas.is_empty()
    }

    pub fn from_record(p: &PartitionRecord) -> PartitionRegistration {
        PartitionRegistration {
            replicas: p.replicas.clone(),
            isr: p.isr.clone(),
            leader: p.leader,
            leader_epoch: p.leader_epoch,
            partition_epoch: p.partition_epoch,
            eligible_leader_replicas: p.eligible_leader_replicas.clone(),
            last_known_elr: p.last_known_elr.clone(),
            recovering_replicas: p.recovering_replicas.clone(),
            adding_replicas: p.adding_replicas.clone(),
            removing_replicas: p.removing_replicas.clone(),
        }
    }

    pub fn to_record(&self, topic_id: Uuid, partition_id: i32) -> PartitionRecord {
        PartitionRecord {
            topic_id,
            partition_id,
            replicas: self.replicas.clone(),
            isr: self.isr.clone(),
            leader: self.leader,
            leader_epoch: self.leader_epoch,
            partition_epoch: self.partition_epoch,
            eligible_leader_replicas: self.eligible_leader_replicas.clone(),
            last_known_elr: self.last_known_elr.clone(),
            recovering_replicas: self.recovering_replicas.clone(),
            adding_replicas: self.adding_replicas.clone(),
            removing_replicas: self.removing_replicas.clone(),
        }
    }
}

impl BrokerRegistration {
    /// Where clients reach the broker on the listener named `listener`.
    pub fn endpoint(&self, listener: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| e.name == listener)
    }

    pub fn from_record(r: &RegisterBroker) -> BrokerRegistration {
        BrokerRegistration {
            broker_id: r.broker_id,
            incarnation_id: r.incarnation_id,
            broker_epoch: r.broker_epoch,
            endpoints: r.endpoints.clone(),
            rack: r.rack.clone(),
            log_dirs: r.log_dirs.clone(),
            fenced: r.fenced,
            in_controlled_shutdown: r.in_controlled_shutdown,
        }
    }

    pub fn to_record(&self) -> RegisterBroker {
        RegisterBroker {
            broker_id: self.broker_id,
            incarnation_id: self.incarnation_id,
            broker_epoch: self.broker_epoch,
            endpoints: self.endpoints.clone(),
            rack: self.rack.clone(),
            log_dirs: self.log_dirs.clone(),
            fenced: self.fenced,
            in_controlled_shutdown: self.in_controlled_shutdown,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicImage {
    pub name: String,
    pub topic_id: Uuid,
    /// Indexed by partition id; ids are dense from 0.
    pub partitions: BTreeMap<i32, PartitionRegistration>,
}

/// The whole cluster at `offset`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataImage {
    /// The last metadata log offset applied; -1 for the empty image.
    pub offset: i64,
    pub brokers: Arc<BTreeMap<BrokerId, BrokerRegistration>>,
    pub topics_by_id: Arc<BTreeMap<Uuid, Arc<TopicImage>>>,
    pub topic_ids_by_name: Arc<BTreeMap<String, Uuid>>,
    pub configs: Arc<BTreeMap<ConfigResource, BTreeMap<String, String>>>,
    /// Producer ids below this have been handed out.
    pub next_producer_id: i64,
    /// Agreed once; `None` only until the first broker has claimed it.
    pub cluster_id: Option<String>,
    /// SCRAM credentials by user and mechanism (KIP-554).
    pub scram_credentials: Arc<BTreeMap<(String, ScramMechanism), ScramCredential>>,
    /// ACLs by id.
    pub acls: Arc<BTreeMap<Uuid, AclBinding>>,
    /// Client quotas by entity and key (KIP-546).
    pub client_quotas: Arc<ClientQuotas>,
}

impl MetadataImage {
    pub fn empty() -> MetadataImage {
        MetadataImage {
            offset: -1,
            brokers: Arc::default(),
            topics_by_id: Arc::default(),
            topic_ids_by_name: Arc::default(),
            configs: Arc::default(),
            next_producer_id: 0,
            cluster_id: None,
            scram_credentials: Arc::default(),
            acls: Arc::default(),
            client_quotas: Arc::default(),
        }
    }

    /// The user's credential for `mechanism`, if it has one.
    pub fn scram_credential(
        &self,
        user: &str,
        mechanism: ScramMechanism,
    ) -> Option<&ScramCredential> {
        self.scram_credentials.get(&(user.to_string(), mechanism))
    }

    pub fn topic(&self, name: &str) -> Option<&Arc<TopicImage>> {
        self.topic_ids_by_name
            .get(name)
            .and_then(|id| self.topics_by_id.get(id))
    }

    pub fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionRegistration> {
        self.topic(topic)?.partitions.get(&partition)
    }

    /// The broker if it is registered and not fenced.
    pub fn live_broker(&self, broker_id: BrokerId) -> Option<&BrokerRegistration> {
        self.brokers.get(&broker_id).filter(|b| !b.fenced)
    }

    /// Whether `broker` may lead partitions or join an ISR: registered, unfenced, and not in a
    /// controlled shutdown.
    pub fn can_lead(&self, broker: BrokerId) -> bool {
        self.brokers
            .get(&broker)
            .is_some_and(|b| !b.fenced && !b.in_controlled_shutdown)
    }

    /// Brokers that may lead partitions and are shown to clients.
    pub fn live_brokers(&self) -> impl Iterator<Item = &BrokerRegistration> {
        self.brokers.values().filter(|b| !b.fenced)
    }

    /// The records that rebuild this image from the empty one: the metadata snapshot. Replayed
    /// in this order (brokers, topics each followed by their partitions, configs, producer
    /// ids) every reference points at something already defined.
    pub fn to_records(&self) -> Vec<MetadataRecord> {
        let mut records = Vec::new();
        if let Some(cluster_id) = &self.cluster_id {
            records.push(MetadataRecord::ClusterId {
                cluster_id: cluster_id.clone(),
            });
        }
        for broker in self.brokers.values() {
            records.push(MetadataRecord::RegisterBroker(broker.to_record()));
        }
        for topic in self.topics_by_id.values() {
            records.push(MetadataRecord::Topic {
                name: topic.name.clone(),
                topic_id: topic.topic_id,
            });
            for (&partition_id, p) in &topic.partitions {
                records.push(MetadataRecord::Partition(
                    p.to_record(topic.topic_id, partition_id),
                ));
            }
        }
        for (resource, configs) in self.configs.iter() {
            for (name, value) in configs {
                records.push(MetadataRecord::Config {
                    resource: resource.clone(),
                    name: name.clone(),
                    value: Some(value.clone()),
                });
            }
        }
        if self.next_producer_id > 0 {
            records.push(MetadataRecord::ProducerIds {
                broker_id: NO_LEADER,
                broker_epoch: -1,
                next_producer_id: self.next_producer_id,
            });
        }
        for credential in self.scram_credentials.values() {
            records.push(MetadataRecord::UserScramCredential(credential.clone()));
        }
        for (id, acl) in self.acls.iter() {
            records.push(MetadataRecord::AccessControlEntry {
                id: *id,
                acl: acl.clone(),
            });
        }
        for (entity, quotas) in self.client_quotas.iter() {
            for (key, value) in quotas {
                records.push(MetadataRecord::ClientQuota {
                    entity: entity.clone(),
                    key: key.clone(),
                    value: Some(*value),
                });
            }
        }
        records
    }
}
