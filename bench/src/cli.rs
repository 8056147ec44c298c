//! Command-line surface of `vltava-bench`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "vltava-bench",
    about = "Load generator for vltava and Apache Kafka (any Kafka-protocol broker)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Produce fixed-size records and report throughput and send→ack latency.
    Produce(ProduceArgs),
    /// Read a topic from the beginning (all partitions assigned, no group) and report throughput.
    Consume(ConsumeArgs),
    /// Wait until a broker answers a Metadata request.
    Probe(ProbeArgs),
    /// Spawn a broker command, time process start → first answered Metadata, read its idle RSS.
    Startup(StartupArgs),
    /// Consumer group: N subscribed members consuming, one more joins; time until all N+1
    /// members own partitions and have read a record again.
    Rebalance(RebalanceArgs),
    /// One group consumer commits offsets synchronously N times: commits/s and latency.
    Commit(CommitArgs),
    /// Produce at a fixed rate while a consumer (assigned, from the end) reads the same
    /// records: per-record latency from the send instant carried in the record to its receipt.
    E2e(E2eArgs),
    /// Raw Produce requests over TCP, no client library: one batch encoded once and resent,
    /// C connections each writing its own partition, N requests in flight per connection.
    WireProduce(WireProduceArgs),
    /// Raw Fetch requests over TCP: read every partition from offset 0 to its end, counting
    /// records from the batch headers.
    WireFetch(WireFetchArgs),
    /// Hold many idle and slow-loris (half a frame) connections, and measure a healthy
    /// client's acks=all Produce and Fetch latency and the broker's RSS before and during.
    Conns(ConnsArgs),
}

#[derive(Debug, Args)]
pub struct ConnsArgs {
    /// IP:PORT of the broker.
    #[arg(long)]
    pub bootstrap: String,
    #[arg(long, default_value = "conns-probe")]
    pub topic: String,
    /// Connections opened and left idle.
    #[arg(long, default_value_t = 10_000)]
    pub idle: usize,
    /// Connections that send half a request frame and stop.
    #[arg(long, default_value_t = 1_000)]
    pub slow_loris: usize,
    /// Round trips of each kind the healthy client makes, before and while they are held.
    #[arg(long, default_value_t = 1_000)]
    pub requests: usize,
    /// Pause after opening the connections, so the broker has accepted them all.
    #[arg(long, default_value_t = 2_000)]
    pub settle_ms: u64,
    /// The broker's process id, to read its RSS.
    #[arg(long)]
    pub pid: Option<u32>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Assignor {
    /// librdkafka's range assignor: eager rebalances (every member revokes everything).
    Range,
    /// Incremental (cooperative) rebalances: only the moved partitions are revoked.
    CooperativeSticky,
    /// KIP-848 (`group.protocol=consumer`): the broker assigns; heartbeat and session timing
    /// are the broker's (group.consumer.*), not the client's.
    Consumer,
}

impl Assignor {
    pub fn as_config(self) -> &'static str {
        match self {
            Assignor::Range => "range",
            Assignor::CooperativeSticky => "cooperative-sticky",
            Assignor::Consumer => "consumer",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Acks {
    #[value(name = "0")]
    Zero,
    #[value(name = "1")]
    One,
    All,
}

impl Acks {
    pub fn as_config(self) -> &'static str {
        match self {
            Acks::Zero => "0",
            Acks::One => "1",
            Acks::All => "all",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    pub fn as_config(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// Broker address(es), HOST:PORT[,HOST:PORT].
    #[arg(long)]
    pub bootstrap: String,
    #[arg(long)]
    pub topic: String,
    /// Records to send in total (split evenly across producers).
    #[arg(long)]
    pub records: u64,
    #[arg(long, default_value_t = 100)]
    pub record_bytes: usize,
    #[arg(long, value_enum, default_value = "all")]
    pub acks: Acks,
    /// Partitions of the topic, created if it does not exist.
    #[arg(long, default_value_t = 1)]
    pub partitions: i32,
    #[arg(long, default_value_t = 5)]
    pub linger_ms: u64,
    /// librdkafka batch.size: the largest record batch per partition, in bytes.
    #[arg(long, default_value_t = 1_000_000)]
    pub batch_bytes: u64,
    #[arg(long, value_enum, default_value = "none")]
    pub compression: Compression,
    /// Independent producer clients, each on its own thread.
    #[arg(long, default_value_t = 1)]
    pub producers: u32,
    /// Enable idempotence (librdkafka enable.idempotence).
    #[arg(long)]
    pub idempotence: bool,
    /// Key records `key-0` … `key-(N-1)` in turn (a compacted topic's workload); 0: no keys.
    #[arg(long, default_value_t = 0)]
    pub keys: u64,
    /// Send at this many records per second in total (fixed rate, so latency is measured
    /// below saturation); 0: as fast as the client admits.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Config of the topic when this run creates it, KEY=VALUE, repeatable.
    #[arg(long = "topic-config", value_name = "KEY=VALUE")]
    pub topic_configs: Vec<String>,
    /// Stop sending after this many seconds even if fewer records were sent.
    #[arg(long, default_value_t = 60)]
    pub duration_s_max: u64,
    /// Extra librdkafka properties, KEY=VALUE, repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Open this many more connections before producing (each answered one Metadata request)
    /// and keep them open, idle, until the run ends: the fan-out workload.
    #[arg(long, default_value_t = 0)]
    pub idle_connections: u32,
    /// The broker's process id (same machine): its VmRSS and VmHWM are read at the end of the
    /// run, while the producers and idle connections are still open.
    #[arg(long)]
    pub broker_pid: Option<u32>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ConsumeArgs {
    #[arg(long)]
    pub bootstrap: String,
    #[arg(long)]
    pub topic: String,
    /// Records to read before stopping.
    #[arg(long)]
    pub records: u64,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 60)]
    pub duration_s_max: u64,
    /// librdkafka max.partition.fetch.bytes.
    #[arg(long, default_value_t = 16 * 1024 * 1024)]
    pub partition_fetch_bytes: u64,
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// HOST:PORT of the broker.
    #[arg(long)]
    pub bootstrap: String,
    #[arg(long, default_value_t = 30)]
    pub timeout_s: u64,
}

#[derive(Debug, Args)]
pub struct StartupArgs {
    /// HOST:PORT the spawned broker will listen on.
    #[arg(long)]
    pub bootstrap: String,
    /// Times to spawn the broker; `{run}` in the command is replaced by the run number.
    #[arg(long, default_value_t = 1)]
    pub repeat: u32,
    /// How long the broker sits idle after its first Metadata answer before VmRSS is read.
    #[arg(long, default_value_t = 1000)]
    pub idle_ms: u64,
    #[arg(long, default_value_t = 60)]
    pub timeout_s: u64,
    /// Where the broker's stdout and stderr go (appended); discarded if absent.
    #[arg(long)]
    pub log: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
    /// The broker command and its arguments.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RebalanceArgs {
    #[arg(long)]
    pub bootstrap: String,
    /// Topic to consume, created with --partitions if it does not exist.
    #[arg(long)]
    pub topic: String,
    #[arg(long, default_value_t = 12)]
    pub partitions: i32,
    /// Members consuming before one more joins.
    #[arg(long, default_value_t = 10)]
    pub members: u32,
    /// partition.assignment.strategy of every member.
    #[arg(long, value_enum, default_value = "range")]
    pub assignor: Assignor,
    /// Repetitions, each with a new group id (and new members).
    #[arg(long, default_value_t = 3)]
    pub reps: u32,
    /// librdkafka heartbeat.interval.ms.
    #[arg(long, default_value_t = 1000)]
    pub heartbeat_ms: u64,
    /// librdkafka session.timeout.ms.
    #[arg(long, default_value_t = 10_000)]
    pub session_timeout_ms: u64,
    /// A background producer sends one record to every partition this often.
    #[arg(long, default_value_t = 20)]
    pub produce_interval_ms: u64,
    /// The first N members count as stable once their assignment has not changed for this long
    /// (and they cover every partition and have all read a record since). The new member then
    /// joins (rep - ½) / reps of a heartbeat interval later, to spread the heartbeat phase.
    #[arg(long, default_value_t = 2000)]
    pub settle_ms: u64,
    /// Give up on one repetition (start, settle and join) after this many seconds.
    #[arg(long, default_value_t = 60)]
    pub duration_s_max: u64,
    /// Extra librdkafka properties for the members, KEY=VALUE, repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CommitArgs {
    #[arg(long)]
    pub bootstrap: String,
    /// Topic whose partitions are assigned and committed, created if it does not exist.
    #[arg(long)]
    pub topic: String,
    /// Partitions of the topic; every commit carries one offset per partition.
    #[arg(long, default_value_t = 1)]
    pub partitions: i32,
    /// Synchronous commits to make.
    #[arg(long)]
    pub commits: u64,
    /// Group id [default: vltava-bench-commit-PID-TIME].
    #[arg(long)]
    pub group: Option<String>,
    /// Stop after this many seconds even if fewer commits were made.
    #[arg(long, default_value_t = 60)]
    pub duration_s_max: u64,
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct E2eArgs {
    #[arg(long)]
    pub bootstrap: String,
    /// Topic, created with --partitions if it does not exist.
    #[arg(long)]
    pub topic: String,
    #[arg(long, default_value_t = 1)]
    pub partitions: i32,
    /// Bytes per record value; the first 16 carry the sequence number and the send instant.
    #[arg(long, default_value_t = 1024)]
    pub record_bytes: usize,
    /// Records per second, sent on a fixed schedule.
    #[arg(long, default_value_t = 20_000)]
    pub rate: u64,
    /// How long to send.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    #[arg(long, value_enum, default_value = "all")]
    pub acks: Acks,
    #[arg(long, default_value_t = 1)]
    pub linger_ms: u64,
    #[arg(long, value_enum, default_value = "none")]
    pub compression: Compression,
    /// After the last send, how long to wait for the consumer to read every acknowledged record.
    #[arg(long, default_value_t = 30)]
    pub drain_s_max: u64,
    /// Extra librdkafka properties for the producer, KEY=VALUE, repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct WireProduceArgs {
    #[arg(long)]
    pub bootstrap: String,
    /// Topic, created with --partitions partitions if it does not exist.
    #[arg(long)]
    pub topic: String,
    /// TCP connections; connection i writes partition i.
    #[arg(long, default_value_t = 4)]
    pub connections: u32,
    /// Partitions of the topic [default: --connections]; at least --connections.
    #[arg(long)]
    pub partitions: Option<i32>,
    /// Records per batch, one batch per request.
    #[arg(long, default_value_t = 1000)]
    pub batch_records: usize,
    #[arg(long, default_value_t = 100)]
    pub record_bytes: usize,
    /// 1 or all (acks=0 has no answer to check).
    #[arg(long, value_enum, default_value = "all")]
    pub acks: Acks,
    /// Requests in flight per connection (Kafka answers a connection's requests in order).
    #[arg(long, default_value_t = 4)]
    pub in_flight: usize,
    /// Records to send in total, rounded up to whole batches; or use --seconds.
    #[arg(long)]
    pub records: Option<u64>,
    /// Send for this many seconds instead of a record count.
    #[arg(long)]
    pub seconds: Option<u64>,
    /// Records per second across all connections, paced by tokio timers (no spinning): each
    /// connection sends request n at start + n × period, and requests that fall due within one
    /// timer tick (1 ms) leave in one write; 0: as fast as answered.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Config of the topic when this run creates it, KEY=VALUE, repeatable.
    #[arg(long = "topic-config", value_name = "KEY=VALUE")]
    pub topic_configs: Vec<String>,
    /// Give up after this many seconds even if not all records were sent.
    #[arg(long, default_value_t = 120)]
    pub duration_s_max: u64,
    /// The broker's process id (same machine): the cores it used during the run.
    #[arg(long)]
    pub broker_pid: Option<u32>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct WireFetchArgs {
    #[arg(long)]
    pub bootstrap: String,
    #[arg(long)]
    pub topic: String,
    /// TCP connections; partition p is read on connection p mod C.
    #[arg(long, default_value_t = 1)]
    pub connections: u32,
    /// Fetch max_wait_ms: small, since the data is already there.
    #[arg(long, default_value_t = 10)]
    pub max_wait_ms: i32,
    /// Fetch max_bytes (per response).
    #[arg(long, default_value_t = 50 * 1024 * 1024)]
    pub max_bytes: i32,
    /// Fetch partition_max_bytes.
    #[arg(long, default_value_t = 8 * 1024 * 1024)]
    pub partition_max_bytes: i32,
    /// Check the CRC-32C of every batch.
    #[arg(long)]
    pub verify_crc: bool,
    #[arg(long, default_value_t = 120)]
    pub duration_s_max: u64,
    #[arg(long)]
    pub broker_pid: Option<u32>,
    #[arg(long)]
    pub json: bool,
}
