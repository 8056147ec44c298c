//! `vltava-bench`: produce/consume load against any Kafka-protocol broker, and the start-up
//! probe used by `bench/run-single`. See `bench/RESULTS.md` for how it is used.

mod conns;
mod consume;
mod e2e;
mod fanout;
mod group;
mod kafka_config;
mod probe;
mod produce;

use clap::Parser;
// Shared with the `vltava bench` command through the library; the modules above use them as
// `crate::cli` and so on.
use vltava_bench::{cli, progress, report, wire};

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    let result = match cli.command {
        cli::Command::Produce(args) => produce::run(&args),
        cli::Command::Consume(args) => consume::run(&args),
        cli::Command::Probe(args) => probe::run(&args),
        cli::Command::Startup(args) => probe::startup(&args),
        cli::Command::Rebalance(args) => group::rebalance(&args),
        cli::Command::Commit(args) => group::commit(&args),
        cli::Command::E2e(args) => e2e::run(&args),
        cli::Command::WireProduce(args) => wire::produce::run(&args),
        cli::Command::WireFetch(args) => wire::fetch::run(&args),
        cli::Command::Conns(args) => conns::run(&args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("vltava-bench: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
