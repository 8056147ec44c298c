//! Topics live in the metadata log (the controller quorum's, a quorum of one here), not in a
//! file of the broker's own.
//!
//! Guards against: a data directory written before the metadata log existed (`topics.json`)
//! losing its topics, their ids, configs or records on upgrade; a topic acknowledged by
//! CreateTopics missing after kill -9; a deleted topic coming back after a restart, or its
//! directories (or those of a topic deleted while the broker was down) left to be served to a
//! new topic of the same name; a producer id handed out twice, after a restart or after an
//! upgrade from the file that kept them before; dynamic broker configs lost on that upgrade; a
//! data directory of one cluster served under another cluster's metadata.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{BoxError, TestResult, cli_json};
use kafka_protocol::messages::{ApiKey, InitProducerIdRequest, RequestKind, ResponseKind};
use rdkafka::Offset;

const OLD_TOPIC_ID: &str = "3550de75-3a4d-4e2d-9f39-fd6ef3a8a71a";

fn described(bootstrap: &str, topic: &str) -> Result<serde_json::Value, common::BoxError> {
    cli_json(bootstrap, "topic", &["describe", topic])
}

fn listed(bootstrap: &str) -> Result<Vec<String>, common::BoxError> {
    Ok(common::topic_names(&cli_json(
        bootstrap,
        "topic",
        &["list"],
    )?))
}

fn run_ok(bootstrap: &str, command: &str, args: &[&str]) -> TestResult {
    common::cli_ok(bootstrap, command, args, &[])?;
    Ok(())
}

/// Makes a data directory look as vltava wrote it before the metadata log: the partition
/// directories, and the topics in `topics.json`.
fn rewrite_as_before_the_metadata_log(data_dir: &Path, topics_json: &str) -> TestResult {
    std::fs::remove_dir_all(data_dir.join("__cluster_metadata"))?;
    std::fs::write(data_dir.join("topics.json"), topics_json)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn topics_of_a_data_directory_from_before_the_metadata_log_keep_ids_configs_and_records()
-> TestResult {
    let mut broker = vltava_testkit::start_broker(&[])?;
    let b = broker.bootstrap().to_string();
    run_ok(&b, "topic", &["create", "orders", "--partitions", "2"])?;
    let producer = common::producer(&b, &[])?;
    common::produce(&producer, "orders", 0, 1).await?;
    drop(producer);
    broker.terminate()?;

    rewrite_as_before_the_metadata_log(
        broker.data_dir(),
        &format!(
            r#"[{{"name": "orders", "id": "{OLD_TOPIC_ID}", "partitions": 2,
                 "configs": {{"retention.ms": "123456"}}}}]"#
        ),
    )?;
    broker.restart()?;
    let b = broker.bootstrap().to_string();

    let orders = described(&b, "orders")?;
    assert_eq!(orders["id"], OLD_TOPIC_ID);
    assert_eq!(orders["partitions"].as_array().map(Vec::len), Some(2));
    assert_eq!(orders["configs"]["retention.ms"], "123456");
    let consumer = common::consumer(&b, &[])?;
    common::assign(&consumer, "orders", 1, Offset::Beginning)?;
    let records = common::consume(&consumer, 1, common::CLIENT_TIMEOUT)?;
    assert_eq!(records[0].value.as_deref(), Some(&b"record 0"[..]));
    assert!(
        !broker.data_dir().join("topics.json").exists(),
        "topics.json is removed once its topics are in the metadata log"
    );

    // And they stay in the metadata log across a kill -9.
    broker.kill9()?;
    broker.restart()?;
    assert_eq!(described(broker.bootstrap(), "orders")?["id"], OLD_TOPIC_ID);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn created_topics_survive_kill_9_and_deleted_ones_stay_deleted_with_their_directories()
-> TestResult {
    let mut broker = vltava_testkit::start_broker(&[])?;
    let b = broker.bootstrap().to_string();
    run_ok(&b, "topic", &["create", "kept", "--partitions", "3"])?;
    run_ok(&b, "topic", &["create", "dropped"])?;
    run_ok(&b, "topic", &["alter", "kept", "--partitions", "4"])?;
    run_ok(&b, "topic", &["delete", "dropped"])?;
    broker.kill9()?;

    // A directory of a topic the metadata log does not have (deleted while the broker was
    // down, or a crash before its directories were removed).
    let ghost = broker.data_dir().join("ghost-0");
    std::fs::create_dir(&ghost)?;
    std::fs::write(ghost.join("00000000000000000000.log"), b"old records")?;

    broker.restart()?;
    let b = broker.bootstrap().to_string();
    assert_eq!(listed(&b)?, vec!["kept".to_string()]);
    assert_eq!(
        described(&b, "kept")?["partitions"]
            .as_array()
            .map(Vec::len),
        Some(4)
    );
    assert!(!broker.data_dir().join("dropped-0").exists());
    assert!(!ghost.exists(), "a directory no topic owns is removed");

    // A new topic under the ghost's name starts empty.
    run_ok(&b, "topic", &["create", "ghost"])?;
    assert_eq!(
        described(&b, "ghost")?["partitions"][0]["log_end_offset"],
        0
    );
    Ok(())
}

fn init_producer_id(bootstrap: &str) -> Result<i64, BoxError> {
    let mut stream = common::wire::connect(bootstrap, Duration::from_secs(30))?;
    let request = RequestKind::InitProducerId(
        InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(60_000),
    );
    match common::wire::exchange(&mut stream, ApiKey::InitProducerId, 4, 1, &request)? {
        ResponseKind::InitProducerId(answer) if answer.error_code == 0 => Ok(answer.producer_id.0),
        other => Err(format!("InitProducerId: {other:?}").into()),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn producer_ids_are_never_handed_out_twice_across_restarts_and_the_upgrade() -> TestResult {
    let mut broker = vltava_testkit::start_broker(&[])?;
    let first = init_producer_id(broker.bootstrap())?;
    let second = init_producer_id(broker.bootstrap())?;
    assert_eq!(second, first + 1);
    broker.kill9()?;
    broker.restart()?;
    let after_crash = init_producer_id(broker.bootstrap())?;
    assert!(after_crash > second, "{after_crash} after {second}");
    broker.terminate()?;

    // An older vltava had handed out ids below 5,000,000 and kept that in producer_ids.json.
    std::fs::write(
        broker.data_dir().join("producer_ids.json"),
        r#"{"next_block_start": 5000000}"#,
    )?;
    broker.restart()?;
    let upgraded = init_producer_id(broker.bootstrap())?;
    assert!(
        upgraded >= 5_000_000,
        "{upgraded} reuses an id the old file covered"
    );
    assert!(!broker.data_dir().join("producer_ids.json").exists());
    broker.kill9()?;
    broker.restart()?;
    assert!(init_producer_id(broker.bootstrap())? > upgraded);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn dynamic_broker_configs_of_a_data_directory_from_before_the_metadata_log_are_kept()
-> TestResult {
    let mut broker = vltava_testkit::start_broker(&[])?;
    broker.terminate()?;
    std::fs::write(
        broker.data_dir().join("broker-configs.json"),
        r#"{"version": 1, "per_broker": {"log.retention.ms": "7777777"},
            "cluster_default": {"log.segment.bytes": "2000000"}}"#,
    )?;
    broker.restart()?;
    let b = broker.bootstrap().to_string();
    let configs = cli_json(&b, "config", &["describe", "--broker", "1"])?;
    let value = |name: &str| {
        configs["configs"].as_array().and_then(|all| {
            all.iter()
                .find(|c| c["name"] == name)
                .map(|c| (c["value"].clone(), c["source"].clone()))
        })
    };
    assert_eq!(
        value("log.retention.ms"),
        Some(("7777777".into(), "DYNAMIC_BROKER_CONFIG".into()))
    );
    assert_eq!(
        value("log.segment.bytes"),
        Some(("2000000".into(), "DYNAMIC_DEFAULT_BROKER_CONFIG".into()))
    );
    assert!(!broker.data_dir().join("broker-configs.json").exists());
    Ok(())
}

#[test]
fn a_data_directory_of_another_cluster_refuses_to_start() -> TestResult {
    let mut broker = vltava_testkit::start_broker(&[])?;
    broker.terminate()?;
    let meta_path = broker.data_dir().join("meta.json");
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(&meta_path)?)?;
    let agreed = meta["cluster_id"]
        .as_str()
        .ok_or("no cluster id")?
        .to_string();
    std::fs::write(
        &meta_path,
        r#"{"cluster_id": "AnotherClusterAAAAAAAA", "node_id": 1}"#,
    )?;
    let output = std::process::Command::new(vltava_testkit::vltava_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(broker.data_dir())
        .stdin(std::process::Stdio::null())
        .output()?;
    assert!(
        !output.status.success(),
        "a broker of another cluster started"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("AnotherClusterAAAAAAAA") && stderr.contains(&agreed),
        "stderr: {stderr}"
    );
    Ok(())
}
