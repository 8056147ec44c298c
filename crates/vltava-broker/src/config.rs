//! Broker configuration: the values `vltava serve` resolves from flags, environment and file.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use vltava_group::GroupConfig;

use crate::security::ListenerConfig;
use crate::security::acl::AuthorizerConfig;
use crate::security::sasl::SaslConfig;
use crate::security::tls::TlsConfig;
use crate::server::RequestLogFilter;
use vltava_storage::LogConfig;

use crate::replication::read_replica::ReplicaSelector;

/// When an appended batch is made durable, and so when acks=all is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushPolicy {
    /// fsync before acknowledging acks=all and before the high watermark moves (group-committed).
    Always,
    /// Kafka's default: rely on the page cache; acknowledge after the append; fsync only on
    /// shutdown and segment roll. A power loss can take back acknowledged writes.
    Never,
}

/// Everything the broker needs to run. Limits carry their unit last.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Kafka's `listeners`, with their advertised addresses and security protocols. The first
    /// is the one `vltava serve` prints; never empty.
    pub listeners: Vec<ListenerConfig>,
    /// `inter.broker.listener.name`: the listener followers fetch from (PLAINTEXT for now).
    pub inter_broker_listener_name: String,
    /// `ssl.*`: needed when a listener is SSL or SASL_SSL.
    pub tls: Option<TlsConfig>,
    /// `sasl.*`: used by SASL_PLAINTEXT and SASL_SSL listeners.
    pub sasl: SaslConfig,
    /// `authorizer.class.name` (only Kafka's StandardAuthorizer, built in) with `super.users`
    /// and `allow.everyone.if.no.acl.found`; `None`: every request is allowed.
    pub authorizer: Option<AuthorizerConfig>,
    pub data_dir: PathBuf,
    pub node_id: i32,
    /// `num.partitions`: partitions of an auto-created topic or a CreateTopics asking for -1.
    pub num_partitions: i32,
    /// `auto.create.topics.enable`.
    pub auto_create_topics: bool,
    pub flush: FlushPolicy,
    /// Threads that fsync partitions (group commit); more let fsyncs of different partitions
    /// overlap on the device.
    pub flush_threads: usize,
    /// `socket.request.max.bytes`: a frame longer than this closes its connection unread.
    pub frame_bytes_max: usize,
    pub connections_max: usize,
    // Connection limits (issue 13).
    /// `connections.max.idle.ms`: a connection that completes no request for this long is
    /// closed; half a frame does not count, so a slow-loris client is closed too.
    pub connections_max_idle_ms: u64,
    /// `max.connections.per.ip`: connections beyond this from one address are closed on accept.
    pub connections_max_per_ip: usize,
    /// `queued.max.request.bytes`: bytes of requests read but not yet answered, over all
    /// connections; `None` (Kafka's -1) for no bound. At least `frame_bytes_max` when set.
    pub queued_request_bytes_max: Option<usize>,
    /// Requests a connection may have in flight (decoded, response not yet written).
    pub inflight_requests_max: usize,
    /// Topic defaults (`log.segment.bytes`, `log.retention.ms`, ... in Kafka's broker config).
    pub log: LogConfig,
    /// How often retention and time-based segment rolls are checked.
    pub retention_check_interval_ms: u64,
    /// `log.cleaner.enable`: compact topics whose cleanup.policy has `compact` (on by default,
    /// as in Kafka; off, a compacted topic keeps every record).
    pub log_cleaner_enable: bool,
    /// The group coordinator's `group.*` settings.
    pub group: GroupConfig,
    /// `offsets.topic.num.partitions`: fixed when `__consumer_offsets` is first created.
    pub offsets_topic_partitions: i32,
    /// `offset.metadata.max.bytes`: longer commit metadata is refused (OFFSET_METADATA_TOO_LARGE).
    pub offset_metadata_bytes_max: usize,
    /// `offsets.commit.timeout.ms`: a commit not durable by then answers REQUEST_TIMED_OUT.
    pub offsets_commit_timeout_ms: u64,
    /// `offsets.retention.minutes`, in ms: offsets of an empty group older than this expire.
    pub offsets_retention_ms: i64,

    /// `fetch.max.bytes`: the most record bytes one Fetch response carries, whatever the
    /// request's max_bytes (the first batch still goes whole if larger, KIP-74).
    pub fetch_response_bytes_max: usize,

    // The cluster (issue 14).
    /// `controller.listener`: where this node's voter listens for the other voters; `None`
    /// for a quorum of one, which needs no network.
    pub controller_listen: Option<SocketAddr>,
    /// `controller.quorum.voters`: node id → host:port of its controller listener. Empty:
    /// this node alone is the quorum.
    pub controller_quorum_voters: BTreeMap<u64, String>,
    /// `broker.rack`: replicas of a partition go to different racks where possible.
    pub rack: Option<String>,
    /// `replica.selector.class` (KIP-392): whether a leader sends consumers to a replica in
    /// their rack.
    pub replica_selector: ReplicaSelector,
    /// `broker.session.timeout.ms`: a broker not heard from for this long is fenced.
    pub broker_session_timeout_ms: u64,
    /// `broker.heartbeat.interval.ms`.
    pub broker_heartbeat_interval_ms: u64,
    /// `default.replication.factor`: replicas of a topic created without one.
    pub default_replication_factor: i16,
    /// `min.insync.replicas` (the broker default of the topic config).
    pub min_insync_replicas: i32,
    /// `replica.lag.time.max.ms`: a follower that has not caught up with its leader for this
    /// long leaves the ISR.
    pub replica_lag_time_max_ms: i64,
    /// `auto.leader.rebalance.enable`: the active controller gives partitions back to their
    /// preferred (first) replica every `leader.imbalance.check.interval.seconds`.
    pub auto_leader_rebalance_enable: bool,
    pub leader_imbalance_check_interval_seconds: u64,

    /// `producer.id.expiration.ms` (KIP-854): an idempotent producer with no append for this
    /// long is forgotten by each partition (checked with retention).
    pub producer_id_expiration_ms: i64,

    /// Kafka's `transaction.max.timeout.ms`: a producer asking for a longer
    /// `transaction.timeout.ms` is INVALID_TRANSACTION_TIMEOUT.
    pub transaction_max_timeout_ms: i32,
    /// Kafka's `transaction.state.log.num.partitions`.
    pub transaction_state_partitions: i32,
    /// Kafka's `transaction.abort.timed.out.transaction.cleanup.interval.ms`: how often the
    /// coordinator looks for transactions past their timeout (and retries unfinished markers).
    pub transaction_check_interval_ms: u64,
    /// Kafka's `transactional.id.expiration.ms`: a transactional id with no transaction open
    /// or ending, and no state change for this long, is forgotten (a tombstone in
    /// `__transaction_state`), so the coordinator's memory does not grow with every id ever used.
    pub transactional_id_expiration_ms: i64,
    /// Kafka's `transaction.remove.expired.transaction.cleanup.interval.ms`: how often the
    /// coordinator looks for expired transactional ids.
    pub transaction_remove_expired_interval_ms: u64,
    /// The clients whose every request is logged (target `vltava::request`).
    pub request_log_client_ids: RequestLogFilter,
}

/// Kafka's `replica.lag.time.max.ms` default: 30 s.
pub const REPLICA_LAG_TIME_MAX_MS_DEFAULT: i64 = 30_000;
/// Kafka's `fetch.max.bytes` default, 55 MiB.
pub const FETCH_RESPONSE_BYTES_MAX_DEFAULT: usize = 57_671_680;
/// Kafka's default for `connections.max.idle.ms`: 10 minutes.
pub const CONNECTIONS_MAX_IDLE_MS_DEFAULT: u64 = 600_000;

/// A broker silent this long is fenced and its leaderships move. Kafka waits 9 s; a failover
/// goal of about a second needs less, and 3 s is still six heartbeats.
pub const BROKER_SESSION_TIMEOUT_MS_DEFAULT: u64 = 3_000;
pub const BROKER_HEARTBEAT_INTERVAL_MS_DEFAULT: u64 = 500;

/// Kafka's default for `max.connections.per.ip`: no limit (`Integer.MAX_VALUE`).
pub const CONNECTIONS_MAX_PER_IP_DEFAULT: usize = 2_147_483_647;

impl BrokerConfig {
    /// The listener followers fetch from; the first if none has the configured name (the
    /// configuration is checked when read).
    pub fn inter_broker_listener(&self) -> &ListenerConfig {
        self.listeners
            .iter()
            .find(|l| l.name == self.inter_broker_listener_name)
            .unwrap_or(&self.listeners[0])
    }

    /// The zero-configuration broker: 127.0.0.1:9092, data in `./vltava-data`.
    pub fn new(data_dir: PathBuf) -> Self {
        BrokerConfig {
            listeners: vec![ListenerConfig::plaintext(SocketAddr::from((
                [127, 0, 0, 1],
                9092,
            )))],
            inter_broker_listener_name: "PLAINTEXT".to_string(),
            tls: None,
            sasl: SaslConfig::default(),
            authorizer: None,
            data_dir,
            node_id: 1,
            num_partitions: 1,
            auto_create_topics: true,
            flush: FlushPolicy::Always,
            flush_threads: crate::flusher::FLUSH_THREADS_DEFAULT,
            frame_bytes_max: 100 * 1024 * 1024,
            connections_max: 10_000,
            connections_max_idle_ms: CONNECTIONS_MAX_IDLE_MS_DEFAULT,
            connections_max_per_ip: CONNECTIONS_MAX_PER_IP_DEFAULT,
            queued_request_bytes_max: None,
            inflight_requests_max: 32,
            log: LogConfig::default(),
            retention_check_interval_ms: 30_000,
            log_cleaner_enable: true,
            group: GroupConfig::default(),
            offsets_topic_partitions: vltava_group::OFFSETS_TOPIC_PARTITIONS_DEFAULT,
            offset_metadata_bytes_max: 4096,
            offsets_commit_timeout_ms: 5_000,
            offsets_retention_ms: 7 * 24 * 60 * 60 * 1000,

            fetch_response_bytes_max: FETCH_RESPONSE_BYTES_MAX_DEFAULT,

            producer_id_expiration_ms: 24 * 60 * 60 * 1000,

            transaction_max_timeout_ms: 900_000,
            transaction_state_partitions:
                crate::txn_coordinator::TRANSACTION_STATE_PARTITIONS_DEFAULT,
            transaction_check_interval_ms: 10_000,
            transactional_id_expiration_ms: 7 * 24 * 60 * 60 * 1000,
            transaction_remove_expired_interval_ms: 60 * 60 * 1000,
            request_log_client_ids: RequestLogFilter::default(),

            controller_listen: None,
            controller_quorum_voters: BTreeMap::new(),
            rack: None,
            replica_selector: ReplicaSelector::Leader,
            broker_session_timeout_ms: BROKER_SESSION_TIMEOUT_MS_DEFAULT,
            broker_heartbeat_interval_ms: BROKER_HEARTBEAT_INTERVAL_MS_DEFAULT,
            default_replication_factor: 1,
            min_insync_replicas: 1,
            replica_lag_time_max_ms: REPLICA_LAG_TIME_MAX_MS_DEFAULT,
            auto_leader_rebalance_enable: true,
            leader_imbalance_check_interval_seconds: 300,
        }
    }
}
