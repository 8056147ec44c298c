//! CreatePartitions, DeleteRecords, DescribeLogDirs, DescribeProducers and ElectLeaders over
//! the raw protocol: every advertised version, and the answers real clients do not expose
//! (tests/python/test_admin_apis.py covers what they do, against vltava and Kafka).
//!
//! Guards against: a version the codec decodes but the handler answers wrongly, ElectLeaders
//! for every partition listing partitions Kafka leaves out, an unknown election type not
//! refused as a whole, DescribeProducers/DescribeLogDirs answers for unknown topics that
//! differ from Kafka's, records deleted from internal topics, `__consumer_offsets` growing
//! (it would move every group's offsets), a duplicated topic grown twice, a new partition
//! showing the records of a deleted topic of the same name, and a fetch below the new log
//! start offset that is not OFFSET_OUT_OF_RANGE (with Kafka's -1 offsets) or one at it that
//! does not tell the client where the log now starts.

mod common;

use std::net::TcpStream;
use std::time::Duration;

use common::wire::{connect, exchange};
use common::{BoxError, CLIENT_TIMEOUT, TestResult};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;
use kafka_protocol::messages::describe_producers_request::TopicRequest;
use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{
    ApiKey, CreatePartitionsRequest, CreatePartitionsResponse, DeleteRecordsRequest,
    DeleteRecordsResponse, DescribeLogDirsRequest, DescribeLogDirsResponse,
    DescribeProducersRequest, DescribeProducersResponse, ElectLeadersRequest, ElectLeadersResponse,
    FetchRequest, RequestKind, ResponseKind, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::Consumer;

const TIMEOUT: Duration = Duration::from_secs(10);

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

fn call(
    stream: &mut TcpStream,
    key: ApiKey,
    version: i16,
    request: impl Into<RequestKind>,
) -> Result<ResponseKind, BoxError> {
    exchange(stream, key, version, 1, &request.into())
}

fn grow(
    stream: &mut TcpStream,
    version: i16,
    topics: &[(&str, i32)],
) -> Result<CreatePartitionsResponse, BoxError> {
    let request = CreatePartitionsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(
            topics
                .iter()
                .map(|(topic, count)| {
                    // Null: the codec's default is an empty list, which Kafka (and vltava)
                    // refuse as no assignment for any of the new partitions.
                    CreatePartitionsTopic::default()
                        .with_name(name(topic))
                        .with_count(*count)
                        .with_assignments(None)
                })
                .collect(),
        );
    match call(stream, ApiKey::CreatePartitions, version, request)? {
        ResponseKind::CreatePartitions(response) => Ok(response),
        other => Err(format!("not a CreatePartitions response: {other:?}").into()),
    }
}

fn delete_records(
    stream: &mut TcpStream,
    version: i16,
    topic: &str,
    partition: i32,
    offset: i64,
) -> Result<(i16, i64), BoxError> {
    let request = DeleteRecordsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![
            DeleteRecordsTopic::default()
                .with_name(name(topic))
                .with_partitions(vec![
                    DeleteRecordsPartition::default()
                        .with_partition_index(partition)
                        .with_offset(offset),
                ]),
        ]);
    let ResponseKind::DeleteRecords(DeleteRecordsResponse { topics, .. }) =
        call(stream, ApiKey::DeleteRecords, version, request)?
    else {
        return Err("not a DeleteRecords response".into());
    };
    let result = topics
        .first()
        .and_then(|t| t.partitions.first())
        .ok_or("no partition in the DeleteRecords response")?;
    Ok((result.error_code, result.low_watermark))
}

fn describe_log_dirs(
    stream: &mut TcpStream,
    version: i16,
    topics: Option<Vec<DescribableLogDirTopic>>,
) -> Result<DescribeLogDirsResponse, BoxError> {
    match call(
        stream,
        ApiKey::DescribeLogDirs,
        version,
        DescribeLogDirsRequest::default().with_topics(topics),
    )? {
        ResponseKind::DescribeLogDirs(response) => Ok(response),
        other => Err(format!("not a DescribeLogDirs response: {other:?}").into()),
    }
}

fn describe_producers(
    stream: &mut TcpStream,
    topics: &[(&str, &[i32])],
) -> Result<DescribeProducersResponse, BoxError> {
    let request = DescribeProducersRequest::default().with_topics(
        topics
            .iter()
            .map(|(topic, partitions)| {
                TopicRequest::default()
                    .with_name(name(topic))
                    .with_partition_indexes(partitions.to_vec())
            })
            .collect(),
    );
    match call(stream, ApiKey::DescribeProducers, 0, request)? {
        ResponseKind::DescribeProducers(response) => Ok(response),
        other => Err(format!("not a DescribeProducers response: {other:?}").into()),
    }
}

fn elect(
    stream: &mut TcpStream,
    version: i16,
    election_type: i8,
    topics: Option<&[(&str, &[i32])]>,
) -> Result<ElectLeadersResponse, BoxError> {
    let topics = topics.map(|topics| {
        topics
            .iter()
            .map(|(topic, partitions)| {
                TopicPartitions::default()
                    .with_topic(name(topic))
                    .with_partitions(partitions.to_vec())
            })
            .collect()
    });
    let request = ElectLeadersRequest::default()
        .with_election_type(election_type)
        .with_topic_partitions(topics)
        .with_timeout_ms(10_000);
    match call(stream, ApiKey::ElectLeaders, version, request)? {
        ResponseKind::ElectLeaders(response) => Ok(response),
        other => Err(format!("not an ElectLeaders response: {other:?}").into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_advertised_version_of_the_admin_apis_is_answered() -> TestResult {
    let broker = vltava_testkit::start_broker(&[])?;
    let topic = "versions";
    common::create_topics(broker.bootstrap(), &[(topic, 1)]).await?;
    let producer = common::producer(broker.bootstrap(), &[("enable.idempotence", "true")])?;
    common::produce(&producer, topic, 0, 10).await?;
    let mut stream = connect(broker.bootstrap(), TIMEOUT)?;

    for version in 0..=3i16 {
        let response = grow(&mut stream, version, &[(topic, 2 + i32::from(version))])?;
        assert_eq!(response.results.len(), 1);
        assert_eq!(
            response.results[0].error_code, 0,
            "CreatePartitions v{version}: {:?}",
            response.results[0].error_message
        );
    }
    for version in 0..=2i16 {
        let offset = 1 + i64::from(version);
        assert_eq!(
            delete_records(&mut stream, version, topic, 0, offset)?,
            (0, offset),
            "DeleteRecords v{version}"
        );
    }
    for version in 1..=4i16 {
        let response = describe_log_dirs(&mut stream, version, None)?;
        let [dir] = &response.results[..] else {
            return Err(format!(
                "DescribeLogDirs v{version}: {} log dirs",
                response.results.len()
            )
            .into());
        };
        assert_eq!(dir.error_code, 0);
        let described = dir
            .topics
            .iter()
            .find(|t| t.name.0.as_str() == topic)
            .ok_or("topic not described")?;
        assert_eq!(described.partitions.len(), 5, "DescribeLogDirs v{version}");
        assert!(
            described
                .partitions
                .iter()
                .any(|p| p.partition_index == 0 && p.partition_size > 0)
        );
        if version >= 4 {
            // KIP-827: the data directory's volume, as statvfs reports it.
            assert!(
                dir.total_bytes > 0 && dir.total_bytes >= dir.usable_bytes && dir.usable_bytes >= 0,
                "volume bytes: total {} usable {}",
                dir.total_bytes,
                dir.usable_bytes
            );
        }
    }
    let producers = describe_producers(&mut stream, &[(topic, &[0, 1])])?;
    let partitions = &producers.topics[0].partitions;
    assert_eq!(partitions[0].error_code, 0);
    assert_eq!(
        partitions[0].active_producers.len(),
        1,
        "the idempotent producer of partition 0"
    );
    assert_eq!(partitions[0].active_producers[0].last_sequence, 9);
    assert!(partitions[1].active_producers.is_empty());
    for version in 0..=2i16 {
        // v0 carries no election type: it is always PREFERRED.
        let response = elect(&mut stream, version, 0, Some(&[(topic, &[0])]))?;
        assert_eq!(response.error_code, 0);
        let result = &response.replica_election_results[0].partition_result[0];
        assert_eq!(
            result.error_code,
            ResponseError::ElectionNotNeeded.code(),
            "ElectLeaders v{version}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elect_leaders_answers_like_kafkas_controller() -> TestResult {
    let broker = vltava_testkit::start_broker(&[])?;
    common::create_topics(broker.bootstrap(), &[("elect-a", 2), ("elect-b", 1)]).await?;
    let mut stream = connect(broker.bootstrap(), TIMEOUT)?;

    // Every partition: the ones that need no election are left out, every topic is listed.
    let all = elect(&mut stream, 2, 1, None)?;
    assert_eq!(all.error_code, 0);
    let listed: Vec<(&str, usize)> = all
        .replica_election_results
        .iter()
        .map(|r| (r.topic.0.as_str(), r.partition_result.len()))
        .collect();
    assert_eq!(listed, [("elect-a", 0), ("elect-b", 0)]);

    // An unknown election type fails the request and every listed partition.
    let refused = elect(&mut stream, 2, 5, Some(&[("elect-a", &[0, 7])]))?;
    assert_eq!(refused.error_code, ResponseError::InvalidRequest.code());
    let partitions = &refused.replica_election_results[0].partition_result;
    assert_eq!(partitions.len(), 2);
    for partition in partitions {
        assert_eq!(partition.error_code, ResponseError::InvalidRequest.code());
        assert_eq!(
            partition.error_message.as_deref(),
            Some("Unknown election type 5")
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_requests_for_unknown_topics_are_answered_as_kafka_does() -> TestResult {
    let broker = vltava_testkit::start_broker(&[])?;
    common::create_topics(broker.bootstrap(), &[("known", 1)]).await?;
    let mut stream = connect(broker.bootstrap(), TIMEOUT)?;

    let producers = describe_producers(
        &mut stream,
        &[("missing", &[0, 1]), ("known", &[0, 9]), ("bad/name", &[0])],
    )?;
    let codes: Vec<Vec<(i32, i16, bool)>> = producers
        .topics
        .iter()
        .map(|t| {
            t.partitions
                .iter()
                .map(|p| (p.partition_index, p.error_code, p.error_message.is_some()))
                .collect()
        })
        .collect();
    let unknown = ResponseError::UnknownTopicOrPartition.code();
    let invalid = ResponseError::InvalidTopicException.code();
    assert_eq!(
        codes,
        [
            vec![(0, unknown, true), (1, unknown, true)],
            vec![(0, 0, false), (9, unknown, false)],
            vec![(0, invalid, true)],
        ]
    );

    // An empty list describes no partition; unknown ones are left out.
    for wanted in [
        vec![],
        vec![
            DescribableLogDirTopic::default()
                .with_topic(name("missing"))
                .with_partitions(vec![0]),
            DescribableLogDirTopic::default()
                .with_topic(name("known"))
                .with_partitions(vec![3]),
        ],
    ] {
        let response = describe_log_dirs(&mut stream, 4, Some(wanted))?;
        assert_eq!(response.results.len(), 1);
        assert!(
            response.results[0].topics.is_empty(),
            "{:?}",
            response.results[0].topics
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_topics_neither_lose_records_nor_grow() -> TestResult {
    let broker = vltava_testkit::start_broker(&[])?;
    // A client may create __consumer_offsets itself (Kafka 4.4 allows it too); it is internal
    // by its name, whoever created it.
    let internal = "__consumer_offsets";
    common::create_topics(broker.bootstrap(), &[(internal, 1), ("plain", 1)]).await?;
    let mut stream = connect(broker.bootstrap(), TIMEOUT)?;

    assert_eq!(
        delete_records(&mut stream, 2, internal, 0, 0)?,
        (ResponseError::InvalidTopicException.code(), -1)
    );
    assert_eq!(
        delete_records(&mut stream, 2, "plain", 4, 0)?,
        (ResponseError::UnknownTopicOrPartition.code(), -1)
    );
    assert_eq!(
        delete_records(&mut stream, 2, "missing", 0, 0)?,
        (ResponseError::UnknownTopicOrPartition.code(), -1)
    );

    let refused = grow(&mut stream, 3, &[(internal, 2)])?;
    assert_eq!(
        refused.results[0].error_code,
        ResponseError::PolicyViolation.code()
    );
    let described = describe_log_dirs(&mut stream, 4, None)?;
    let partitions = described.results[0]
        .topics
        .iter()
        .find(|t| t.name.0.as_str() == internal)
        .map(|t| t.partitions.len());
    assert_eq!(partitions, Some(1));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_partitions_answers_a_duplicated_topic_once_and_caps_the_count() -> TestResult {
    let broker = vltava_testkit::start_broker(&[])?;
    common::create_topics(broker.bootstrap(), &[("twice", 1), ("huge", 1)]).await?;
    let mut stream = connect(broker.bootstrap(), TIMEOUT)?;

    let response = grow(
        &mut stream,
        3,
        &[("twice", 2), ("twice", 3), ("huge", 10_001)],
    )?;
    let results: Vec<(&str, i16, Option<&str>)> = response
        .results
        .iter()
        .map(|r| (r.name.0.as_str(), r.error_code, r.error_message.as_deref()))
        .collect();
    assert_eq!(
        results[0],
        (
            "twice",
            ResponseError::InvalidRequest.code(),
            Some("Duplicate topic name.")
        )
    );
    assert_eq!(results.len(), 2, "{results:?}");
    assert_eq!(
        (results[1].0, results[1].1),
        ("huge", ResponseError::InvalidPartitions.code())
    );
    // Neither grew: growing them now by one succeeds.
    let response = grow(&mut stream, 3, &[("twice", 2), ("huge", 2)])?;
    assert!(
        response.results.iter().all(|r| r.error_code == 0),
        "{response:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_partition_never_shows_records_of_a_deleted_topic() -> TestResult {
    let broker = vltava_testkit::start_broker(&[])?;
    let topic = "reborn";
    common::create_topics(broker.bootstrap(), &[(topic, 3)]).await?;
    let producer = common::producer(broker.bootstrap(), &[])?;
    common::produce(&producer, topic, 2, 5).await?;

    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .create()?;
    let options = AdminOptions::new().operation_timeout(Some(CLIENT_TIMEOUT));
    for result in admin.delete_topics(&[topic], &options).await? {
        result.map_err(|(topic, code)| format!("deleting {topic}: {code:?}"))?;
    }
    common::create_topics(broker.bootstrap(), &[(topic, 1)]).await?;
    let mut stream = connect(broker.bootstrap(), TIMEOUT)?;
    assert_eq!(
        grow(&mut stream, 3, &[(topic, 3)])?.results[0].error_code,
        0
    );

    let bootstrap = broker.bootstrap().to_string();
    let watermarks = tokio::task::spawn_blocking(move || -> Result<(i64, i64), String> {
        let consumer = common::consumer(&bootstrap, &[]).map_err(|e| e.to_string())?;
        consumer
            .fetch_watermarks(topic, 2, CLIENT_TIMEOUT)
            .map_err(|e| e.to_string())
    })
    .await??;
    assert_eq!(
        watermarks,
        (0, 0),
        "partition 2 shows the deleted topic's records"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_below_the_log_start_offset_reports_where_the_log_now_starts() -> TestResult {
    let broker = vltava_testkit::start_broker(&[])?;
    let topic = "trimmed";
    common::create_topics(broker.bootstrap(), &[(topic, 1)]).await?;
    let producer = common::producer(broker.bootstrap(), &[("acks", "all")])?;
    common::produce(&producer, topic, 0, 10).await?;
    let mut stream = connect(broker.bootstrap(), TIMEOUT)?;
    assert_eq!(delete_records(&mut stream, 2, topic, 0, 5)?, (0, 5));

    // Below the log start offset: OFFSET_OUT_OF_RANGE with no offsets (-1), as Kafka answers a
    // partition in error; the client resets with ListOffsets. At it: the records and offsets.
    let out_of_range = ResponseError::OffsetOutOfRange.code();
    for (offset, expected, offsets) in [(1, out_of_range, (-1, -1)), (5, 0, (5, 10))] {
        let request = FetchRequest::default()
            .with_max_wait_ms(0)
            .with_max_bytes(1 << 20)
            .with_session_epoch(-1)
            .with_topics(vec![
                FetchTopic::default()
                    .with_topic(name(topic))
                    .with_partitions(vec![
                        FetchPartition::default()
                            .with_fetch_offset(offset)
                            .with_partition_max_bytes(1 << 20),
                    ]),
            ]);
        let ResponseKind::Fetch(response) = call(&mut stream, ApiKey::Fetch, 12, request)? else {
            return Err("not a Fetch response".into());
        };
        let data = &response.responses[0].partitions[0];
        assert_eq!(data.error_code, expected, "fetch at {offset}");
        assert_eq!((data.log_start_offset, data.high_watermark), offsets);
    }
    Ok(())
}

/// DeleteTopics used to leave the partition directories behind, so a topic created again under
/// the same name served the deleted topic's records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_created_again_after_delete_starts_empty() -> TestResult {
    let broker = vltava_testkit::start_broker(&["--auto-create-topics", "false"])?;
    let bootstrap = broker.bootstrap();
    common::create_topics(bootstrap, &[("reborn", 2)]).await?;
    let producer = common::producer(bootstrap, &[])?;
    common::produce(&producer, "reborn", 0, 5).await?;
    common::produce(&producer, "reborn", 1, 3).await?;
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let options = AdminOptions::new().operation_timeout(Some(CLIENT_TIMEOUT));
    for result in admin.delete_topics(&["reborn"], &options).await? {
        result.map_err(|(topic, code)| format!("deleting {topic}: {code:?}"))?;
    }
    for partition in 0..2 {
        let dir = broker.data_dir().join(format!("reborn-{partition}"));
        assert!(
            !dir.exists(),
            "{} is still there after DeleteTopics",
            dir.display()
        );
    }
    common::create_topics(bootstrap, &[("reborn", 2)]).await?;
    let reader = common::consumer(bootstrap, &[])?;
    for partition in 0..2 {
        let (low, high) = reader.fetch_watermarks("reborn", partition, CLIENT_TIMEOUT)?;
        assert_eq!(
            (low, high),
            (0, 0),
            "partition {partition} of the new topic"
        );
    }
    Ok(())
}
