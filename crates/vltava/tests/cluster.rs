//! Three `vltava` processes on 127.0.0.1/2/3 forming one cluster, every node a controller
//! quorum voter (Kafka's combined mode), driven by real clients: librdkafka through rdkafka,
//! the vltava command line, and raw requests where the error code itself is the point.
//!
//! Guards against: a topic served by only the node it was created through, partitions all on
//! one broker, a client that must be told every broker to reach a partition's leader, groups
//! coordinated (and offsets committed) on a broker that does not lead their
//! `__consumer_offsets` partition, a quorum that stops deciding when its leader dies, a killed
//! broker's partitions still advertised as led by it, or a restarted node that loses its data
//! or does not rejoin.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, BrokerId, ElectLeadersRequest, ListOffsetsRequest, OffsetForLeaderEpochRequest,
    ProduceRequest, RequestKind, ResponseKind, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use common::{
    BoxError, CLIENT_TIMEOUT, TestResult, cli, cli_json, consume, consumer, create_topics, produce,
    producer, read_all,
};
use vltava_testkit::{Cluster, start_cluster, start_cluster_with_observers};

/// One cluster at a time: each test runs three or four brokers, and six clusters at once on a
/// 2-core machine would test the machine's scheduler more than the cluster.
static ONE_CLUSTER_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How long a metadata change may take to reach every node, or an election to finish, before
/// a test fails (the figures in bench/RESULTS.md are far below).
const CONVERGE_WITHIN: Duration = Duration::from_secs(20);
const NOT_LEADER_OR_FOLLOWER: i16 = 6;
const ELECTION_NOT_NEEDED: i16 = 84;
const PREFERRED_LEADER_NOT_AVAILABLE: i16 = 80;

/// Partition → leader as the node at `bootstrap` answers Metadata (-1: no leader).
fn leaders(bootstrap: &str, topic: &str) -> Result<BTreeMap<i32, i32>, BoxError> {
    Ok(leaders_and_epochs(bootstrap, topic)?
        .into_iter()
        .map(|(partition, (leader, _))| (partition, leader))
        .collect())
}

/// Partition → (leader, leader epoch) as the node at `bootstrap` answers Metadata. Asked over
/// the wire: a client library may send its metadata requests to any broker it knows.
fn leaders_and_epochs(bootstrap: &str, topic: &str) -> Result<BTreeMap<i32, (i32, i32)>, BoxError> {
    let found = common::wire::topic_metadata(bootstrap, topic)?;
    if found.error_code != 0 {
        return Ok(BTreeMap::new());
    }
    Ok(found
        .partitions
        .iter()
        .map(|p| (p.partition_index, (p.leader_id.0, p.leader_epoch)))
        .collect())
}

/// `(epoch, end offset)` the leader at `bootstrap` answers OffsetForLeaderEpoch with.
fn epoch_end_offset(
    bootstrap: &str,
    topic: &str,
    partition: i32,
    epoch: i32,
) -> Result<(i32, i64), BoxError> {
    let mut stream = common::wire::connect(bootstrap, CLIENT_TIMEOUT)?;
    let request = OffsetForLeaderEpochRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![
            OffsetForLeaderTopic::default()
                .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partitions(vec![
                    OffsetForLeaderPartition::default()
                        .with_partition(partition)
                        .with_current_leader_epoch(-1)
                        .with_leader_epoch(epoch),
                ]),
        ]);
    let ResponseKind::OffsetForLeaderEpoch(response) = common::wire::exchange(
        &mut stream,
        ApiKey::OffsetForLeaderEpoch,
        4,
        1,
        &RequestKind::OffsetForLeaderEpoch(request),
    )?
    else {
        return Err("not an OffsetForLeaderEpoch response".into());
    };
    let answer = &response.topics[0].partitions[0];
    if answer.error_code != 0 {
        return Err(format!("OffsetForLeaderEpoch error {}", answer.error_code).into());
    }
    Ok((answer.leader_epoch, answer.end_offset))
}

/// Polls `check` until it returns `Some` or `CONVERGE_WITHIN` passes.
fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> Result<T, BoxError> {
    let deadline = Instant::now() + CONVERGE_WITHIN;
    loop {
        if let Some(value) = check() {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            return Err(format!("{what}: not within {CONVERGE_WITHIN:?}").into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The leaders once `bootstrap` serves every one of `partitions` partitions with a leader.
fn led_partitions(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
) -> Result<BTreeMap<i32, i32>, BoxError> {
    eventually(&format!("{topic} led on {bootstrap}"), || {
        leaders(bootstrap, topic)
            .ok()
            .filter(|l| l.len() == partitions as usize && l.values().all(|&b| b > 0))
    })
}

fn quorum_leader(bootstrap: &str) -> Result<i64, BoxError> {
    let status = cli_json(bootstrap, "cluster", &["status"])?;
    status["quorum"]["leader_id"]
        .as_i64()
        .ok_or_else(|| "no quorum leader".into())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_topic_created_through_one_node_is_spread_over_all_and_served_by_each() -> TestResult {
    let _serial = ONE_CLUSTER_AT_A_TIME.lock().await;
    let cluster = start_cluster(3, &[])?;
    let [n1, n2, n3] = [0, 1, 2].map(|i| cluster.nodes[i].bootstrap().to_string());
    create_topics(&n1, &[("orders", 6)]).await?;
    let mut seen = Vec::new();
    for node in [&n1, &n2, &n3] {
        seen.push(led_partitions(node, "orders", 6)?);
    }
    assert!(
        seen.iter().all(|l| *l == seen[0]),
        "nodes disagree: {seen:?}"
    );
    let brokers: BTreeSet<i32> = seen[0].values().copied().collect();
    assert_eq!(brokers, BTreeSet::from([1, 2, 3]), "leaders {:?}", seen[0]);

    // A client told of node 2 only finds every leader from its metadata.
    let producer = producer(&n2, &[("acks", "all")])?;
    for partition in 0..6 {
        produce(&producer, "orders", partition, 20).await?;
    }
    let read = read_all(&n3, "orders", 6)?;
    for (partition, records) in &read {
        let values: Vec<_> = records.iter().map(|r| r.value.clone()).collect();
        let expected: Vec<_> = (0..20)
            .map(|i| Some(format!("record {i}").into_bytes()))
            .collect();
        assert_eq!(values, expected, "partition {partition}");
    }
    // Each node stores the partitions placed on it, and no others.
    for (i, node) in cluster.nodes.iter().enumerate() {
        for (partition, leader) in &seen[0] {
            let dir = node.data_dir().join(format!("orders-{partition}"));
            assert_eq!(dir.exists(), *leader == i as i32 + 1, "{}", dir.display());
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_partition_led_elsewhere_is_not_leader_or_follower() -> TestResult {
    let _serial = ONE_CLUSTER_AT_A_TIME.lock().await;
    let cluster = start_cluster(3, &[])?;
    let n1 = cluster.nodes[0].bootstrap().to_string();
    create_topics(&n1, &[("placed", 3)]).await?;
    let leaders = led_partitions(&n1, "placed", 3)?;
    for node in 1..=3 {
        let mut stream =
            common::wire::connect(cluster.nodes[node - 1].bootstrap(), CLIENT_TIMEOUT)?;
        let request = ListOffsetsRequest::default()
            .with_replica_id(kafka_protocol::messages::BrokerId(-1))
            .with_topics(vec![
                ListOffsetsTopic::default()
                    .with_name(TopicName(StrBytes::from_static_str("placed")))
                    .with_partitions(
                        (0..3)
                            .map(|p| {
                                ListOffsetsPartition::default()
                                    .with_partition_index(p)
                                    .with_current_leader_epoch(-1)
                                    .with_timestamp(-1)
                            })
                            .collect(),
                    ),
            ]);
        let ResponseKind::ListOffsets(response) = common::wire::exchange(
            &mut stream,
            ApiKey::ListOffsets,
            7,
            1,
            &RequestKind::ListOffsets(request),
        )?
        else {
            return Err("not a ListOffsets response".into());
        };
        for answer in &response.topics[0].partitions {
            let leads = leaders[&answer.partition_index] == node as i32;
            let expected = if leads { 0 } else { NOT_LEADER_OR_FOLLOWER };
            assert_eq!(
                answer.error_code, expected,
                "node {node}, partition {}",
                answer.partition_index
            );
        }

        // A Produce (v11) to a partition led elsewhere names the leader and its address
        // (KIP-951), so the client needs no Metadata round trip.
        let request = ProduceRequest::default().with_acks(1).with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_static_str("placed")))
                .with_partition_data(
                    (0..3)
                        .map(|p| PartitionProduceData::default().with_index(p))
                        .collect(),
                ),
        ]);
        let ResponseKind::Produce(response) = common::wire::exchange(
            &mut stream,
            ApiKey::Produce,
            11,
            2,
            &RequestKind::Produce(request),
        )?
        else {
            return Err("not a Produce response".into());
        };
        for answer in &response.responses[0].partition_responses {
            let leader = leaders[&answer.index];
            if leader == node as i32 {
                continue;
            }
            assert_eq!(answer.error_code, NOT_LEADER_OR_FOLLOWER);
            assert_eq!(answer.current_leader.leader_id.0, leader);
            let endpoint = response
                .node_endpoints
                .iter()
                .find(|e| e.node_id.0 == leader)
                .ok_or("the leader's endpoint is missing")?;
            let address = format!("{}:{}", endpoint.host, endpoint.port);
            assert_eq!(address, cluster.nodes[leader as usize - 1].bootstrap());
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_group_commits_through_its_coordinator_wherever_it_is() -> TestResult {
    let _serial = ONE_CLUSTER_AT_A_TIME.lock().await;
    let cluster = start_cluster(3, &[])?;
    let [n1, n3] = [0, 2].map(|i| cluster.nodes[i].bootstrap().to_string());
    create_topics(&n1, &[("events", 3)]).await?;
    led_partitions(&n1, "events", 3)?;
    let producer = producer(&n1, &[])?;
    for partition in 0..3 {
        produce(&producer, "events", partition, 10).await?;
    }
    // Several groups, so that coordinators land on different brokers.
    for group in ["billing", "shipping", "audit", "search"] {
        let member = consumer(
            &n1,
            &[("group.id", group), ("auto.offset.reset", "earliest")],
        )?;
        member.subscribe(&["events"])?;
        let received = consume(&member, 30, CLIENT_TIMEOUT)?;
        assert_eq!(received.len(), 30, "{group}");
        let mut consumed = TopicPartitionList::new();
        for partition in 0..3 {
            let next = received
                .iter()
                .filter(|r| r.partition == partition)
                .map(|r| r.offset + 1)
                .max()
                .ok_or("a partition was not read")?;
            consumed.add_partition_offset("events", partition, Offset::Offset(next))?;
        }
        member.commit(&consumed, CommitMode::Sync)?;
        drop(member);

        // Asked through another node, the group's committed offsets are the ones written.
        let reader: BaseConsumer = consumer(&n3, &[("group.id", group)])?;
        let mut wanted = TopicPartitionList::new();
        for partition in 0..3 {
            wanted.add_partition("events", partition);
        }
        let committed = reader.committed_offsets(wanted, CLIENT_TIMEOUT)?;
        for element in committed.elements() {
            assert_eq!(element.offset(), Offset::Offset(10), "{group} {element:?}");
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn killing_the_active_controller_moves_the_quorum_and_admin_requests_go_on() -> TestResult {
    let _serial = ONE_CLUSTER_AT_A_TIME.lock().await;
    let mut cluster = start_cluster(3, &[])?;
    let old = quorum_leader(cluster.nodes[0].bootstrap())?;
    cluster.node(old as i32).kill9()?;
    let survivor = cluster.nodes[if old == 1 { 1 } else { 0 }]
        .bootstrap()
        .to_string();
    let started = Instant::now();
    eventually("CreateTopics after the controller died", || {
        let created = cli(
            &survivor,
            "topic",
            &["create", "after-failover", "--partitions", "4"],
        );
        created.ok().filter(|o| o.status.success())
    })?;
    eprintln!(
        "controller failover: next CreateTopics {:?} after kill -9",
        started.elapsed()
    );
    let new = quorum_leader(&survivor)?;
    assert_ne!(new, old);

    // The dead node comes back with its data and catches up on what it missed.
    cluster.node(old as i32).restart()?;
    let back = cluster.node(old as i32).bootstrap().to_string();
    let on_back = led_partitions(&back, "after-failover", 4)?;
    assert_eq!(on_back, led_partitions(&survivor, "after-failover", 4)?);
    let status = cli_json(&survivor, "cluster", &["status"])?;
    let nodes = status["nodes"].as_array().ok_or("no nodes")?;
    assert!(nodes.iter().all(|n| n["fenced"] == false), "{status}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_brokers_partitions_have_no_leader_until_it_returns_with_its_data() -> TestResult {
    let _serial = ONE_CLUSTER_AT_A_TIME.lock().await;
    let mut cluster: Cluster = start_cluster(3, &[])?;
    let n1 = cluster.nodes[0].bootstrap().to_string();
    create_topics(&n1, &[("ledger", 3)]).await?;
    let before = led_partitions(&n1, "ledger", 3)?;
    let first_epochs = leaders_and_epochs(&n1, "ledger")?;
    let producer = producer(&n1, &[("acks", "all")])?;
    for partition in 0..3 {
        produce(&producer, "ledger", partition, 10).await?;
    }
    let victim = 3;
    let victims: Vec<i32> = before
        .iter()
        .filter(|(_, leader)| **leader == victim)
        .map(|(partition, _)| *partition)
        .collect();
    assert!(
        !victims.is_empty(),
        "node {victim} leads nothing: {before:?}"
    );
    cluster.node(victim).kill9()?;

    // With one replica a partition is unavailable while its broker is down (Cluster II
    // replicates it); the others stay led where they were.
    eventually("the killed broker's partitions lose their leader", || {
        leaders(&n1, "ledger").ok().filter(|now| {
            now.iter().all(|(p, leader)| {
                if victims.contains(p) {
                    *leader == -1
                } else {
                    *leader == before[p]
                }
            })
        })
    })?;

    // Nothing can lead them meanwhile: a preferred election is refused as Kafka refuses it.
    let mut stream = common::wire::connect(&n1, CLIENT_TIMEOUT)?;
    let request = ElectLeadersRequest::default()
        .with_election_type(0)
        .with_timeout_ms(5_000)
        .with_topic_partitions(Some(vec![
            TopicPartitions::default()
                .with_topic(TopicName(StrBytes::from_static_str("ledger")))
                .with_partitions((0..3).collect()),
        ]));
    let ResponseKind::ElectLeaders(response) = common::wire::exchange(
        &mut stream,
        ApiKey::ElectLeaders,
        2,
        1,
        &RequestKind::ElectLeaders(request),
    )?
    else {
        return Err("not an ElectLeaders response".into());
    };
    for result in &response.replica_election_results[0].partition_result {
        let expected = if victims.contains(&result.partition_id) {
            PREFERRED_LEADER_NOT_AVAILABLE
        } else {
            ELECTION_NOT_NEEDED
        };
        assert_eq!(result.error_code, expected, "{result:?}");
    }

    cluster.node(victim).restart()?;
    let after = led_partitions(&n1, "ledger", 3)?;
    assert_eq!(after, before);
    // The returned broker serves its partitions once it has applied the image that gives them
    // back (the other brokers may see that image a moment earlier).
    let back = cluster.node(victim).bootstrap().to_string();
    assert_eq!(led_partitions(&back, "ledger", 3)?, before);
    let read = read_all(&n1, "ledger", 3)?;
    assert!(read.values().all(|records| records.len() == 10), "{read:?}");

    // The returned leader leads in a new epoch; OffsetForLeaderEpoch (KIP-101/KIP-320) tells a
    // consumer that read the first epoch where it ended, and the new one ends at the log end.
    let now = leaders_and_epochs(&back, "ledger")?;
    for &partition in &victims {
        produce(&producer, "ledger", partition, 5).await?;
        let (_, first_epoch) = first_epochs[&partition];
        let (_, epoch) = now[&partition];
        assert!(epoch > first_epoch, "{first_epochs:?} -> {now:?}");
        assert_eq!(
            epoch_end_offset(&back, "ledger", partition, first_epoch)?,
            (first_epoch, 10)
        );
        assert_eq!(
            epoch_end_offset(&back, "ledger", partition, epoch)?,
            (epoch, 15)
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broker_that_is_not_a_voter_observes_the_metadata_log_and_leads_partitions() -> TestResult
{
    let _serial = ONE_CLUSTER_AT_A_TIME.lock().await;
    let cluster = start_cluster_with_observers(3, 1, &[])?;
    let observer = cluster.nodes[3].bootstrap().to_string();
    // Created through the observer: it forwards to the active controller like any broker.
    create_topics(&observer, &[("observed", 8)]).await?;
    let leaders = led_partitions(&observer, "observed", 8)?;
    let brokers: BTreeSet<i32> = leaders.values().copied().collect();
    assert_eq!(brokers, BTreeSet::from([1, 2, 3, 4]), "{leaders:?}");
    let producer = producer(cluster.nodes[0].bootstrap(), &[("acks", "all")])?;
    for partition in 0..8 {
        produce(&producer, "observed", partition, 5).await?;
    }
    let read = read_all(&observer, "observed", 8)?;
    assert!(read.values().all(|records| records.len() == 5), "{read:?}");

    let status = cli_json(&observer, "cluster", &["status"])?;
    let ids = |list: &serde_json::Value| -> Vec<i64> {
        list.as_array()
            .map(|l| l.iter().filter_map(|v| v["id"].as_i64()).collect())
            .unwrap_or_default()
    };
    assert_eq!(ids(&status["quorum"]["voters"]), vec![1, 2, 3], "{status}");
    assert_eq!(ids(&status["quorum"]["observers"]), vec![4], "{status}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_topic_assigned_by_hand_is_led_where_the_client_said() -> TestResult {
    let _serial = ONE_CLUSTER_AT_A_TIME.lock().await;
    let cluster = start_cluster(3, &[])?;
    let n1 = cluster.nodes[0].bootstrap().to_string();
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", &n1).create()?;
    let assignment: &[&[i32]] = &[&[3], &[2], &[3]];
    let topic = NewTopic::new("by-hand", 3, TopicReplication::Variable(assignment));
    let options = AdminOptions::new().operation_timeout(Some(CLIENT_TIMEOUT));
    for result in admin.create_topics([&topic], &options).await? {
        result.map_err(|(name, code)| format!("creating {name}: {code:?}"))?;
    }
    let expected = BTreeMap::from([(0, 3), (1, 2), (2, 3)]);
    for node in &cluster.nodes {
        assert_eq!(led_partitions(node.bootstrap(), "by-hand", 3)?, expected);
    }
    // A broker the cluster does not know is refused as Kafka refuses it.
    let nowhere: &[&[i32]] = &[&[7]];
    let topic = NewTopic::new("nowhere", 1, TopicReplication::Variable(nowhere));
    let results = admin.create_topics([&topic], &options).await?;
    assert!(
        matches!(
            results.as_slice(),
            [Err((_, RDKafkaErrorCode::InvalidReplicaAssignment))]
        ),
        "{results:?}"
    );
    Ok(())
}
