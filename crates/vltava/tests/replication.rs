//! Replicated partitions on three `vltava` processes (127.0.0.1/2/3, each a broker and a
//! controller quorum voter), driven by librdkafka: followers copy their leaders, acks=all is
//! answered once the in-sync replicas hold a batch durably, a killed leader's acknowledged
//! records are all on its successor, and the ISR follows the replicas that keep up.
//!
//! Guards against: followers that do not copy (records gone with the leader), a high watermark
//! that counts a follower before it has the data, duplicates from an idempotent producer's
//! retries across a failover, an ISR that never shrinks (acks=all stuck) or never expands
//! again, and acks=all taken while fewer than min.insync.replicas replicas are in sync.

mod common;

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::Consumer;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};

use common::{BoxError, CLIENT_TIMEOUT, TestResult, consume, consumer, producer};
use vltava_testkit::{Cluster, start_cluster};

/// One cluster at a time (2-core machines).
static ONE_CLUSTER_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How long an election or an ISR change may take before a test fails.
const CONVERGE_WITHIN: Duration = Duration::from_secs(30);
/// Short, so that a killed follower leaves the ISR within the test's patience.
const LAG_ARGS: &[&str] = &["--replica-lag-time-max-ms", "2000"];

fn admin(bootstrap: &str) -> Result<AdminClient<DefaultClientContext>, BoxError> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?)
}

async fn create_replicated(
    bootstrap: &str,
    topic: &str,
    replicas: i32,
    min_insync: &str,
) -> TestResult {
    create_placed(
        bootstrap,
        topic,
        TopicReplication::Fixed(replicas),
        min_insync,
    )
    .await
}

/// One partition, placed as `replication` says.
async fn create_placed(
    bootstrap: &str,
    topic: &str,
    replication: TopicReplication<'_>,
    min_insync: &str,
) -> TestResult {
    let admin = admin(bootstrap)?;
    let new_topic = NewTopic::new(topic, 1, replication).set("min.insync.replicas", min_insync);
    let options = AdminOptions::new().operation_timeout(Some(CLIENT_TIMEOUT));
    for result in admin.create_topics([&new_topic], &options).await? {
        if let Err((topic, code)) = result {
            return Err(format!("creating {topic}: {code:?}").into());
        }
    }
    Ok(())
}

/// (leader, replicas, ISR) of partition 0 as the node at `bootstrap` itself answers Metadata.
fn partition_state(bootstrap: &str, topic: &str) -> Result<(i32, Vec<i32>, Vec<i32>), BoxError> {
    let found = common::wire::topic_metadata(bootstrap, topic)?;
    let partition = found
        .partitions
        .iter()
        .find(|p| p.partition_index == 0)
        .ok_or("no partition 0 in metadata")?;
    let ids =
        |brokers: &[kafka_protocol::messages::BrokerId]| brokers.iter().map(|b| b.0).collect();
    let mut isr: Vec<i32> = ids(&partition.isr_nodes);
    isr.sort_unstable();
    Ok((partition.leader_id.0, ids(&partition.replica_nodes), isr))
}

fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> Result<T, BoxError> {
    let deadline = Instant::now() + CONVERGE_WITHIN;
    loop {
        if let Some(value) = check() {
            return Ok(value);
        }
        if Instant::now() > deadline {
            return Err(format!("not within {CONVERGE_WITHIN:?}: {what}").into());
        }
        // Polling interval: metadata changes have no event a client can await.
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Sends `values` in order with acks=all, each acknowledged (the producer retries through a
/// failover).
async fn send_all(producer: &FutureProducer, topic: &str, values: &[String]) -> TestResult {
    let sends: Vec<_> = values
        .iter()
        .map(|value| {
            producer.send(
                FutureRecord::<[u8], [u8]>::to(topic)
                    .partition(0)
                    .payload(value.as_bytes()),
                CLIENT_TIMEOUT,
            )
        })
        .collect();
    for (send, value) in futures_util::future::join_all(sends)
        .await
        .into_iter()
        .zip(values)
    {
        if let Err((error, _)) = send {
            return Err(format!("{value}: {error}").into());
        }
    }
    Ok(())
}

/// Every record of partition 0 from offset 0, as read from `bootstrap`.
fn read_values(bootstrap: &str, topic: &str, expected: usize) -> Result<Vec<String>, BoxError> {
    let consumer = consumer(bootstrap, &[])?;
    let mut assignment = rdkafka::TopicPartitionList::new();
    assignment.add_partition_offset(topic, 0, rdkafka::Offset::Beginning)?;
    consumer.assign(&assignment)?;
    let (_, high) = consumer.fetch_watermarks(topic, 0, CLIENT_TIMEOUT)?;
    let records = consume(&consumer, usize::try_from(high)?, Duration::from_secs(60))?;
    let values: Vec<String> = records
        .into_iter()
        .map(|r| String::from_utf8_lossy(&r.value.unwrap_or_default()).into_owned())
        .collect();
    if values.len() != expected {
        return Err(format!("{} records, expected {expected}: {values:?}", values.len()).into());
    }
    Ok(values)
}

fn numbered(from: usize, to: usize) -> Vec<String> {
    (from..to).map(|i| format!("event {i}")).collect()
}

fn live_node(cluster: &mut Cluster, except: &[i32]) -> String {
    let id = (1..=3).find(|id| !except.contains(id)).unwrap_or(1);
    cluster.node(id).bootstrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_writes_survive_the_leaders_kill_9_and_every_replica_holds_them() -> TestResult
{
    let _serial = ONE_CLUSTER_AT_A_TIME.lock().await;
    let mut cluster = start_cluster(3, LAG_ARGS)?;
    let n1 = cluster.nodes[0].bootstrap().to_string();
    create_replicated(&n1, "orders", 3, "2").await?;
    let (first_leader, replicas, _) = eventually("the ISR holds all three replicas", || {
        partition_state(&n1, "orders")
            .ok()
            .filter(|s| s.2 == vec![1, 2, 3])
    })?;
    assert_eq!(replicas.len(), 3);

    let producer = producer(&n1, &[("acks", "all"), ("enable.idempotence", "true")])?;
    send_all(&producer, "orders", &numbered(0, 300)).await?;
    cluster.node(first_leader).kill9()?;
    let survivor = live_node(&mut cluster, &[first_leader]);
    let (second_leader, _, _) = eventually("a new leader from the ISR", || {
        partition_state(&survivor, "orders")
            .ok()
            .filter(|s| s.0 >= 0 && s.0 != first_leader)
    })?;
    send_all(&producer, "orders", &numbered(300, 400)).await?;
    assert_eq!(
        read_values(&survivor, "orders", 400)?,
        numbered(0, 400),
        "every acknowledged record once, in order, on the new leader"
    );

    // The killed replica returns, catches up and joins the ISR again; then it is the only
    // copy besides one other when the second leader dies too: it must hold everything.
    cluster.node(first_leader).restart()?;
    eventually("the restarted replica rejoins the ISR", || {
        partition_state(&survivor, "orders")
            .ok()
            .filter(|s| s.2 == vec![1, 2, 3])
    })?;
    cluster.node(second_leader).kill9()?;
    let last = live_node(&mut cluster, &[second_leader]);
    eventually("a third leader", || {
        partition_state(&last, "orders")
            .ok()
            .filter(|s| s.0 >= 0 && s.0 != second_leader)
    })?;
    assert_eq!(read_values(&last, "orders", 400)?, numbered(0, 400));
    cluster.node(second_leader).restart()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn acks_all_is_refused_while_the_isr_is_below_min_insync_replicas() -> TestResult {
    let _serial = ONE_CLUSTER_AT_A_TIME.lock().await;
    let mut cluster = start_cluster(3, LAG_ARGS)?;
    let n1 = cluster.nodes[0].bootstrap().to_string();
    create_replicated(&n1, "payments", 2, "2").await?;
    let (leader, replicas, _) = eventually("both replicas in sync", || {
        partition_state(&n1, "payments")
            .ok()
            .filter(|s| s.2.len() == 2)
    })?;
    let follower = *replicas
        .iter()
        .find(|&&b| b != leader)
        .ok_or("no follower")?;
    let strict = producer(&n1, &[("acks", "all"), ("message.timeout.ms", "3000")])?;
    send_all(&strict, "payments", &numbered(0, 10)).await?;

    cluster.node(follower).kill9()?;
    // As the leader itself serves it: the leader refuses acks=all once it has the change.
    let at_leader = cluster.node(leader).bootstrap().to_string();
    eventually("the ISR shrinks to the leader", || {
        partition_state(&at_leader, "payments")
            .ok()
            .filter(|s| s.2 == vec![leader])
    })?;
    let refused = strict
        .send(
            FutureRecord::<[u8], [u8]>::to("payments")
                .partition(0)
                .payload(b"refused"),
            CLIENT_TIMEOUT,
        )
        .await;
    match refused {
        Err((KafkaError::MessageProduction(code), _)) => assert!(
            matches!(
                code,
                RDKafkaErrorCode::NotEnoughReplicas | RDKafkaErrorCode::MessageTimedOut
            ),
            "{code:?}"
        ),
        other => return Err(format!("acks=all below min ISR: {other:?}").into()),
    }
    let lenient = producer(&n1, &[("acks", "1")])?;
    send_all(&lenient, "payments", &numbered(10, 11)).await?;

    cluster.node(follower).restart()?;
    eventually("the follower rejoins the ISR", || {
        partition_state(&n1, "payments")
            .ok()
            .filter(|s| s.2.len() == 2)
    })?;
    send_all(&strict, "payments", &numbered(11, 12)).await?;
    let values = read_values(&n1, "payments", 12)?;
    assert_eq!(values, numbered(0, 12));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn committed_offsets_survive_the_coordinators_kill_9() -> TestResult {
    let _serial = ONE_CLUSTER_AT_A_TIME.lock().await;
    let mut cluster = start_cluster(3, LAG_ARGS)?;
    let n1 = cluster.nodes[0].bootstrap().to_string();
    create_replicated(&n1, "inventory", 3, "2").await?;
    let group = "stock-keepers";
    let committer = consumer(&n1, &[("group.id", group)])?;
    let mut offsets = rdkafka::TopicPartitionList::new();
    offsets.add_partition_offset("inventory", 0, rdkafka::Offset::Offset(7))?;
    committer.commit(&offsets, rdkafka::consumer::CommitMode::Sync)?;
    drop(committer);
    let coordinator = common::wire::coordinator_of(&n1, group, CLIENT_TIMEOUT)?;

    cluster.node(coordinator).kill9()?;
    let survivor = live_node(&mut cluster, &[coordinator]);
    let moved = eventually("another broker coordinates the group", || {
        common::wire::coordinator_of(&survivor, group, CLIENT_TIMEOUT)
            .ok()
            .filter(|&c| c != coordinator)
    })?;
    let reader = consumer(&survivor, &[("group.id", group)])?;
    let mut wanted = rdkafka::TopicPartitionList::new();
    wanted.add_partition("inventory", 0);
    let committed = eventually("the new coordinator answers the committed offset", || {
        reader
            .committed_offsets(wanted.clone(), CLIENT_TIMEOUT)
            .ok()
            .and_then(|tpl| tpl.find_partition("inventory", 0).map(|p| p.offset()))
            .filter(|offset| *offset != rdkafka::Offset::Invalid)
    })?;
    assert_eq!(committed, rdkafka::Offset::Offset(7), "coordinator {moved}");
    cluster.node(coordinator).restart()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rolling_restart_under_load_loses_and_duplicates_nothing() -> TestResult {
    let _serial = ONE_CLUSTER_AT_A_TIME.lock().await;
    let mut cluster = start_cluster(3, LAG_ARGS)?;
    let n1 = cluster.nodes[0].bootstrap().to_string();
    create_replicated(&n1, "ledger", 3, "2").await?;
    eventually("all three replicas in sync", || {
        partition_state(&n1, "ledger")
            .ok()
            .filter(|s| s.2 == vec![1, 2, 3])
    })?;
    let producer = producer(
        &cluster.bootstrap(),
        &[("acks", "all"), ("enable.idempotence", "true")],
    )?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let load = tokio::spawn(async move {
        let mut sent = 0usize;
        // Bounded: the test stops it after the restarts, and every send has a timeout.
        while !*stopped.borrow() {
            // As text: the task's result must be Send.
            send_all(&producer, "ledger", &numbered(sent, sent + 10))
                .await
                .map_err(|e| e.to_string())?;
            sent += 10;
        }
        Ok::<usize, String>(sent)
    });

    for node in 1..=3 {
        cluster.node(node).terminate()?;
        cluster.node(node).restart()?;
        let back = cluster.node(node).bootstrap().to_string();
        eventually("the restarted node is in sync again", || {
            partition_state(&back, "ledger")
                .ok()
                .filter(|s| s.2 == vec![1, 2, 3])
        })?;
    }
    stop.send_replace(true);
    let sent = load.await??;
    assert!(sent > 0);
    let reader = cluster.node(1).bootstrap().to_string();
    assert_eq!(read_values(&reader, "ledger", sent)?, numbered(0, sent));
    Ok(())
}

/// ElectLeaders v2 for partition 0 of `topic` through `bootstrap`: the partition's error code.
const PREFERRED: i8 = 0;
const UNCLEAN: i8 = 1;

fn elect_preferred(bootstrap: &str, topic: &str) -> Result<i16, BoxError> {
    elect(bootstrap, topic, PREFERRED)
}

/// ElectLeaders for partition 0 of `topic`; its error code.
fn elect(bootstrap: &str, topic: &str, election_type: i8) -> Result<i16, BoxError> {
    use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
    use kafka_protocol::messages::{
        ApiKey, ElectLeadersRequest, RequestKind, ResponseKind, TopicName,
    };
    use kafka_protocol::protocol::StrBytes;
    let mut stream = common::wire::connect(bootstrap, CLIENT_TIMEOUT)?;
    let request = ElectLeadersRequest::default()
        .with_election_type(election_type)
        .with_timeout_ms(10_000)
        .with_topic_partitions(Some(vec![
            TopicPartitions::default()
                .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partitions(vec![0]),
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
    let result = response
        .replica_election_results
        .first()
        .and_then(|t| t.partition_result.first())
        .ok_or("no partition result")?;
    Ok(result.error_code)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_preferred_election_gives_the_lead_back_to_the_first_replica() -> TestResult {
    const ELECTION_NOT_NEEDED: i16 = 84;
    let _serial = ONE_CLUSTER_AT_A_TIME.lock().await;
    let mut cluster = start_cluster(3, LAG_ARGS)?;
    let n1 = cluster.nodes[0].bootstrap().to_string();
    let created = common::cli(
        &n1,
        "topic",
        &[
            "create",
            "routes",
            "--partitions",
            "1",
            "--replication-factor",
            "3",
            "--config",
            "min.insync.replicas=2",
        ],
    )?;
    assert!(created.status.success(), "{created:?}");
    let (preferred, replicas, _) = eventually("all three replicas in sync", || {
        partition_state(&n1, "routes")
            .ok()
            .filter(|s| s.2 == vec![1, 2, 3])
    })?;
    assert_eq!(replicas.first(), Some(&preferred));
    assert_eq!(elect_preferred(&n1, "routes")?, ELECTION_NOT_NEEDED);

    cluster.node(preferred).kill9()?;
    let survivor = live_node(&mut cluster, &[preferred]);
    eventually("another replica leads", || {
        partition_state(&survivor, "routes")
            .ok()
            .filter(|s| s.0 >= 0 && s.0 != preferred)
    })?;
    cluster.node(preferred).restart()?;
    eventually("the first replica is in sync again", || {
        partition_state(&survivor, "routes")
            .ok()
            .filter(|s| s.2 == vec![1, 2, 3])
    })?;

    assert_eq!(elect_preferred(&survivor, "routes")?, 0);
    let (leader, _, _) = partition_state(&survivor, "routes")?;
    assert_eq!(
        leader, preferred,
        "the answer comes once the new leader is served"
    );
    let producer = producer(&survivor, &[("acks", "all")])?;
    send_all(&producer, "routes", &numbered(0, 5)).await?;
    assert_eq!(read_values(&survivor, "routes", 5)?, numbered(0, 5));
    Ok(())
}

/// Broker ids the node at `bootstrap` serves as live, and (leader, ISR) of `topic`'s partition 0.
fn brokers_and_partition(
    bootstrap: &str,
    topic: &str,
) -> Result<(Vec<i32>, i32, Vec<i32>), BoxError> {
    let metadata = common::wire::metadata(bootstrap, topic)?;
    let brokers = metadata.brokers.iter().map(|b| b.node_id.0).collect();
    let (leader, _, isr) = partition_state(bootstrap, topic)?;
    Ok((brokers, leader, isr))
}

/// The case an empty data directory is dangerous in: the replica that lost its disk was the
/// last one in the ISR. It must not come back as the leader of an empty log (the other
/// replica would then truncate to it and every acknowledged record would be gone): the
/// partition stays without a leader until an unclean election picks the replica that has the
/// data, and the wiped one catches up from it before it is in sync again.
#[tokio::test(flavor = "multi_thread")]
async fn a_replica_back_with_an_empty_disk_is_never_elected_before_it_has_caught_up() -> TestResult
{
    let _serial = ONE_CLUSTER_AT_A_TIME.lock().await;
    // Three voters keep the quorum while broker 1 is down; broker 4 holds the data.
    let mut cluster = vltava_testkit::start_cluster_with_observers(3, 1, LAG_ARGS)?;
    let n2 = cluster.nodes[1].bootstrap().to_string();
    create_placed(&n2, "ledger", TopicReplication::Variable(&[&[4, 1]]), "1").await?;
    eventually("both replicas in sync", || {
        partition_state(&n2, "ledger")
            .ok()
            .filter(|s| s.0 == 4 && s.2 == vec![1, 4])
    })?;
    let producer = producer(&n2, &[("acks", "all"), ("enable.idempotence", "true")])?;
    send_all(&producer, "ledger", &numbered(0, 200)).await?;

    // Broker 1 dies: broker 4 is the ISR's last member. Then broker 4 loses its disk.
    cluster.node(1).kill9()?;
    eventually("broker 1 out of the ISR", || {
        partition_state(&n2, "ledger")
            .ok()
            .filter(|s| s.2 == vec![4])
    })?;
    cluster.node(4).kill9()?;
    std::fs::remove_dir_all(cluster.node(4).data_dir())?;
    cluster.node(4).restart()?;
    let (_, leader, _) = eventually("broker 4 back and out of the ISR", || {
        brokers_and_partition(&n2, "ledger")
            .ok()
            .filter(|(brokers, _, isr)| brokers.contains(&4) && isr.is_empty())
    })?;
    assert_eq!(leader, -1, "the empty replica must not lead");

    // Broker 1, which has the data, returns; it was not in the ISR, so only an unclean
    // election (the operator's decision) makes it the leader.
    cluster.node(1).restart()?;
    eventually("broker 1 back", || {
        brokers_and_partition(&n2, "ledger")
            .ok()
            .filter(|(brokers, _, _)| brokers.contains(&1))
    })?;
    assert_eq!(partition_state(&n2, "ledger")?.0, -1);
    assert_eq!(elect(&n2, "ledger", UNCLEAN)?, 0);
    assert_eq!(partition_state(&n2, "ledger")?.0, 1);
    assert_eq!(
        read_values(&n2, "ledger", 200)?,
        numbered(0, 200),
        "every acknowledged record, from the replica that kept them"
    );

    // The wiped replica copies them back and is in sync again.
    eventually("broker 4 caught up and in the ISR", || {
        partition_state(&n2, "ledger")
            .ok()
            .filter(|s| s.2 == vec![1, 4])
    })?;
    send_all(&producer, "ledger", &numbered(200, 250)).await?;
    assert_eq!(read_values(&n2, "ledger", 250)?, numbered(0, 250));
    Ok(())
}

/// AlterPartitionReassignments for partition 0 of `topic` (`None` cancels): the partition's
/// error code.
fn reassign(bootstrap: &str, topic: &str, target: Option<&[i32]>) -> Result<i16, BoxError> {
    use kafka_protocol::messages::alter_partition_reassignments_request::{
        ReassignablePartition, ReassignableTopic,
    };
    use kafka_protocol::messages::{
        AlterPartitionReassignmentsRequest, ApiKey, BrokerId, RequestKind, ResponseKind, TopicName,
    };
    use kafka_protocol::protocol::StrBytes;
    let mut stream = common::wire::connect(bootstrap, CLIENT_TIMEOUT)?;
    let request = AlterPartitionReassignmentsRequest::default()
        .with_timeout_ms(10_000)
        .with_allow_replication_factor_change(true)
        .with_topics(vec![
            ReassignableTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partitions(vec![
                    ReassignablePartition::default()
                        .with_partition_index(0)
                        .with_replicas(target.map(|t| t.iter().map(|&b| BrokerId(b)).collect())),
                ]),
        ]);
    let ResponseKind::AlterPartitionReassignments(response) = common::wire::exchange(
        &mut stream,
        ApiKey::AlterPartitionReassignments,
        1,
        1,
        &RequestKind::AlterPartitionReassignments(request),
    )?
    else {
        return Err("not an AlterPartitionReassignments response".into());
    };
    if response.error_code != 0 {
        return Ok(response.error_code);
    }
    let partition = response
        .responses
        .first()
        .and_then(|t| t.partitions.first())
        .ok_or("no partition result")?;
    Ok(partition.error_code)
}

/// ListPartitionReassignments for every topic: (partition, replicas, adding, removing).
#[allow(clippy::type_complexity)]
fn reassignments(bootstrap: &str) -> Result<Vec<(i32, Vec<i32>, Vec<i32>, Vec<i32>)>, BoxError> {
    use kafka_protocol::messages::{
        ApiKey, ListPartitionReassignmentsRequest, RequestKind, ResponseKind,
    };
    let mut stream = common::wire::connect(bootstrap, CLIENT_TIMEOUT)?;
    let request = ListPartitionReassignmentsRequest::default().with_timeout_ms(10_000);
    let ResponseKind::ListPartitionReassignments(response) = common::wire::exchange(
        &mut stream,
        ApiKey::ListPartitionReassignments,
        0,
        1,
        &RequestKind::ListPartitionReassignments(request),
    )?
    else {
        return Err("not a ListPartitionReassignments response".into());
    };
    let ids =
        |brokers: &[kafka_protocol::messages::BrokerId]| brokers.iter().map(|b| b.0).collect();
    Ok(response
        .topics
        .iter()
        .flat_map(|t| &t.partitions)
        .map(|p| {
            (
                p.partition_index,
                ids(&p.replicas),
                ids(&p.adding_replicas),
                ids(&p.removing_replicas),
            )
        })
        .collect())
}

/// A partition moved to two other brokers while a producer writes to it: the new replicas
/// copy the log and join the ISR before the old ones are dropped (their directories removed),
/// and every acknowledged record is on the new replicas.
#[tokio::test(flavor = "multi_thread")]
async fn a_reassigned_partition_moves_its_data_before_the_old_replicas_go() -> TestResult {
    const INVALID_REPLICA_ASSIGNMENT: i16 = 39;
    const NO_REASSIGNMENT_IN_PROGRESS: i16 = 85;
    let _serial = ONE_CLUSTER_AT_A_TIME.lock().await;
    let mut cluster = vltava_testkit::start_cluster_with_observers(3, 1, LAG_ARGS)?;
    let n1 = cluster.nodes[0].bootstrap().to_string();
    create_placed(&n1, "moving", TopicReplication::Variable(&[&[1, 2]]), "2").await?;
    eventually("both replicas in sync", || {
        partition_state(&n1, "moving")
            .ok()
            .filter(|s| s.2 == vec![1, 2])
    })?;
    let producer = producer(&n1, &[("acks", "all"), ("enable.idempotence", "true")])?;
    send_all(&producer, "moving", &numbered(0, 300)).await?;

    assert_eq!(
        reassign(&n1, "moving", Some(&[3, 3]))?,
        INVALID_REPLICA_ASSIGNMENT
    );
    assert_eq!(
        reassign(&n1, "moving", Some(&[3, 9]))?,
        INVALID_REPLICA_ASSIGNMENT
    );
    assert_eq!(reassign(&n1, "moving", None)?, NO_REASSIGNMENT_IN_PROGRESS);

    // A reassignment to a broker that is down stays in progress, listed, until cancelled.
    cluster.node(4).kill9()?;
    assert_eq!(reassign(&n1, "moving", Some(&[1, 4]))?, 0);
    assert_eq!(
        reassignments(&n1)?,
        vec![(0, vec![1, 4, 2], vec![4], vec![2])],
        "(partition, replicas, adding, removing)"
    );
    assert_eq!(reassign(&n1, "moving", None)?, 0);
    assert_eq!(reassignments(&n1)?, vec![]);
    assert_eq!(partition_state(&n1, "moving")?.1, vec![1, 2]);
    cluster.node(4).restart()?;

    assert_eq!(reassign(&n1, "moving", Some(&[3, 4]))?, 0);
    // Writes go on while it moves: acks=all counts the ISR, which the new replicas join.
    send_all(&producer, "moving", &numbered(300, 400)).await?;
    let (leader, _, _) = eventually("the partition on brokers 3 and 4 only", || {
        partition_state(&n1, "moving")
            .ok()
            .filter(|(_, replicas, isr)| *replicas == vec![3, 4] && *isr == vec![3, 4])
    })?;
    assert!([3, 4].contains(&leader), "led by {leader}");
    for old in [1, 2] {
        let dir = cluster.node(old).data_dir().join("moving-0");
        eventually("the old replica's directory removed", || {
            (!dir.exists()).then_some(())
        })?;
    }
    send_all(&producer, "moving", &numbered(400, 450)).await?;
    // Brokers 1 and 2 no longer hold it: stop them, and the new replicas serve everything.
    cluster.node(2).kill9()?;
    let n3 = cluster.node(3).bootstrap().to_string();
    assert_eq!(read_values(&n3, "moving", 450)?, numbered(0, 450));
    Ok(())
}

/// auto.leader.rebalance.enable (on by default): once the first replica is back in sync, the
/// controller gives it the lead again by itself, at the next imbalance check.
#[tokio::test(flavor = "multi_thread")]
async fn the_controller_gives_the_lead_back_to_the_preferred_replica_by_itself() -> TestResult {
    let _serial = ONE_CLUSTER_AT_A_TIME.lock().await;
    let args = [
        LAG_ARGS,
        &["--leader-imbalance-check-interval-seconds", "1"],
    ]
    .concat();
    let mut cluster = start_cluster(3, &args)?;
    let n1 = cluster.nodes[0].bootstrap().to_string();
    create_replicated(&n1, "balanced", 3, "2").await?;
    let (preferred, replicas, _) = eventually("all three replicas in sync", || {
        partition_state(&n1, "balanced")
            .ok()
            .filter(|s| s.2 == vec![1, 2, 3])
    })?;
    assert_eq!(replicas.first(), Some(&preferred));

    cluster.node(preferred).kill9()?;
    let survivor = live_node(&mut cluster, &[preferred]);
    eventually("another replica leads", || {
        partition_state(&survivor, "balanced")
            .ok()
            .filter(|s| s.0 >= 0 && s.0 != preferred)
    })?;
    cluster.node(preferred).restart()?;
    eventually(
        "the preferred replica leads again, with no election asked for",
        || {
            partition_state(&survivor, "balanced")
                .ok()
                .filter(|s| s.0 == preferred && s.2 == vec![1, 2, 3])
        },
    )?;
    let producer = producer(&survivor, &[("acks", "all")])?;
    send_all(&producer, "balanced", &numbered(0, 5)).await?;
    assert_eq!(read_values(&survivor, "balanced", 5)?, numbered(0, 5));
    Ok(())
}

/// Partition 0 of `topic` as a consumer in `rack` fetches it from offset 0 at the node at
/// `bootstrap` (Fetch v12, by name): (preferred read replica, high watermark, record bytes).
fn fetch_as_consumer_in(
    bootstrap: &str,
    topic: &str,
    rack: &str,
) -> Result<(i32, i64, usize), BoxError> {
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    use kafka_protocol::messages::{ApiKey, FetchRequest, RequestKind, ResponseKind, TopicName};
    use kafka_protocol::protocol::StrBytes;
    let mut stream = common::wire::connect(bootstrap, CLIENT_TIMEOUT)?;
    let request = FetchRequest::default()
        .with_replica_id(kafka_protocol::messages::BrokerId(-1))
        .with_max_wait_ms(0)
        .with_max_bytes(1 << 20)
        .with_rack_id(StrBytes::from_string(rack.to_string()))
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(0)
                        .with_fetch_offset(0)
                        .with_partition_max_bytes(1 << 20),
                ]),
        ]);
    let ResponseKind::Fetch(response) = common::wire::exchange(
        &mut stream,
        ApiKey::Fetch,
        12,
        1,
        &RequestKind::Fetch(request),
    )?
    else {
        return Err("not a Fetch response".into());
    };
    let partition = response
        .responses
        .first()
        .and_then(|t| t.partitions.first())
        .ok_or("no partition in the Fetch response")?;
    if partition.error_code != 0 {
        return Err(format!("Fetch: error {}", partition.error_code).into());
    }
    let bytes = partition.records.as_ref().map_or(0, |r| r.len());
    Ok((
        partition.preferred_read_replica.0,
        partition.high_watermark,
        bytes,
    ))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_consumer_reads_from_the_replica_in_its_rack() -> TestResult {
    let _serial = ONE_CLUSTER_AT_A_TIME.lock().await;
    let args = [
        "--rack",
        "rack-{node}",
        "--replica-selector-class",
        "org.apache.kafka.common.replica.RackAwareReplicaSelector",
    ];
    let cluster = start_cluster(3, &args)?;
    let n1 = cluster.nodes[0].bootstrap().to_string();
    create_replicated(&n1, "nearby", 3, "2").await?;
    let (leader, _, _) = eventually("all three replicas in sync", || {
        partition_state(&n1, "nearby")
            .ok()
            .filter(|s| s.2 == vec![1, 2, 3])
    })?;
    let producer = producer(&n1, &[("acks", "all")])?;
    send_all(&producer, "nearby", &numbered(0, 20)).await?;
    let follower = (1..=3).find(|&id| id != leader).unwrap_or(1);
    let address = |id: i32| cluster.nodes[usize::try_from(id - 1).unwrap_or(0)].bootstrap();

    // The leader sends a consumer from the follower's rack there, once the follower holds
    // what it asks for (it fetches again right after the acks=all writes).
    let (preferred, high_watermark, bytes) = eventually("the leader names the follower", || {
        fetch_as_consumer_in(address(leader), "nearby", &format!("rack-{follower}"))
            .ok()
            .filter(|f| f.0 == follower)
    })?;
    assert_eq!((preferred, high_watermark, bytes), (follower, 20, 0));
    // The follower serves it, up to the high watermark it learnt from the leader.
    let (preferred, _, bytes) = eventually("the follower serves the records", || {
        fetch_as_consumer_in(address(follower), "nearby", &format!("rack-{follower}"))
            .ok()
            .filter(|f| f.2 > 0)
    })?;
    assert_eq!(preferred, -1);
    assert!(bytes > 0);
    // A consumer in the leader's rack, or in none, reads from the leader.
    for rack in [
        format!("rack-{leader}"),
        String::new(),
        "elsewhere".to_string(),
    ] {
        let (preferred, _, bytes) = fetch_as_consumer_in(address(leader), "nearby", &rack)?;
        assert_eq!((preferred, bytes > 0), (-1, true), "rack {rack:?}");
    }
    // A real client in the follower's rack reads everything.
    let reader = consumer(&n1, &[("client.rack", &format!("rack-{follower}"))])?;
    common::assign(&reader, "nearby", 1, rdkafka::Offset::Beginning)?;
    let records = consume(&reader, 20, Duration::from_secs(60))?;
    let values: Vec<String> = records
        .into_iter()
        .map(|r| String::from_utf8_lossy(&r.value.unwrap_or_default()).into_owned())
        .collect();
    assert_eq!(values, numbered(0, 20));
    Ok(())
}
