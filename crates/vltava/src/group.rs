//! `vltava group`: list classic consumer groups, describe one (members, assignments, committed
//! offsets and lag), and reset a group's offsets for a topic, as Kafka's
//! `kafka-consumer-groups` does. Tables for people, `--json` for scripts.

use std::collections::BTreeMap;

use anyhow::bail;
use clap::{ArgGroup, Args, Subcommand};
use kafka_protocol::error::ResponseError;
use serde::Serialize;

use crate::client::{
    Client, GroupListing, GroupWithLag, NewOffset, ResetTarget, TopicPartition, error_name,
};
use crate::output::{Connection, line, or_dash, print_json, print_table};

/// DescribeGroups v5 describes a group the broker does not know as Dead.

#[derive(Debug, Args)]
pub struct GroupArgs {
    #[command(subcommand)]
    command: GroupCommand,
    #[command(flatten)]
    output: Connection,
}

#[derive(Debug, Subcommand)]
enum GroupCommand {
    /// Every group with its state and protocol type.
    List {
        /// Only groups in these states (Empty, Stable, PreparingRebalance, ...); repeatable.
        #[arg(long = "state", value_delimiter = ',')]
        states: Vec<String>,
    },
    /// A group's members and assignments, and per partition its committed offset and lag.
    Describe {
        /// The group's id (group.id).
        group: String,
    },
    /// Compute new committed offsets for every partition of a topic; commit them with
    /// --execute (only while the group has no members).
    ResetOffsets(ResetArgs),
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("target").required(true).args(["to_earliest", "to_latest", "to_offset"])))]
struct ResetArgs {
    /// The group's id (group.id).
    group: String,
    /// The topic whose partitions get new offsets (all of them).
    #[arg(long)]
    topic: String,
    /// The log start offset of each partition.
    #[arg(long)]
    to_earliest: bool,
    /// The log end offset of each partition.
    #[arg(long)]
    to_latest: bool,
    /// This offset in each partition, moved into [earliest, latest].
    #[arg(long, value_name = "OFFSET")]
    to_offset: Option<i64>,
    /// Commit the new offsets; without it nothing changes.
    #[arg(long)]
    execute: bool,
}

pub fn run(args: GroupArgs) -> anyhow::Result<()> {
    let mut client = Client::connect(&args.output.broker.bootstrap)?;
    match args.command {
        GroupCommand::List { states } => list(&mut client, &states, args.output.json),
        GroupCommand::Describe { group } => describe(&mut client, &group, args.output.json),
        GroupCommand::ResetOffsets(reset) => reset_offsets(&mut client, &reset, args.output.json),
    }
}

fn list(client: &mut Client, states: &[String], json: bool) -> anyhow::Result<()> {
    let groups = client.list_groups_everywhere(states)?;
    if json {
        // A struct, not json!(), so that the fields keep their order.
        #[derive(Serialize)]
        struct Groups {
            groups: Vec<GroupListing>,
        }
        return print_json(&Groups { groups });
    }
    let rows = groups
        .into_iter()
        .map(|g| vec![g.group, g.group_type, g.state, or_dash(g.protocol_type)])
        .collect();
    print_table(&["GROUP", "TYPE", "STATE", "PROTOCOL-TYPE"], rows)?;
    Ok(())
}

fn describe(client: &mut Client, group: &str, json: bool) -> anyhow::Result<()> {
    let Some(description) = client.describe_group_with_lag(group)? else {
        bail!("consumer group {group} does not exist");
    };
    if json {
        print_json(&description)
    } else {
        print_description(&description)
    }
}

fn print_description(d: &GroupWithLag) -> anyhow::Result<()> {
    let protocol = format!("{} {}", or_dash(d.protocol_type.clone()), d.protocol);
    print_table(
        &["GROUP", "TYPE", "STATE", "EPOCH", "PROTOCOL"],
        vec![vec![
            d.group.clone(),
            d.group_type.clone(),
            d.state.clone(),
            d.group_epoch.map_or("-".to_string(), |e| e.to_string()),
            protocol.trim().to_string(),
        ]],
    )?;
    line("")?;
    if d.members.is_empty() {
        line(&format!("Group {} has no active members.", d.group))?;
    } else {
        let rows = d
            .members
            .iter()
            .map(|m| {
                vec![
                    m.member_id.clone(),
                    or_dash(m.group_instance_id.clone().unwrap_or_default()),
                    m.client_id.clone(),
                    m.host.clone(),
                    m.member_epoch.map_or("-".to_string(), |e| e.to_string()),
                    m.assignment.as_deref().map_or("-".to_string(), compact),
                ]
            })
            .collect();
        let headers = [
            "MEMBER-ID",
            "INSTANCE-ID",
            "CLIENT-ID",
            "HOST",
            "EPOCH",
            "ASSIGNMENT",
        ];
        print_table(&headers, rows)?;
    }
    line("")?;
    let rows = d
        .offsets
        .iter()
        .map(|o| {
            vec![
                o.partition.topic.clone(),
                o.partition.partition.to_string(),
                number(o.committed_offset),
                number(o.log_end_offset),
                number(o.lag),
                or_dash(o.member_id.clone().unwrap_or_default()),
            ]
        })
        .collect();
    let headers = [
        "TOPIC",
        "PARTITION",
        "CURRENT-OFFSET",
        "LOG-END-OFFSET",
        "LAG",
        "MEMBER-ID",
    ];
    print_table(&headers, rows)
}

/// "orders(0,1) payments(2)"
fn compact(partitions: &[TopicPartition]) -> String {
    let mut by_topic: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for p in partitions {
        by_topic
            .entry(&p.topic)
            .or_default()
            .push(p.partition.to_string());
    }
    let topics: Vec<String> = by_topic
        .into_iter()
        .map(|(topic, ps)| format!("{topic}({})", ps.join(",")))
        .collect();
    or_dash(topics.join(" "))
}

#[derive(Debug, Serialize)]
struct Reset {
    group: String,
    topic: String,
    executed: bool,
    partitions: Vec<NewOffset>,
}

fn reset_offsets(client: &mut Client, args: &ResetArgs, json: bool) -> anyhow::Result<()> {
    let target = match (args.to_earliest, args.to_latest, args.to_offset) {
        (true, _, _) => ResetTarget::Earliest,
        (_, true, _) => ResetTarget::Latest,
        (_, _, Some(offset)) => ResetTarget::Offset(offset),
        // clap's ArgGroup requires exactly one of the three.
        _ => bail!("one of --to-earliest, --to-latest, --to-offset is required"),
    };
    let partitions = new_offsets(client, &args.topic, target)?;
    if args.execute {
        commit(client, &args.group, &args.topic, &partitions)?;
    }
    let reset = Reset {
        group: args.group.clone(),
        topic: args.topic.clone(),
        executed: args.execute,
        partitions,
    };
    if json {
        print_json(&reset)?;
    } else {
        let rows = reset
            .partitions
            .iter()
            .map(|p| {
                let partition = p.partition.to_string();
                let offset = p.new_offset.to_string();
                vec![reset.group.clone(), reset.topic.clone(), partition, offset]
            })
            .collect();
        print_table(&["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"], rows)?;
    }
    if !args.execute {
        eprintln!("Dry run: nothing committed. Add --execute to commit these offsets.");
    }
    Ok(())
}

/// The offset `target` means in each partition of `topic`, within [earliest, latest]; says so
/// when an asked-for offset had to be moved.
fn new_offsets(
    client: &mut Client,
    topic: &str,
    target: ResetTarget,
) -> anyhow::Result<Vec<NewOffset>> {
    let offsets = client.reset_offsets_of(topic, target)?;
    if let ResetTarget::Offset(offset) = target {
        for o in offsets.iter().filter(|o| o.new_offset != offset) {
            eprintln!(
                "{topic}-{}: offset {offset} is outside the partition's offsets; using {}",
                o.partition, o.new_offset
            );
        }
    }
    Ok(offsets)
}

/// Commits from outside the group; the broker refuses while the group has members.
fn commit(
    client: &mut Client,
    group: &str,
    topic: &str,
    offsets: &[NewOffset],
) -> anyhow::Result<()> {
    let offsets: Vec<(TopicPartition, i64)> = offsets
        .iter()
        .map(|o| {
            let topic = topic.to_string();
            let partition = o.partition;
            (TopicPartition { topic, partition }, o.new_offset)
        })
        .collect();
    let refused = client.coordinator(group)?.commit_offsets(group, &offsets)?;
    let Some((partition, code)) = refused.first() else {
        return Ok(());
    };
    let hint = match ResponseError::try_from_code(*code) {
        Some(
            ResponseError::UnknownMemberId
            | ResponseError::IllegalGeneration
            | ResponseError::RebalanceInProgress,
        ) => " (offsets can be reset only while the group has no active members)",
        _ => "",
    };
    bail!(
        "group {group}: the broker refused the new offset of {partition}: {}{hint}",
        error_name(*code)
    )
}

fn number(value: Option<i64>) -> String {
    value.map_or("-".to_string(), |v| v.to_string())
}
