//! `vltava topic`: create, list, describe, alter and delete topics on a running broker, as
//! Kafka's `kafka-topics` does. Tables for people, `--json` for scripts.

use std::collections::BTreeMap;

use clap::{Args, Subcommand};
use serde::Serialize;

use crate::client::{
    Client, ConfigOp, ConfigValue, EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, PartitionInfo, Resource,
    TopicInfo, TopicPartition,
};
use crate::output::{Connection, line, print_json, print_table};

/// The config source of a topic's own overrides.
const TOPIC_OVERRIDE: &str = "DYNAMIC_TOPIC_CONFIG";

#[derive(Debug, Args)]
pub struct TopicArgs {
    #[command(subcommand)]
    command: TopicCommand,
    #[command(flatten)]
    output: Connection,
}

#[derive(Debug, Subcommand)]
enum TopicCommand {
    /// Create a topic.
    Create {
        topic: String,
        /// Partitions [default: the broker's num.partitions].
        #[arg(long)]
        partitions: Option<i32>,
        /// Replicas of each partition [default: the broker's default.replication.factor].
        #[arg(long)]
        replication_factor: Option<i16>,
        /// A topic config, NAME=VALUE; repeatable.
        #[arg(long = "config", value_name = "NAME=VALUE", value_parser = parse_assignment)]
        configs: Vec<(String, String)>,
    },
    /// Every topic with its partition count.
    List {
        /// Include internal topics such as __consumer_offsets.
        #[arg(long)]
        internal: bool,
    },
    /// A topic's id, config overrides and partitions with their offsets.
    Describe { topic: String },
    /// Grow a topic's partitions and/or set configs.
    Alter {
        topic: String,
        /// The new, larger partition count.
        #[arg(long)]
        partitions: Option<i32>,
        /// A topic config to set, NAME=VALUE; repeatable.
        #[arg(long = "config", value_name = "NAME=VALUE", value_parser = parse_assignment)]
        configs: Vec<(String, String)>,
    },
    /// Delete a topic and its data.
    Delete { topic: String },
}

pub fn parse_assignment(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_string(), value.to_string())),
        _ => Err(format!("expected NAME=VALUE, got {text:?}")),
    }
}

pub fn run(args: TopicArgs) -> anyhow::Result<()> {
    let mut client = Client::connect(&args.output.broker.bootstrap)?;
    match args.command {
        TopicCommand::Create {
            topic,
            partitions,
            replication_factor,
            configs,
        } => {
            let configs = configs.into_iter().collect();
            client.create_topic(&topic, partitions, replication_factor, &configs)?;
            eprintln!("Created topic {topic}.");
            Ok(())
        }
        TopicCommand::List { internal } => list(&mut client, internal, args.output.json),
        TopicCommand::Describe { topic } => describe(&mut client, &topic, args.output.json),
        TopicCommand::Alter {
            topic,
            partitions,
            configs,
        } => alter(&mut client, &topic, partitions, configs),
        TopicCommand::Delete { topic } => {
            client.delete_topic(&topic)?;
            eprintln!("Deleted topic {topic}.");
            Ok(())
        }
    }
}

fn list(client: &mut Client, internal: bool, json: bool) -> anyhow::Result<()> {
    let topics: Vec<TopicInfo> = client
        .topics(None)?
        .into_iter()
        .filter(|t| internal || !t.internal)
        .collect();
    #[derive(Serialize)]
    struct Listed {
        name: String,
        partitions: usize,
        internal: bool,
    }
    let listed: Vec<Listed> = topics
        .into_iter()
        .map(|t| Listed {
            name: t.name,
            partitions: t.partitions.len(),
            internal: t.internal,
        })
        .collect();
    if json {
        #[derive(Serialize)]
        struct Topics {
            topics: Vec<Listed>,
        }
        return print_json(&Topics { topics: listed });
    }
    let rows = listed
        .into_iter()
        .map(|t| vec![t.name, t.partitions.to_string()])
        .collect();
    print_table(&["TOPIC", "PARTITIONS"], rows)?;
    Ok(())
}

#[derive(Debug, Serialize)]
struct Description {
    name: String,
    id: String,
    configs: BTreeMap<String, Option<String>>,
    partitions: Vec<PartitionOffsets>,
}

#[derive(Debug, Serialize)]
struct PartitionOffsets {
    #[serde(flatten)]
    partition: PartitionInfo,
    log_start_offset: Option<i64>,
    log_end_offset: Option<i64>,
}

fn describe(client: &mut Client, topic: &str, json: bool) -> anyhow::Result<()> {
    let info = client
        .topics(Some(&[topic.to_string()]))?
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("topic {topic}: no metadata"))?;
    let configs: BTreeMap<String, Option<String>> = client
        .describe_configs(Resource::Topic, topic)?
        .into_iter()
        .filter(|c: &ConfigValue| c.source == TOPIC_OVERRIDE)
        .map(|c| (c.name, c.value))
        .collect();
    let keys: Vec<TopicPartition> = info
        .partitions
        .iter()
        .map(|p| TopicPartition {
            topic: topic.to_string(),
            partition: p.partition,
        })
        .collect();
    let starts = client.list_offsets(&keys, EARLIEST_TIMESTAMP)?;
    let ends = client.list_offsets(&keys, LATEST_TIMESTAMP)?;
    let partitions = info
        .partitions
        .into_iter()
        .zip(&keys)
        .map(|(partition, key)| PartitionOffsets {
            partition,
            log_start_offset: starts.get(key).and_then(|r| r.as_ref().ok()).copied(),
            log_end_offset: ends.get(key).and_then(|r| r.as_ref().ok()).copied(),
        })
        .collect();
    let description = Description {
        name: info.name,
        id: info.id,
        configs,
        partitions,
    };
    if json {
        return print_json(&description);
    }
    line(&format!(
        "Topic: {}  Id: {}  Partitions: {}",
        description.name,
        description.id,
        description.partitions.len()
    ))?;
    let overrides: Vec<String> = description
        .configs
        .iter()
        .map(|(name, value)| format!("{name}={}", value.as_deref().unwrap_or("(sensitive)")))
        .collect();
    line(&format!(
        "Configs: {}",
        if overrides.is_empty() {
            "-".to_string()
        } else {
            overrides.join(",")
        }
    ))?;
    let number = |n: Option<i64>| n.map_or("-".to_string(), |n| n.to_string());
    let rows = description
        .partitions
        .iter()
        .map(|p| {
            vec![
                p.partition.partition.to_string(),
                p.partition.leader.to_string(),
                ids(&p.partition.replicas),
                ids(&p.partition.isr),
                number(p.log_start_offset),
                number(p.log_end_offset),
            ]
        })
        .collect();
    print_table(
        &[
            "PARTITION",
            "LEADER",
            "REPLICAS",
            "ISR",
            "LOG-START",
            "LOG-END",
        ],
        rows,
    )?;
    Ok(())
}

fn ids(ids: &[i32]) -> String {
    ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

fn alter(
    client: &mut Client,
    topic: &str,
    partitions: Option<i32>,
    configs: Vec<(String, String)>,
) -> anyhow::Result<()> {
    if partitions.is_none() && configs.is_empty() {
        anyhow::bail!("nothing to alter: give --partitions and/or --config");
    }
    if let Some(count) = partitions {
        client.create_partitions(topic, count)?;
        eprintln!("Topic {topic} now has {count} partitions.");
    }
    if !configs.is_empty() {
        let changes: Vec<(String, ConfigOp, Option<String>)> = configs
            .into_iter()
            .map(|(name, value)| (name, ConfigOp::Set, Some(value)))
            .collect();
        client.alter_configs(Resource::Topic, topic, &changes)?;
        eprintln!("Updated the configs of topic {topic}.");
    }
    Ok(())
}
