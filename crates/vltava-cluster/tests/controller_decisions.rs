//! The active controller's decisions, on images built by replaying its own records: broker
//! registration, heartbeats, fencing on session expiry, controlled shutdown, replica placement
//! and leader election. A bug here leaves partitions without a leader while a replica could
//! lead, or lets a stale broker incarnation act.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;
use vltava_cluster::controller::ControllerError;
use vltava_cluster::controller::brokers::{
    HeartbeatRequest, RegistrationRequest, fence_expired, heartbeat, register,
};
use vltava_cluster::controller::heartbeats::BrokerSessions;
use vltava_cluster::controller::topics::{
    NewTopic, create_partitions, create_topic, delete_topic, set_configs,
};
use vltava_cluster::records::ConfigResource;
use vltava_cluster::records::{Endpoint, NO_LEADER, PartitionChange};
use vltava_cluster::{MetadataDelta, MetadataImage, MetadataRecord};

const SESSION_MS: u64 = 3_000;

fn apply(image: &MetadataImage, records: &[MetadataRecord]) -> MetadataImage {
    let mut delta = MetadataDelta::new(image);
    let offset = image.offset + 1;
    for record in records {
        let replayed = delta.replay(offset, record);
        assert!(replayed.is_ok(), "{record:?} refused: {replayed:?}");
    }
    delta.apply().0
}

fn request(broker_id: i32, rack: Option<&str>) -> RegistrationRequest {
    RegistrationRequest {
        broker_id,
        incarnation_id: Uuid::from_u128(broker_id as u128),
        endpoints: vec![Endpoint {
            name: "PLAINTEXT".into(),
            host: format!("127.0.0.{broker_id}"),
            port: 9092,
        }],
        rack: rack.map(str::to_string),
        log_dirs: vec![Uuid::from_u128(100 + broker_id as u128)],
    }
}

/// Registers and unfences brokers 1..=n (racks from `racks` when given).
fn cluster(n: i32, racks: &[&str], sessions: &mut BrokerSessions) -> MetadataImage {
    let mut image = MetadataImage::empty();
    let mut epochs = BTreeMap::new();
    for id in 1..=n {
        let rack = racks.get((id - 1) as usize).copied();
        let decision = register(&image, sessions, 0, request(id, rack)).expect("register");
        image = apply(&image, &decision.records);
        epochs.insert(id, decision.answer);
    }
    for (id, epoch) in epochs {
        let decision = heartbeat(&image, sessions, 0, beat(id, epoch, image.offset)).expect("beat");
        assert!(!decision.answer.is_fenced);
        image = apply(&image, &decision.records);
    }
    image
}

fn beat(broker_id: i32, broker_epoch: i64, metadata_offset: i64) -> HeartbeatRequest {
    HeartbeatRequest {
        broker_id,
        broker_epoch,
        metadata_offset,
        want_fence: false,
        want_shutdown: false,
    }
}

fn topic(name: &str, partitions: i32, replication_factor: i16) -> NewTopic {
    NewTopic {
        name: name.into(),
        topic_id: Uuid::new_v4(),
        partitions,
        replication_factor,
        configs: BTreeMap::new(),
        assignments: Vec::new(),
    }
}

#[test]
fn a_broker_registers_fenced_and_is_unfenced_once_caught_up() {
    let mut sessions = BrokerSessions::new(SESSION_MS);
    let image = MetadataImage::empty();
    let decision = register(&image, &mut sessions, 0, request(1, None)).expect("register");
    let epoch = decision.answer;
    let image = apply(&image, &decision.records);
    assert!(image.brokers[&1].fenced);
    assert_eq!(image.live_brokers().count(), 0);

    // A retry of the same incarnation is answered the same, with nothing written.
    let retry = register(&image, &mut sessions, 10, request(1, None)).expect("retry");
    assert_eq!((retry.records.len(), retry.answer), (0, epoch));

    // Not caught up yet: stays fenced.
    let behind = heartbeat(&image, &mut sessions, 20, beat(1, epoch, epoch - 1)).expect("beat");
    assert!(behind.records.is_empty());
    assert!(!behind.answer.is_caught_up && behind.answer.is_fenced);

    let caught_up = heartbeat(&image, &mut sessions, 30, beat(1, epoch, epoch)).expect("beat");
    assert!(caught_up.answer.is_caught_up && !caught_up.answer.is_fenced);
    let image = apply(&image, &caught_up.records);
    assert_eq!(image.live_brokers().count(), 1);

    let stale = heartbeat(&image, &mut sessions, 40, beat(1, epoch - 1, image.offset));
    assert_eq!(
        stale,
        Err(ControllerError::StaleBrokerEpoch {
            broker_id: 1,
            got: epoch - 1
        })
    );
}

#[test]
fn a_second_live_incarnation_is_refused_until_the_first_session_expires() {
    let mut sessions = BrokerSessions::new(SESSION_MS);
    let image = cluster(1, &[], &mut sessions);
    let mut other = request(1, None);
    other.incarnation_id = Uuid::from_u128(99);
    assert_eq!(
        register(&image, &mut sessions, 1_000, other.clone()).map(|d| d.answer),
        Err(ControllerError::DuplicateBrokerRegistration(1))
    );
    let decision = register(&image, &mut sessions, SESSION_MS + 1, other).expect("register");
    let image = apply(&image, &decision.records);
    assert!(image.brokers[&1].fenced);
    assert_eq!(image.brokers[&1].incarnation_id, Uuid::from_u128(99));
    assert!(decision.answer > 0);
}

#[test]
fn partitions_spread_their_leaders_and_replicas_over_the_brokers() {
    let mut sessions = BrokerSessions::new(SESSION_MS);
    let image = cluster(3, &[], &mut sessions);
    let records = create_topic(&image, topic("orders", 6, 3)).expect("create");
    let image = apply(&image, &records);
    let orders = image.topic("orders").expect("topic");
    let mut leaders: BTreeMap<i32, usize> = BTreeMap::new();
    for p in orders.partitions.values() {
        let distinct: BTreeSet<i32> = p.replicas.iter().copied().collect();
        assert_eq!(distinct.len(), 3, "replicas {:?}", p.replicas);
        assert_eq!(p.isr, p.replicas);
        assert_eq!(p.leader, p.replicas[0]);
        *leaders.entry(p.leader).or_default() += 1;
    }
    assert_eq!(leaders, BTreeMap::from([(1, 2), (2, 2), (3, 2)]));
    assert_eq!(
        create_topic(&image, topic("orders", 1, 1)),
        Err(ControllerError::TopicExists("orders".into()))
    );
    assert_eq!(
        create_topic(&image, topic("big", 1, 4)),
        Err(ControllerError::InvalidReplicationFactor {
            requested: 4,
            available: 3
        })
    );
    assert_eq!(
        create_topic(&image, topic("none", 0, 1)),
        Err(ControllerError::InvalidPartitions)
    );
}

#[test]
fn replicas_of_a_partition_are_on_different_racks() {
    let mut sessions = BrokerSessions::new(SESSION_MS);
    let image = cluster(4, &["a", "a", "b", "b"], &mut sessions);
    let image = apply(
        &image,
        &create_topic(&image, topic("racked", 8, 2)).expect("create"),
    );
    let rack = |id: &i32| image.brokers[id].rack.clone();
    for p in image.topic("racked").expect("topic").partitions.values() {
        assert_ne!(
            rack(&p.replicas[0]),
            rack(&p.replicas[1]),
            "{:?}",
            p.replicas
        );
    }
}

/// Three brokers, "orders" (3 partitions, 3 replicas) and "single" (3 partitions, 1 replica).
fn orders_and_single_on_three_brokers(sessions: &mut BrokerSessions) -> MetadataImage {
    let mut image = cluster(3, &[], sessions);
    for (name, replication_factor) in [("orders", 3), ("single", 1)] {
        let created = create_topic(&image, topic(name, 3, replication_factor)).expect("create");
        image = apply(&image, &created);
    }
    image
}

#[test]
fn an_expired_session_fences_the_broker_and_moves_its_leaderships() {
    let mut sessions = BrokerSessions::new(SESSION_MS);
    let image = orders_and_single_on_three_brokers(&mut sessions);
    // Brokers 2 and 3 keep heartbeating; broker 1 stops.
    for id in [2, 3] {
        sessions.heard(id, SESSION_MS);
    }
    let gone = std::collections::BTreeMap::new();
    assert!(fence_expired(&image, &sessions, SESSION_MS - 1, 0, &gone).is_empty());
    let records = fence_expired(&image, &sessions, SESSION_MS + 1, 0, &gone);
    let after = apply(&image, &records);
    assert!(after.brokers[&1].fenced);
    for (id, p) in &after.topic("orders").expect("orders").partitions {
        let before = &image.topic("orders").expect("orders").partitions[id];
        assert_ne!(p.leader, 1);
        assert!(
            !p.isr.contains(&1),
            "ISR keeps a fenced broker: {:?}",
            p.isr
        );
        let moved = before.leader == 1;
        assert_eq!(p.leader_epoch, before.leader_epoch + i32::from(moved));
    }
    // Replication factor 1: the fenced broker's partitions have no leader until it returns.
    let single = |image: &MetadataImage| {
        image
            .topic("single")
            .expect("single")
            .partitions
            .values()
            .map(|p| (p.replicas[0], p.leader, p.isr.clone()))
            .collect::<Vec<_>>()
    };
    for (replica, leader, isr) in single(&after) {
        assert_eq!(leader, if replica == 1 { NO_LEADER } else { replica });
        assert_eq!(isr, vec![replica], "an ISR never empties");
    }
    // Broker 1 comes back: it leads its single-replica partitions again.
    let epoch = after.brokers[&1].broker_epoch;
    let back = heartbeat(
        &after,
        &mut sessions,
        SESSION_MS + 2,
        beat(1, epoch, after.offset),
    )
    .expect("beat");
    let back = apply(&after, &back.records);
    for (replica, leader, _) in single(&back) {
        assert_eq!(leader, replica);
    }
}

#[test]
fn controlled_shutdown_hands_over_leaderships_before_the_broker_may_stop() {
    let mut sessions = BrokerSessions::new(SESSION_MS);
    let image = cluster(3, &[], &mut sessions);
    let image = apply(
        &image,
        &create_topic(&image, topic("orders", 6, 3)).expect("create"),
    );
    let epoch = image.brokers[&2].broker_epoch;
    let mut want = beat(2, epoch, image.offset);
    want.want_shutdown = true;
    let first = heartbeat(&image, &mut sessions, 10, want).expect("beat");
    assert!(!first.records.is_empty());
    let image = apply(&image, &first.records);
    assert!(image.brokers[&2].in_controlled_shutdown);
    let leaders: Vec<i32> = image
        .topic("orders")
        .expect("orders")
        .partitions
        .values()
        .map(|p| p.leader)
        .collect();
    assert!(!leaders.contains(&2), "still leads: {leaders:?}");
    assert!(leaders.iter().all(|l| *l != NO_LEADER));
    want.metadata_offset = image.offset;
    let second = heartbeat(&image, &mut sessions, 20, want).expect("beat");
    assert!(second.records.is_empty() && second.answer.should_shutdown);
}

#[test]
fn topics_grow_change_configs_and_go_with_their_configs() {
    let mut sessions = BrokerSessions::new(SESSION_MS);
    let image = cluster(3, &[], &mut sessions);
    let mut new = topic("orders", 2, 2);
    new.configs = BTreeMap::from([("retention.ms".into(), "1000".into())]);
    let image = apply(&image, &create_topic(&image, new).expect("create"));

    let image = apply(
        &image,
        &create_partitions(&image, "orders", 5, Vec::new()).expect("grow"),
    );
    let orders = image.topic("orders").expect("topic");
    assert_eq!(orders.partitions.len(), 5);
    assert!(orders.partitions.values().all(|p| p.replicas.len() == 2));
    assert_eq!(
        create_partitions(&image, "orders", 5, Vec::new()),
        Err(ControllerError::InvalidPartitions)
    );

    let wanted = BTreeMap::from([("cleanup.policy".to_string(), "compact".to_string())]);
    let records = set_configs(
        &image,
        ConfigResource::Topic("orders".into()),
        wanted.clone(),
    )
    .expect("configs");
    assert_eq!(records.len(), 2, "one removal, one change: {records:?}");
    let image = apply(&image, &records);
    let resource = ConfigResource::Topic("orders".into());
    assert_eq!(image.configs.get(&resource), Some(&wanted));

    let image = apply(&image, &delete_topic(&image, "orders").expect("delete"));
    assert!(image.topic("orders").is_none());
    assert!(!image.configs.contains_key(&resource));
    for refused in [
        delete_topic(&image, "orders"),
        create_partitions(&image, "orders", 9, Vec::new()),
        set_configs(
            &image,
            ConfigResource::Topic("orders".into()),
            BTreeMap::new(),
        ),
    ] {
        assert_eq!(refused, Err(ControllerError::UnknownTopic("orders".into())));
    }
}

#[test]
fn manual_assignments_place_partitions_on_the_named_registered_brokers() {
    let mut sessions = BrokerSessions::new(SESSION_MS);
    let image = cluster(3, &[], &mut sessions);
    let mut new = topic("placed", 2, 1);
    new.assignments = vec![vec![3], vec![1]];
    let image = apply(&image, &create_topic(&image, new).expect("create"));
    let grown = create_partitions(&image, "placed", 3, vec![vec![2]]).expect("grow");
    let image = apply(&image, &grown);
    let placed = image.topic("placed").expect("topic");
    let leaders: Vec<i32> = placed.partitions.values().map(|p| p.leader).collect();
    assert_eq!(leaders, vec![3, 1, 2]);
    assert_eq!(
        create_partitions(&image, "placed", 4, vec![vec![7]]),
        Err(ControllerError::UnregisteredBroker(7))
    );
    let mut unknown = topic("nowhere", 1, 1);
    unknown.assignments = vec![vec![9]];
    assert_eq!(
        create_topic(&image, unknown),
        Err(ControllerError::UnregisteredBroker(9))
    );
}

#[test]
fn a_broker_whose_process_is_gone_is_fenced_at_once() {
    use vltava_cluster::controller::brokers::REFUSED_UNHEARD_MS;
    let mut sessions = BrokerSessions::new(SESSION_MS);
    let image = cluster(4, &[], &mut sessions);
    let heard_at = 1_000;
    for id in [1, 2, 3] {
        sessions.heard(id, heard_at);
    }
    // Refusals began after broker 1's last heartbeat: its process died. Broker 2 heartbeated
    // after its refusals began (a new incarnation; the refusals are about to clear). Broker 3
    // does not refuse. Broker 4 was never heard from by this controller and has refused for
    // less than a heartbeat interval.
    sessions.heard(2, heard_at + 20);
    sessions.forget(4);
    let now = heard_at + 30;
    let refused_since = std::collections::BTreeMap::from([
        (1, heard_at + 10),
        (2, heard_at + 10),
        (4, now - REFUSED_UNHEARD_MS + 1),
    ]);
    assert!(now < SESSION_MS, "well within the session timeout");
    let records = fence_expired(&image, &sessions, now, 0, &refused_since);
    let after = apply(&image, &records);
    assert!(after.brokers[&1].fenced);
    assert!(!after.brokers[&2].fenced);
    assert!(!after.brokers[&3].fenced);
    assert!(!after.brokers[&4].fenced);
    // Refused for a heartbeat interval, never heard from: gone too.
    let later = now + 1;
    let records = fence_expired(&after, &sessions, later, 0, &refused_since);
    assert!(apply(&after, &records).brokers[&4].fenced);
}

#[test]
fn a_broker_back_without_its_log_directory_leaves_every_isr_even_as_the_last_member() {
    let mut sessions = BrokerSessions::new(SESSION_MS);
    let image = orders_and_single_on_three_brokers(&mut sessions);
    // Broker 3 goes (fenced: it leaves the replicated ISRs, stays the last member of its own).
    for id in [1, 2] {
        sessions.heard(id, SESSION_MS);
    }
    let gone = std::collections::BTreeMap::new();
    let image = apply(
        &image,
        &fence_expired(&image, &sessions, SESSION_MS + 1, 0, &gone),
    );
    let single_on_3 = |image: &MetadataImage| {
        image
            .topic("single")
            .expect("single")
            .partitions
            .values()
            .find(|p| p.replicas == vec![3])
            .cloned()
            .expect("a single-replica partition on broker 3")
    };
    assert_eq!(single_on_3(&image).isr, vec![3]);

    // It comes back with the same log directory: nothing to forget.
    let mut same_dir = request(3, None);
    same_dir.incarnation_id = Uuid::from_u128(33);
    let back = register(&image, &mut sessions, SESSION_MS + 2, same_dir).expect("register");
    assert_eq!(
        back.records.len(),
        1,
        "only the registration: {:?}",
        back.records
    );

    // It comes back with an empty directory (a new id): it leaves the last ISR it was in, and
    // that partition has no leader rather than an empty one.
    let mut new_dir = request(3, None);
    new_dir.incarnation_id = Uuid::from_u128(34);
    new_dir.log_dirs = vec![Uuid::from_u128(999)];
    let wiped = register(&image, &mut sessions, SESSION_MS + 3, new_dir).expect("register");
    let after = apply(&image, &wiped.records);
    let single = single_on_3(&after);
    assert!(single.isr.is_empty(), "ISR {:?}", single.isr);
    assert_eq!(single.leader, NO_LEADER);
    for p in after.topic("orders").expect("orders").partitions.values() {
        assert!(!p.isr.contains(&3) && p.leader != 3, "{p:?}");
        assert_eq!(p.recovering_replicas, vec![3], "{p:?}");
    }
    // Back in an ISR, a replica has recovered.
    let orders = after.topic("orders").expect("orders").clone();
    let rejoined = apply(
        &after,
        &[MetadataRecord::PartitionChange(PartitionChange {
            topic_id: orders.topic_id,
            partition_id: 0,
            isr: Some(vec![1, 2, 3]),
            ..PartitionChange::default()
        })],
    );
    assert!(
        rejoined
            .partition("orders", 0)
            .expect("p0")
            .recovering_replicas
            .is_empty()
    );
    assert_eq!(
        rejoined
            .partition("orders", 1)
            .expect("p1")
            .recovering_replicas,
        vec![3]
    );
    // Unfenced once caught up with the metadata log, it still leads nothing it lost.
    let epoch = wiped.answer;
    let beat = heartbeat(
        &after,
        &mut sessions,
        SESSION_MS + 4,
        beat(3, epoch, after.offset),
    )
    .expect("beat");
    let after = apply(&after, &beat.records);
    assert!(!after.brokers[&3].fenced);
    assert_eq!(single_on_3(&after).leader, NO_LEADER);
}

#[test]
fn a_reassignment_drops_the_old_replicas_only_once_the_new_ones_are_in_sync() {
    use vltava_cluster::controller::isr::{AlterPartition, alter_partition};
    use vltava_cluster::controller::reassignment::{Reassignment, alter_reassignments};
    let mut sessions = BrokerSessions::new(SESSION_MS);
    let mut image = cluster(4, &[], &mut sessions);
    let mut orders = topic("orders", 1, 2);
    orders.assignments = vec![vec![1, 2]];
    image = apply(&image, &create_topic(&image, orders).expect("create"));
    let topic_id = image.topic("orders").expect("orders").topic_id;
    let move_to = |target: Option<Vec<i32>>, allow: bool| Reassignment {
        topic_id,
        partition_id: 0,
        target,
        allow_replication_factor_change: allow,
    };

    let refused = alter_reassignments(&image, &[move_to(Some(vec![3]), false)]);
    assert_eq!(
        refused.answer,
        vec![Err(ControllerError::ReplicationFactorChange {
            from: 2,
            to: 1
        })]
    );
    assert!(refused.records.is_empty());

    // 1 leads; the target drops it and 2 for 3 and 4.
    let started = alter_reassignments(&image, &[move_to(Some(vec![3, 4]), false)]);
    assert_eq!(started.answer, vec![Ok(())]);
    image = apply(&image, &started.records);
    let p = image.partition("orders", 0).expect("p0").clone();
    assert_eq!(
        (
            &p.replicas,
            &p.adding_replicas,
            &p.removing_replicas,
            &p.isr
        ),
        (&vec![3, 4, 1, 2], &vec![3, 4], &vec![1, 2], &vec![1, 2])
    );
    assert_eq!(p.leader, 1);

    let epoch = image.brokers[&1].broker_epoch;
    let expand = |image: &MetadataImage, isr: Vec<i32>| {
        let p = image.partition("orders", 0).expect("p0");
        alter_partition(
            image,
            AlterPartition {
                broker_id: 1,
                broker_epoch: epoch,
                topic_id,
                partition_id: 0,
                leader_epoch: p.leader_epoch,
                partition_epoch: p.partition_epoch,
                isr,
            },
        )
        .expect("alter partition")
    };
    // One new replica in sync: still in progress.
    image = apply(&image, &expand(&image, vec![1, 2, 3]));
    assert!(image.partition("orders", 0).expect("p0").is_reassigning());
    // Both: complete, and the removed leader hands over to a target replica in the ISR.
    let before = image.partition("orders", 0).expect("p0").leader_epoch;
    image = apply(&image, &expand(&image, vec![1, 2, 3, 4]));
    let p = image.partition("orders", 0).expect("p0");
    assert!(!p.is_reassigning());
    assert_eq!(
        (&p.replicas, &p.isr, p.leader),
        (&vec![3, 4], &vec![3, 4], 3)
    );
    assert_eq!(p.leader_epoch, before + 1);

    // Nothing in progress now: a cancellation is refused.
    assert_eq!(
        alter_reassignments(&image, &[move_to(None, true)]).answer,
        vec![Err(ControllerError::NoReassignmentInProgress)]
    );
    // A move that cannot finish (broker 1 is not in sync), cancelled: back where it was.
    image = apply(
        &image,
        &alter_reassignments(&image, &[move_to(Some(vec![1, 4]), true)]).records,
    );
    assert_eq!(
        image.partition("orders", 0).expect("p0").replicas,
        vec![1, 4, 3]
    );
    image = apply(
        &image,
        &alter_reassignments(&image, &[move_to(None, true)]).records,
    );
    // The replicas from before, in the order the merged list had them (as Kafka reverts).
    let p = image.partition("orders", 0).expect("p0");
    assert_eq!((&p.replicas, p.is_reassigning()), (&vec![4, 3], false));
}
