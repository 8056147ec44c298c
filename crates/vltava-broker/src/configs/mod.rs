//! Configuration as Kafka has it: the registry of every topic and broker config
//! (`registry.rs`, from Kafka's own definitions), validation of what clients set, and the
//! resolved view DescribeConfigs reports: each config's value and where it came from.

pub mod docs;
pub mod dynamic;
pub mod registry;

use std::collections::BTreeMap;

use dynamic::DynamicConfigs;
use registry::{ConfigDef, ConfigType, UpdateMode, registry, validate};

use vltava_cluster::records::Endpoint;

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

/// Kafka's `ConfigSource`, with the ids DescribeConfigs reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    DynamicTopic = 1,
    DynamicBroker = 2,
    DynamicDefaultBroker = 3,
    StaticBroker = 4,
    Default = 5,
}

/// Where a value comes from: the config's name there, its value, the source.
pub type Synonym = (String, Option<String>, ConfigSource);

/// The sources of broker config values, most specific first.
const BROKER_SOURCES: [ConfigSource; 4] = [
    ConfigSource::DynamicBroker,
    ConfigSource::DynamicDefaultBroker,
    ConfigSource::StaticBroker,
    ConfigSource::Default,
];

/// One config as DescribeConfigs shows it.
#[derive(Debug, Clone)]
pub struct ConfigEntry {
    pub name: String,
    /// `None` for a name Kafka does not define (a dynamic broker config it stores anyway).
    pub def: Option<&'static ConfigDef>,
    /// `None` for sensitive values and configs without a value.
    pub value: Option<String>,
    pub source: ConfigSource,
    pub read_only: bool,
    pub sensitive: bool,
    /// Where else a value comes from, most specific first (include_synonyms).
    pub synonyms: Vec<Synonym>,
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

/// The entry of a config given where its candidate values come from, most specific first;
/// with no candidate it shows the config's own default. A name Kafka does not define is
/// sensitive, as Kafka treats a config of unknown type.
fn entry(
    name: &str,
    def: Option<&'static ConfigDef>,
    synonyms: Vec<Synonym>,
    read_only: bool,
) -> ConfigEntry {
    let sensitive = def.is_none_or(|d| d.kind == ConfigType::Password);
    let (value, source) = match synonyms.first() {
        Some((_, value, source)) => (value.clone(), *source),
        None => (def.and_then(|d| d.default.clone()), ConfigSource::Default),
    };
    ConfigEntry {
        name: name.to_string(),
        def,
        value: if sensitive { None } else { value },
        source,
        read_only,
        sensitive,
        synonyms,
    }
}

/// Broker configs that set the same thing in another unit, most specific first, as Kafka's
/// `DynamicBrokerConfig.brokerConfigSynonyms` lists them.
fn broker_synonym_names(name: &str) -> Vec<&str> {
    const GROUPS: [&[&str]; 4] = [
        &["log.roll.ms", "log.roll.hours"],
        &["log.roll.jitter.ms", "log.roll.jitter.hours"],
        &[
            "log.retention.ms",
            "log.retention.minutes",
            "log.retention.hours",
        ],
        &["log.flush.interval.ms", "log.flush.scheduler.interval.ms"],
    ];
    // log.flush.scheduler.interval.ms is a synonym of log.flush.interval.ms, not the reverse.
    match GROUPS
        .iter()
        .find(|g| g.contains(&name) && name != "log.flush.scheduler.interval.ms")
    {
        Some(group) => group.to_vec(),
        None => vec![name],
    }
}

/// The values broker configs have, by source.
struct BrokerValues<'a> {
    dynamic: &'a DynamicConfigs,
    statics: &'a BTreeMap<&'static str, String>,
}

impl BrokerValues<'_> {
    fn get(&self, source: ConfigSource, name: &str) -> Option<String> {
        match source {
            ConfigSource::StaticBroker => self.statics.get(name).cloned(),
            ConfigSource::Default => registry().broker(name)?.default.clone(),
            dynamic => self.dynamic.value(dynamic, name).cloned(),
        }
    }

    /// The synonyms of broker config `name` as Kafka lists them: by source, then by unit;
    /// those before the first one named `name` itself are left out (so a config with no value
    /// of its own and no default lists none, even when another unit has a default).
    fn synonyms(&self, name: &str) -> Vec<Synonym> {
        let names = broker_synonym_names(name);
        let mut synonyms: Vec<Synonym> = BROKER_SOURCES
            .iter()
            .flat_map(|&source| {
                names.iter().filter_map(move |&n| {
                    self.get(source, n)
                        .map(|value| (n.to_string(), Some(value), source))
                })
            })
            .collect();
        let first_own = synonyms
            .iter()
            .position(|s| s.0 == name)
            .unwrap_or(synonyms.len());
        synonyms.split_off(first_own)
    }
}

/// Every topic config of a topic, as Kafka resolves it: the topic's override, else the broker's
/// value (dynamic per-broker, dynamic cluster default, static), else the default. Synonyms
/// name where each candidate value comes from, as Kafka lists them.
pub fn describe_topic(
    config: &BrokerConfig,
    dynamic: &DynamicConfigs,
    overrides: &BTreeMap<String, String>,
) -> Vec<ConfigEntry> {
    let statics = topic_static_values(config);
    let values = BrokerValues {
        dynamic,
        statics: &statics,
    };
    registry()
        .topic_configs()
        .filter(|def| !def.internal)
        .map(|def| {
            let mut synonyms = Vec::new();
            if let Some(value) = overrides.get(&def.name) {
                synonyms.push((
                    def.name.clone(),
                    Some(value.clone()),
                    ConfigSource::DynamicTopic,
                ));
            }
            if let Some(broker_name) = def.synonyms.first() {
                synonyms.extend(values.synonyms(broker_name));
            }
            entry(&def.name, Some(def), synonyms, false)
        })
        .collect()
}

/// vltava's log settings that topics see as static broker configs: a value that differs from
/// the topic config's Kafka default was configured (a flag or the file); one equal to it is
/// Kafka's default, not a setting.
fn topic_static_values(config: &BrokerConfig) -> BTreeMap<&'static str, String> {
    let log = log_settings(config);
    registry()
        .topic_configs()
        .filter_map(|def| {
            let (name, value) = log.get_key_value(def.synonyms.first()?.as_str())?;
            (def.default.as_deref() != Some(value.as_str())).then(|| (*name, value.clone()))
        })
        .collect()
}

/// The broker's own settings vltava has, by Kafka name.
fn broker_settings(
    config: &BrokerConfig,
    endpoints: &[Endpoint],
) -> BTreeMap<&'static str, String> {
    let mut settings = log_settings(config);
    settings.extend([
        (
            "advertised.listeners",
            join(
                endpoints
                    .iter()
                    .map(|e| format!("{}://{}:{}", e.name, e.host, e.port)),
            ),
        ),
        (
            "listener.security.protocol.map",
            join(
                config
                    .listeners
                    .iter()
                    .map(|l| format!("{}:{}", l.name, l.protocol.name())),
            ),
        ),
        (
            "inter.broker.listener.name",
            config.inter_broker_listener_name.clone(),
        ),
        (
            "sasl.enabled.mechanisms",
            join(
                config
                    .sasl
                    .enabled_mechanisms
                    .iter()
                    .map(|m| m.name().to_string()),
            ),
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
        (
            "connections.max.idle.ms",
            config.connections_max_idle_ms.to_string(),
        ),
        (
            "connections.max.reauth.ms",
            config.sasl.connections_max_reauth_ms.to_string(),
        ),
        (
            "listeners",
            join(
                config
                    .listeners
                    .iter()
                    .map(|l| format!("{}://{}", l.name, l.bind)),
            ),
        ),
        ("max.connections", config.connections_max.to_string()),
        (
            "max.connections.per.ip",
            config.connections_max_per_ip.to_string(),
        ),
        ("log.cleaner.enable", config.log_cleaner_enable.to_string()),
        ("log.dirs", config.data_dir.display().to_string()),
        (
            "log.retention.check.interval.ms",
            config.retention_check_interval_ms.to_string(),
        ),
        ("node.id", config.node_id.to_string()),
        (
            "default.replication.factor",
            config.default_replication_factor.to_string(),
        ),
        (
            "min.insync.replicas",
            config.min_insync_replicas.to_string(),
        ),
        (
            "replica.lag.time.max.ms",
            config.replica_lag_time_max_ms.to_string(),
        ),
        (
            "auto.leader.rebalance.enable",
            config.auto_leader_rebalance_enable.to_string(),
        ),
        (
            "leader.imbalance.check.interval.seconds",
            config.leader_imbalance_check_interval_seconds.to_string(),
        ),
        ("num.partitions", config.num_partitions.to_string()),
        (
            "fetch.max.bytes",
            config.fetch_response_bytes_max.to_string(),
        ),
        (
            "producer.id.expiration.ms",
            config.producer_id_expiration_ms.to_string(),
        ),
        (
            "transactional.id.expiration.ms",
            config.transactional_id_expiration_ms.to_string(),
        ),
        (
            "transaction.remove.expired.transaction.cleanup.interval.ms",
            config.transaction_remove_expired_interval_ms.to_string(),
        ),
        (
            "offsets.topic.num.partitions",
            config.offsets_topic_partitions.to_string(),
        ),
        (
            "socket.request.max.bytes",
            config.frame_bytes_max.to_string(),
        ),
        (
            "queued.max.request.bytes",
            config
                .queued_request_bytes_max
                .map_or_else(|| "-1".to_string(), |bytes| bytes.to_string()),
        ),
    ]);
    settings
}

fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(",")
}

/// Every broker config of this broker: its dynamic value (per-broker, then cluster default),
/// else vltava's setting (static), else Kafka's default. Configs Kafka cannot change at run
/// time are read-only. Names Kafka does not define but that were set dynamically are listed
/// too, as Kafka does. `endpoints` are the addresses clients are told.
pub fn describe_broker(
    config: &BrokerConfig,
    dynamic: &DynamicConfigs,
    endpoints: &[Endpoint],
) -> Vec<ConfigEntry> {
    let statics = broker_settings(config, endpoints);
    let values = BrokerValues {
        dynamic,
        statics: &statics,
    };
    let known = registry()
        .broker_configs()
        .filter(|def| !def.internal)
        .map(|def| {
            let read_only = def.update_mode == UpdateMode::ReadOnly;
            entry(&def.name, Some(def), values.synonyms(&def.name), read_only)
        });
    let unknown_names: std::collections::BTreeSet<&String> =
        [dynamic::Level::PerBroker, dynamic::Level::ClusterDefault]
            .into_iter()
            .flat_map(|level| dynamic.level(level).keys())
            .filter(|name| registry().broker(name).is_none())
            .collect();
    let unknown = unknown_names
        .into_iter()
        .map(|name| entry(name, None, values.synonyms(name), true));
    known.chain(unknown).collect()
}

/// The cluster-wide default entity (resource name ""): only the configs set there, as Kafka
/// lists them.
pub fn describe_broker_defaults(dynamic: &DynamicConfigs) -> Vec<ConfigEntry> {
    dynamic
        .level(dynamic::Level::ClusterDefault)
        .iter()
        .map(|(name, value)| {
            let def = registry().broker(name);
            let read_only = def.is_none_or(|d| d.update_mode == UpdateMode::ReadOnly);
            let synonym = (
                name.clone(),
                Some(value.clone()),
                ConfigSource::DynamicDefaultBroker,
            );
            entry(name, def, vec![synonym], read_only)
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
        let entries = describe_topic(&config, &DynamicConfigs::default(), &overrides);
        let retention = entries
            .iter()
            .find(|e| e.name == "retention.ms")
            .expect("retention.ms");
        assert_eq!(retention.value.as_deref(), Some("1000"));
        assert_eq!(retention.source, ConfigSource::DynamicTopic);
        // log.retention.ms has no default of its own (log.retention.hours does): Kafka lists
        // only the override then.
        assert_eq!(retention.synonyms.len(), 1);
        let segment = entries
            .iter()
            .find(|e| e.name == "segment.bytes")
            .expect("segment");
        assert_eq!(segment.synonyms[0].0, "log.segment.bytes");
        assert!(entries.iter().all(|e| e.name != "internal.segment.bytes"));
        let policy = entries
            .iter()
            .find(|e| e.name == "cleanup.policy")
            .expect("policy");
        assert_eq!(policy.value.as_deref(), Some("delete"));
        assert_eq!(policy.source, ConfigSource::Default);
    }

    fn find<'a>(entries: &'a [ConfigEntry], name: &str) -> &'a ConfigEntry {
        entries.iter().find(|e| e.name == name).expect(name)
    }

    #[test]
    fn dynamic_broker_values_are_topic_defaults_below_a_topic_override() {
        let config = BrokerConfig::new("data".into());
        let set = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let dynamic = DynamicConfigs::default()
            .with_level(
                dynamic::Level::ClusterDefault,
                set(&[("log.retention.ms", "7200000"), ("foo.bar", "x")]),
            )
            .with_level(
                dynamic::Level::PerBroker,
                set(&[("log.retention.ms", "3600000")]),
            );
        let topic = describe_topic(&config, &dynamic, &BTreeMap::new());
        let retention = find(&topic, "retention.ms");
        assert_eq!(retention.value.as_deref(), Some("3600000"));
        assert_eq!(retention.source, ConfigSource::DynamicBroker);
        // As Kafka 4.4.0 answers: both dynamic levels, then the other units' defaults.
        let sources: Vec<(&str, ConfigSource)> = retention
            .synonyms
            .iter()
            .map(|(n, _, s)| (n.as_str(), *s))
            .collect();
        assert_eq!(
            sources,
            [
                ("log.retention.ms", ConfigSource::DynamicBroker),
                ("log.retention.ms", ConfigSource::DynamicDefaultBroker),
                ("log.retention.hours", ConfigSource::Default),
            ]
        );
        let overridden = describe_topic(&config, &dynamic, &set(&[("retention.ms", "1")]));
        assert_eq!(
            find(&overridden, "retention.ms").source,
            ConfigSource::DynamicTopic
        );

        let broker = describe_broker(&config, &dynamic, &[]);
        let retention = find(&broker, "log.retention.ms");
        assert_eq!(retention.value.as_deref(), Some("3600000"));
        assert!(!retention.read_only);
        assert!(find(&broker, "num.partitions").read_only);
        let unknown = find(&broker, "foo.bar");
        assert!(unknown.sensitive && unknown.read_only && unknown.value.is_none());
        assert_eq!(unknown.source, ConfigSource::DynamicDefaultBroker);

        let defaults = describe_broker_defaults(&dynamic);
        assert_eq!(defaults.len(), 2);
        let retention = find(&defaults, "log.retention.ms");
        assert_eq!(retention.value.as_deref(), Some("7200000"));
        assert_eq!(retention.source, ConfigSource::DynamicDefaultBroker);
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
