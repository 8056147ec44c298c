//! The topics this broker hosts: names, ids, configs and their open partitions. The metadata
//! log is their source of truth: every change (CreateTopics, DeleteTopics, CreatePartitions,
//! topic configs) is a controller decision, and [`Topics::publish`] makes the local topics what
//! each new metadata image says, opening and removing partition logs. Handlers that asked the
//! controller for a change wait with [`Topics::wait_published`] until it is served here.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use std::time::Duration;

use tokio::sync::watch;
use uuid::Uuid;
use vltava_cluster::MetadataImage;
use vltava_cluster::image::{PartitionRegistration, TopicImage};
use vltava_cluster::records::{BrokerId, ConfigResource};
use vltava_storage::fs::FileSystem;
use vltava_storage::{Log, LogConfig};

use crate::config::FlushPolicy;
use crate::configs;
use crate::error::{BrokerError, Result};
use crate::log_dir::LogDirHealth;
use crate::metrics::{BrokerMetrics, TopicMetrics};
use crate::partition::Partition;
use crate::topic_name;

/// More partitions than this in one topic is refused (Kafka has no hard limit; we want one).
pub const PARTITIONS_PER_TOPIC_MAX: i32 = 10_000;

#[derive(Debug)]
pub struct Topic {
    pub name: Arc<str>,
    pub id: Uuid,
    pub configs: BTreeMap<String, String>,
    /// The topic as the metadata image published here has it: every partition with its
    /// replicas, ISR, leader and leader epoch, hosted here or not.
    pub image: Arc<TopicImage>,
    /// The partitions with a replica on this broker, in index order.
    pub partitions: Vec<Arc<Partition>>,
    /// This broker, to tell which partitions it leads.
    node_id: BrokerId,
    /// Its BrokerTopicMetrics, found here by produce and fetch without a lookup.
    pub metrics: TopicMetrics,
}

impl Topic {
    /// The partition's replica on this broker, if it has one.
    pub fn partition(&self, index: i32) -> Option<&Arc<Partition>> {
        self.partitions
            .binary_search_by_key(&index, |p| p.index)
            .ok()
            .map(|i| &self.partitions[i])
    }

    /// The partition if this broker leads it: what produce, fetch and offset lookups act on.
    /// A partition led elsewhere (or by nobody just now) is NOT_LEADER_OR_FOLLOWER, which
    /// sends the client to refresh its metadata; one the topic does not have is unknown.
    pub fn led_here(&self, index: i32) -> Result<&Arc<Partition>> {
        self.partition_if(index, |r| r.leader == self.node_id)
    }

    /// The partition if this broker holds a replica of it, leader or follower: what a
    /// consumer may read (KIP-392; a follower serves up to its high watermark). Otherwise
    /// NOT_LEADER_OR_FOLLOWER, as [`Topic::led_here`].
    pub fn replica_here(&self, index: i32) -> Result<&Arc<Partition>> {
        self.partition_if(index, |r| r.replicas.contains(&self.node_id))
    }

    /// The partition if the image has it and `here` holds for its registration; unknown if
    /// the image lacks it, NOT_LEADER_OR_FOLLOWER otherwise.
    fn partition_if(
        &self,
        index: i32,
        here: impl Fn(&PartitionRegistration) -> bool,
    ) -> Result<&Arc<Partition>> {
        let registration = self
            .image
            .partitions
            .get(&index)
            .ok_or(BrokerError::UnknownTopicOrPartition)?;
        match self.partition(index) {
            Some(partition) if here(registration) => Ok(partition),
            _ => Err(BrokerError::NotLeaderOrFollower),
        }
    }

    /// The indexes of the partitions this broker leads (a coordinator's share of an internal
    /// topic).
    pub fn led_partitions(&self) -> std::collections::BTreeSet<i32> {
        self.partitions
            .iter()
            .filter(|p| self.led_here(p.index).is_ok())
            .map(|p| p.index)
            .collect()
    }

    /// [`Topic::led_here`] for a topic that may not exist (UNKNOWN_TOPIC_OR_PARTITION then).
    pub fn led_in(topic: Option<&Arc<Topic>>, index: i32) -> Result<&Arc<Partition>> {
        topic
            .ok_or(BrokerError::UnknownTopicOrPartition)?
            .led_here(index)
    }

    /// Whether the topic has this partition, on any broker.
    pub fn has_partition(&self, index: i32) -> bool {
        self.image.partitions.contains_key(&index)
    }

    /// Partitions of the topic, on every broker.
    pub fn partition_count(&self) -> i32 {
        i32::try_from(self.image.partitions.len()).unwrap_or(i32::MAX)
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
    /// Replicas of each partition; -1: the broker's default.replication.factor.
    pub replication_factor: i16,
    pub configs: BTreeMap<String, String>,
    /// The brokers of each partition as the client named them; empty: placed by the controller.
    pub assignments: Vec<Vec<i32>>,
}

/// What a topic's configs set for each of its partitions.
struct PartitionSettings {
    log: LogConfig,
    min_insync_replicas: i32,
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
    /// Held while an image is published or the defaults change: one writer of the map and the
    /// partition directories at a time (lookups go on under the read lock).
    publishing: Mutex<()>,
    /// The last image published: what this broker serves. Metadata answers come from it, not
    /// from the newest image the quorum has, so that a broker never names itself leader of a
    /// partition before it acts as that partition's leader.
    published: watch::Sender<Arc<MetadataImage>>,
    /// This broker: the partitions placed on it are the ones opened here.
    node_id: BrokerId,
    /// The broker's min.insync.replicas, for topics without their own.
    min_insync_replicas: i32,
    /// Where each topic's counters live.
    metrics: Arc<BrokerMetrics>,
}

impl Topics {
    /// No topics until the first image is published.
    pub fn new(
        node_id: BrokerId,
        data_dir: &Path,
        fs: Arc<dyn FileSystem>,
        flush: FlushPolicy,
        defaults: LogConfig,
    ) -> Self {
        Topics {
            data_dir: data_dir.to_path_buf(),
            fs,
            flush,
            log_dir: Arc::default(),
            defaults: RwLock::new(defaults),
            map: RwLock::new(TopicMap::default()),
            publishing: Mutex::new(()),
            published: watch::Sender::new(Arc::new(MetadataImage::empty())),
            node_id,
            min_insync_replicas: 1,
            metrics: Arc::default(),
        }
    }

    /// The registry topics' counters go to (a private one unless set).
    pub fn with_metrics(mut self, metrics: Arc<BrokerMetrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// The broker's default min.insync.replicas (1 unless set).
    pub fn with_min_insync_replicas(mut self, min_insync_replicas: i32) -> Self {
        self.min_insync_replicas = min_insync_replicas;
        self
    }

    /// The topic's min.insync.replicas: its own config, else the broker's.
    fn min_insync_replicas(&self, configs: &BTreeMap<String, String>) -> i32 {
        configs
            .get("min.insync.replicas")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(self.min_insync_replicas)
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
        // No topic is created or reconfigured with the old defaults meanwhile.
        let _publishing = self.publishing.lock().unwrap_or_else(|e| e.into_inner());
        let map = self.read();
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

    /// The topic's partitions with a replica on this broker, as `wanted` places them: those
    /// already open are kept (with `config` applied), new ones opened. `startup`: the
    /// directories of the first image's partitions hold their data; a partition new to this
    /// broker later is fresh, so a directory already there was left by a deleted topic of the
    /// same name and goes first, so that a new partition never shows old records. A partition
    /// no longer placed here is dropped from the map; its directory goes at the next start.
    fn hosted_partitions(
        &self,
        name: &Arc<str>,
        wanted: &TopicImage,
        existing: Option<&Arc<Topic>>,
        settings: &PartitionSettings,
        startup: bool,
        now_ms: i64,
    ) -> Result<Vec<Arc<Partition>>> {
        let PartitionSettings {
            log: config,
            min_insync_replicas,
        } = settings;
        let min_insync_replicas = *min_insync_replicas;
        let mut hosted = Vec::new();
        for (&index, registration) in &wanted.partitions {
            if !registration.replicas.contains(&self.node_id) {
                continue;
            }
            let partition = match existing.and_then(|t| t.partition(index)) {
                Some(open) => {
                    open.set_log_config(config.clone());
                    open.clone()
                }
                None => self.open_partition(name, index, config, !startup, now_ms)?,
            };
            partition.set_registration(self.node_id, registration, min_insync_replicas, now_ms);
            hosted.push(partition);
        }
        Ok(hosted)
    }

    /// Opens the log of one partition; `fresh`: remove a directory left by a deleted topic.
    fn open_partition(
        &self,
        name: &Arc<str>,
        index: i32,
        config: &LogConfig,
        fresh: bool,
        now_ms: i64,
    ) -> Result<Arc<Partition>> {
        let dir = self.partition_dir(name, index);
        if fresh {
            self.remove_stale_dir(&dir)?;
        }
        let log = Log::open(self.fs.clone(), &dir, config.clone(), now_ms)?;
        Ok(Arc::new(Partition::new(
            name.clone(),
            index,
            log,
            self.flush,
            self.log_dir.clone(),
            now_ms,
        )?))
    }
}

/// Publishing metadata images.
impl Topics {
    /// Makes the local topics what `image` says: topics it no longer has are deleted with
    /// their directories, new ones and new partitions are opened (a replica reassigned here
    /// starts empty and fetches), replicas reassigned away are removed with their directories,
    /// changed configs applied.
    /// The caller then takes over what else follows the image (the groups of the
    /// `__consumer_offsets` partitions led here) and [`Topics::mark_published`]s it.
    /// `startup`: the first image after a (re)start, whose partitions' directories hold their
    /// data; any other partition directory was left by a topic deleted meanwhile and goes.
    ///
    /// Logs are opened before the map's write lock is taken, so produce and fetch go on while
    /// a big topic is created; the swap itself is short.
    pub fn publish(&self, image: &Arc<MetadataImage>, startup: bool, now_ms: i64) -> Result<()> {
        let _publishing = self.publishing.lock().unwrap_or_else(|e| e.into_inner());
        let defaults = self.defaults();
        let current: HashMap<Uuid, Arc<Topic>> = self.read().by_id.clone();
        let mut next = TopicMap::default();
        // Replicas reassigned away from this broker: their logs go once the image is served.
        let mut moved_away: Vec<(Arc<str>, Arc<Partition>)> = Vec::new();
        for (id, wanted) in image.topics_by_id.iter() {
            let configs = image
                .configs
                .get(&ConfigResource::Topic(wanted.name.clone()))
                .cloned()
                .unwrap_or_default();
            let existing = current.get(id);
            // Topics the image did not touch are shared with it: nothing to do.
            let unchanged =
                existing.filter(|t| Arc::ptr_eq(&t.image, wanted) && t.configs == configs);
            if let Some(topic) = unchanged {
                next.insert(topic.clone());
                continue;
            }
            let config = match log_config(&defaults, &configs) {
                Ok(config) => config,
                Err(error) => {
                    // Checked before the controller was asked; an older vltava may have let
                    // it through. The topic is served with the defaults rather than not at all.
                    tracing::error!(topic = %wanted.name, %error, "topic configs refused; using the defaults");
                    defaults.clone()
                }
            };
            let name: Arc<str> =
                existing.map_or_else(|| wanted.name.as_str().into(), |t| t.name.clone());
            let settings = PartitionSettings {
                log: config,
                min_insync_replicas: self.min_insync_replicas(&configs),
            };
            let partitions =
                self.hosted_partitions(&name, wanted, existing, &settings, startup, now_ms)?;
            if let Some(old) = existing {
                let gone = old
                    .partitions
                    .iter()
                    .filter(|p| !partitions.iter().any(|kept| kept.index == p.index));
                moved_away.extend(gone.map(|p| (name.clone(), p.clone())));
            }
            match existing {
                None if !startup => {
                    tracing::info!(topic = %name, partitions = wanted.partitions.len(), hosted = partitions.len(), "created topic")
                }
                Some(old) if old.configs != configs || old.partition_count() != count(wanted) => {
                    tracing::info!(topic = %name, partitions = wanted.partitions.len(), hosted = partitions.len(), ?configs, "topic changed")
                }
                _ => {}
            }
            let metrics = match existing {
                Some(old) => old.metrics.clone(),
                None => self.metrics.topic(&name),
            };
            next.insert(Arc::new(Topic {
                name,
                id: *id,
                configs,
                image: wanted.clone(),
                partitions,
                node_id: self.node_id,
                metrics,
            }));
        }
        let removed: Vec<Arc<Topic>> = current
            .into_values()
            .filter(|t| !next.by_id.contains_key(&t.id))
            .collect();
        *self.write() = next;
        // The image is served from here on; a directory that cannot be removed now is logged
        // (and removed at the next start, or before a partition of that name is created).
        for topic in removed {
            // Unless a topic of the same name was created in its place.
            if self.get(&topic.name).is_none() {
                self.metrics.remove_topic(&topic.name);
            }
            if let Err(error) = self.remove_topic_dirs(&topic) {
                tracing::error!(topic = %topic.name, %error, "cannot remove a deleted topic's directories");
            }
        }
        for (topic, partition) in moved_away {
            partition.mark_deleted();
            let dir = self.partition_dir(&topic, partition.index);
            match self.remove_stale_dir(&dir) {
                Ok(()) => {
                    tracing::info!(%topic, partition = partition.index, "removed a replica reassigned away")
                }
                Err(error) => {
                    tracing::error!(%topic, partition = partition.index, %error, "cannot remove a replica reassigned away")
                }
            }
        }
        if startup && let Err(error) = self.remove_unknown_partition_dirs() {
            tracing::error!(%error, "cannot remove partition directories no topic owns");
        }
        Ok(())
    }

    /// Waits until an image at `offset` or later is published: a change the controller
    /// committed at `offset` is then served here.
    pub async fn wait_published(&self, offset: i64, timeout: Duration) -> Result<()> {
        let mut published = self.published.subscribe();
        match tokio::time::timeout(timeout, published.wait_for(|p| p.offset >= offset)).await {
            Ok(Ok(_)) => Ok(()),
            _ => Err(BrokerError::MetadataTimedOut(offset)),
        }
    }

    /// The topic once an image holding it is published here: after the controller refused
    /// to create it because it exists, this broker may not have applied that image yet.
    pub async fn wait_for(&self, name: &str, timeout: Duration) -> Result<Arc<Topic>> {
        let mut published = self.published.subscribe();
        let appeared = published.wait_for(|_| self.get(name).is_some());
        match tokio::time::timeout(timeout, appeared).await {
            Ok(Ok(_)) => self.get(name).ok_or(BrokerError::UnknownTopicOrPartition),
            _ => Err(BrokerError::UnknownTopicOrPartition),
        }
    }

    /// The image this broker serves: the last one published here.
    pub fn published_image(&self) -> Arc<MetadataImage> {
        self.published.borrow().clone()
    }

    /// An image that changed nothing here is published as it is.
    pub fn mark_published(&self, image: &Arc<MetadataImage>) {
        self.published.send_if_modified(|published| {
            let newer = image.offset > published.offset;
            if newer {
                *published = image.clone();
            }
            newer
        });
    }

    /// A deleted topic's directories go now. In-flight requests that still hold a partition
    /// keep its open files (unlinked files stay readable and writable on Unix) and see nothing
    /// of a topic created later under the same name. Marked first, so that retention or a
    /// flush still running on them does not take a vanished directory for a failed disk.
    fn remove_topic_dirs(&self, topic: &Topic) -> Result<()> {
        for partition in &topic.partitions {
            partition.mark_deleted();
        }
        for partition in &topic.partitions {
            self.remove_stale_dir(&self.partition_dir(&topic.name, partition.index))?;
        }
        tracing::info!(topic = %topic.name, "deleted topic");
        Ok(())
    }

    /// Removes `<topic>-<n>` directories of topics the image does not have (deleted while
    /// this broker was down, or before a crash let it remove them).
    fn remove_unknown_partition_dirs(&self) -> Result<()> {
        let io = |source| BrokerError::MetadataIo {
            path: self.data_dir.clone(),
            source,
        };
        let map = self.read();
        for entry in std::fs::read_dir(&self.data_dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            if !entry.file_type().map_err(io)?.is_dir() {
                continue;
            }
            let file_name = entry.file_name();
            let Some((topic, index)) = file_name.to_str().and_then(|n| n.rsplit_once('-')) else {
                continue;
            };
            let Ok(index) = index.parse::<i32>() else {
                continue;
            };
            let known = map
                .by_name
                .get(topic)
                .is_some_and(|t| t.partition(index).is_some());
            if !known && topic_name::validate(topic).is_ok() {
                self.remove_stale_dir(&entry.path())?;
            }
        }
        Ok(())
    }
}

/// Checks before the controller is asked.
impl Topics {
    /// Checks a topic's new config overrides (AlterConfigs, IncrementalAlterConfigs).
    pub fn validate_configs(&self, name: &str, configs: &BTreeMap<String, String>) -> Result<()> {
        self.get(name).ok_or(BrokerError::UnknownTopicOrPartition)?;
        log_config(&self.defaults(), configs).map(|_| ())
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

/// Partitions of a topic in an image, on every broker.
fn count(topic: &TopicImage) -> i32 {
    i32::try_from(topic.partitions.len()).unwrap_or(i32::MAX)
}

/// Kafka's checks, in Kafka's order, then ours.
fn check_growth(topic: &Topic, partitions: i32) -> Result<()> {
    let current = topic.partition_count();
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
