//! `vltava cluster status`: the nodes and their state, the active controller, the controller
//! quorum's progress and the partitions without a leader, as `kafka-metadata-quorum` and
//! `kafka-topics --unavailable-partitions` would show them together. Tables for people,
//! `--json` for scripts.

use clap::{Args, Subcommand};
use serde::Serialize;

use crate::client::{Client, ClusterInfo, QuorumInfo};
use crate::output::{Connection, line, or_dash, print_json, print_table};

#[derive(Debug, Args)]
pub struct ClusterArgs {
    #[command(subcommand)]
    command: ClusterCommand,
    #[command(flatten)]
    output: Connection,
}

#[derive(Debug, Subcommand)]
enum ClusterCommand {
    /// Nodes, controller, quorum progress and partitions without a leader.
    Status,
}

#[derive(Debug, Serialize)]
struct Status {
    #[serde(flatten)]
    cluster: ClusterInfo,
    quorum: QuorumInfo,
    /// `topic-partition` of every partition whose leader is -1.
    partitions_without_leader: Vec<String>,
}

pub fn run(args: ClusterArgs) -> anyhow::Result<()> {
    let mut client = Client::connect(&args.output.broker.bootstrap)?;
    match args.command {
        ClusterCommand::Status => status(&mut client, args.output.json),
    }
}

fn status(client: &mut Client, json: bool) -> anyhow::Result<()> {
    let cluster = client.describe_cluster()?;
    let quorum = client.describe_quorum()?;
    let partitions_without_leader = client
        .topics(None)?
        .into_iter()
        .flat_map(|t| {
            t.partitions
                .into_iter()
                .filter(|p| p.leader < 0)
                .map(move |p| format!("{}-{}", t.name, p.partition))
        })
        .collect();
    let status = Status {
        cluster,
        quorum,
        partitions_without_leader,
    };
    if json {
        return print_json(&status);
    }
    print(&status)
}

fn print(status: &Status) -> anyhow::Result<()> {
    let cluster = &status.cluster;
    line(&format!("cluster id: {}", cluster.cluster_id))?;
    line(&format!("controller: {}", node_name(cluster.controller_id)))?;
    line("")?;
    let rows = cluster
        .nodes
        .iter()
        .map(|n| {
            vec![
                n.id.to_string(),
                format!("{}:{}", n.host, n.port),
                or_dash(n.rack.clone().unwrap_or_default()),
                if n.fenced { "fenced" } else { "running" }.to_string(),
            ]
        })
        .collect();
    print_table(&["NODE", "ENDPOINT", "RACK", "STATE"], rows)?;
    line("")?;
    let quorum = &status.quorum;
    line(&format!(
        "quorum: leader {}, epoch {}, high watermark {}",
        node_name(quorum.leader_id),
        quorum.leader_epoch,
        quorum.high_watermark
    ))?;
    let role = |id: i32| {
        if id == quorum.leader_id {
            "leader"
        } else {
            "follower"
        }
    };
    let rows = quorum
        .voters
        .iter()
        .map(|v| (v, role(v.id)))
        .chain(quorum.observers.iter().map(|o| (o, "observer")))
        .map(|(v, role)| {
            vec![
                v.id.to_string(),
                v.log_end_offset.to_string(),
                v.lag.to_string(),
                role.to_string(),
            ]
        })
        .collect();
    print_table(&["NODE", "LOG-END-OFFSET", "LAG", "ROLE"], rows)?;
    line("")?;
    let offline = &status.partitions_without_leader;
    line(&format!("partitions without a leader: {}", offline.len()))?;
    for partition in offline {
        line(&format!("  {partition}"))?;
    }
    Ok(())
}

fn node_name(id: i32) -> String {
    if id < 0 {
        "none (an election is under way)".to_string()
    } else {
        id.to_string()
    }
}
