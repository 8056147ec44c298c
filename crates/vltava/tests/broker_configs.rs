//! Dynamic broker configs that take effect and persist: a `log.retention.ms` set on the broker
//! at run time (AlterConfigs from a real client) makes retention delete old segments of a
//! topic without its own override, and the dynamic configs of both levels are still in force
//! after the broker restarts. The `vltava config` command line sets and shows them.
//! Guards against dynamic configs that are stored but never reach the running logs, that are
//! lost on restart, or that the CLI cannot address.

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, NewTopic, ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::Consumer;
use rdkafka::producer::FutureRecord;
use vltava_testkit::start_broker;

use common::{BoxError, CLIENT_TIMEOUT, TestResult, cli, cli_json, consumer, producer};

const TOPIC: &str = "aged";
const RECORDS: i64 = 100;
const VALUE_BYTES: usize = 1000;
/// Small segments so that the records fill several (Kafka's testing knob).
const SEGMENT_BYTES: &str = "16384";
/// How old the records are: inside the 7-day default, outside the dynamic retention.
const RECORD_AGE_MS: i64 = 2 * 60 * 60 * 1000;
const DYNAMIC_RETENTION_MS: &str = "3600000";
const RETENTION_DEADLINE: Duration = Duration::from_secs(20);

/// The value and source of config `name` in `vltava config describe --json` output.
fn config_value(configs: &serde_json::Value, name: &str) -> Result<(String, String), BoxError> {
    let entry = configs["configs"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["name"] == name))
        .ok_or_else(|| format!("{name} not described"))?;
    Ok((
        entry["value"].as_str().unwrap_or("null").to_string(),
        entry["source"].as_str().unwrap_or("").to_string(),
    ))
}

fn run_ok(bootstrap: &str, args: &[&str]) -> TestResult {
    common::cli_ok(bootstrap, "config", args, &[])?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn dynamic_log_retention_ms_deletes_old_segments_and_survives_a_restart() -> TestResult {
    let mut broker = start_broker(&["--log-retention-check-interval-ms", "100"])?;
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .create()?;
    let new_topic = NewTopic::new(TOPIC, 1, TopicReplication::Fixed(1))
        .set("internal.segment.bytes", SEGMENT_BYTES);
    let created = admin
        .create_topics([&new_topic], &AdminOptions::new())
        .await?;
    assert!(created.iter().all(|r| r.is_ok()), "{created:?}");

    let producer = producer(broker.bootstrap(), &[("linger.ms", "0"), ("acks", "all")])?;
    let now_ms = i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis())?;
    let value = vec![b'v'; VALUE_BYTES];
    for i in 0..RECORDS {
        let key = i.to_string();
        let record = FutureRecord::to(TOPIC)
            .key(&key)
            .payload(&value)
            .timestamp(now_ms - RECORD_AGE_MS);
        producer
            .send(record, CLIENT_TIMEOUT)
            .await
            .map_err(|(e, _)| e)?;
    }
    let reader = consumer(broker.bootstrap(), &[])?;
    // Two hours old is well inside the default seven days: nothing may be deleted yet.
    assert_eq!(
        reader.fetch_watermarks(TOPIC, 0, CLIENT_TIMEOUT)?,
        (0, RECORDS)
    );

    // The legacy AlterConfigs on the broker resource: its set replaces the per-broker configs.
    let alter = AlterConfig::new(ResourceSpecifier::Broker(1))
        .set("log.retention.ms", DYNAMIC_RETENTION_MS);
    let altered = admin.alter_configs([&alter], &AdminOptions::new()).await?;
    assert!(altered.iter().all(|r| r.is_ok()), "{altered:?}");

    let deadline = Instant::now() + RETENTION_DEADLINE;
    let (low, high) = loop {
        let (low, high) = reader.fetch_watermarks(TOPIC, 0, CLIENT_TIMEOUT)?;
        if low > 0 || Instant::now() > deadline {
            break (low, high);
        }
        tokio::time::sleep(Duration::from_millis(200)).await; // poll interval, bounded above
    };
    assert_eq!(high, RECORDS);
    assert!(
        low > 0,
        "the dynamic log.retention.ms deleted nothing in {RETENTION_DEADLINE:?}"
    );

    let b = broker.bootstrap().to_string();
    run_ok(
        &b,
        &["set", "--broker-defaults", "log.segment.bytes=2000000"],
    )?;
    let on_broker = cli_json(&b, "config", &["describe", "--broker", "1"])?;
    assert_eq!(
        config_value(&on_broker, "log.retention.ms")?,
        (DYNAMIC_RETENTION_MS.into(), "DYNAMIC_BROKER_CONFIG".into())
    );
    let defaults = cli_json(&b, "config", &["describe", "--broker-defaults"])?;
    assert_eq!(
        config_value(&defaults, "log.segment.bytes")?,
        ("2000000".into(), "DYNAMIC_DEFAULT_BROKER_CONFIG".into())
    );
    let refused = cli(&b, "config", &["set", "--broker", "1", "num.partitions=3"])?;
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("INVALID_REQUEST"));

    broker.restart()?;
    let b = broker.bootstrap().to_string();
    let topic = cli_json(&b, "config", &["describe", "--topic", TOPIC])?;
    assert_eq!(
        config_value(&topic, "retention.ms")?,
        (DYNAMIC_RETENTION_MS.into(), "DYNAMIC_BROKER_CONFIG".into())
    );
    assert_eq!(
        config_value(&topic, "segment.bytes")?,
        ("2000000".into(), "DYNAMIC_DEFAULT_BROKER_CONFIG".into())
    );

    run_ok(&b, &["delete", "--broker", "1", "log.retention.ms"])?;
    run_ok(&b, &["delete", "--broker-defaults", "log.segment.bytes"])?;
    let topic = cli_json(&b, "config", &["describe", "--topic", TOPIC])?;
    assert_eq!(
        config_value(&topic, "retention.ms")?,
        ("604800000".into(), "DEFAULT_CONFIG".into())
    );
    assert_eq!(config_value(&topic, "segment.bytes")?.1, "DEFAULT_CONFIG");
    Ok(())
}
