//! The topics this broker hosts: names, ids, configs and partitions, persisted in
//! `<data>/topics.json` (written to a temporary file, fsynced, renamed, directory fsynced).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde::{Deserialize, Serialize};
use uuid::Uuid;
use vltava_storage::fs::FileSystem;
use vltava_storage::{Log, LogConfig};

use crate::config::FlushPolicy;
use crate::error::{BrokerError, Result};
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
        self.name.starts_with("__")
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
    defaults: LogConfig,
    map: RwLock<TopicMap>,
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
            defaults,
            map: RwLock::new(TopicMap::default()),
        };
        let path = data_dir.join(TOPICS_FILE);
        let records: Vec<TopicRecord> = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| BrokerError::MetadataIo {
                path: path.clone(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(source) => return Err(BrokerError::MetadataIo { path, source }),
        };
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
        log_config(&self.defaults, &spec.configs)?;
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
        // In-flight requests may still hold a partition; its directory goes when the last does.
        for partition in &topic.partitions {
            if let Some(partition) = Arc::into_inner(partition.clone()) {
                partition.delete()?;
            }
        }
        tracing::info!(topic = %topic.name, "deleted topic");
        Ok(topic)
    }

    fn open_topic(
        &self,
        name: String,
        id: Uuid,
        partitions: i32,
        configs: BTreeMap<String, String>,
        now_ms: i64,
    ) -> Result<Arc<Topic>> {
        let config = log_config(&self.defaults, &configs)?;
        let name: Arc<str> = name.into();
        let mut opened = Vec::new();
        for index in 0..partitions {
            let dir = self.data_dir.join(format!("{name}-{index}"));
            let log = Log::open(self.fs.clone(), &dir, config.clone(), now_ms)?;
            opened.push(Arc::new(Partition::new(
                name.clone(),
                index,
                log,
                self.flush,
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
        let bytes = serde_json::to_vec_pretty(&records).map_err(|e| BrokerError::MetadataIo {
            path: path.clone(),
            source: std::io::Error::other(e),
        })?;
        write_atomically(&path, &bytes).map_err(|source| BrokerError::MetadataIo { path, source })
    }
}

impl TopicMap {
    fn insert(&mut self, topic: Arc<Topic>) {
        self.by_id.insert(topic.id, topic.clone());
        self.by_name.insert(topic.name.clone(), topic);
    }
}

/// Writes `bytes` so that after a crash the file holds either the old or the new content.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Topic configs Kafka 4 knows. Unknown names are refused with INVALID_CONFIG, as Kafka does.
const TOPIC_CONFIG_NAMES: &[&str] = &[
    "cleanup.policy",
    "compression.gzip.level",
    "compression.lz4.level",
    "compression.type",
    "compression.zstd.level",
    "delete.retention.ms",
    "file.delete.delay.ms",
    "flush.messages",
    "flush.ms",
    "follower.replication.throttled.replicas",
    "index.interval.bytes",
    "leader.replication.throttled.replicas",
    "local.retention.bytes",
    "local.retention.ms",
    "max.compaction.lag.ms",
    "max.message.bytes",
    "message.timestamp.after.max.ms",
    "message.timestamp.before.max.ms",
    "message.timestamp.type",
    "min.cleanable.dirty.ratio",
    "min.compaction.lag.ms",
    "min.insync.replicas",
    "preallocate",
    "remote.log.copy.disable",
    "remote.log.delete.on.disable",
    "remote.storage.enable",
    "retention.bytes",
    "retention.ms",
    "segment.bytes",
    "segment.index.bytes",
    "segment.jitter.ms",
    "segment.ms",
    "unclean.leader.election.enable",
];

/// The log config of a topic: broker defaults overridden by the topic's configs.
pub fn log_config(defaults: &LogConfig, configs: &BTreeMap<String, String>) -> Result<LogConfig> {
    let mut config = defaults.clone();
    for (name, value) in configs {
        if !TOPIC_CONFIG_NAMES.contains(&name.as_str()) {
            return Err(BrokerError::InvalidConfig(format!(
                "unknown topic config {name}"
            )));
        }
        match name.as_str() {
            "retention.ms" => config.retention_ms = parse(name, value, -1)?,
            "retention.bytes" => config.retention_bytes = parse(name, value, -1)?,
            "segment.ms" => config.segment_ms = parse(name, value, 1)?,
            "segment.bytes" => config.segment_bytes = parse::<u64>(name, value, 14)?,
            "max.message.bytes" => config.max_message_bytes = parse(name, value, 0)?,
            "index.interval.bytes" => config.index_interval_bytes = parse(name, value, 0)?,
            _ => {}
        }
    }
    Ok(config)
}

fn parse<T>(name: &str, value: &str, min: T) -> Result<T>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    match value.trim().parse::<T>() {
        Ok(v) if v >= min => Ok(v),
        _ => Err(BrokerError::InvalidConfig(format!(
            "invalid value {value:?} for {name}: expected a number at least {min}"
        ))),
    }
}
