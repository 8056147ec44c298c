//! The admin HTTP listener against the real binary: /health and /ready answer, and /metrics
//! counts what a real producer and a committing consumer group did, under the names Kafka's
//! JMX exporter uses. Guards against counters that are never incremented (or counted twice),
//! lag computed from the wrong offset, and gauges that disagree with the broker's state.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{BoxError, CLIENT_TIMEOUT, TestResult};
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use vltava_testkit::http_get;

/// How long the broker may take to show a change in /metrics or /ready.
const SCRAPE_WAIT: Duration = Duration::from_secs(20);

/// One scrape: every sample as `name{labels}` → value.
fn scrape(http: &str) -> Result<BTreeMap<String, f64>, BoxError> {
    let (status, body) = http_get(http, "/metrics")?;
    if status != 200 {
        return Err(format!("/metrics answered {status}: {body}").into());
    }
    if !body.trim_end().ends_with("# EOF") {
        return Err("the exposition does not end with # EOF".into());
    }
    let mut samples = BTreeMap::new();
    for line in body.lines().filter(|l| !l.starts_with('#')) {
        let (series, value) = line
            .rsplit_once(' ')
            .ok_or_else(|| format!("bad sample line {line:?}"))?;
        samples.insert(series.to_string(), value.parse::<f64>()?);
    }
    Ok(samples)
}

/// Scrapes until `done` holds for the samples, or fails with the last scrape after SCRAPE_WAIT.
fn scrape_until(
    http: &str,
    what: &str,
    done: impl Fn(&BTreeMap<String, f64>) -> bool,
) -> Result<BTreeMap<String, f64>, BoxError> {
    let deadline = Instant::now() + SCRAPE_WAIT;
    loop {
        let samples = scrape(http)?;
        if done(&samples) {
            return Ok(samples);
        }
        if Instant::now() >= deadline {
            return Err(format!("{what} not seen within {SCRAPE_WAIT:?}: {samples:#?}").into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn sample(samples: &BTreeMap<String, f64>, series: &str) -> Result<f64, BoxError> {
    samples
        .get(series)
        .copied()
        .ok_or_else(|| format!("no sample {series}").into())
}

#[tokio::test(flavor = "multi_thread")]
async fn health_and_ready_answer_once_the_broker_serves() -> TestResult {
    let broker = vltava_testkit::start_broker(&[])?;
    let http = broker.http().ok_or("no http line")?;
    assert_eq!(http_get(http, "/health")?.0, 200);
    let deadline = Instant::now() + SCRAPE_WAIT;
    let mut last = http_get(http, "/ready")?;
    while last.0 != 200 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        last = http_get(http, "/ready")?;
    }
    assert_eq!(last.0, 200, "/ready: {}", last.1);
    assert_eq!(http_get(http, "/nothing-here")?.0, 404);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_produced_records_and_consumer_lag() -> TestResult {
    const RECORDS: usize = 50;
    const COMMITTED: i64 = 20;
    let broker = vltava_testkit::start_broker(&["--group-initial-rebalance-delay-ms", "0"])?;
    let http = broker.http().ok_or("no http line")?;
    let bootstrap = broker.bootstrap();
    common::create_topics(bootstrap, &[("metered", 1)]).await?;
    let producer = common::producer(bootstrap, &[])?;
    common::produce(&producer, "metered", 0, RECORDS).await?;

    // A group reads some records and commits an offset below the end.
    let consumer = common::consumer(bootstrap, &[("group.id", "metered-group")])?;
    common::assign(&consumer, "metered", 1, Offset::Beginning)?;
    common::consume(&consumer, usize::try_from(COMMITTED)?, CLIENT_TIMEOUT)?;
    let mut commit = TopicPartitionList::new();
    commit.add_partition_offset("metered", 0, Offset::Offset(COMMITTED))?;
    consumer.commit(&commit, CommitMode::Sync)?;

    let lag = "kafka_consumergroup_lag{consumergroup=\"metered-group\",topic=\"metered\",partition=\"0\"}";
    let samples = scrape_until(http, "the group's lag", |s| s.contains_key(lag))?;
    let topic =
        |name: &str| format!("kafka_server_brokertopicmetrics_{name}_total{{topic=\"metered\"}}");
    assert_eq!(sample(&samples, &topic("messagesin"))?, RECORDS as f64);
    assert!(sample(&samples, &topic("bytesin"))? > (RECORDS * "record 0".len()) as f64);
    assert!(sample(&samples, &topic("bytesout"))? > 0.0);
    assert!(sample(&samples, &topic("totalproducerequests"))? >= 1.0);
    assert_eq!(sample(&samples, &topic("failedproducerequests"))?, 0.0);
    assert!(sample(&samples, &topic("totalfetchrequests"))? >= 1.0);
    assert_eq!(sample(&samples, lag)?, (RECORDS as i64 - COMMITTED) as f64);
    let lag_seconds = lag.replace("_lag{", "_lag_seconds{");
    assert!(sample(&samples, &lag_seconds)? >= 0.0);

    // One node: it leads every partition it has, the metered one and __consumer_offsets'.
    let partitions = sample(&samples, "kafka_server_replicamanager_partitioncount")?;
    assert!(partitions >= 2.0, "{partitions} partitions");
    assert_eq!(
        sample(&samples, "kafka_server_replicamanager_leadercount")?,
        partitions
    );
    for zero in [
        "kafka_server_replicamanager_underreplicatedpartitions",
        "kafka_server_replicamanager_underminisrpartitioncount",
        "kafka_server_replicamanager_offlinereplicacount",
        "kafka_controller_kafkacontroller_offlinepartitionscount",
    ] {
        assert_eq!(sample(&samples, zero)?, 0.0, "{zero}");
    }
    assert_eq!(
        sample(
            &samples,
            "kafka_controller_kafkacontroller_activecontrollercount"
        )?,
        1.0
    );
    assert!(
        sample(
            &samples,
            "kafka_log_log_size{topic=\"metered\",partition=\"0\"}"
        )? > 0.0
    );
    assert_eq!(
        sample(
            &samples,
            "kafka_log_log_logendoffset{topic=\"metered\",partition=\"0\"}"
        )?,
        RECORDS as f64
    );
    assert!(
        sample(
            &samples,
            "kafka_server_socket_server_metrics_connection_count{listener=\"PLAINTEXT\"}"
        )? >= 1.0
    );
    assert!(
        sample(
            &samples,
            "vltava_request_duration_seconds_count{request=\"Produce\"}"
        )? >= 1.0
    );
    // Request time quantiles of the last minute, in ms, as the JMX exporter's rule names them.
    let p99 = "kafka_network_requestmetrics_totaltimems{request=\"Produce\",quantile=\"0.99\"}";
    let p50 = p99.replace("0.99", "0.50");
    assert!(sample(&samples, p99)? > 0.0);
    assert!(sample(&samples, &p50)? <= sample(&samples, p99)?);
    // One node: nothing is replicated.
    for name in ["replicationbytesin", "replicationbytesout"] {
        let series = format!("kafka_server_brokertopicmetrics_{name}_total");
        assert_eq!(sample(&samples, &series)?, 0.0, "{series}");
    }
    // acks=all (the producer's default) waits for an fsync.
    assert!(sample(&samples, "vltava_log_fsync_duration_seconds_count")? >= 1.0);
    assert!(sample(&samples, "vltava_log_flush_records_sum")? >= RECORDS as f64);
    Ok(())
}

#[test]
fn cluster_nodes_split_leadership_and_one_is_the_active_controller() -> TestResult {
    const PARTITIONS: f64 = 6.0;
    let cluster = vltava_testkit::start_cluster(3, &[])?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(common::create_topics(
        &cluster.bootstrap(),
        &[("spread", 6)],
    ))?;
    let https = cluster
        .nodes
        .iter()
        .map(|node| node.http().ok_or("no http line"))
        .collect::<Result<Vec<_>, _>>()?;
    // Every node has published the topic once the nodes' partition counts add up to it
    // (replication factor 1: each partition on exactly one node).
    let deadline = Instant::now() + SCRAPE_WAIT;
    let scrapes = loop {
        let scrapes = https
            .iter()
            .map(|http| scrape(http))
            .collect::<Result<Vec<_>, _>>()?;
        let total = |name: &str| -> f64 { scrapes.iter().filter_map(|s| s.get(name)).sum() };
        if total("kafka_server_replicamanager_partitioncount") == PARTITIONS
            && total("kafka_server_replicamanager_leadercount") == PARTITIONS
        {
            break scrapes;
        }
        if Instant::now() >= deadline {
            return Err(format!("partitions never added up to {PARTITIONS}: {scrapes:#?}").into());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let controllers: f64 = scrapes
        .iter()
        .map(|s| sample(s, "kafka_controller_kafkacontroller_activecontrollercount"))
        .sum::<Result<f64, _>>()?;
    assert_eq!(controllers, 1.0, "exactly one active controller");
    for http in &https {
        let (status, body) = http_get(http, "/ready")?;
        assert_eq!(status, 200, "{body}");
    }

    // A replicated topic: followers fetch what its leader appended, and both sides count it.
    // The CLI takes one bootstrap address.
    let bootstrap = cluster.nodes[0].bootstrap().to_string();
    let args = ["create", "copied", "--replication-factor", "3"];
    common::cli_ok(&bootstrap, "topic", &args, &[])?;
    let value = "x".repeat(1000);
    common::cli_ok(&bootstrap, "produce", &["copied", "--value", &value], &[])?;
    let total = |name: &str| -> Result<f64, BoxError> {
        let series = format!("kafka_server_brokertopicmetrics_{name}_total");
        https
            .iter()
            .map(|http| sample(&scrape(http)?, &series))
            .sum()
    };
    let deadline = Instant::now() + SCRAPE_WAIT;
    // Two followers each append the batch (over 1000 bytes) that the leader sends each.
    while total("replicationbytesin")? < 2000.0 || total("replicationbytesout")? < 2000.0 {
        if Instant::now() >= deadline {
            return Err(format!(
                "replication bytes in {} and out {} after {SCRAPE_WAIT:?}",
                total("replicationbytesin")?,
                total("replicationbytesout")?
            )
            .into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}
