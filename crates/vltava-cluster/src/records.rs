//! The metadata records: what the controller decides, one fact per record, with Kafka's names
//! (`metadata/src/main/resources/common/metadata/*.json` in Kafka). They are stored as JSON
//! (`{"type": "...", ...}`), one record per metadata log entry; fields added later carry
//! `#[serde(default)]` so that an older log still reads.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::acl::AclBinding;
use crate::scram::{ScramCredential, ScramMechanism};

/// A broker id (Kafka's `int32` broker ids).
pub type BrokerId = i32;

/// No leader: every replica is offline or none is eligible.
pub const NO_LEADER: BrokerId = -1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum MetadataRecord {
    /// The cluster's id, agreed once: the first active controller records the id the first
    /// broker proposed (Kafka writes it at format time instead).
    ClusterId {
        cluster_id: String,
    },
    /// A broker (re)registered: a new incarnation with a new broker epoch. It starts fenced
    /// until it has caught up with the metadata log.
    RegisterBroker(RegisterBroker),
    /// The broker is gone for good (removed from the cluster), not merely fenced.
    UnregisterBroker {
        broker_id: BrokerId,
        broker_epoch: i64,
    },
    /// A broker was fenced or unfenced, or began a controlled shutdown (Kafka's
    /// `BrokerRegistrationChangeRecord`). `None` leaves a field as it was.
    BrokerRegistrationChange {
        broker_id: BrokerId,
        broker_epoch: i64,
        #[serde(default)]
        fenced: Option<bool>,
        #[serde(default)]
        in_controlled_shutdown: Option<bool>,
    },
    Topic {
        name: String,
        topic_id: Uuid,
    },
    RemoveTopic {
        topic_id: Uuid,
    },
    /// A new partition, with its full state.
    Partition(PartitionRecord),
    /// A change to a partition: only the fields set change.
    PartitionChange(PartitionChange),
    /// A config set (`value: Some`) or removed (`None`) on a topic, a broker or the cluster-wide
    /// broker default.
    Config {
        resource: ConfigResource,
        name: String,
        value: Option<String>,
    },
    /// Producer ids below `next_producer_id` are handed out (a block went to `broker_id`).
    ProducerIds {
        broker_id: BrokerId,
        broker_epoch: i64,
        next_producer_id: i64,
    },
    /// A user's SCRAM credential for one mechanism, new or replacing the one it had (Kafka's
    /// `UserScramCredentialRecord`).
    UserScramCredential(ScramCredential),
    /// Kafka's `RemoveUserScramCredentialRecord`.
    RemoveUserScramCredential {
        user: String,
        mechanism: ScramMechanism,
    },
    /// A new ACL with its id (Kafka's `AccessControlEntryRecord`).
    AccessControlEntry {
        id: Uuid,
        acl: AclBinding,
    },
    /// Kafka's `RemoveAccessControlEntryRecord`.
    RemoveAccessControlEntry {
        id: Uuid,
    },
    /// A client quota set (`value: Some`) or removed (`None`) on an entity (Kafka's
    /// `ClientQuotaRecord`).
    ClientQuota {
        entity: crate::quotas::QuotaEntity,
        key: String,
        value: Option<crate::quotas::QuotaValue>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterBroker {
    pub broker_id: BrokerId,
    /// Random per process start: a restarted broker is a new incarnation.
    pub incarnation_id: Uuid,
    /// The offset of this record in the metadata log, as in Kafka: unique and increasing.
    pub broker_epoch: i64,
    pub endpoints: Vec<Endpoint>,
    #[serde(default)]
    pub rack: Option<String>,
    /// The ids of the broker's log directories (Kafka's `LogDirs`, KIP-858), made when a
    /// directory is first used: a directory missing from the next registration was lost.
    #[serde(default)]
    pub log_dirs: Vec<Uuid>,
    pub fenced: bool,
    #[serde(default)]
    pub in_controlled_shutdown: bool,
}

/// A listener clients are told about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub name: String,
    pub host: String,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionRecord {
    pub topic_id: Uuid,
    pub partition_id: i32,
    pub replicas: Vec<BrokerId>,
    pub isr: Vec<BrokerId>,
    pub leader: BrokerId,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    /// KIP-966: replicas that may become leader although they left the ISR (they were in it
    /// when it shrank below min.insync.replicas).
    #[serde(default)]
    pub eligible_leader_replicas: Vec<BrokerId>,
    #[serde(default)]
    pub last_known_elr: Vec<BrokerId>,
    /// Replicas whose broker came back without its log directory and that have not been in the
    /// ISR since (vltava's; Kafka has no such field): an unclean election takes one only when
    /// no other replica can lead.
    #[serde(default)]
    pub recovering_replicas: Vec<BrokerId>,
    /// A reassignment in progress (KIP-455): replicas being added, copying the log until they
    /// are in the ISR, and replicas to drop once they all are. Both empty otherwise.
    #[serde(default)]
    pub adding_replicas: Vec<BrokerId>,
    #[serde(default)]
    pub removing_replicas: Vec<BrokerId>,
}

/// Kafka's `PartitionChangeRecord`. Setting `leader` (even to the same broker, or to
/// [`NO_LEADER`]) starts a new leader epoch; any change starts a new partition epoch. An ISR
/// change alone keeps the leader epoch (KAFKA-15021), so followers' fetches stay valid.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionChange {
    pub topic_id: Uuid,
    pub partition_id: i32,
    #[serde(default)]
    pub leader: Option<BrokerId>,
    #[serde(default)]
    pub isr: Option<Vec<BrokerId>>,
    #[serde(default)]
    pub replicas: Option<Vec<BrokerId>>,
    #[serde(default)]
    pub eligible_leader_replicas: Option<Vec<BrokerId>>,
    #[serde(default)]
    pub last_known_elr: Option<Vec<BrokerId>>,
    /// Replaces the recovering replicas; a replica in the ISR the change leaves is not one.
    #[serde(default)]
    pub recovering_replicas: Option<Vec<BrokerId>>,
    #[serde(default)]
    pub adding_replicas: Option<Vec<BrokerId>>,
    #[serde(default)]
    pub removing_replicas: Option<Vec<BrokerId>>,
}

/// What a config record applies to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ConfigResource {
    Topic(String),
    Broker(BrokerId),
    /// Kafka's BROKER resource with the empty name: the default of every broker.
    BrokerDefault,
}

impl MetadataRecord {
    /// The record as stored in the metadata log.
    pub fn to_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<MetadataRecord, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}
