//! Replaying metadata records into images: the rules every broker applies to the metadata log
//! (epochs, references, snapshots). A bug here shows as brokers that disagree about leaders.

use std::sync::Arc;

use uuid::Uuid;
use vltava_cluster::records::{
    ConfigResource, Endpoint, NO_LEADER, PartitionChange, PartitionRecord, RegisterBroker,
};
use vltava_cluster::{MetadataDelta, MetadataImage, MetadataRecord, ReplayError};

fn register(broker_id: i32, broker_epoch: i64) -> MetadataRecord {
    MetadataRecord::RegisterBroker(RegisterBroker {
        broker_id,
        incarnation_id: Uuid::from_u128(broker_id as u128),
        broker_epoch,
        endpoints: vec![Endpoint {
            name: "PLAINTEXT".into(),
            host: format!("127.0.0.{broker_id}"),
            port: 9092,
        }],
        rack: None,
        log_dirs: vec![Uuid::from_u128(100 + broker_id as u128)],
        fenced: true,
        in_controlled_shutdown: false,
    })
}

fn partition(topic_id: Uuid, partition_id: i32, replicas: &[i32]) -> MetadataRecord {
    MetadataRecord::Partition(PartitionRecord {
        topic_id,
        partition_id,
        replicas: replicas.to_vec(),
        isr: replicas.to_vec(),
        leader: replicas[0],
        leader_epoch: 0,
        partition_epoch: 0,
        eligible_leader_replicas: vec![],
        last_known_elr: vec![],
        recovering_replicas: vec![],
        adding_replicas: vec![],
        removing_replicas: vec![],
    })
}

/// Replays `records` at offsets after `image.offset`, panicking on a refused record.
fn replay_all(image: &MetadataImage, records: &[MetadataRecord]) -> MetadataImage {
    let mut delta = MetadataDelta::new(image);
    for (i, record) in records.iter().enumerate() {
        let offset = image.offset + 1 + i as i64;
        let replayed = delta.replay(offset, record);
        assert!(replayed.is_ok(), "record {i} refused: {replayed:?}");
    }
    delta.apply().0
}

fn cluster_with_topic(topic_id: Uuid) -> MetadataImage {
    replay_all(
        &MetadataImage::empty(),
        &[
            register(1, 0),
            register(2, 1),
            register(3, 2),
            MetadataRecord::Topic {
                name: "orders".into(),
                topic_id,
            },
            partition(topic_id, 0, &[1, 2, 3]),
            partition(topic_id, 1, &[2, 3, 1]),
        ],
    )
}

#[test]
fn leader_change_bumps_both_epochs_and_isr_change_only_the_partition_epoch() {
    let topic_id = Uuid::from_u128(7);
    let image = cluster_with_topic(topic_id);
    let image = replay_all(
        &image,
        &[MetadataRecord::PartitionChange(PartitionChange {
            topic_id,
            partition_id: 0,
            isr: Some(vec![1, 2]),
            ..PartitionChange::default()
        })],
    );
    let p = image.partition("orders", 0).expect("partition 0");
    assert_eq!((p.leader, p.leader_epoch, p.partition_epoch), (1, 0, 1));
    assert_eq!(p.isr, vec![1, 2]);

    let image = replay_all(
        &image,
        &[MetadataRecord::PartitionChange(PartitionChange {
            topic_id,
            partition_id: 0,
            leader: Some(2),
            isr: Some(vec![2]),
            ..PartitionChange::default()
        })],
    );
    let p = image.partition("orders", 0).expect("partition 0");
    assert_eq!((p.leader, p.leader_epoch, p.partition_epoch), (2, 1, 2));
    let other = image.partition("orders", 1).expect("partition 1");
    assert_eq!((other.leader_epoch, other.partition_epoch), (0, 0));

    let image = replay_all(
        &image,
        &[MetadataRecord::PartitionChange(PartitionChange {
            topic_id,
            partition_id: 0,
            leader: Some(NO_LEADER),
            ..PartitionChange::default()
        })],
    );
    let p = image.partition("orders", 0).expect("partition 0");
    assert!(!p.has_leader());
    assert_eq!(p.leader_epoch, 2);
}

#[test]
fn a_refused_record_leaves_the_delta_unchanged() {
    let topic_id = Uuid::from_u128(7);
    let image = cluster_with_topic(topic_id);
    let mut delta = MetadataDelta::new(&image);
    let next = image.offset + 1;
    let refused = [
        (
            partition(Uuid::from_u128(99), 0, &[1]),
            ReplayError::UnknownTopic(Uuid::from_u128(99)),
        ),
        (
            MetadataRecord::PartitionChange(PartitionChange {
                topic_id,
                partition_id: 5,
                leader: Some(2),
                ..PartitionChange::default()
            }),
            ReplayError::UnknownPartition {
                topic_id,
                partition_id: 5,
            },
        ),
        (
            MetadataRecord::Topic {
                name: "orders".into(),
                topic_id: Uuid::from_u128(8),
            },
            ReplayError::TopicExists("orders".into()),
        ),
        (
            MetadataRecord::BrokerRegistrationChange {
                broker_id: 2,
                broker_epoch: 0,
                fenced: Some(false),
                in_controlled_shutdown: None,
            },
            ReplayError::StaleBrokerEpoch {
                broker_id: 2,
                got: 0,
                current: 1,
            },
        ),
        (
            MetadataRecord::UnregisterBroker {
                broker_id: 9,
                broker_epoch: 0,
            },
            ReplayError::UnknownBroker(9),
        ),
    ];
    for (record, error) in refused {
        assert_eq!(delta.replay(next, &record), Err(error));
    }
    assert_eq!(delta.image(), &image);
    assert_eq!(
        delta.replay(image.offset - 1, &register(4, 10)),
        Err(ReplayError::OffsetWentBack {
            offset: image.offset - 1,
            last: image.offset
        })
    );
}

#[test]
fn fencing_hides_a_broker_and_a_new_registration_is_a_new_epoch() {
    let image = cluster_with_topic(Uuid::from_u128(7));
    assert_eq!(image.live_brokers().count(), 0, "brokers register fenced");
    let image = replay_all(
        &image,
        &[
            MetadataRecord::BrokerRegistrationChange {
                broker_id: 1,
                broker_epoch: 0,
                fenced: Some(false),
                in_controlled_shutdown: None,
            },
            MetadataRecord::BrokerRegistrationChange {
                broker_id: 2,
                broker_epoch: 1,
                fenced: Some(false),
                in_controlled_shutdown: None,
            },
        ],
    );
    let live: Vec<i32> = image.live_brokers().map(|b| b.broker_id).collect();
    assert_eq!(live, vec![1, 2]);
    // Broker 1 restarts: a new incarnation, fenced again, and its old epoch is stale.
    let image = replay_all(&image, &[register(1, 50)]);
    let live: Vec<i32> = image.live_brokers().map(|b| b.broker_id).collect();
    assert_eq!(live, vec![2]);
    let mut delta = MetadataDelta::new(&image);
    let stale = MetadataRecord::BrokerRegistrationChange {
        broker_id: 1,
        broker_epoch: 0,
        fenced: Some(false),
        in_controlled_shutdown: None,
    };
    assert!(delta.replay(image.offset + 1, &stale).is_err());
}

#[test]
fn removing_a_topic_removes_its_name_partitions_and_configs() {
    let topic_id = Uuid::from_u128(7);
    let image = cluster_with_topic(topic_id);
    let image = replay_all(
        &image,
        &[MetadataRecord::Config {
            resource: ConfigResource::Topic("orders".into()),
            name: "retention.ms".into(),
            value: Some("1000".into()),
        }],
    );
    assert_eq!(image.configs.len(), 1);
    let mut delta = MetadataDelta::new(&image);
    delta
        .replay(image.offset + 1, &MetadataRecord::RemoveTopic { topic_id })
        .expect("remove");
    let (image, changes) = delta.apply();
    assert!(image.topic("orders").is_none());
    assert!(image.topics_by_id.is_empty());
    assert!(image.configs.is_empty());
    assert_eq!(changes.removed_topics.len(), 1);
    assert_eq!(changes.removed_topics[0].partitions.len(), 2);
    // The name can be used again, by a new topic id.
    let image = replay_all(
        &image,
        &[MetadataRecord::Topic {
            name: "orders".into(),
            topic_id: Uuid::from_u128(8),
        }],
    );
    assert_eq!(
        image.topic("orders").map(|t| t.topic_id),
        Some(Uuid::from_u128(8))
    );
}

#[test]
fn an_image_rebuilt_from_its_snapshot_is_the_same_image() {
    let topic_id = Uuid::from_u128(7);
    let image = cluster_with_topic(topic_id);
    let image = replay_all(
        &image,
        &[
            MetadataRecord::PartitionChange(PartitionChange {
                topic_id,
                partition_id: 1,
                leader: Some(3),
                isr: Some(vec![3]),
                eligible_leader_replicas: Some(vec![2]),
                ..PartitionChange::default()
            }),
            MetadataRecord::Config {
                resource: ConfigResource::BrokerDefault,
                name: "log.retention.ms".into(),
                value: Some("60000".into()),
            },
            MetadataRecord::Config {
                resource: ConfigResource::Broker(2),
                name: "log.segment.bytes".into(),
                value: Some("1048576".into()),
            },
            MetadataRecord::ProducerIds {
                broker_id: 2,
                broker_epoch: 1,
                next_producer_id: 2000,
            },
        ],
    );
    // Through the stored form too, as a snapshot file would carry it.
    let stored: Vec<Vec<u8>> = image
        .to_records()
        .iter()
        .map(|r| r.to_bytes().expect("encode"))
        .collect();
    let records: Vec<MetadataRecord> = stored
        .iter()
        .map(|bytes| MetadataRecord::from_bytes(bytes).expect("decode"))
        .collect();
    let mut rebuilt = replay_all(&MetadataImage::empty(), &records);
    rebuilt.offset = image.offset;
    assert_eq!(rebuilt, image);
}

#[test]
fn parts_that_did_not_change_are_shared_with_the_previous_image() {
    let topic_id = Uuid::from_u128(7);
    let image = cluster_with_topic(topic_id);
    let next = replay_all(
        &image,
        &[MetadataRecord::Config {
            resource: ConfigResource::Broker(1),
            name: "log.retention.ms".into(),
            value: Some("1".into()),
        }],
    );
    assert!(Arc::ptr_eq(&image.brokers, &next.brokers));
    assert!(Arc::ptr_eq(&image.topics_by_id, &next.topics_by_id));
    assert!(!Arc::ptr_eq(&image.configs, &next.configs));
}

#[test]
fn a_record_without_fields_added_later_still_reads() {
    let json = br#"{"type":"PartitionChange","topic_id":"00000000-0000-0000-0000-000000000007","partition_id":0,"leader":2}"#;
    let record = MetadataRecord::from_bytes(json).expect("decode");
    assert_eq!(
        record,
        MetadataRecord::PartitionChange(PartitionChange {
            topic_id: Uuid::from_u128(7),
            partition_id: 0,
            leader: Some(2),
            ..PartitionChange::default()
        })
    );
    assert!(MetadataRecord::from_bytes(br#"{"type":"NoSuchRecord"}"#).is_err());
}

/// SCRAM credentials are metadata: replayed into the image, removed by their record, and part
/// of the snapshot (so a broker restarted from one still knows its users).
#[test]
fn scram_credentials_replay_and_survive_a_snapshot() {
    use vltava_cluster::scram::{ScramCredential, ScramMechanism};
    let credential = |user: &str, mechanism| ScramCredential {
        user: user.to_string(),
        mechanism,
        salt: vec![1, 2, 3],
        stored_key: vec![4; 32],
        server_key: vec![5; 32],
        iterations: 4096,
    };
    let image = replay_all(
        &MetadataImage::empty(),
        &[
            MetadataRecord::UserScramCredential(credential("alice", ScramMechanism::ScramSha512)),
            MetadataRecord::UserScramCredential(credential("alice", ScramMechanism::ScramSha256)),
            MetadataRecord::UserScramCredential(credential("bob", ScramMechanism::ScramSha512)),
            MetadataRecord::RemoveUserScramCredential {
                user: "alice".into(),
                mechanism: ScramMechanism::ScramSha256,
            },
        ],
    );
    assert!(
        image
            .scram_credential("alice", ScramMechanism::ScramSha512)
            .is_some()
    );
    assert!(
        image
            .scram_credential("alice", ScramMechanism::ScramSha256)
            .is_none()
    );
    assert_eq!(image.scram_credentials.len(), 2);
    let restored = replay_all(&MetadataImage::empty(), &image.to_records());
    assert_eq!(restored.scram_credentials, image.scram_credentials);
}

/// ACLs are metadata: replayed by id, removed by their record, and part of the snapshot, so a
/// restarted broker enforces the same rules.
#[test]
fn acls_replay_and_survive_a_snapshot() {
    use vltava_cluster::acl::{AclBinding, AclOperation, AclPermission, PatternType, ResourceType};
    let acl = |principal: &str| AclBinding {
        resource_type: ResourceType::Topic,
        resource_name: "orders".into(),
        pattern_type: PatternType::Literal,
        principal: principal.into(),
        host: "*".into(),
        operation: AclOperation::Write,
        permission: AclPermission::Allow,
    };
    let (kept, removed) = (Uuid::new_v4(), Uuid::new_v4());
    let image = replay_all(
        &MetadataImage::empty(),
        &[
            MetadataRecord::AccessControlEntry {
                id: kept,
                acl: acl("User:alice"),
            },
            MetadataRecord::AccessControlEntry {
                id: removed,
                acl: acl("User:bob"),
            },
            MetadataRecord::RemoveAccessControlEntry { id: removed },
        ],
    );
    assert_eq!(image.acls.len(), 1);
    assert_eq!(image.acls.get(&kept), Some(&acl("User:alice")));
    let restored = replay_all(&MetadataImage::empty(), &image.to_records());
    assert_eq!(restored.acls, image.acls);
}
