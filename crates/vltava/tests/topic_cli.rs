//! `vltava topic` and `vltava config` as an operator runs them against a real broker: a topic
//! is created with configs, listed, described with its partitions and overrides, grown,
//! reconfigured (set, then deleted back to the default), refused an invalid value with the
//! broker's INVALID_CONFIG, and deleted. Guards against tools that report success for a change
//! the broker refused, or show stale configs.

mod common;

use common::{BoxError, TestResult, cli, cli_json};
use serde_json::Value;

fn config_value(described: &Value, name: &str) -> Result<(Value, Value), BoxError> {
    let config = described["configs"]
        .as_array()
        .and_then(|configs| configs.iter().find(|c| c["name"] == name))
        .ok_or_else(|| format!("{name} not described"))?;
    Ok((config["value"].clone(), config["source"].clone()))
}

#[test]
fn topics_are_created_described_grown_reconfigured_and_deleted() -> TestResult {
    let broker = vltava_testkit::start_broker(&[])?;
    let b = broker.bootstrap();
    let created = cli(
        b,
        "topic",
        &[
            "create",
            "orders",
            "--partitions",
            "2",
            "--config",
            "retention.ms=60000",
        ],
    )?;
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    assert_eq!(
        common::topic_names(&cli_json(b, "topic", &["list"])?),
        vec!["orders"]
    );

    let described = cli_json(b, "topic", &["describe", "orders"])?;
    assert_eq!(described["partitions"].as_array().map(Vec::len), Some(2));
    assert_eq!(described["configs"]["retention.ms"], "60000");
    assert_eq!(described["partitions"][0]["log_end_offset"], 0);

    let grown = cli(b, "topic", &["alter", "orders", "--partitions", "3"])?;
    assert!(
        grown.status.success(),
        "{}",
        String::from_utf8_lossy(&grown.stderr)
    );
    let described = cli_json(b, "topic", &["describe", "orders"])?;
    assert_eq!(described["partitions"].as_array().map(Vec::len), Some(3));

    let set = cli(
        b,
        "config",
        &["set", "--topic", "orders", "cleanup.policy=compact"],
    )?;
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    let configs = cli_json(b, "config", &["describe", "--topic", "orders"])?;
    assert_eq!(
        config_value(&configs, "cleanup.policy")?,
        ("compact".into(), "DYNAMIC_TOPIC_CONFIG".into())
    );
    assert!(configs["configs"].as_array().map_or(0, Vec::len) >= 35);

    let deleted = cli(
        b,
        "config",
        &["delete", "--topic", "orders", "retention.ms"],
    )?;
    assert!(
        deleted.status.success(),
        "{}",
        String::from_utf8_lossy(&deleted.stderr)
    );
    let configs = cli_json(b, "config", &["describe", "--topic", "orders"])?;
    assert_eq!(config_value(&configs, "retention.ms")?.1, "DEFAULT_CONFIG");

    let refused = cli(
        b,
        "config",
        &["set", "--topic", "orders", "retention.ms=soon"],
    )?;
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("INVALID_CONFIG"));

    let broker_configs = cli_json(b, "config", &["describe", "--broker", "1"])?;
    assert_eq!(
        config_value(&broker_configs, "num.partitions")?.1,
        "STATIC_BROKER_CONFIG"
    );

    let gone = cli(b, "topic", &["delete", "orders"])?;
    assert!(
        gone.status.success(),
        "{}",
        String::from_utf8_lossy(&gone.stderr)
    );
    assert!(common::topic_names(&cli_json(b, "topic", &["list"])?).is_empty());
    Ok(())
}
