//! `vltava serve`: options from flags, then `VLTAVA_*` environment variables, then a
//! `vltava.toml` file, then the defaults — the first that sets a value wins.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, ValueEnum};
use serde::Deserialize;
use vltava_broker::{BrokerConfig, FlushPolicy, Server};

const DEFAULT_CONFIG_FILE: &str = "vltava.toml";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flush {
    /// fsync before acknowledging acks=all (group-committed). The default.
    Always,
    /// Like Kafka's default: acknowledge from the page cache.
    Never,
}

#[derive(Debug, Default, Args, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServeArgs {
    /// Configuration file (TOML); `vltava.toml` in the working directory is read if present.
    #[arg(long, env = "VLTAVA_CONFIG")]
    #[serde(skip)]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:9092].
    #[arg(long, env = "VLTAVA_LISTEN")]
    listen: Option<SocketAddr>,
    /// HOST:PORT or HOST clients are told to connect to [default: the listen address].
    #[arg(long, env = "VLTAVA_ADVERTISED_LISTENER")]
    advertised_listener: Option<String>,
    /// Data directory [default: ./vltava-data].
    #[arg(long, env = "VLTAVA_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// A throwaway broker for tests: data in a new temporary directory, removed on exit; a
    /// free port (127.0.0.1:0 unless --listen says otherwise); `bootstrap=HOST:PORT` printed on
    /// stdout once it serves.
    #[arg(long, conflicts_with = "data_dir")]
    #[serde(skip)]
    ephemeral: bool,
    /// This broker's node id [default: 1].
    #[arg(long, env = "VLTAVA_NODE_ID")]
    node_id: Option<i32>,
    /// Partitions of auto-created topics (Kafka's num.partitions) [default: 1].
    #[arg(long, env = "VLTAVA_NUM_PARTITIONS")]
    num_partitions: Option<i32>,
    /// Create topics on first use (Kafka's auto.create.topics.enable) [default: true].
    #[arg(long, env = "VLTAVA_AUTO_CREATE_TOPICS")]
    auto_create_topics: Option<bool>,
    /// When acks=all is answered: after fsync (always) or from the page cache (never) [default: always].
    #[arg(long, value_enum, env = "VLTAVA_FLUSH")]
    flush: Option<Flush>,
    /// Threads that fsync partitions; fsyncs of different partitions overlap on the device
    /// [default: 4].
    #[arg(long, env = "VLTAVA_FLUSH_THREADS")]
    flush_threads: Option<usize>,
    /// Largest request frame in bytes (Kafka's socket.request.max.bytes) [default: 104857600].
    #[arg(long, env = "VLTAVA_SOCKET_REQUEST_MAX_BYTES")]
    socket_request_max_bytes: Option<usize>,
    /// Default segment size in bytes (Kafka's log.segment.bytes) [default: 1073741824].
    #[arg(long, env = "VLTAVA_LOG_SEGMENT_BYTES")]
    log_segment_bytes: Option<u64>,
    /// Default retention in ms, -1 for none (Kafka's log.retention.ms) [default: 604800000].
    #[arg(long, env = "VLTAVA_LOG_RETENTION_MS")]
    log_retention_ms: Option<i64>,
    /// How often retention is applied, in ms [default: 30000].
    #[arg(long, env = "VLTAVA_LOG_RETENTION_CHECK_INTERVAL_MS")]
    log_retention_check_interval_ms: Option<u64>,
    /// Compact topics whose cleanup.policy has `compact` (Kafka's log.cleaner.enable)
    /// [default: true].
    #[arg(long, env = "VLTAVA_LOG_CLEANER_ENABLE")]
    log_cleaner_enable: Option<bool>,
    /// How long the first rebalance of an empty group waits for more members, in ms
    /// (Kafka's group.initial.rebalance.delay.ms) [default: 3000].
    #[arg(long, env = "VLTAVA_GROUP_INITIAL_REBALANCE_DELAY_MS")]
    group_initial_rebalance_delay_ms: Option<i64>,
    /// Partitions of __consumer_offsets when it is created (Kafka's
    /// offsets.topic.num.partitions) [default: 50].
    #[arg(long, env = "VLTAVA_OFFSETS_TOPIC_NUM_PARTITIONS")]
    offsets_topic_num_partitions: Option<i32>,
    /// How often KIP-848 consumers heartbeat, in ms (Kafka's
    /// group.consumer.heartbeat.interval.ms) [default: 5000].
    #[arg(long, env = "VLTAVA_GROUP_CONSUMER_HEARTBEAT_INTERVAL_MS")]
    group_consumer_heartbeat_interval_ms: Option<i64>,
    /// How long a silent KIP-848 consumer keeps its partitions, in ms (Kafka's
    /// group.consumer.session.timeout.ms) [default: 45000].
    #[arg(long, env = "VLTAVA_GROUP_CONSUMER_SESSION_TIMEOUT_MS")]
    group_consumer_session_timeout_ms: Option<i64>,

    /// Most record bytes in one Fetch response; the first batch still goes whole if larger
    /// (Kafka's fetch.max.bytes) [default: 57671680].
    #[arg(long, env = "VLTAVA_FETCH_MAX_BYTES")]
    fetch_max_bytes: Option<usize>,

    /// An idempotent producer with no append for this long is forgotten by each partition
    /// (Kafka's producer.id.expiration.ms) [default: 86400000].
    #[arg(long, env = "VLTAVA_PRODUCER_ID_EXPIRATION_MS")]
    producer_id_expiration_ms: Option<i64>,
    // Connection limits.
    /// Close a connection that completes no request for this long, in ms (Kafka's
    /// connections.max.idle.ms) [default: 600000].
    #[arg(long, env = "VLTAVA_CONNECTIONS_MAX_IDLE_MS")]
    connections_max_idle_ms: Option<u64>,
    /// Connections one client address may hold; more are closed on accept (Kafka's
    /// max.connections.per.ip) [default: 2147483647].
    #[arg(long, env = "VLTAVA_MAX_CONNECTIONS_PER_IP")]
    max_connections_per_ip: Option<usize>,
    /// Connections the broker serves at once; more wait to be accepted (Kafka's
    /// max.connections, unlimited there; bounded here by the open-files limit) [default: 10000].
    #[arg(long, env = "VLTAVA_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// Bytes of requests read but not yet answered, over all connections; when they are all
    /// taken, connections stop reading until answers are written. -1 (or 0) for no bound; else
    /// at least socket-request-max-bytes (Kafka's queued.max.request.bytes) [default: -1].
    #[arg(
        long,
        env = "VLTAVA_QUEUED_MAX_REQUEST_BYTES",
        allow_negative_numbers = true
    )]
    queued_max_request_bytes: Option<i64>,

    // The cluster.
    /// Where this node's controller listens for the other voters, HOST:PORT (Kafka's
    /// CONTROLLER listener); needed when voters are configured [default: none].
    #[arg(long, env = "VLTAVA_CONTROLLER_LISTEN")]
    controller_listen: Option<SocketAddr>,
    /// The controller quorum as ID@HOST:PORT,... (Kafka's controller.quorum.voters); this
    /// node must be one of them [default: this node alone].
    #[arg(long, env = "VLTAVA_CONTROLLER_QUORUM_VOTERS")]
    controller_quorum_voters: Option<String>,
    /// This broker's rack; replicas of a partition go to different racks where possible
    /// (Kafka's broker.rack) [default: none].
    #[arg(long, env = "VLTAVA_RACK")]
    rack: Option<String>,
    /// replica.selector.class (KIP-392): `rack-aware` (Kafka's
    /// org.apache.kafka.common.replica.RackAwareReplicaSelector, also accepted) sends a
    /// consumer with client.rack to a replica in its rack; `leader` keeps consumers on the
    /// leader [default: leader].
    #[arg(long, env = "VLTAVA_REPLICA_SELECTOR_CLASS")]
    replica_selector_class: Option<String>,
    /// Replicas of a topic created without a replication factor (Kafka's
    /// default.replication.factor) [default: 1].
    #[arg(long, env = "VLTAVA_DEFAULT_REPLICATION_FACTOR")]
    default_replication_factor: Option<i16>,
    /// The broker default of the topic config min.insync.replicas [default: 1].
    #[arg(long, env = "VLTAVA_MIN_INSYNC_REPLICAS")]
    min_insync_replicas: Option<i32>,
    /// replica.lag.time.max.ms: a follower not caught up with its leader for this long leaves
    /// the ISR [default: 30000].
    #[arg(long, env = "VLTAVA_REPLICA_LAG_TIME_MAX_MS")]
    replica_lag_time_max_ms: Option<i64>,
    /// auto.leader.rebalance.enable: the controller gives partitions back to their preferred
    /// replica [default: true].
    #[arg(long, env = "VLTAVA_AUTO_LEADER_REBALANCE_ENABLE")]
    auto_leader_rebalance_enable: Option<bool>,
    /// leader.imbalance.check.interval.seconds: how often it checks [default: 300].
    #[arg(long, env = "VLTAVA_LEADER_IMBALANCE_CHECK_INTERVAL_SECONDS")]
    leader_imbalance_check_interval_seconds: Option<u64>,
}

impl ServeArgs {
    /// Fills every value not set by a flag or the environment from `file`.
    fn or(self, file: ServeArgs) -> ServeArgs {
        ServeArgs {
            config: self.config,
            ephemeral: self.ephemeral,
            listen: self.listen.or(file.listen),
            advertised_listener: self.advertised_listener.or(file.advertised_listener),
            data_dir: self.data_dir.or(file.data_dir),
            node_id: self.node_id.or(file.node_id),
            num_partitions: self.num_partitions.or(file.num_partitions),
            auto_create_topics: self.auto_create_topics.or(file.auto_create_topics),
            flush: self.flush.or(file.flush),
            flush_threads: self.flush_threads.or(file.flush_threads),
            socket_request_max_bytes: self
                .socket_request_max_bytes
                .or(file.socket_request_max_bytes),
            log_segment_bytes: self.log_segment_bytes.or(file.log_segment_bytes),
            log_retention_ms: self.log_retention_ms.or(file.log_retention_ms),
            log_retention_check_interval_ms: self
                .log_retention_check_interval_ms
                .or(file.log_retention_check_interval_ms),
            log_cleaner_enable: self.log_cleaner_enable.or(file.log_cleaner_enable),
            group_initial_rebalance_delay_ms: self
                .group_initial_rebalance_delay_ms
                .or(file.group_initial_rebalance_delay_ms),
            offsets_topic_num_partitions: self
                .offsets_topic_num_partitions
                .or(file.offsets_topic_num_partitions),
            group_consumer_heartbeat_interval_ms: self
                .group_consumer_heartbeat_interval_ms
                .or(file.group_consumer_heartbeat_interval_ms),
            group_consumer_session_timeout_ms: self
                .group_consumer_session_timeout_ms
                .or(file.group_consumer_session_timeout_ms),

            fetch_max_bytes: self.fetch_max_bytes.or(file.fetch_max_bytes),
            producer_id_expiration_ms: self
                .producer_id_expiration_ms
                .or(file.producer_id_expiration_ms),
            connections_max_idle_ms: self
                .connections_max_idle_ms
                .or(file.connections_max_idle_ms),
            max_connections_per_ip: self.max_connections_per_ip.or(file.max_connections_per_ip),
            max_connections: self.max_connections.or(file.max_connections),
            queued_max_request_bytes: self
                .queued_max_request_bytes
                .or(file.queued_max_request_bytes),
            controller_listen: self.controller_listen.or(file.controller_listen),
            controller_quorum_voters: self
                .controller_quorum_voters
                .or(file.controller_quorum_voters),
            rack: self.rack.or(file.rack),
            replica_selector_class: self.replica_selector_class.or(file.replica_selector_class),
            default_replication_factor: self
                .default_replication_factor
                .or(file.default_replication_factor),
            min_insync_replicas: self.min_insync_replicas.or(file.min_insync_replicas),
            replica_lag_time_max_ms: self
                .replica_lag_time_max_ms
                .or(file.replica_lag_time_max_ms),
            auto_leader_rebalance_enable: self
                .auto_leader_rebalance_enable
                .or(file.auto_leader_rebalance_enable),
            leader_imbalance_check_interval_seconds: self
                .leader_imbalance_check_interval_seconds
                .or(file.leader_imbalance_check_interval_seconds),
        }
    }

    fn into_config(self) -> anyhow::Result<BrokerConfig> {
        let mut config = BrokerConfig::new(
            self.data_dir
                .unwrap_or_else(|| PathBuf::from("vltava-data")),
        );
        if let Some(listen) = self.listen {
            config.listen = listen;
        }
        config.advertised_host = config.listen.ip().to_string();
        if let Some(advertised) = self.advertised_listener {
            let (host, port) = match advertised.rsplit_once(':') {
                Some((host, port)) => (
                    host.to_string(),
                    Some(port.parse().context("advertised listener port")?),
                ),
                None => (advertised, None),
            };
            config.advertised_host = host;
            config.advertised_port = port;
        }
        config.node_id = self.node_id.unwrap_or(config.node_id);
        config.num_partitions = at_least(
            "num-partitions",
            self.num_partitions,
            config.num_partitions,
            1,
        )?;
        config.auto_create_topics = self.auto_create_topics.unwrap_or(config.auto_create_topics);
        config.flush = match self.flush.unwrap_or(Flush::Always) {
            Flush::Always => FlushPolicy::Always,
            Flush::Never => FlushPolicy::Never,
        };
        config.flush_threads =
            at_least("flush-threads", self.flush_threads, config.flush_threads, 1)?;
        config.frame_bytes_max = self
            .socket_request_max_bytes
            .unwrap_or(config.frame_bytes_max);
        config.log.segment_bytes = self.log_segment_bytes.unwrap_or(config.log.segment_bytes);
        config.log.retention_ms = self.log_retention_ms.unwrap_or(config.log.retention_ms);
        config.retention_check_interval_ms = self
            .log_retention_check_interval_ms
            .unwrap_or(config.retention_check_interval_ms);
        config.log_cleaner_enable = self.log_cleaner_enable.unwrap_or(config.log_cleaner_enable);
        config.group.initial_rebalance_delay_ms = self
            .group_initial_rebalance_delay_ms
            .unwrap_or(config.group.initial_rebalance_delay_ms);
        anyhow::ensure!(
            config.group.initial_rebalance_delay_ms >= 0,
            "group-initial-rebalance-delay-ms must not be negative"
        );
        let group = &mut config.group;
        group.consumer_heartbeat_interval_ms = self
            .group_consumer_heartbeat_interval_ms
            .unwrap_or(group.consumer_heartbeat_interval_ms);
        group.consumer_session_timeout_ms = self
            .group_consumer_session_timeout_ms
            .unwrap_or(group.consumer_session_timeout_ms);
        anyhow::ensure!(
            group.consumer_heartbeat_interval_ms >= 1
                && group.consumer_heartbeat_interval_ms < group.consumer_session_timeout_ms,
            "group-consumer-heartbeat-interval-ms must be at least 1 and below the session timeout"
        );
        config.offsets_topic_partitions = at_least(
            "offsets-topic-num-partitions",
            self.offsets_topic_num_partitions,
            config.offsets_topic_partitions,
            1,
        )?;

        // 1024 is Kafka's own lower bound for fetch.max.bytes.
        config.fetch_response_bytes_max = at_least(
            "fetch-max-bytes",
            self.fetch_max_bytes,
            config.fetch_response_bytes_max,
            1024,
        )?;
        config.producer_id_expiration_ms = at_least(
            "producer-id-expiration-ms",
            self.producer_id_expiration_ms,
            config.producer_id_expiration_ms,
            1,
        )?;
        config.connections_max_idle_ms = at_least(
            "connections-max-idle-ms",
            self.connections_max_idle_ms,
            config.connections_max_idle_ms,
            1,
        )?;
        config.connections_max_per_ip = self
            .max_connections_per_ip
            .unwrap_or(config.connections_max_per_ip);
        config.connections_max = at_least(
            "max-connections",
            self.max_connections,
            config.connections_max,
            1,
        )?;
        config.queued_request_bytes_max =
            queued_request_bytes_max(self.queued_max_request_bytes, config.frame_bytes_max)?;
        config.controller_listen = self.controller_listen;
        if let Some(voters) = &self.controller_quorum_voters {
            config.controller_quorum_voters = parse_voters(voters)?;
        }
        anyhow::ensure!(
            config.controller_quorum_voters.is_empty() == config.controller_listen.is_none(),
            "controller-listen and controller-quorum-voters go together: a cluster needs both, \
             a single node neither"
        );
        config.rack = self.rack;
        if let Some(selector) = &self.replica_selector_class {
            config.replica_selector = selector.parse().map_err(anyhow::Error::msg)?;
        }
        config.default_replication_factor = self
            .default_replication_factor
            .unwrap_or(config.default_replication_factor);
        anyhow::ensure!(
            config.default_replication_factor >= 1,
            "default-replication-factor must be at least 1"
        );
        config.min_insync_replicas = at_least(
            "min-insync-replicas",
            self.min_insync_replicas,
            config.min_insync_replicas,
            1,
        )?;
        config.replica_lag_time_max_ms = at_least(
            "replica-lag-time-max-ms",
            self.replica_lag_time_max_ms,
            config.replica_lag_time_max_ms,
            1,
        )?;
        config.auto_leader_rebalance_enable = self
            .auto_leader_rebalance_enable
            .unwrap_or(config.auto_leader_rebalance_enable);
        config.leader_imbalance_check_interval_seconds = at_least(
            "leader-imbalance-check-interval-seconds",
            self.leader_imbalance_check_interval_seconds,
            config.leader_imbalance_check_interval_seconds,
            1,
        )?;
        Ok(config)
    }
}

/// `queued.max.request.bytes` as Kafka reads it: not positive for no bound, else at least
/// `socket.request.max.bytes`, so that one whole frame always fits (a smaller pool would stop a
/// connection forever on a frame it can never hold).
fn queued_request_bytes_max(
    queued_max_request_bytes: Option<i64>,
    frame_bytes_max: usize,
) -> anyhow::Result<Option<usize>> {
    let Some(bytes) = queued_max_request_bytes.filter(|bytes| *bytes > 0) else {
        return Ok(None);
    };
    let bytes = usize::try_from(bytes).context("queued-max-request-bytes")?;
    anyhow::ensure!(
        bytes >= frame_bytes_max,
        "queued-max-request-bytes ({bytes}) must be at least socket-request-max-bytes \
         ({frame_bytes_max}), or -1 for no bound (Kafka's queued.max.request.bytes)"
    );
    Ok(Some(bytes))
}

/// The option's value (or `default`), refused below `min` with a message naming the option.
fn at_least<T: PartialOrd + std::fmt::Display + Copy>(
    name: &str,
    value: Option<T>,
    default: T,
    min: T,
) -> anyhow::Result<T> {
    let value = value.unwrap_or(default);
    anyhow::ensure!(value >= min, "{name} must be at least {min}");
    Ok(value)
}

/// Kafka's `controller.quorum.voters`: `ID@HOST:PORT` separated by commas.
fn parse_voters(voters: &str) -> anyhow::Result<BTreeMap<u64, String>> {
    let mut parsed = BTreeMap::new();
    for voter in voters.split(',').map(str::trim).filter(|v| !v.is_empty()) {
        let (id, address) = voter
            .split_once('@')
            .with_context(|| format!("controller quorum voter {voter:?} is not ID@HOST:PORT"))?;
        let id: u64 = id
            .parse()
            .with_context(|| format!("controller quorum voter {voter:?}: bad node id"))?;
        anyhow::ensure!(
            address
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok()),
            "controller quorum voter {voter:?} is not ID@HOST:PORT"
        );
        anyhow::ensure!(
            parsed.insert(id, address.to_string()).is_none(),
            "controller quorum voter {id} is listed twice"
        );
    }
    anyhow::ensure!(
        !parsed.is_empty(),
        "controller-quorum-voters lists no voter"
    );
    Ok(parsed)
}

fn read_config_file(path: Option<&Path>) -> anyhow::Result<ServeArgs> {
    let (path, required) = match path {
        Some(path) => (path.to_path_buf(), true),
        None => (PathBuf::from(DEFAULT_CONFIG_FILE), false),
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text).with_context(|| format!("reading {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => Ok(ServeArgs::default()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let file = read_config_file(args.config.as_deref())?;
    let mut args = args.or(file);
    // Removed when dropped, after the server has shut down (or failed to start).
    let ephemeral = if args.ephemeral {
        let dir = tempfile::Builder::new()
            .prefix("vltava-ephemeral-")
            .tempdir()
            .context("creating a temporary data directory")?;
        args.data_dir = Some(dir.path().join("data"));
        args.listen = args.listen.or(Some(SocketAddr::from(([127, 0, 0, 1], 0))));
        Some(dir)
    } else {
        None
    };
    let config = args.into_config()?;
    let print_bootstrap = ephemeral.is_some();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("vltava")
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        let data_dir = config.data_dir.clone();
        let server = Server::bind(config).await?;
        let handle = server.handle();
        // Tests and scripts wait for this line: keep its shape.
        println!(
            "vltava listening on {} (advertised as {}), data in {}",
            handle.local_addr,
            handle.advertised,
            data_dir.display()
        );
        if print_bootstrap {
            println!("bootstrap={}", handle.advertised);
        }
        let _ = std::io::stdout().flush();
        server.run(shutdown_signal()).await;
        anyhow::Ok(())
    })?;
    drop(ephemeral);
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut terminate) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voters_are_read_in_kafkas_form() {
        let voters =
            parse_voters("1@127.0.0.1:9093, 2@127.0.0.2:9093,3@node-3:9093").expect("valid voters");
        assert_eq!(voters.len(), 3);
        assert_eq!(voters[&2], "127.0.0.2:9093");
        assert_eq!(voters[&3], "node-3:9093");
    }

    #[test]
    fn malformed_voters_are_refused() {
        for bad in [
            "",
            "1",
            "1@host",
            "x@h:1",
            "1@:9093",
            "1@h:1,1@h:2",
            "1@h:99999",
        ] {
            assert!(parse_voters(bad).is_err(), "{bad:?} accepted");
        }
    }
}
