//! Configuration as Kafka has it: the registry of every topic and broker config
//! (`registry.rs`, from Kafka's own definitions), validation of what clients set, and the
//! resolved view DescribeConfigs reports: each config's value and where it came from.

pub mod docs;
pub mod registry;

use std::collections::BTreeMap;

use registry::{ConfigDef, ConfigType, registry, validate};

use crate::config::BrokerConfig;
use crate::error::BrokerError;

/// Topic configs that change vltava's behaviour; the others are validated, stored and
/// described, but do nothing yet (docs/configuration.md lists them).
pub const IMPLEMENTED_TOPIC_CONFIGS: &[&str] = &[
    "cleanup.policy",
    "delete.retention.ms",
    "index.interval.bytes",
    "internal.segment.bytes",
    "max.compaction.lag.ms",
    "max.message.bytes",
    "message.timestamp.after.max.ms",
    "message.timestamp.before.max.ms",
    "message.timestamp.type",
    "min.cleanable.dirty.ratio",
    "min.compaction.lag.ms",
    "retention.bytes",
    "retention.ms",
    "segment.bytes",
    "segment.ms",
];

/// Topic configs of log compaction: they act only when the cleaner is on
/// (`--log-cleaner-enable`).
pub const CLEANER_TOPIC_CONFIGS: &[&str] = &[
    "delete.retention.ms",
    "max.compaction.lag.ms",
    "min.cleanable.dirty.ratio",
    "min.compaction.lag.ms",
];

/// Kafka's `ConfigSource`, with the ids DescribeConfigs reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    DynamicTopic = 1,
    DynamicBroker = 2,
    StaticBroker = 4,
    Default = 5,
}

/// One config as DescribeConfigs shows it.
#[derive(Debug, Clone)]
pub struct ConfigEntry {
    pub def: &'static ConfigDef,
    /// `None` for sensitive values and configs without a value.
    pub value: Option<String>,
    pub source: ConfigSource,
    pub read_only: bool,
    pub sensitive: bool,
    /// Where else a value comes from, most specific first (include_synonyms).
    pub synonyms: Vec<(String, Option<String>, ConfigSource)>,
}

/// Checks topic configs as CreateTopics, AlterConfigs and IncrementalAlterConfigs must:
/// unknown names and invalid values are INVALID_CONFIG, with Kafka's wording.
pub fn validate_topic_configs(configs: &BTreeMap<String, String>) -> Result<(), BrokerError> {
    for (name, value) in configs {
        let def = registry().topic(name).ok_or_else(|| {
            BrokerError::InvalidConfig(format!("Unknown topic config name: {name}"))
        })?;
        validate(def, value).map_err(BrokerError::InvalidConfig)?;
    }
    Ok(())
}

/// vltava's log settings (its flags) under their broker names; each is the first synonym of a
/// topic config, so topics see them as their broker-level value.
fn log_settings(config: &BrokerConfig) -> BTreeMap<&'static str, String> {
    let log = &config.log;
    BTreeMap::from([
        (
            "log.index.interval.bytes",
            log.index_interval_bytes.to_string(),
        ),
        ("log.retention.bytes", log.retention_bytes.to_string()),
        ("log.retention.ms", log.retention_ms.to_string()),
        ("log.roll.ms", log.segment_ms.to_string()),
        ("log.segment.bytes", log.segment_bytes.to_string()),
        ("message.max.bytes", log.max_message_bytes.to_string()),
    ])
}

/// The entry of `def` given where its candidate values come from, most specific first; with no
/// candidate it shows the config's own default.
fn entry(
    def: &'static ConfigDef,
    synonyms: Vec<(String, Option<String>, ConfigSource)>,
    read_only: bool,
) -> ConfigEntry {
    let sensitive = def.kind == ConfigType::Password;
    let (value, source) = match synonyms.first() {
        Some((_, value, source)) => (value.clone(), *source),
        None => (def.default.clone(), ConfigSource::Default),
    };
    ConfigEntry {
        def,
        value: if sensitive { None } else { value },
        source,
        read_only,
        sensitive,
        synonyms,
    }
}

/// Every topic config of a topic, as Kafka resolves it: the topic's override, else the broker's
/// configured value, else the default. Synonyms name where each candidate value comes from;
/// like Kafka, a broker default is listed only for the first synonym and only when that broker
/// config has a default of its own.
pub fn describe_topic(
    config: &BrokerConfig,
    overrides: &BTreeMap<String, String>,
) -> Vec<ConfigEntry> {
    let log = log_settings(config);
    registry()
        .topic_configs()
        .filter(|def| !def.internal)
        .map(|def| {
            let first_synonym = def.synonyms.first();
            let mut synonyms = Vec::new();
            if let Some(value) = overrides.get(&def.name) {
                synonyms.push((
                    def.name.clone(),
                    Some(value.clone()),
                    ConfigSource::DynamicTopic,
                ));
            }
            // A broker value that differs from Kafka's default was configured (a flag or the
            // file): Kafka reports that as a static broker config.
            if let Some((synonym, value)) =
                first_synonym.and_then(|s| Some((s, log.get(s.as_str())?)))
                && def.default.as_deref() != Some(value.as_str())
            {
                synonyms.push((
                    synonym.clone(),
                    Some(value.clone()),
                    ConfigSource::StaticBroker,
                ));
            }
            let broker_default = first_synonym
                .and_then(|s| registry().broker(s))
                .and_then(|b| Some((b.name.clone(), b.default.clone()?)));
            if let Some((name, default)) = broker_default {
                synonyms.push((name, Some(default), ConfigSource::Default));
            }
            entry(def, synonyms, false)
        })
        .collect()
}

/// The broker's own settings vltava has, by Kafka name.
fn broker_settings(config: &BrokerConfig, advertised_port: i32) -> BTreeMap<&'static str, String> {
    let mut settings = log_settings(config);
    settings.extend([
        (
            "advertised.listeners",
            format!("PLAINTEXT://{}:{advertised_port}", config.advertised_host),
        ),
        (
            "auto.create.topics.enable",
            config.auto_create_topics.to_string(),
        ),
        ("broker.id", config.node_id.to_string()),
        (
            "group.initial.rebalance.delay.ms",
            config.group.initial_rebalance_delay_ms.to_string(),
        ),
        (
            "group.consumer.heartbeat.interval.ms",
            config.group.consumer_heartbeat_interval_ms.to_string(),
        ),
        (
            "group.consumer.session.timeout.ms",
            config.group.consumer_session_timeout_ms.to_string(),
        ),
        ("listeners", format!("PLAINTEXT://{}", config.listen)),
        ("log.cleaner.enable", config.log_cleaner_enable.to_string()),
        ("log.dirs", config.data_dir.display().to_string()),
        (
            "log.retention.check.interval.ms",
            config.retention_check_interval_ms.to_string(),
        ),
        ("node.id", config.node_id.to_string()),
        ("num.partitions", config.num_partitions.to_string()),
        (
            "offsets.topic.num.partitions",
            config.offsets_topic_partitions.to_string(),
        ),
        (
            "socket.request.max.bytes",
            config.frame_bytes_max.to_string(),
        ),
    ]);
    settings
}

/// Every broker config: vltava's setting where it has one (static), else Kafka's default.
/// Static broker configs are read-only, as in Kafka.
/// `advertised_port` is the port clients are told (the bound one unless configured).
pub fn describe_broker(config: &BrokerConfig, advertised_port: i32) -> Vec<ConfigEntry> {
    let settings = broker_settings(config, advertised_port);
    registry()
        .broker_configs()
        .filter(|def| !def.internal)
        .map(|def| {
            let mut synonyms = Vec::new();
            if let Some(value) = settings.get(def.name.as_str()) {
                synonyms.push((
                    def.name.clone(),
                    Some(value.clone()),
                    ConfigSource::StaticBroker,
                ));
            }
            if let Some(default) = &def.default {
                synonyms.push((
                    def.name.clone(),
                    Some(default.clone()),
                    ConfigSource::Default,
                ));
            }
            entry(def, synonyms, true)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_topic_override_wins_and_names_its_synonyms() {
        let config = BrokerConfig::new("data".into());
        let overrides = BTreeMap::from([("retention.ms".to_string(), "1000".to_string())]);
        let entries = describe_topic(&config, &overrides);
        let retention = entries
            .iter()
            .find(|e| e.def.name == "retention.ms")
            .expect("retention.ms");
        assert_eq!(retention.value.as_deref(), Some("1000"));
        assert_eq!(retention.source, ConfigSource::DynamicTopic);
        // log.retention.ms has no default of its own (log.retention.hours does): Kafka lists
        // only the override then.
        assert_eq!(retention.synonyms.len(), 1);
        let segment = entries
            .iter()
            .find(|e| e.def.name == "segment.bytes")
            .expect("segment");
        assert_eq!(segment.synonyms[0].0, "log.segment.bytes");
        assert!(
            entries
                .iter()
                .all(|e| e.def.name != "internal.segment.bytes")
        );
        let policy = entries
            .iter()
            .find(|e| e.def.name == "cleanup.policy")
            .expect("policy");
        assert_eq!(policy.value.as_deref(), Some("delete"));
        assert_eq!(policy.source, ConfigSource::Default);
    }

    #[test]
    fn unknown_names_and_bad_values_are_invalid_config() {
        let bad_name = BTreeMap::from([("retention.msx".to_string(), "1".to_string())]);
        assert!(
            matches!(validate_topic_configs(&bad_name), Err(BrokerError::InvalidConfig(m)) if m.contains("retention.msx"))
        );
        let bad_value = BTreeMap::from([("segment.ms".to_string(), "0".to_string())]);
        assert!(validate_topic_configs(&bad_value).is_err());
    }
}
