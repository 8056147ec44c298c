//! `vltava`: a Kafka-compatible event broker in one binary.

mod bench;
mod cluster;
mod configs;
mod consume;
mod format;
mod group;
mod interrupt;
mod output;
mod produce;
mod progress;
mod serve;
mod topic;

use clap::{Parser, Subcommand};
// The client the commands share lives in its own crate, which the web console uses too.
use vltava_client as client;
use vltava_client::batches;

#[derive(Debug, Parser)]
#[command(
    name = "vltava",
    version,
    about = "A Kafka-compatible event broker in one small binary"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How log lines are written to stderr: `text`, or `json` (one object a line, for log
    /// collectors). VLTAVA_LOG sets which lines.
    #[arg(long, global = true, env = "VLTAVA_LOG_FORMAT", default_value = "text")]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a broker (127.0.0.1:9092, data in ./vltava-data, no configuration needed).
    Serve(Box<serve::ServeArgs>),
    /// Create, list, describe, alter and delete topics on a running broker.
    Topic(topic::TopicArgs),
    /// Describe, set and delete topic and broker configs on a running broker.
    Config(configs::ConfigArgs),
    /// List, describe and reset the offsets of consumer groups on a running broker.
    Group(group::GroupArgs),
    /// The cluster's nodes, controller quorum and partitions without a leader.
    Cluster(cluster::ClusterArgs),
    /// Write records from stdin lines (or --value) to a topic, like kcat -P.
    Produce(produce::ProduceArgs),
    /// Print a topic's records, like kcat -C.
    Consume(consume::ConsumeArgs),
    /// Load a broker and measure it: `bench produce` (records/s, MB/s, latency of acks),
    /// `bench consume` (a topic read whole), as kafka-producer-perf-test does.
    Bench(bench::BenchArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("VLTAVA_LOG")
                // openraft narrates every vote at info, and logs an error for every failed call
                // to a peer that is down (each heartbeat); the network logs each outage once.
                // `VLTAVA_LOG=info,openraft=warn` shows openraft's own messages.
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=off")),
        )
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
    let result = match cli.command {
        Command::Serve(args) => serve::run(*args),
        Command::Topic(args) => topic::run(args),
        Command::Config(args) => configs::run(args),
        Command::Group(args) => group::run(args),
        Command::Cluster(args) => cluster::run(args),
        Command::Produce(args) => produce::run(args),
        Command::Consume(args) => consume::run(args),
        Command::Bench(args) => bench::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("vltava: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
