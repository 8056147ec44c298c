//! The topics this broker hosts: names, ids, configs and partitions, persisted in
//! `<data>/topics.json` (replaced atomically by `metadata_file::save`).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde::{Deserialize, Serialize};
use uuid::Uuid;
use vltava_storage::fs::FileSystem;
use vltava_storage::{Log, LogConfig};

use crate::config::FlushPolicy;
use crate::configs;
use crate::error::{BrokerError, Result};
use crate::log_dir::LogDirHealth;
use crate::metadata_file;
use crate::partition::Partition;
use crate::topic_name;

const TOPICS_FILE: &str = "topics.json";
/// More partitions than this in one topic is refused (Kafka has no hard limit; we want one).
pub const PARTITIONS_PER_TOPIC_MAX: i32 = 10_000;

#[derive(Debug)]
pub struct Topic {
    pub name: Arc<str>,
    pub id: Uuid,
    pub configs: BTreeMap<String, String>,
    pub partitions: Vec<Arc<Partition>>,
}

impl Topic {
    pub fn partition(&self, index: i32) -> Option<&Arc<Partition>> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.partitions.get(i))
    }

    pub fn is_internal(&self) -> bool {
        topic_name::is_internal(&self.name)
    }
}

/// What CreateTopics (or auto-creation) asks for, already resolved to concrete values.
#[derive(Debug, Clone)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: i32,
    pub configs: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct TopicRecord {
    name: String,
    id: Uuid,
    partitions: i32,
    configs: BTreeMap<String, String>,
}

#[derive(Debug, Default)]
struct TopicMap {
    by_name: HashMap<Arc<str>, Arc<Topic>>,
    by_id: HashMap<Uuid, Arc<Topic>>,
}

#[derive(Debug)]
pub struct Topics {
    data_dir: PathBuf,
    fs: Arc<dyn FileSystem>,
    flush: FlushPolicy,
    /// The health of `data_dir`, shared by every partition in it.
    log_dir: Arc<LogDirHealth>,
    /// The broker's topic defaults: static settings under dynamic broker configs. Replaced
    /// (under the map's write lock) when a dynamic broker config changes.
    defaults: RwLock<LogConfig>,
    map: RwLock<TopicMap>,
    /// Held while a topic grows (CreatePartitions): two growths at once would open the same
    /// partition directories.
    growing: Mutex<()>,
}

impl Topics {
    /// Loads the persisted topics and opens (recovering) every partition's log.
    pub fn open(
        data_dir: &Path,
        fs: Arc<dyn FileSystem>,
        flush: FlushPolicy,
        defaults: LogConfig,
        now_ms: i64,
    ) -> Result<Self> {
        let topics = Topics {
            data_dir: data_dir.to_path_buf(),
            fs,
            flush,
            log_dir: Arc::default(),
            defaults: RwLock::new(defaults),
            map: RwLock::new(TopicMap::default()),
            growing: Mutex::new(()),
        };
        let path = data_dir.join(TOPICS_FILE);
        let records: Vec<TopicRecord> = metadata_file::load(&path)?.unwrap_or_default();
        {
            let mut map = topics.write();
            for record in records {
                let topic = topics.open_topic(
                    record.name,
                    record.id,
                    record.partitions,
                    record.configs,
                    now_ms,
                )?;
                map.insert(topic);
            }
        }
        Ok(topics)
    }

    fn read(&self) -> RwLockReadGuard<'_, TopicMap> {
        self.map.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, TopicMap> {
        self.map.write().unwrap_or_else(|e| e.into_inner())
    }

    fn defaults(&self) -> LogConfig {
        self.defaults
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the broker's topic defaults (a dynamic broker config changed) and re-applies
    /// the log config of every topic, so that those without their own override follow the new
    /// defaults at once. Every topic's config is computed before any is applied.
    pub fn set_defaults(&self, defaults: LogConfig) -> Result<()> {
        // The write lock: no topic is created or reconfigured with the old defaults meanwhile.
        let map = self.write();
        let configs = map
            .by_name
            .values()
            .map(|topic| Ok((topic.clone(), log_config(&defaults, &topic.configs)?)))
            .collect::<Result<Vec<_>>>()?;
        *self.defaults.write().unwrap_or_else(|e| e.into_inner()) = defaults;
        for (topic, config) in configs {
            for partition in &topic.partitions {
                partition.set_log_config(config.clone());
            }
        }
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<Arc<Topic>> {
        self.read().by_name.get(name).cloned()
    }

    pub fn get_by_id(&self, id: &Uuid) -> Option<Arc<Topic>> {
        self.read().by_id.get(id).cloned()
    }

    /// Every topic, sorted by name so that listings are stable.
    pub fn all(&self) -> Vec<Arc<Topic>> {
        let mut all: Vec<_> = self.read().by_name.values().cloned().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// Checks a topic could be created, without creating it (CreateTopics validate_only).
    pub fn validate(&self, spec: &TopicSpec) -> Result<()> {
        topic_name::validate(&spec.name)?;
        if spec.partitions < 1 || spec.partitions > PARTITIONS_PER_TOPIC_MAX {
            return Err(BrokerError::InvalidPartitions(spec.partitions));
        }
        log_config(&self.defaults(), &spec.configs)?;
        if self.read().by_name.contains_key(spec.name.as_str()) {
            return Err(BrokerError::TopicAlreadyExists);
        }
        Ok(())
    }

    pub fn create(&self, spec: TopicSpec, now_ms: i64) -> Result<Arc<Topic>> {
        self.validate(&spec)?;
        let mut map = self.write();
        if map.by_name.contains_key(spec.name.as_str()) {
            return Err(BrokerError::TopicAlreadyExists);
        }
        for index in 0..spec.partitions {
            self.remove_stale_dir(&self.partition_dir(&spec.name, index))?;
        }
        let topic = self.open_topic(
            spec.name,
            Uuid::new_v4(),
            spec.partitions,
            spec.configs,
            now_ms,
        )?;
        map.insert(topic.clone());
        self.persist(&map)?;
        tracing::info!(topic = %topic.name, partitions = topic.partitions.len(), "created topic");
        Ok(topic)
    }

    pub fn delete(&self, name: &str) -> Result<Arc<Topic>> {
        let topic = {
            let mut map = self.write();
            let topic = map
                .by_name
                .remove(name)
                .ok_or(BrokerError::UnknownTopicOrPartition)?;
            map.by_id.remove(&topic.id);
            self.persist(&map)?;
            topic
        };
        // The directories go now. In-flight requests that still hold a partition keep its open
        // files (unlinked files stay readable and writable on Unix) and see nothing of a topic
        // created later under the same name. Marked first, so that retention or a flush
        // still running on them does not take a vanished directory for a failed disk.
        for partition in &topic.partitions {
            partition.mark_deleted();
        }
        for index in 0..partition_count(&topic) {
            self.remove_stale_dir(&self.partition_dir(&topic.name, index))?;
        }
        tracing::info!(topic = %topic.name, "deleted topic");
        Ok(topic)
    }

    /// Replaces a topic's config overrides (AlterConfigs, IncrementalAlterConfigs): checked,
    /// persisted, then applied to every partition's log. `validate_only` checks only.
    pub fn set_configs(
        &self,
        name: &str,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<()> {
        // Under the write lock, so that a change of the defaults cannot slip in between.
        let mut map = self.write();
        let log = log_config(&self.defaults(), &configs)?;
        let current = map
            .by_name
            .get(name)
            .cloned()
            .ok_or(BrokerError::UnknownTopicOrPartition)?;
        if validate_only {
            return Ok(());
        }
        let topic = Arc::new(Topic {
            name: current.name.clone(),
            id: current.id,
            configs,
            partitions: current.partitions.clone(),
        });
        map.insert(topic.clone());
        self.persist(&map)?;
        for partition in &topic.partitions {
            partition.set_log_config(log.clone());
        }
        tracing::info!(topic = %topic.name, configs = ?topic.configs, "altered topic configs");
        Ok(())
    }

    fn open_topic(
        &self,
        name: String,
        id: Uuid,
        partitions: i32,
        configs: BTreeMap<String, String>,
        now_ms: i64,
    ) -> Result<Arc<Topic>> {
        let config = log_config(&self.defaults(), &configs)?;
        let name: Arc<str> = name.into();
        let mut opened = Vec::new();
        for index in 0..partitions {
            let dir = self.partition_dir(&name, index);
            let log = Log::open(self.fs.clone(), &dir, config.clone(), now_ms)?;
            opened.push(Arc::new(Partition::new(
                name.clone(),
                index,
                log,
                self.flush,
                self.log_dir.clone(),
                now_ms,
            )?));
        }
        Ok(Arc::new(Topic {
            name,
            id,
            configs,
            partitions: opened,
        }))
    }

    fn persist(&self, map: &TopicMap) -> Result<()> {
        let mut records: Vec<TopicRecord> = map
            .by_name
            .values()
            .map(|t| TopicRecord {
                name: t.name.to_string(),
                id: t.id,
                partitions: t.partitions.len() as i32,
                configs: t.configs.clone(),
            })
            .collect();
        records.sort_by(|a, b| a.name.cmp(&b.name));
        let path = self.data_dir.join(TOPICS_FILE);
        metadata_file::save(&path, &records)
    }
}

/// CreatePartitions: growing a topic.
impl Topics {
    /// Checks that a topic could grow to `partitions` partitions (CreatePartitions, and all of
    /// it with validate_only); returns the topic as it is now.
    pub fn validate_growth(&self, name: &str, partitions: i32) -> Result<Arc<Topic>> {
        let topic = self.get(name).ok_or(BrokerError::UnknownTopicOrPartition)?;
        check_growth(&topic, partitions)?;
        Ok(topic)
    }

    /// Grows a topic to `partitions` partitions and returns it grown.
    ///
    /// The existing partitions keep serving throughout. The new logs are opened (two fsyncs
    /// each) under the read lock: produce and fetch carry on, while CreateTopics, DeleteTopics
    /// and config changes (writers) wait, so nothing else touches these directories or this
    /// topic meanwhile. (std's lock prefers writers: while one waits, new lookups wait too.)
    /// Then a new `Topic` holding the same `Arc<Partition>`s plus the new ones replaces the
    /// old one and `topics.json` is rewritten; requests holding the old `Topic` finish with it.
    pub fn add_partitions(&self, name: &str, partitions: i32, now_ms: i64) -> Result<Arc<Topic>> {
        let _growing = self.growing.lock().unwrap_or_else(|e| e.into_inner());
        let (seen, added) = {
            let map = self.read();
            let topic = map
                .by_name
                .get(name)
                .cloned()
                .ok_or(BrokerError::UnknownTopicOrPartition)?;
            let added = self.open_new_partitions(&topic, partitions, now_ms)?;
            (topic, added)
        };
        let mut map = self.write();
        let current = map.by_name.get(name).cloned();
        let (base, added) = match current {
            Some(current) if Arc::ptr_eq(&current, &seen) => (current, added),
            current => {
                // The topic changed in the instant between the two locks (reconfigured,
                // deleted, re-created): drop what was opened for the old state and grow the
                // topic as it is now, under the write lock this time.
                discard_partitions(added, current.as_deref());
                let current = current.ok_or(BrokerError::UnknownTopicOrPartition)?;
                let added = self.open_new_partitions(&current, partitions, now_ms)?;
                (current, added)
            }
        };
        // The new logs were opened under the read lock: the broker defaults (dynamic broker
        // configs) may have changed since. Under the write lock they are current.
        let config = log_config(&self.defaults(), &base.configs)?;
        for partition in &added {
            partition.set_log_config(config.clone());
        }
        let mut all = base.partitions.clone();
        all.extend(added);
        let grown = Arc::new(Topic {
            name: base.name.clone(),
            id: base.id,
            configs: base.configs.clone(),
            partitions: all,
        });
        map.insert(grown.clone());
        if let Err(error) = self.persist(&map) {
            // Not recorded, so not served: a restart would not know the new partitions.
            map.insert(base);
            return Err(error);
        }
        tracing::info!(topic = %grown.name, from = seen.partitions.len(), to = partitions, "added partitions");
        Ok(grown)
    }

    /// Empty logs for the partitions from the topic's count up to `partitions`. A directory
    /// already there was left by a deleted topic of the same name (or by a growth that a crash
    /// cut short); it is removed so that a new partition never shows old records.
    fn open_new_partitions(
        &self,
        topic: &Topic,
        partitions: i32,
        now_ms: i64,
    ) -> Result<Vec<Arc<Partition>>> {
        check_growth(topic, partitions)?;
        let config = log_config(&self.defaults(), &topic.configs)?;
        let mut added = Vec::new();
        for index in partition_count(topic)..partitions {
            let dir = self.partition_dir(&topic.name, index);
            self.remove_stale_dir(&dir)?;
            let log = Log::open(self.fs.clone(), &dir, config.clone(), now_ms)?;
            let partition = Partition::new(
                topic.name.clone(),
                index,
                log,
                self.flush,
                self.log_dir.clone(),
                now_ms,
            )?;
            added.push(Arc::new(partition));
        }
        Ok(added)
    }
}

impl Topics {
    /// The one place partition directories are named: `<data>/<topic>-<partition>`.
    fn partition_dir(&self, topic: &str, index: i32) -> PathBuf {
        self.data_dir.join(format!("{topic}-{index}"))
    }

    /// Removes a directory left by a deleted topic of the same name (or by a deletion or growth
    /// that a crash cut short), so that a new partition never shows old records.
    fn remove_stale_dir(&self, dir: &Path) -> Result<()> {
        if !self.fs.exists(dir) {
            return Ok(());
        }
        tracing::info!(dir = %dir.display(), "removing partition directory");
        self.fs
            .remove_dir_all(dir)
            .map_err(|source| BrokerError::MetadataIo {
                path: dir.to_path_buf(),
                source,
            })
    }
}

fn partition_count(topic: &Topic) -> i32 {
    i32::try_from(topic.partitions.len()).unwrap_or(i32::MAX)
}

/// Kafka's checks, in Kafka's order, then ours.
fn check_growth(topic: &Topic, partitions: i32) -> Result<()> {
    let current = partition_count(topic);
    if partitions == current {
        return Err(BrokerError::PartitionCountUnchanged { current });
    }
    if partitions < current {
        return Err(BrokerError::PartitionCountDecrease {
            topic: topic.name.to_string(),
            current,
            requested: partitions,
        });
    }
    if topic.is_internal() {
        return Err(BrokerError::InternalTopicPartitions(topic.name.to_string()));
    }
    if partitions > PARTITIONS_PER_TOPIC_MAX {
        return Err(BrokerError::InvalidPartitions(partitions));
    }
    Ok(())
}

/// Drops partitions opened for a growth that did not happen. A directory the topic now has
/// (re-created meanwhile) stays; the others are removed.
fn discard_partitions(added: Vec<Arc<Partition>>, current: Option<&Topic>) {
    for partition in added {
        if current.is_some_and(|t| t.partition(partition.index).is_some()) {
            continue;
        }
        if let Some(partition) = Arc::into_inner(partition)
            && let Err(error) = partition.delete()
        {
            tracing::warn!(%error, "cannot remove the directory of a partition not added");
        }
    }
}

impl TopicMap {
    fn insert(&mut self, topic: Arc<Topic>) {
        self.by_id.insert(topic.id, topic.clone());
        self.by_name.insert(topic.name.clone(), topic);
    }
}

/// The log config of a topic: broker defaults overridden by the topic's configs. Every name
/// and value is checked against Kafka's definitions first (INVALID_CONFIG otherwise).
pub fn log_config(defaults: &LogConfig, configs: &BTreeMap<String, String>) -> Result<LogConfig> {
    configs::validate_topic_configs(configs)?;
    let mut config = defaults.clone();
    for (name, value) in configs {
        match name.as_str() {
            "retention.ms" => config.retention_ms = parse(name, value)?,
            "retention.bytes" => config.retention_bytes = parse(name, value)?,
            "segment.ms" => config.segment_ms = parse(name, value)?,
            "segment.bytes" => config.segment_bytes = parse(name, value)?,
            "max.message.bytes" => config.max_message_bytes = parse(name, value)?,
            "index.interval.bytes" => config.index_interval_bytes = parse(name, value)?,
            "cleanup.policy" => config.cleanup_policy = cleanup_policy(value),
            "delete.retention.ms" => config.delete_retention_ms = parse(name, value)?,
            "min.cleanable.dirty.ratio" => config.min_cleanable_dirty_ratio = parse(name, value)?,
            "min.compaction.lag.ms" => config.min_compaction_lag_ms = parse(name, value)?,
            "max.compaction.lag.ms" => config.max_compaction_lag_ms = parse(name, value)?,
            "message.timestamp.type" => config.message_timestamp_type = timestamp_type(value)?,
            "message.timestamp.before.max.ms" => {
                config.message_timestamp_before_max_ms = parse(name, value)?
            }
            "message.timestamp.after.max.ms" => {
                config.message_timestamp_after_max_ms = parse(name, value)?
            }
            _ => {}
        }
    }
    // Kafka's testing knob: segments below segment.bytes' 1 MiB minimum.
    if let Some(value) = configs.get("internal.segment.bytes") {
        config.segment_bytes = parse("internal.segment.bytes", value)?;
    }
    Ok(config)
}

/// `cleanup.policy` as the log acts on it: a list holding `delete`, `compact` or both
/// (validated by the registry).
fn cleanup_policy(value: &str) -> vltava_storage::CleanupPolicy {
    let has = |policy: &str| value.split(',').any(|p| p.trim() == policy);
    vltava_storage::CleanupPolicy {
        delete: has("delete"),
        compact: has("compact"),
    }
}

/// `message.timestamp.type`, already checked by the registry against Kafka's two values.
fn timestamp_type(value: &str) -> Result<vltava_storage::TimestampType> {
    vltava_storage::TimestampType::parse(value).ok_or_else(|| {
        BrokerError::InvalidConfig(format!(
            "Invalid value {value} for configuration message.timestamp.type"
        ))
    })
}

/// A validated number in the type the log wants; a value the registry accepted but that does
/// not fit (a negative size) is still INVALID_CONFIG.
fn parse<T: std::str::FromStr>(name: &str, value: &str) -> Result<T> {
    value.trim().parse::<T>().map_err(|_| {
        BrokerError::InvalidConfig(format!("Invalid value {value} for configuration {name}"))
    })
}
