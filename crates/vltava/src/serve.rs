//! `vltava serve`: options from flags, then `VLTAVA_*` environment variables, then a
//! `vltava.toml` file, then the defaults — the first that sets a value wins.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, ValueEnum};
use serde::Deserialize;
use vltava_admin::{AdminServer, AdminState};
use vltava_broker::security::ListenerConfig;
use vltava_broker::security::acl::{AuthorizerConfig, STANDARD_AUTHORIZER};
use vltava_broker::security::listener::{ListenerSettings, SecurityProtocol, parse_listeners};
use vltava_broker::security::sasl::oauthbearer::{self, OAuthBearerConfig};
use vltava_broker::security::sasl::{Mechanism, SaslConfig, jaas};
use vltava_broker::security::tls::{ClientAuth, Pem, TlsConfig};
use vltava_broker::server::RequestLogFilter;
use vltava_broker::{BrokerConfig, FlushPolicy, Server};

const DEFAULT_CONFIG_FILE: &str = "vltava.toml";
/// The admin HTTP listener's port (Redpanda's admin port: Kafka has none of its own).
const HTTP_LISTEN_DEFAULT_PORT: u16 = 9644;
/// The zero-configuration listener: PLAINTEXT on 127.0.0.1:9092.
const LISTEN_DEFAULT: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 9092);

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
    /// Address to listen on, one PLAINTEXT listener [default: 127.0.0.1:9092].
    #[arg(long, env = "VLTAVA_LISTEN", conflicts_with = "listeners")]
    listen: Option<SocketAddr>,
    /// HOST:PORT or HOST clients are told to connect to [default: the listen address].
    #[arg(long, env = "VLTAVA_ADVERTISED_LISTENER", conflicts_with = "listeners")]
    advertised_listener: Option<String>,
    /// Listeners as NAME://HOST:PORT,... (Kafka's listeners); instead of --listen.
    #[arg(long, env = "VLTAVA_LISTENERS")]
    listeners: Option<String>,
    /// NAME://HOST:PORT,... clients are told, per listener (Kafka's advertised.listeners)
    /// [default: each listener's own address].
    #[arg(long, env = "VLTAVA_ADVERTISED_LISTENERS", requires = "listeners")]
    advertised_listeners: Option<String>,
    /// NAME:PROTOCOL,... with PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL (Kafka's
    /// listener.security.protocol.map) [default: each protocol's own name].
    #[arg(long, env = "VLTAVA_LISTENER_SECURITY_PROTOCOL_MAP")]
    listener_security_protocol_map: Option<String>,
    /// The listener followers fetch from; PLAINTEXT only for now (Kafka's
    /// inter.broker.listener.name) [default: PLAINTEXT, else the first listener].
    #[arg(long, env = "VLTAVA_INTER_BROKER_LISTENER_NAME")]
    inter_broker_listener_name: Option<String>,
    /// Key store format; only PEM (Kafka's ssl.keystore.type) [default: PEM].
    #[arg(long, env = "VLTAVA_SSL_KEYSTORE_TYPE")]
    ssl_keystore_type: Option<String>,
    /// PEM file with the private key and the certificate chain of the SSL and SASL_SSL
    /// listeners (Kafka's ssl.keystore.location).
    #[arg(long, env = "VLTAVA_SSL_KEYSTORE_LOCATION")]
    ssl_keystore_location: Option<PathBuf>,
    /// The certificate chain as PEM text, with ssl-keystore-key instead of a location
    /// (Kafka's ssl.keystore.certificate.chain).
    #[arg(long, env = "VLTAVA_SSL_KEYSTORE_CERTIFICATE_CHAIN")]
    ssl_keystore_certificate_chain: Option<String>,
    /// The private key as PEM text, unencrypted (Kafka's ssl.keystore.key).
    #[arg(long, env = "VLTAVA_SSL_KEYSTORE_KEY")]
    ssl_keystore_key: Option<String>,
    /// Trust store format; only PEM (Kafka's ssl.truststore.type) [default: PEM].
    #[arg(long, env = "VLTAVA_SSL_TRUSTSTORE_TYPE")]
    ssl_truststore_type: Option<String>,
    /// PEM file of the CA certificates client certificates are checked against (Kafka's
    /// ssl.truststore.location).
    #[arg(long, env = "VLTAVA_SSL_TRUSTSTORE_LOCATION")]
    ssl_truststore_location: Option<PathBuf>,
    /// The trust store's CA certificates as PEM text (Kafka's ssl.truststore.certificates).
    #[arg(long, env = "VLTAVA_SSL_TRUSTSTORE_CERTIFICATES")]
    ssl_truststore_certificates: Option<String>,
    /// none, requested or required: client certificates on SSL listeners (Kafka's
    /// ssl.client.auth) [default: none].
    #[arg(long, env = "VLTAVA_SSL_CLIENT_AUTH")]
    ssl_client_auth: Option<String>,
    /// How a client certificate's subject becomes a principal; only DEFAULT (User:<DN>)
    /// (Kafka's ssl.principal.mapping.rules) [default: DEFAULT].
    #[arg(long, env = "VLTAVA_SSL_PRINCIPAL_MAPPING_RULES")]
    ssl_principal_mapping_rules: Option<String>,
    /// SASL mechanisms offered: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER (Kafka's
    /// sasl.enabled.mechanisms) [default: SCRAM-SHA-512,SCRAM-SHA-256,PLAIN].
    #[arg(long, env = "VLTAVA_SASL_ENABLED_MECHANISMS")]
    sasl_enabled_mechanisms: Option<String>,
    /// PLAIN's users, in Kafka's JAAS form: `org.apache.kafka.common.security.plain.PlainLoginModule
    /// required user_alice="secret";` (Kafka's listener.name.<l>.plain.sasl.jaas.config, here
    /// for every SASL listener) [default: no PLAIN users].
    #[arg(long, env = "VLTAVA_PLAIN_SASL_JAAS_CONFIG")]
    plain_sasl_jaas_config: Option<String>,
    /// Largest frame before authentication, in bytes (Kafka's sasl.server.max.receive.size)
    /// [default: 524288].
    #[arg(long, env = "VLTAVA_SASL_SERVER_MAX_RECEIVE_SIZE")]
    sasl_server_max_receive_size: Option<usize>,
    /// OAUTHBEARER: the JWKS file whose public keys sign tokens, as a `file:` URL or a path;
    /// http(s) URLs are refused, keys are never fetched (Kafka's
    /// sasl.oauthbearer.jwks.endpoint.url) [default: none, every token refused].
    #[arg(long, env = "VLTAVA_SASL_OAUTHBEARER_JWKS_ENDPOINT_URL")]
    sasl_oauthbearer_jwks_endpoint_url: Option<String>,
    /// URLs a JWKS endpoint may name, separated by commas (Kafka 4's system property
    /// org.apache.kafka.sasl.oauthbearer.allowed.urls); vltava still fetches none [default: none].
    #[arg(long, env = "VLTAVA_SASL_OAUTHBEARER_ALLOWED_URLS")]
    sasl_oauthbearer_allowed_urls: Option<String>,
    /// OAUTHBEARER: audiences a token's `aud` must name one of, separated by commas; required
    /// unless the audience is left unverified (Kafka's sasl.oauthbearer.expected.audience).
    #[arg(long, env = "VLTAVA_SASL_OAUTHBEARER_EXPECTED_AUDIENCE")]
    sasl_oauthbearer_expected_audience: Option<String>,
    /// OAUTHBEARER: accept tokens whatever their `aud`; insecure (Kafka's
    /// sasl.oauthbearer.allow.unverified.audience) [default: false].
    #[arg(long, env = "VLTAVA_SASL_OAUTHBEARER_ALLOW_UNVERIFIED_AUDIENCE")]
    sasl_oauthbearer_allow_unverified_audience: Option<bool>,
    /// OAUTHBEARER: the `iss` a token must carry; required unless the issuer is left
    /// unverified (Kafka's sasl.oauthbearer.expected.issuer).
    #[arg(long, env = "VLTAVA_SASL_OAUTHBEARER_EXPECTED_ISSUER")]
    sasl_oauthbearer_expected_issuer: Option<String>,
    /// OAUTHBEARER: accept tokens whatever their `iss`; insecure (Kafka's
    /// sasl.oauthbearer.allow.unverified.issuer) [default: false].
    #[arg(long, env = "VLTAVA_SASL_OAUTHBEARER_ALLOW_UNVERIFIED_ISSUER")]
    sasl_oauthbearer_allow_unverified_issuer: Option<bool>,
    /// OAUTHBEARER: seconds of clock difference allowed on `exp` and `nbf` (Kafka's
    /// sasl.oauthbearer.clock.skew.seconds) [default: 30].
    #[arg(long, env = "VLTAVA_SASL_OAUTHBEARER_CLOCK_SKEW_SECONDS")]
    sasl_oauthbearer_clock_skew_seconds: Option<u64>,
    /// OAUTHBEARER: the claim that names the principal (Kafka's
    /// sasl.oauthbearer.sub.claim.name) [default: sub].
    #[arg(long, env = "VLTAVA_SASL_OAUTHBEARER_SUB_CLAIM_NAME")]
    sasl_oauthbearer_sub_claim_name: Option<String>,
    /// OAUTHBEARER: the claim that holds the scopes (Kafka's
    /// sasl.oauthbearer.scope.claim.name) [default: scope].
    #[arg(long, env = "VLTAVA_SASL_OAUTHBEARER_SCOPE_CLAIM_NAME")]
    sasl_oauthbearer_scope_claim_name: Option<String>,
    /// KIP-368: a SASL session lasts at most this long, in ms, then the client must
    /// re-authenticate on its connection or have it closed; 0 for no limit but an OAUTHBEARER
    /// token's expiry (Kafka's connections.max.reauth.ms) [default: 0].
    #[arg(long, env = "VLTAVA_CONNECTIONS_MAX_REAUTH_MS")]
    connections_max_reauth_ms: Option<u64>,
    /// Enables ACLs: only org.apache.kafka.metadata.authorizer.StandardAuthorizer, which
    /// selects vltava's built-in authorizer; no class is ever loaded (Kafka's
    /// authorizer.class.name) [default: none, every request allowed].
    #[arg(long, env = "VLTAVA_AUTHORIZER_CLASS_NAME")]
    authorizer_class_name: Option<String>,
    /// Principals allowed everything, separated by semicolons: `User:admin;User:ops` (Kafka's
    /// super.users).
    #[arg(long, env = "VLTAVA_SUPER_USERS")]
    super_users: Option<String>,
    /// Lets everyone at a resource no ACL names (Kafka's allow.everyone.if.no.acl.found)
    /// [default: false].
    #[arg(long, env = "VLTAVA_ALLOW_EVERYONE_IF_NO_ACL_FOUND")]
    allow_everyone_if_no_acl_found: Option<bool>,
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
    /// A transactional id with no transaction open and no state change for this long is
    /// forgotten by its coordinator (Kafka's transactional.id.expiration.ms) [default: 604800000].
    #[arg(long, env = "VLTAVA_TRANSACTIONAL_ID_EXPIRATION_MS")]
    transactional_id_expiration_ms: Option<i64>,
    /// Log every request of these clients (comma-separated client ids, `*` for every client)
    /// at info, target vltava::request: API, version, correlation id, peer, time taken.
    #[arg(long, env = "VLTAVA_REQUEST_LOG_CLIENT_IDS")]
    request_log_client_ids: Option<String>,
    /// How often the coordinator looks for expired transactional ids, in ms (Kafka's
    /// transaction.remove.expired.transaction.cleanup.interval.ms) [default: 3600000].
    #[arg(
        long,
        env = "VLTAVA_TRANSACTION_REMOVE_EXPIRED_TRANSACTION_CLEANUP_INTERVAL_MS"
    )]
    transaction_remove_expired_transaction_cleanup_interval_ms: Option<u64>,
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

    // The admin HTTP listener.
    /// HOST:PORT of the admin HTTP listener (/metrics, /health, /ready), or `off`
    /// [default: 127.0.0.1:9644; 127.0.0.1:0 with --ephemeral].
    #[arg(long, env = "VLTAVA_HTTP_LISTEN")]
    http_listen: Option<String>,
}

impl ServeArgs {
    /// Fills every value not set by a flag or the environment from `file`.
    fn or(self, file: ServeArgs) -> ServeArgs {
        ServeArgs {
            config: self.config,
            ephemeral: self.ephemeral,
            listen: self.listen.or(file.listen),
            advertised_listener: self.advertised_listener.or(file.advertised_listener),
            listeners: self.listeners.or(file.listeners),
            advertised_listeners: self.advertised_listeners.or(file.advertised_listeners),
            listener_security_protocol_map: self
                .listener_security_protocol_map
                .or(file.listener_security_protocol_map),
            inter_broker_listener_name: self
                .inter_broker_listener_name
                .or(file.inter_broker_listener_name),
            ssl_keystore_type: self.ssl_keystore_type.or(file.ssl_keystore_type),
            ssl_keystore_location: self.ssl_keystore_location.or(file.ssl_keystore_location),
            ssl_keystore_certificate_chain: self
                .ssl_keystore_certificate_chain
                .or(file.ssl_keystore_certificate_chain),
            ssl_keystore_key: self.ssl_keystore_key.or(file.ssl_keystore_key),
            ssl_truststore_type: self.ssl_truststore_type.or(file.ssl_truststore_type),
            ssl_truststore_location: self
                .ssl_truststore_location
                .or(file.ssl_truststore_location),
            ssl_truststore_certificates: self
                .ssl_truststore_certificates
                .or(file.ssl_truststore_certificates),
            ssl_client_auth: self.ssl_client_auth.or(file.ssl_client_auth),
            ssl_principal_mapping_rules: self
                .ssl_principal_mapping_rules
                .or(file.ssl_principal_mapping_rules),
            sasl_enabled_mechanisms: self
                .sasl_enabled_mechanisms
                .or(file.sasl_enabled_mechanisms),
            plain_sasl_jaas_config: self.plain_sasl_jaas_config.or(file.plain_sasl_jaas_config),
            authorizer_class_name: self.authorizer_class_name.or(file.authorizer_class_name),
            super_users: self.super_users.or(file.super_users),
            allow_everyone_if_no_acl_found: self
                .allow_everyone_if_no_acl_found
                .or(file.allow_everyone_if_no_acl_found),
            sasl_server_max_receive_size: self
                .sasl_server_max_receive_size
                .or(file.sasl_server_max_receive_size),
            sasl_oauthbearer_jwks_endpoint_url: self
                .sasl_oauthbearer_jwks_endpoint_url
                .or(file.sasl_oauthbearer_jwks_endpoint_url),
            sasl_oauthbearer_allowed_urls: self
                .sasl_oauthbearer_allowed_urls
                .or(file.sasl_oauthbearer_allowed_urls),
            sasl_oauthbearer_expected_audience: self
                .sasl_oauthbearer_expected_audience
                .or(file.sasl_oauthbearer_expected_audience),
            sasl_oauthbearer_expected_issuer: self
                .sasl_oauthbearer_expected_issuer
                .or(file.sasl_oauthbearer_expected_issuer),
            sasl_oauthbearer_allow_unverified_audience: self
                .sasl_oauthbearer_allow_unverified_audience
                .or(file.sasl_oauthbearer_allow_unverified_audience),
            sasl_oauthbearer_allow_unverified_issuer: self
                .sasl_oauthbearer_allow_unverified_issuer
                .or(file.sasl_oauthbearer_allow_unverified_issuer),
            sasl_oauthbearer_clock_skew_seconds: self
                .sasl_oauthbearer_clock_skew_seconds
                .or(file.sasl_oauthbearer_clock_skew_seconds),
            sasl_oauthbearer_sub_claim_name: self
                .sasl_oauthbearer_sub_claim_name
                .or(file.sasl_oauthbearer_sub_claim_name),
            sasl_oauthbearer_scope_claim_name: self
                .sasl_oauthbearer_scope_claim_name
                .or(file.sasl_oauthbearer_scope_claim_name),
            connections_max_reauth_ms: self
                .connections_max_reauth_ms
                .or(file.connections_max_reauth_ms),
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
            transactional_id_expiration_ms: self
                .transactional_id_expiration_ms
                .or(file.transactional_id_expiration_ms),
            request_log_client_ids: self.request_log_client_ids.or(file.request_log_client_ids),
            transaction_remove_expired_transaction_cleanup_interval_ms: self
                .transaction_remove_expired_transaction_cleanup_interval_ms
                .or(file.transaction_remove_expired_transaction_cleanup_interval_ms),
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
            http_listen: self.http_listen.or(file.http_listen),
        }
    }

    fn into_config(self) -> anyhow::Result<BrokerConfig> {
        let mut config = BrokerConfig::new(
            self.data_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from("vltava-data")),
        );
        config.listeners = self.listener_configs()?;
        config.inter_broker_listener_name = self.inter_broker_listener(&config.listeners)?;
        config.tls = self.tls_config()?;
        config.sasl = self.sasl_config()?;
        config.authorizer = self.authorizer_config()?;
        if let Some(listener) = config.listeners.iter().find(|l| l.protocol.uses_tls())
            && config.tls.is_none()
        {
            anyhow::bail!(
                "listener {} uses TLS: set ssl-keystore-location (or ssl-keystore-certificate-chain \
                 and ssl-keystore-key)",
                listener.name
            );
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
        if let Some(ids) = &self.request_log_client_ids {
            config.request_log_client_ids = RequestLogFilter::parse(ids);
        }
        config.transactional_id_expiration_ms = at_least(
            "transactional-id-expiration-ms",
            self.transactional_id_expiration_ms,
            config.transactional_id_expiration_ms,
            1,
        )?;
        config.transaction_remove_expired_interval_ms = at_least(
            "transaction-remove-expired-transaction-cleanup-interval-ms",
            self.transaction_remove_expired_transaction_cleanup_interval_ms,
            config.transaction_remove_expired_interval_ms,
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
        // Brokers reach each other, and clients every broker, at the address each registers:
        // answering with the connection's address only works for a broker's own entry.
        if let Some(wildcard) = config
            .listeners
            .iter()
            .find(|l| l.answers_with_connection)
            .filter(|_| !config.controller_quorum_voters.is_empty())
        {
            anyhow::bail!(
                "listener {} binds every address: a cluster broker needs its advertised address \
                 (advertised-listener or advertised-listeners)",
                wildcard.name
            );
        }
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

    /// `--listeners` with its map and advertised addresses, or today's single PLAINTEXT
    /// listener from `--listen` and `--advertised-listener`.
    fn listener_configs(&self) -> anyhow::Result<Vec<ListenerConfig>> {
        if let Some(listeners) = &self.listeners {
            anyhow::ensure!(
                self.listen.is_none() && self.advertised_listener.is_none(),
                "listeners replaces listen and advertised-listener: set one or the other"
            );
            return Ok(parse_listeners(ListenerSettings {
                listeners,
                advertised_listeners: self.advertised_listeners.as_deref(),
                protocol_map: self.listener_security_protocol_map.as_deref(),
            })?);
        }
        anyhow::ensure!(
            self.advertised_listeners.is_none(),
            "advertised-listeners needs listeners"
        );
        let mut listener = ListenerConfig::plaintext(self.listen.unwrap_or(LISTEN_DEFAULT));
        if let Some(advertised) = &self.advertised_listener {
            let (host, port) = match advertised.rsplit_once(':') {
                Some((host, port)) => (
                    host.to_string(),
                    Some(port.parse().context("advertised listener port")?),
                ),
                None => (advertised.clone(), None),
            };
            listener.advertised_host = host;
            listener.advertised_port = port;
            listener.answers_with_connection = false;
        }
        Ok(vec![listener])
    }

    fn inter_broker_listener(&self, listeners: &[ListenerConfig]) -> anyhow::Result<String> {
        let chosen = match &self.inter_broker_listener_name {
            Some(name) => listeners
                .iter()
                .find(|l| l.name.eq_ignore_ascii_case(name))
                .with_context(|| format!("inter-broker-listener-name {name} is not a listener"))?,
            None => listeners
                .iter()
                .find(|l| l.name == "PLAINTEXT")
                .unwrap_or(&listeners[0]),
        };
        // Followers fetch over plain TCP: a cluster needs a PLAINTEXT listener between brokers.
        anyhow::ensure!(
            self.controller_quorum_voters.is_none()
                || chosen.protocol == SecurityProtocol::Plaintext,
            "the inter-broker listener {} uses {}; brokers replicate over PLAINTEXT only for now",
            chosen.name,
            chosen.protocol.name()
        );
        Ok(chosen.name.clone())
    }

    fn tls_config(&self) -> anyhow::Result<Option<TlsConfig>> {
        for (name, store_type) in [
            ("ssl-keystore-type", &self.ssl_keystore_type),
            ("ssl-truststore-type", &self.ssl_truststore_type),
        ] {
            if let Some(store_type) = store_type {
                anyhow::ensure!(
                    store_type.eq_ignore_ascii_case("PEM"),
                    "{name} {store_type} is not supported: use PEM"
                );
            }
        }
        if let Some(rules) = &self.ssl_principal_mapping_rules {
            anyhow::ensure!(
                rules.trim() == "DEFAULT",
                "ssl-principal-mapping-rules supports DEFAULT only"
            );
        }
        let client_auth = match &self.ssl_client_auth {
            Some(name) => ClientAuth::from_name(name).with_context(|| {
                format!("ssl-client-auth {name:?} is not none, requested or required")
            })?,
            None => ClientAuth::None,
        };
        let (certificate_chain, private_key) = match (
            &self.ssl_keystore_location,
            &self.ssl_keystore_certificate_chain,
            &self.ssl_keystore_key,
        ) {
            (None, None, None) => return Ok(None),
            (Some(location), None, None) => {
                (Pem::File(location.clone()), Pem::File(location.clone()))
            }
            (None, Some(chain), Some(key)) => {
                (Pem::Inline(chain.clone()), Pem::Inline(key.clone()))
            }
            _ => anyhow::bail!(
                "set either ssl-keystore-location or both ssl-keystore-certificate-chain and \
                 ssl-keystore-key"
            ),
        };
        let truststore = match (
            &self.ssl_truststore_location,
            &self.ssl_truststore_certificates,
        ) {
            (Some(_), Some(_)) => {
                anyhow::bail!(
                    "set ssl-truststore-location or ssl-truststore-certificates, not both"
                )
            }
            (Some(location), None) => Some(Pem::File(location.clone())),
            (None, Some(certificates)) => Some(Pem::Inline(certificates.clone())),
            (None, None) => None,
        };
        Ok(Some(TlsConfig {
            certificate_chain,
            private_key,
            truststore,
            client_auth,
        }))
    }

    fn authorizer_config(&self) -> anyhow::Result<Option<AuthorizerConfig>> {
        let enabled = match self.authorizer_class_name.as_deref().map(str::trim) {
            None | Some("") => false,
            Some(STANDARD_AUTHORIZER) => true,
            Some(other) => anyhow::bail!(
                "authorizer-class-name {other:?} is not supported: the only authorizer is the \
                 built-in {STANDARD_AUTHORIZER} (no class is ever loaded)"
            ),
        };
        if !enabled {
            if self.super_users.is_some() || self.allow_everyone_if_no_acl_found.is_some() {
                anyhow::bail!(
                    "super-users and allow-everyone-if-no-acl-found need \
                     authorizer-class-name={STANDARD_AUTHORIZER}"
                );
            }
            return Ok(None);
        }
        Ok(Some(AuthorizerConfig {
            super_users: AuthorizerConfig::parse_super_users(
                self.super_users.as_deref().unwrap_or_default(),
            ),
            allow_everyone_if_no_acl_found: self.allow_everyone_if_no_acl_found.unwrap_or(false),
        }))
    }

    fn sasl_config(&self) -> anyhow::Result<SaslConfig> {
        let mut sasl = SaslConfig::default();
        if let Some(mechanisms) = &self.sasl_enabled_mechanisms {
            sasl.enabled_mechanisms = mechanisms
                .split(',')
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .map(|m| {
                    Mechanism::from_name(m).with_context(|| {
                        format!(
                            "SASL mechanism {m} is not supported: PLAIN, SCRAM-SHA-256, \
                             SCRAM-SHA-512, OAUTHBEARER"
                        )
                    })
                })
                .collect::<anyhow::Result<_>>()?;
        }
        if let Some(jaas_config) = &self.plain_sasl_jaas_config {
            sasl.plain_users = jaas::plain_users(jaas_config).context("plain-sasl-jaas-config")?;
        }
        sasl.max_receive_bytes = at_least(
            "sasl-server-max-receive-size",
            self.sasl_server_max_receive_size,
            sasl.max_receive_bytes,
            1024,
        )?;
        sasl.oauthbearer = self.oauthbearer_config()?;
        if sasl.enabled_mechanisms.contains(&Mechanism::OAuthBearer) && sasl.oauthbearer.is_none() {
            anyhow::bail!(
                "OAUTHBEARER needs sasl-oauthbearer-jwks-endpoint-url: the JWKS file of the \
                 keys tokens are signed with"
            );
        }
        sasl.connections_max_reauth_ms = self.connections_max_reauth_ms.unwrap_or(0);
        Ok(sasl)
    }

    /// The `sasl-oauthbearer-*` options, with the keys of the JWKS file read now.
    fn oauthbearer_config(&self) -> anyhow::Result<Option<OAuthBearerConfig>> {
        let Some(url) = &self.sasl_oauthbearer_jwks_endpoint_url else {
            return Ok(None);
        };
        let list = |value: &Option<String>| -> Vec<String> {
            value
                .as_deref()
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
                .collect()
        };
        let path = oauthbearer::jwks_path(url, &list(&self.sasl_oauthbearer_allowed_urls))
            .map_err(|e| anyhow::anyhow!("sasl-oauthbearer-jwks-endpoint-url: {e}"))?;
        let file = std::fs::File::open(&path)
            .with_context(|| format!("reading the JWKS file {}", path.display()))?;
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut std::io::Read::take(file, oauthbearer::JWKS_FILE_BYTES_MAX),
            &mut text,
        )
        .with_context(|| format!("reading the JWKS file {}", path.display()))?;
        let keys = oauthbearer::parse_jwks(&text)
            .with_context(|| format!("the JWKS file {}", path.display()))?;
        let mut config = OAuthBearerConfig::new(keys);
        // Kafka 4.4 refuses to start without both, unless each is waived explicitly.
        config.expected_audience = list(&self.sasl_oauthbearer_expected_audience);
        anyhow::ensure!(
            !config.expected_audience.is_empty()
                || self.sasl_oauthbearer_allow_unverified_audience == Some(true),
            "OAUTHBEARER needs sasl-oauthbearer-expected-audience (the audiences that name this \
             cluster), or sasl-oauthbearer-allow-unverified-audience=true to accept tokens \
             whatever their aud claim"
        );
        config.expected_issuer = self
            .sasl_oauthbearer_expected_issuer
            .clone()
            .filter(|issuer| !issuer.is_empty());
        anyhow::ensure!(
            config.expected_issuer.is_some()
                || self.sasl_oauthbearer_allow_unverified_issuer == Some(true),
            "OAUTHBEARER needs sasl-oauthbearer-expected-issuer (the issuer that signs tokens), \
             or sasl-oauthbearer-allow-unverified-issuer=true to accept tokens whatever their \
             iss claim"
        );
        if let Some(skew) = self.sasl_oauthbearer_clock_skew_seconds {
            config.clock_skew_seconds = skew;
        }
        if let Some(name) = &self.sasl_oauthbearer_sub_claim_name {
            config.sub_claim_name = name.clone();
        }
        if let Some(name) = &self.sasl_oauthbearer_scope_claim_name {
            config.scope_claim_name = name.clone();
        }
        Ok(Some(config))
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
        if args.listeners.is_none() {
            args.listen = args.listen.or(Some(SocketAddr::from(([127, 0, 0, 1], 0))));
        }
        Some(dir)
    } else {
        None
    };
    let http_listen = HttpListen::parse(args.http_listen.take().as_deref(), ephemeral.is_some())?;
    let config = args.into_config()?;
    let print_bootstrap = ephemeral.is_some();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("vltava")
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        let data_dir = config.data_dir.clone();
        // Before the broker opens its logs, so that /health answers during a long recovery.
        let admin = AdminState::default();
        let (admin_addr, stop_admin) = start_admin(http_listen, &admin).await?;
        let server = Server::bind(config).await?;
        admin.set_serving(server.broker(), true);
        let handle = server.handle();
        if let Some(bootstrap) = console_bootstrap(&handle.listeners) {
            admin.console().set_bootstrap(bootstrap);
        }
        // Tests and scripts wait for this line: keep its shape.
        let first = &handle.listeners[0];
        let advertised = if first.answers_with_connection {
            "the address each client connects to"
        } else {
            handle.advertised.as_str()
        };
        println!(
            "vltava listening on {} (advertised as {advertised}), data in {}",
            handle.local_addr,
            data_dir.display()
        );
        if handle.listeners.len() > 1 || handle.listeners[0].protocol != "PLAINTEXT" {
            for listener in &handle.listeners {
                println!(
                    "listener {} ({}) on {}, advertised as {}",
                    listener.name, listener.protocol, listener.local_addr, listener.advertised
                );
            }
        }
        if print_bootstrap {
            println!("bootstrap={}", handle.advertised);
        }
        if let Some(address) = admin_addr {
            // Tests read this line for the port: keep its shape.
            println!("http listening on {address}");
        }
        let _ = std::io::stdout().flush();
        let broker = server.broker().clone();
        server
            .run(async {
                shutdown_signal().await;
                // Load balancers stop sending clients here while the broker drains.
                admin.set_serving(&broker, false);
            })
            .await;
        drop(stop_admin);
        anyhow::Ok(())
    })?;
    drop(ephemeral);
    Ok(())
}

/// Where the web console connects as a Kafka client: this broker's first PLAINTEXT listener,
/// at a loopback address when it listens on all of them. None without a PLAINTEXT listener
/// (the console's client speaks neither TLS nor SASL yet; its API then answers 503).
fn console_bootstrap(listeners: &[vltava_broker::server::ListenerHandle]) -> Option<String> {
    let plaintext = listeners.iter().find(|l| l.protocol == "PLAINTEXT")?;
    let mut address = plaintext.local_addr;
    if address.ip().is_unspecified() {
        address.set_ip(if address.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    Some(address.to_string())
}

/// Where the admin HTTP listener goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HttpListen {
    Off,
    /// The default address: if it is taken (another broker on this host), the broker runs
    /// without the listener and says so, rather than not at all.
    Default(SocketAddr),
    /// Set by the operator: failing to bind it stops the start.
    Configured(SocketAddr),
}

impl HttpListen {
    fn parse(value: Option<&str>, ephemeral: bool) -> anyhow::Result<Self> {
        let default_port = if ephemeral {
            0
        } else {
            HTTP_LISTEN_DEFAULT_PORT
        };
        match value.map(str::trim) {
            None => Ok(HttpListen::Default(SocketAddr::from((
                [127, 0, 0, 1],
                default_port,
            )))),
            Some(off) if off.eq_ignore_ascii_case("off") => Ok(HttpListen::Off),
            Some(address) => address
                .parse()
                .map(HttpListen::Configured)
                .with_context(|| format!("http-listen {address:?} is not HOST:PORT or off")),
        }
    }
}

/// Binds and starts the admin HTTP listener; its bound address, and a sender whose drop
/// stops it.
async fn start_admin(
    http_listen: HttpListen,
    state: &AdminState,
) -> anyhow::Result<(Option<SocketAddr>, Option<tokio::sync::oneshot::Sender<()>>)> {
    let bound = match http_listen {
        HttpListen::Off => return Ok((None, None)),
        HttpListen::Configured(address) => AdminServer::bind(address)
            .await
            .with_context(|| format!("cannot listen for HTTP on {address}"))?,
        HttpListen::Default(address) => match AdminServer::bind(address).await {
            Ok(bound) => bound,
            Err(error) => {
                tracing::warn!(%address, %error, "no admin HTTP listener: the default address is taken; set --http-listen");
                return Ok((None, None));
            }
        },
    };
    let address = bound.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let state = state.clone();
    tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        if let Err(error) = bound.run(state, shutdown).await {
            tracing::error!(%error, "the admin HTTP listener stopped");
        }
    });
    Ok((Some(address), Some(stop)))
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

    fn secured(listeners: &str) -> ServeArgs {
        ServeArgs {
            listeners: Some(listeners.into()),
            ..ServeArgs::default()
        }
    }

    #[test]
    fn no_listener_settings_keep_the_one_plaintext_listener() -> anyhow::Result<()> {
        let config = ServeArgs::default().into_config()?;
        assert_eq!(
            config.listeners,
            vec![ListenerConfig::plaintext(LISTEN_DEFAULT)]
        );
        assert_eq!(config.inter_broker_listener_name, "PLAINTEXT");
        assert!(config.tls.is_none());
        Ok(())
    }

    #[test]
    fn listeners_with_their_security_settings_are_read() -> anyhow::Result<()> {
        let config = ServeArgs {
            ssl_keystore_location: Some("broker.pem".into()),
            ssl_client_auth: Some("required".into()),
            ssl_truststore_location: Some("ca.pem".into()),
            sasl_enabled_mechanisms: Some("SCRAM-SHA-512, PLAIN".into()),
            plain_sasl_jaas_config: Some(format!(
                "{} required user_a=\"b\";",
                jaas::PLAIN_LOGIN_MODULE
            )),
            ..secured("PLAINTEXT://127.0.0.1:9092,SSL://127.0.0.1:9093,SASL_SSL://127.0.0.1:9094")
        }
        .into_config()?;
        assert_eq!(config.listeners.len(), 3);
        let tls = config.tls.context("TLS settings")?;
        assert_eq!(tls.client_auth, ClientAuth::Required);
        assert_eq!(config.sasl.enabled_mechanisms.len(), 2);
        assert_eq!(config.sasl.plain_users["a"], "b");
        Ok(())
    }

    #[test]
    fn the_standard_authorizer_is_read_with_its_settings() -> anyhow::Result<()> {
        let config = ServeArgs {
            authorizer_class_name: Some(STANDARD_AUTHORIZER.into()),
            super_users: Some("User:admin;User:CN=ops".into()),
            ..secured("PLAINTEXT://127.0.0.1:9092")
        }
        .into_config()?;
        let authorizer = config.authorizer.context("authorizer enabled")?;
        assert!(authorizer.super_users.contains("User:CN=ops"));
        assert!(!authorizer.allow_everyone_if_no_acl_found);
        assert!(
            secured("PLAINTEXT://127.0.0.1:9092")
                .into_config()?
                .authorizer
                .is_none()
        );
        Ok(())
    }

    #[test]
    fn inconsistent_security_settings_are_refused() {
        let refused = [
            // Both ways of naming listeners.
            ServeArgs {
                listen: Some(LISTEN_DEFAULT),
                ..secured("PLAINTEXT://127.0.0.1:9092")
            },
            // A TLS listener without a key store.
            secured("SSL://127.0.0.1:9093"),
            // A key store that is not PEM.
            ServeArgs {
                ssl_keystore_location: Some("broker.jks".into()),
                ssl_keystore_type: Some("JKS".into()),
                ..secured("SSL://127.0.0.1:9093")
            },
            // Half an inline key store.
            ServeArgs {
                ssl_keystore_key: Some("-----BEGIN PRIVATE KEY-----".into()),
                ..secured("SSL://127.0.0.1:9093")
            },
            // A mechanism vltava does not have, and a JAAS line naming another class.
            ServeArgs {
                sasl_enabled_mechanisms: Some("GSSAPI".into()),
                ..secured("SASL_PLAINTEXT://127.0.0.1:9094")
            },
            ServeArgs {
                plain_sasl_jaas_config: Some("com.example.Evil required;".into()),
                ..secured("SASL_PLAINTEXT://127.0.0.1:9094")
            },
            // Brokers replicate over PLAINTEXT only for now.
            ServeArgs {
                controller_listen: Some(LISTEN_DEFAULT),
                controller_quorum_voters: Some("1@127.0.0.1:9093".into()),
                ..secured("SASL_PLAINTEXT://127.0.0.1:9094")
            },
            ServeArgs {
                ssl_principal_mapping_rules: Some("RULE:^CN=(.*)$/$1/".into()),
                ..secured("PLAINTEXT://127.0.0.1:9092")
            },
            // A class name is never loaded; only Kafka's StandardAuthorizer selects ours.
            ServeArgs {
                authorizer_class_name: Some("kafka.security.authorizer.AclAuthorizer".into()),
                ..secured("PLAINTEXT://127.0.0.1:9092")
            },
            // Super users without an authorizer would silently do nothing.
            ServeArgs {
                super_users: Some("User:admin".into()),
                ..secured("PLAINTEXT://127.0.0.1:9092")
            },
            // A cluster broker must register an address the others can reach.
            ServeArgs {
                controller_listen: Some(LISTEN_DEFAULT),
                controller_quorum_voters: Some("1@127.0.0.1:9093".into()),
                ..secured("PLAINTEXT://0.0.0.0:9092")
            },
        ];
        for (i, args) in refused.into_iter().enumerate() {
            assert!(args.into_config().is_err(), "case {i} accepted");
        }
    }

    #[test]
    fn http_listen_is_an_address_or_off() -> anyhow::Result<()> {
        let default = SocketAddr::from(([127, 0, 0, 1], HTTP_LISTEN_DEFAULT_PORT));
        assert_eq!(
            HttpListen::parse(None, false)?,
            HttpListen::Default(default)
        );
        let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
        assert_eq!(
            HttpListen::parse(None, true)?,
            HttpListen::Default(any_port)
        );
        assert_eq!(HttpListen::parse(Some("Off"), false)?, HttpListen::Off);
        let configured = SocketAddr::from(([0, 0, 0, 0], 9000));
        assert_eq!(
            HttpListen::parse(Some("0.0.0.0:9000"), true)?,
            HttpListen::Configured(configured)
        );
        assert!(HttpListen::parse(Some("localhost"), false).is_err());
        Ok(())
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
