//! Dynamic broker configs (KIP-226): broker configs set at run time with AlterConfigs or
//! IncrementalAlterConfigs, for this broker (resource name = its node id) or as the
//! cluster-wide default (resource name ""). Only the configs Kafka lets change at run time are
//! accepted (the registry's update mode); names Kafka does not know are stored, as Kafka does.
//!
//! They are `Config` records of the metadata log (resources `Broker(node id)` and
//! `BrokerDefault`), so every broker sees the cluster default; an older vltava kept them in
//! `<data>/broker-configs.json`, moved into the log at start. The `log.*` ones that are the
//! broker default of a topic config take effect as that default: precedence is topic override >
//! per-broker > cluster default > static (flags, vltava.toml) > Kafka's default.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};

use super::ConfigSource;
use super::registry::{UpdateMode, registry, validate};
use crate::error::{BrokerError, Result};
use crate::metadata_file;
use crate::topics::log_config;
use vltava_cluster::MetadataImage;
use vltava_cluster::records::ConfigResource;
use vltava_storage::LogConfig;

const BROKER_CONFIGS_FILE: &str = "broker-configs.json";
/// The layout of `broker-configs.json`; a file of a later version is refused, not misread.
const FORMAT_VERSION: u32 = 1;

/// Which entity an alteration addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// This broker (resource name = its node id): DYNAMIC_BROKER_CONFIG.
    PerBroker,
    /// Every broker (resource name ""): DYNAMIC_DEFAULT_BROKER_CONFIG.
    ClusterDefault,
}

impl Level {
    /// The level a BROKER resource name addresses, with Kafka's errors for a bad name.
    pub fn of_resource(name: &str, node_id: i32) -> Result<Level> {
        if name.is_empty() {
            return Ok(Level::ClusterDefault);
        }
        let id: i32 = name.parse().map_err(|_| {
            BrokerError::InvalidRequest(format!("Node id must be an integer, but it is: {name}"))
        })?;
        if id != node_id {
            return Err(BrokerError::InvalidRequest(format!(
                "Unexpected broker id, expected {node_id}, but received {name}"
            )));
        }
        Ok(Level::PerBroker)
    }
}

/// The dynamic broker configs, both levels, as persisted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DynamicConfigs {
    version: u32,
    per_broker: BTreeMap<String, String>,
    cluster_default: BTreeMap<String, String>,
}

impl Default for DynamicConfigs {
    fn default() -> Self {
        DynamicConfigs {
            version: FORMAT_VERSION,
            per_broker: BTreeMap::new(),
            cluster_default: BTreeMap::new(),
        }
    }
}

impl DynamicConfigs {
    pub fn level(&self, level: Level) -> &BTreeMap<String, String> {
        match level {
            Level::PerBroker => &self.per_broker,
            Level::ClusterDefault => &self.cluster_default,
        }
    }

    /// These configs with one level replaced whole.
    pub fn with_level(&self, level: Level, configs: BTreeMap<String, String>) -> Self {
        let mut next = self.clone();
        match level {
            Level::PerBroker => next.per_broker = configs,
            Level::ClusterDefault => next.cluster_default = configs,
        }
        next
    }

    /// The dynamic value of broker config `name` at the level of `source`
    /// (DynamicBroker or DynamicDefaultBroker; any other source has none here).
    pub fn value(&self, source: ConfigSource, name: &str) -> Option<&String> {
        match source {
            ConfigSource::DynamicBroker => self.per_broker.get(name),
            ConfigSource::DynamicDefaultBroker => self.cluster_default.get(name),
            _ => None,
        }
    }

    /// The topic configs whose broker default is set dynamically, by topic config name: a
    /// per-broker value wins over the cluster default.
    pub fn topic_defaults(&self) -> BTreeMap<String, String> {
        registry()
            .topic_configs()
            .filter_map(|def| {
                let broker_name = def.synonyms.first()?;
                let value = self
                    .per_broker
                    .get(broker_name)
                    .or_else(|| self.cluster_default.get(broker_name))?;
                Some((def.name.clone(), value.clone()))
            })
            .collect()
    }
}

/// The topic defaults in effect: the static ones (flags, vltava.toml) under the dynamic ones.
pub fn log_defaults(static_defaults: &LogConfig, dynamic: &DynamicConfigs) -> Result<LogConfig> {
    log_config(static_defaults, &dynamic.topic_defaults())
}

/// Checks the configs of one level as Kafka does, in Kafka's order and wording (all
/// INVALID_REQUEST): configs that cannot change at run time, per-broker configs set as the
/// cluster default, then values of the wrong type or out of range.
pub fn validate_level(level: Level, configs: &BTreeMap<String, String>) -> Result<()> {
    let known = || {
        configs
            .iter()
            .filter_map(|(n, v)| Some((registry().broker(n)?, v)))
    };
    let read_only: Vec<&str> = known()
        .filter(|(def, _)| def.update_mode == UpdateMode::ReadOnly)
        .map(|(def, _)| def.name.as_str())
        .collect();
    if !read_only.is_empty() {
        return Err(BrokerError::InvalidRequest(format!(
            "Cannot update these configs dynamically: [{}]",
            read_only.join(", ")
        )));
    }
    let per_broker: Vec<&str> = known()
        .filter(|(def, _)| def.update_mode == UpdateMode::PerBroker)
        .map(|(def, _)| def.name.as_str())
        .collect();
    if level == Level::ClusterDefault && !per_broker.is_empty() {
        return Err(BrokerError::InvalidRequest(format!(
            "Cannot update these configs at default cluster level, broker id must be specified: [{}]",
            per_broker.join(", ")
        )));
    }
    for (def, value) in known() {
        validate(def, value).map_err(BrokerError::InvalidRequest)?;
    }
    // A broker value becomes the default of a topic config, so it must be a valid value of
    // that config too (vltava's check: Kafka takes e.g. log.retention.ms=-5 and then cannot
    // build the log config from it).
    for def in registry().topic_configs() {
        let Some(broker_name) = def.synonyms.first() else {
            continue;
        };
        if let Some(value) = configs.get(broker_name) {
            validate(def, value).map_err(|why| {
                BrokerError::InvalidRequest(format!(
                    "{why} (the default of topic config {} comes from {broker_name})",
                    def.name
                ))
            })?;
        }
    }
    Ok(())
}

/// The dynamic configs a running broker applies: those of the metadata image it last
/// published (`Config` records of the broker resources).
#[derive(Debug, Default)]
pub struct DynamicConfigStore {
    current: RwLock<Arc<DynamicConfigs>>,
    /// Held across read-modify-decide, so that two alterations through this broker never
    /// interleave.
    altering: tokio::sync::Mutex<()>,
}

impl DynamicConfigStore {
    pub fn current(&self) -> Arc<DynamicConfigs> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Serialises alterations: hold the guard from reading `current()` until the change is
    /// published.
    pub async fn lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.altering.lock().await
    }

    /// Makes `configs` current (a new image was published).
    pub fn set(&self, configs: DynamicConfigs) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(configs);
    }
}

impl Level {
    /// The metadata log's resource for this level on broker `node_id`.
    pub fn resource(self, node_id: i32) -> ConfigResource {
        match self {
            Level::PerBroker => ConfigResource::Broker(node_id),
            Level::ClusterDefault => ConfigResource::BrokerDefault,
        }
    }
}

impl DynamicConfigs {
    /// Both levels as broker `node_id` sees them in `image`.
    pub fn from_image(image: &MetadataImage, node_id: i32) -> DynamicConfigs {
        let level = |resource| image.configs.get(&resource).cloned().unwrap_or_default();
        DynamicConfigs {
            version: FORMAT_VERSION,
            per_broker: level(ConfigResource::Broker(node_id)),
            cluster_default: level(ConfigResource::BrokerDefault),
        }
    }

    /// `<data>/broker-configs.json`, where an older vltava kept them, if it is there.
    pub fn load_old_file(data_dir: &Path) -> Result<Option<(PathBuf, DynamicConfigs)>> {
        let path = data_dir.join(BROKER_CONFIGS_FILE);
        let Some(configs) = metadata_file::load::<DynamicConfigs>(&path)? else {
            return Ok(None);
        };
        if configs.version != FORMAT_VERSION {
            return Err(BrokerError::MetadataIo {
                path,
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "format version {} (this vltava reads {FORMAT_VERSION})",
                        configs.version
                    ),
                ),
            });
        }
        Ok(Some((path, configs)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_resource_name_is_this_node_id_or_empty() {
        assert_eq!(Level::of_resource("", 1).ok(), Some(Level::ClusterDefault));
        assert_eq!(Level::of_resource("1", 1).ok(), Some(Level::PerBroker));
        assert!(
            matches!(Level::of_resource("2", 1), Err(BrokerError::InvalidRequest(m)) if m == "Unexpected broker id, expected 1, but received 2")
        );
        assert!(
            matches!(Level::of_resource("x", 1), Err(BrokerError::InvalidRequest(m)) if m == "Node id must be an integer, but it is: x")
        );
    }

    #[test]
    fn only_dynamic_configs_are_accepted_at_their_level() {
        let ok = configs(&[("log.retention.ms", "60000"), ("foo.bar", "x")]);
        assert!(validate_level(Level::PerBroker, &ok).is_ok());
        assert!(validate_level(Level::ClusterDefault, &ok).is_ok());
        let read_only = configs(&[("num.partitions", "3")]);
        assert!(
            matches!(validate_level(Level::PerBroker, &read_only), Err(BrokerError::InvalidRequest(m)) if m == "Cannot update these configs dynamically: [num.partitions]")
        );
        let per_broker = configs(&[("listeners", "PLAINTEXT://127.0.0.1:1")]);
        assert!(
            matches!(validate_level(Level::ClusterDefault, &per_broker), Err(BrokerError::InvalidRequest(m)) if m.starts_with("Cannot update these configs at default cluster level"))
        );
        let bad = configs(&[("log.retention.ms", "abc")]);
        assert!(
            matches!(validate_level(Level::PerBroker, &bad), Err(BrokerError::InvalidRequest(m)) if m == "Invalid value abc for configuration log.retention.ms: Not a number of type LONG")
        );
        let bad_for_topics = configs(&[("log.retention.ms", "-5")]);
        assert!(validate_level(Level::PerBroker, &bad_for_topics).is_err());
    }

    #[test]
    fn a_per_broker_value_wins_over_the_cluster_default() {
        let dynamic = DynamicConfigs::default()
            .with_level(
                Level::ClusterDefault,
                configs(&[("log.retention.ms", "1"), ("log.segment.bytes", "2000000")]),
            )
            .with_level(Level::PerBroker, configs(&[("log.retention.ms", "2")]));
        let topic = dynamic.topic_defaults();
        assert_eq!(topic.get("retention.ms").map(String::as_str), Some("2"));
        assert_eq!(
            topic.get("segment.bytes").map(String::as_str),
            Some("2000000")
        );
        assert_eq!(topic.len(), 2);
    }
}
