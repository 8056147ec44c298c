//! The state every request handler shares: configuration, topics, producer ids, fetch sessions,
//! the group coordinator.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;
use vltava_cluster::MetadataImage;
use vltava_cluster::controller::ControllerError;
use vltava_cluster::controller::elect_leaders::{ElectionOutcome, ElectionType};
use vltava_cluster::controller::reassignment::Reassignment;
use vltava_cluster::controller::topics::NewTopic;
use vltava_cluster::quorum::active::{ControllerAnswer, ControllerFailure, ControllerRequest};
use vltava_cluster::records::{ConfigResource, Endpoint};
use vltava_storage::LogConfig;
use vltava_storage::fs::RealFs;

use crate::cluster::{ClusterLink, migration, unexpected};
use crate::config::BrokerConfig;
use crate::configs::dynamic::{self, DynamicConfigStore, DynamicConfigs, Level};
use crate::error::{BrokerError, Result};
use crate::fetch_session::FetchSessions;
use crate::flusher::Flusher;
use crate::group_coordinator::GroupCoordinator;
use crate::metadata_file;
use crate::metrics::BrokerMetrics;
use crate::producer_ids::ProducerIds;
use crate::quotas::QuotaRates;
use crate::replication::fetcher::ReplicaFetchers;
use crate::replication::isr;
use crate::topics::{Topic, TopicSpec, Topics};
use crate::txn_coordinator::TransactionCoordinator;

const META_FILE: &str = "meta.json";
/// How long an admin request waits for its committed change to be served here.
pub const METADATA_WAIT: Duration = Duration::from_secs(30);
const LOCK_FILE: &str = ".lock";

#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    cluster_id: String,
    node_id: i32,
    /// Made when the directory is first used (Kafka's `directory.id`): the controller learns
    /// from a new one that this broker's replicas were lost with the old directory.
    #[serde(default)]
    directory_id: Option<uuid::Uuid>,
}

#[derive(Debug)]
pub struct Broker {
    pub config: BrokerConfig,
    pub cluster_id: String,
    /// Where clients reach this broker, one endpoint per listener, in the configured order
    /// (ports resolved: the bound one unless configured).
    pub endpoints: Vec<Endpoint>,
    pub topics: Arc<Topics>,
    /// The controller quorum, this broker's registration, the metadata images.
    pub cluster: ClusterLink,
    /// Publishes each new metadata image into `topics`.
    publisher: JoinHandle<()>,
    /// Broker configs set at run time (AlterConfigs on a BROKER resource).
    pub dynamic_configs: Arc<DynamicConfigStore>,
    pub flusher: Flusher,
    pub producer_ids: ProducerIds,
    pub fetch_sessions: FetchSessions,
    /// Consumer groups and their committed offsets.
    pub groups: Arc<GroupCoordinator>,
    /// Transactions and their markers.
    pub transactions: Arc<TransactionCoordinator>,
    /// The tasks copying the partitions this broker follows from their leaders.
    pub replica_fetchers: Arc<ReplicaFetchers>,
    /// Counters and histograms for /metrics (`vltava-admin` adds the scrape-time gauges).
    pub metrics: Arc<BrokerMetrics>,
    /// The byte rates of clients with a quota.
    pub quota_rates: QuotaRates,
    /// Held for the broker's lifetime: a second broker on the same directory is refused.
    _lock: File,
}

/// Why a broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("data directory {0} is in use by another vltava process")]
    DataDirLocked(PathBuf),
    #[error("cannot use data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot listen on {address}")]
    Listen {
        address: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cluster: {0}")]
    Cluster(String),
    #[error("TLS: {0}")]
    Tls(#[source] crate::security::tls::TlsError),
    #[error("listener {0} uses TLS: set ssl.keystore.location (or its certificate chain and key)")]
    NoTlsConfig(String),
    #[error(transparent)]
    Broker(#[from] BrokerError),
}

impl Broker {
    /// Opens the data directory, joins the controller quorum (a quorum of one by default) and
    /// serves the topics of its metadata image.
    pub async fn open(
        config: BrokerConfig,
        bound_ports: &[u16],
    ) -> std::result::Result<Arc<Self>, StartError> {
        let dir = config.data_dir.clone();
        let dir_error = |source| StartError::DataDir {
            path: dir.clone(),
            source,
        };
        std::fs::create_dir_all(&dir).map_err(dir_error)?;
        let lock = File::create(dir.join(LOCK_FILE)).map_err(dir_error)?;
        if lock.try_lock().is_err() {
            return Err(StartError::DataDirLocked(dir));
        }
        let meta = metadata_file::load::<Meta>(&dir.join(META_FILE))?;
        let endpoints: Vec<Endpoint> = config
            .listeners
            .iter()
            .zip(bound_ports)
            .map(|(listener, &bound)| Endpoint {
                name: listener.name.clone(),
                host: listener.advertised_host.clone(),
                port: listener.advertised_port.unwrap_or(bound),
            })
            .collect();
        let directory_id = meta
            .as_ref()
            .and_then(|m| m.directory_id)
            .unwrap_or_else(uuid::Uuid::new_v4);
        let cluster = ClusterLink::start(&config, endpoints.clone(), directory_id).await?;
        let cluster_id =
            agree_cluster_id(&dir, meta, &cluster, config.node_id, directory_id).await?;
        migration::migrate_topics_file(&dir, &cluster).await?;
        migration::migrate_broker_configs_file(&dir, &cluster).await?;
        // Marked seen here: an image arriving while this one is published below is then
        // published by the publisher task, not taken for the one it already has.
        let mut images = cluster.images();
        let image = images.borrow_and_update().clone();
        let metrics = Arc::new(BrokerMetrics::new());
        let dynamic_configs = Arc::new(DynamicConfigStore::default());
        dynamic_configs.set(DynamicConfigs::from_image(&image, config.node_id));
        let topics = Arc::new(
            Topics::new(
                config.node_id,
                &dir,
                Arc::new(RealFs),
                config.flush,
                dynamic::log_defaults(&config.log, &dynamic_configs.current())?,
            )
            .with_min_insync_replicas(config.min_insync_replicas)
            .with_metrics(metrics.clone()),
        );
        tokio::task::block_in_place(|| topics.publish(&image, true, now_ms()))?;
        let groups = Arc::new(GroupCoordinator::new(&config, topics.clone()));
        tokio::task::block_in_place(|| groups.follow_leadership(&topics))?;
        let transactions = Arc::new(TransactionCoordinator::new(&config, topics.clone()));
        tokio::task::block_in_place(|| transactions.follow_leadership(&topics))?;
        topics.mark_published(&image);
        let replica_fetchers = Arc::new(ReplicaFetchers::new(
            config.node_id,
            config.flush,
            config.inter_broker_listener_name.clone(),
            metrics.replication_bytes_in.clone(),
        ));
        replica_fetchers.follow(&topics);
        let publisher = tokio::spawn(publish_images(
            Publisher {
                topics: topics.clone(),
                replica_fetchers: replica_fetchers.clone(),
                groups: groups.clone(),
                transactions: transactions.clone(),
                dynamic_configs: dynamic_configs.clone(),
                static_log: config.log.clone(),
                node_id: config.node_id,
            },
            images,
            image,
        ));
        let flusher = Flusher::start(config.flush_threads, metrics.clone()).map_err(dir_error)?;
        let broker = Arc::new(Broker {
            endpoints,
            cluster_id,
            topics,
            cluster,
            publisher,
            dynamic_configs,
            flusher,
            producer_ids: ProducerIds::open(&dir)?,
            fetch_sessions: FetchSessions::default(),
            groups,
            transactions,
            replica_fetchers,
            metrics,
            quota_rates: QuotaRates::default(),
            config,
            _lock: lock,
        });
        tokio::spawn(isr::run(Arc::downgrade(&broker)));
        tokio::spawn(
            broker
                .transactions
                .clone()
                .run_timers(Arc::downgrade(&broker)),
        );
        Ok(broker)
    }

    /// A controlled shutdown while requests are still served: the controller moves this
    /// broker's leaderships away, its images arrive, and requests waiting here (acks=all
    /// produces whose high watermark needs the followers' fetches) are answered
    /// NOT_LEADER_OR_FOLLOWER, so clients move to the new leaders at once. Closing the
    /// connections first left those waiting for their whole timeout (30 s, measured with
    /// `bench/run-replication --tests shutdown`), since the followers' fetches were closed too.
    pub async fn hand_over_leaderships(&self) {
        self.cluster.hand_over().await;
    }

    /// Stops the broker's part in the cluster: a controlled shutdown (if not done yet), then
    /// the voter.
    pub async fn leave_cluster(&self) {
        self.publisher.abort();
        self.replica_fetchers.stop();
        self.cluster.shutdown().await;
    }

    /// This broker's address on `listener`, as clients on it are told.
    pub fn endpoint(&self, listener: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| e.name == listener)
    }

    pub fn node_id(&self) -> i32 {
        self.config.node_id
    }

    /// The metadata image this broker serves: the last one it has published (its topics
    /// opened, its leaderships taken), which may be a moment behind the quorum's newest.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.topics.published_image()
    }

    /// Alters the dynamic broker configs of one level: `new_configs` computes them from the
    /// current ones; they are checked as Kafka checks them, decided by the controller, and
    /// once published here the topic defaults they set apply to every topic. `validate_only`
    /// checks only.
    pub async fn alter_broker_configs(
        &self,
        level: Level,
        validate_only: bool,
        new_configs: impl FnOnce(&BTreeMap<String, String>) -> Result<BTreeMap<String, String>>,
    ) -> Result<()> {
        let _altering = self.dynamic_configs.lock().await;
        let current = self.dynamic_configs.current();
        let configs = new_configs(current.level(level))?;
        dynamic::validate_level(level, &configs)?;
        let next: DynamicConfigs = current.with_level(level, configs.clone());
        dynamic::log_defaults(&self.config.log, &next)?;
        if validate_only {
            return Ok(());
        }
        // Names only: some broker configs are passwords.
        let names: Vec<String> = configs.keys().cloned().collect();
        self.decide(ControllerRequest::SetConfigs {
            resource: level.resource(self.node_id()),
            configs,
        })
        .await?;
        tracing::info!(?level, ?names, "altered dynamic broker configs");
        Ok(())
    }

    /// The topic, created with the broker defaults when auto-creation allows it.
    pub async fn topic_or_auto_create(
        &self,
        name: &str,
        allow_auto_create: bool,
    ) -> Result<Arc<Topic>> {
        if let Some(topic) = self.topics.get(name) {
            return Ok(topic);
        }
        if !(allow_auto_create && self.config.auto_create_topics) {
            return Err(BrokerError::UnknownTopicOrPartition);
        }
        let spec = TopicSpec {
            name: name.to_string(),
            partitions: self.config.num_partitions,
            replication_factor: -1,
            configs: Default::default(),
            assignments: Vec::new(),
        };
        match self.create_topic(spec).await {
            Err(BrokerError::TopicAlreadyExists) => self.topics.wait_for(name, METADATA_WAIT).await,
            other => other,
        }
    }

    /// ElectLeaders: the controller decides; the answer comes once this broker serves the new
    /// leaders. One outcome per partition, in order.
    pub async fn elect_leaders(
        &self,
        election_type: ElectionType,
        partitions: Vec<(Uuid, i32)>,
    ) -> Result<Vec<ElectionOutcome>> {
        let request = ControllerRequest::ElectLeaders {
            election_type,
            partitions,
        };
        match self.cluster.call(request).await? {
            ControllerAnswer::Elected { offset, outcomes } => {
                self.topics.wait_published(offset, METADATA_WAIT).await?;
                Ok(outcomes)
            }
            other => Err(unexpected(other)),
        }
    }

    /// AlterPartitionReassignments: each one's result, once the accepted ones are served here.
    pub async fn reassign_partitions(
        &self,
        reassignments: Vec<Reassignment>,
    ) -> Result<Vec<std::result::Result<(), ControllerError>>> {
        match self
            .cluster
            .call(ControllerRequest::AlterReassignments(reassignments))
            .await?
        {
            ControllerAnswer::Reassigned { offset, results } => {
                self.topics.wait_published(offset, METADATA_WAIT).await?;
                Ok(results)
            }
            other => Err(unexpected(other)),
        }
    }

    /// Asks the controller for a change and waits until this broker serves it.
    /// AlterUserScramCredentials' validated changes, served here once this returns.
    pub async fn alter_scram_credentials(
        &self,
        upsertions: Vec<vltava_cluster::scram::ScramCredential>,
        deletions: Vec<(String, vltava_cluster::scram::ScramMechanism)>,
    ) -> Result<()> {
        let users: BTreeSet<&str> = upsertions
            .iter()
            .map(|c| c.user.as_str())
            .chain(deletions.iter().map(|(user, _)| user.as_str()))
            .collect();
        tracing::info!(?users, "altering SCRAM credentials");
        self.decide(ControllerRequest::AlterScramCredentials {
            upsertions,
            deletions,
        })
        .await
    }

    /// AlterClientQuotas' checked changes; enforced here once this returns.
    pub async fn alter_client_quotas(
        &self,
        changes: Vec<(
            vltava_cluster::quotas::QuotaEntity,
            String,
            Option<vltava_cluster::quotas::QuotaValue>,
        )>,
    ) -> Result<()> {
        tracing::info!(?changes, "altering client quotas");
        self.decide(ControllerRequest::AlterClientQuotas(changes))
            .await
    }

    /// CreateAcls' validated ACLs, each with a new id; enforced here once this returns.
    pub async fn create_acls(&self, acls: Vec<vltava_cluster::acl::AclBinding>) -> Result<()> {
        tracing::info!(count = acls.len(), "creating ACLs");
        let acls = acls.into_iter().map(|acl| (Uuid::new_v4(), acl)).collect();
        self.decide(ControllerRequest::CreateAcls(acls)).await
    }

    /// DeleteAcls: removes the ACLs with these ids (those still present).
    pub async fn delete_acls(&self, ids: Vec<Uuid>) -> Result<()> {
        tracing::info!(count = ids.len(), "deleting ACLs");
        self.decide(ControllerRequest::DeleteAcls(ids)).await
    }

    async fn decide(&self, request: ControllerRequest) -> Result<()> {
        let offset = self.cluster.decide(request).await?;
        self.topics.wait_published(offset, METADATA_WAIT).await
    }

    /// CreateTopics and auto-creation: checked here, decided by the controller.
    pub async fn create_topic(&self, spec: TopicSpec) -> Result<Arc<Topic>> {
        self.topics.validate(&spec)?;
        let topic_id = Uuid::new_v4();
        let request = ControllerRequest::CreateTopic(NewTopic {
            name: spec.name.clone(),
            topic_id,
            partitions: spec.partitions,
            replication_factor: match spec.replication_factor {
                -1 => self.config.default_replication_factor,
                factor => factor,
            },
            configs: spec.configs,
            assignments: spec.assignments,
        });
        match self.decide(request).await {
            Err(BrokerError::Controller(ControllerFailure::Refused(
                ControllerError::TopicExists(_),
            ))) => return Err(BrokerError::TopicAlreadyExists),
            other => other?,
        }
        self.topics
            .get_by_id(&topic_id)
            .ok_or(BrokerError::UnknownTopicOrPartition)
    }

    pub async fn delete_topic(&self, name: &str) -> Result<()> {
        self.topics
            .get(name)
            .ok_or(BrokerError::UnknownTopicOrPartition)?;
        let request = ControllerRequest::DeleteTopic {
            name: name.to_string(),
        };
        match self.decide(request).await {
            Err(BrokerError::Controller(ControllerFailure::Refused(
                ControllerError::UnknownTopic(_),
            ))) => Err(BrokerError::UnknownTopicOrPartition),
            other => other,
        }
    }

    /// CreatePartitions: grows a topic to `count` partitions (already checked by the caller),
    /// on the brokers `assignments` name (empty: placed by the controller).
    pub async fn add_partitions(
        &self,
        name: &str,
        count: i32,
        assignments: Vec<Vec<i32>>,
    ) -> Result<Arc<Topic>> {
        self.decide(ControllerRequest::CreatePartitions {
            name: name.to_string(),
            count,
            assignments,
        })
        .await?;
        self.topics
            .get(name)
            .ok_or(BrokerError::UnknownTopicOrPartition)
    }

    /// Replaces a topic's config overrides (AlterConfigs, IncrementalAlterConfigs), checked
    /// first. `validate_only` checks only.
    pub async fn set_topic_configs(
        &self,
        name: &str,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<()> {
        self.topics.validate_configs(name, &configs)?;
        if validate_only {
            return Ok(());
        }
        self.decide(ControllerRequest::SetConfigs {
            resource: ConfigResource::Topic(name.to_string()),
            configs,
        })
        .await
    }

    /// fsyncs every partition: called on shutdown so a clean stop loses nothing.
    pub fn flush_all(&self) {
        for topic in self.topics.all() {
            for partition in &topic.partitions {
                if let Err(error) = partition.flush_and_checkpoint() {
                    tracing::error!(topic = %topic.name, partition = partition.index, %error, "flush on shutdown failed");
                }
            }
        }
    }

    /// Applies retention, time-based rolls and log compaction to every partition.
    pub fn apply_retention(&self) {
        let now = now_ms();
        for topic in self.topics.all() {
            for partition in &topic.partitions {
                let expired =
                    partition.expire_producers(now, self.config.producer_id_expiration_ms);
                if expired > 0 {
                    tracing::info!(topic = %topic.name, partition = partition.index, expired, "expired idempotent producers");
                }
                match partition.apply_retention(now) {
                    Ok(0) => {}
                    Ok(deleted) => {
                        tracing::info!(topic = %topic.name, partition = partition.index, deleted, "retention deleted segments")
                    }
                    Err(error) => {
                        tracing::error!(topic = %topic.name, partition = partition.index, %error, "retention failed")
                    }
                }
                if !self.config.log_cleaner_enable {
                    continue;
                }
                // The log checks cleanup.policy: only `compact` (or `compact,delete`) cleans.
                match partition.clean(now) {
                    Ok(stats) if stats.segments_scanned == 0 => {}
                    Ok(stats) => {
                        tracing::info!(topic = %topic.name, partition = partition.index, ?stats, "log cleaner cleaned segments")
                    }
                    Err(error) => {
                        tracing::error!(topic = %topic.name, partition = partition.index, %error, "log cleaner failed")
                    }
                }
            }
        }
    }
}

/// What applies each new metadata image on this broker.
struct Publisher {
    topics: Arc<Topics>,
    replica_fetchers: Arc<ReplicaFetchers>,
    groups: Arc<GroupCoordinator>,
    transactions: Arc<TransactionCoordinator>,
    dynamic_configs: Arc<DynamicConfigStore>,
    /// The topic defaults from flags and vltava.toml, under the dynamic ones.
    static_log: LogConfig,
    node_id: i32,
}

impl Publisher {
    /// Dynamic broker configs first (new topics get the new defaults), then the topics.
    fn publish(&self, image: &Arc<MetadataImage>, last: &MetadataImage) -> Result<()> {
        let same_configs = Arc::ptr_eq(&image.configs, &last.configs);
        if !same_configs {
            let dynamic = DynamicConfigs::from_image(image, self.node_id);
            if dynamic != *self.dynamic_configs.current() {
                let defaults = dynamic::log_defaults(&self.static_log, &dynamic)?;
                self.dynamic_configs.set(dynamic);
                self.topics.set_defaults(defaults)?;
            }
        }
        // Registrations and heartbeats change other parts of the image; topics share theirs.
        if !(same_configs && Arc::ptr_eq(&image.topics_by_id, &last.topics_by_id)) {
            self.topics.publish(image, false, now_ms())?;
            // Before the image is served: a group whose partition this broker now leads is
            // loaded (or loading) by the time a client is told so.
            if let Err(error) = self.groups.follow_leadership(&self.topics) {
                tracing::error!(%error, "cannot take over the groups of newly led partitions");
            }
            if let Err(error) = self.transactions.follow_leadership(&self.topics) {
                tracing::error!(%error, "cannot take over the transactions of newly led partitions");
            }
        }
        self.topics.mark_published(image);
        // Leaders may have moved, or re-registered at another address.
        self.replica_fetchers.follow(&self.topics);
        Ok(())
    }
}

/// Publishes every metadata image after `last` (the one published at start-up), in order,
/// until the broker stops.
async fn publish_images(
    publisher: Publisher,
    mut images: watch::Receiver<Arc<MetadataImage>>,
    mut last: Arc<MetadataImage>,
) {
    while images.changed().await.is_ok() {
        let image = images.borrow_and_update().clone();
        if let Err(error) = tokio::task::block_in_place(|| publisher.publish(&image, &last)) {
            tracing::error!(offset = image.offset, %error, "cannot publish metadata image");
        }
        last = image;
    }
}

/// Wall-clock milliseconds since the epoch, as Kafka timestamps are.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The cluster id this data directory belongs to, agreed with the controller quorum: the first
/// broker's proposal (its `meta.json`'s id, or a new one) becomes the cluster's; a directory
/// of another cluster refuses to start rather than mix two clusters' data. The directory's id
/// is recorded in `meta.json` with the cluster's.
async fn agree_cluster_id(
    dir: &Path,
    meta: Option<Meta>,
    cluster: &ClusterLink,
    node_id: i32,
    directory_id: uuid::Uuid,
) -> std::result::Result<String, StartError> {
    let proposed = meta
        .as_ref()
        .map_or_else(new_cluster_id, |m| m.cluster_id.clone());
    let agreed = match cluster
        .call(ControllerRequest::ClaimClusterId { proposed })
        .await?
    {
        ControllerAnswer::ClusterId(agreed) => agreed,
        other => return Err(unexpected(other).into()),
    };
    match meta {
        Some(meta) if meta.cluster_id != agreed => Err(StartError::Cluster(format!(
            "data directory {} belongs to cluster {}, but the controller quorum's cluster is {agreed}",
            dir.display(),
            meta.cluster_id
        ))),
        Some(meta) if meta.directory_id == Some(directory_id) => Ok(agreed),
        // A new directory, or one from before directory ids: recorded now, so that the next
        // registration names the same one.
        _ => {
            let meta = Meta {
                cluster_id: agreed.clone(),
                node_id,
                directory_id: Some(directory_id),
            };
            metadata_file::save(&dir.join(META_FILE), &meta)?;
            Ok(agreed)
        }
    }
}

/// A random id in Kafka's format: a UUID as 22 characters of URL-safe base64.
fn new_cluster_id() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let value = uuid::Uuid::new_v4().as_u128();
    (0..22)
        .map(|i| {
            let shift = 128i32 - 6 * (i + 1);
            let sextet = if shift >= 0 {
                (value >> shift) & 63
            } else {
                (value << -shift) & 63
            };
            char::from(ALPHABET[sextet as usize])
        })
        .collect()
}
