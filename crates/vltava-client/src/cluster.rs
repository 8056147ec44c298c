//! The requests `vltava cluster` makes: DescribeCluster and DescribeQuorum.

use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
use kafka_protocol::messages::describe_quorum_response::ReplicaState;
use kafka_protocol::messages::{DescribeClusterRequest, DescribeQuorumRequest};

use super::*;

const DESCRIBE_CLUSTER_VERSION: i16 = 2;
const DESCRIBE_QUORUM_VERSION: i16 = 2;
/// The metadata log, as DescribeQuorum names it.
const METADATA_TOPIC: &str = "__cluster_metadata";

#[derive(Debug, Clone, Serialize)]
pub struct ClusterNode {
    pub id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
    pub fenced: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClusterInfo {
    pub cluster_id: String,
    /// -1 while no controller is known.
    pub controller_id: i32,
    pub nodes: Vec<ClusterNode>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VoterProgress {
    pub id: i32,
    pub log_end_offset: i64,
    /// The leader's high watermark minus this voter's log end offset (0 when caught up).
    pub lag: i64,
    /// When the leader last heard from it, wall-clock ms; -1 if not known.
    pub last_fetch_timestamp: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct QuorumInfo {
    pub leader_id: i32,
    pub leader_epoch: i32,
    pub high_watermark: i64,
    pub voters: Vec<VoterProgress>,
    /// Brokers that follow the metadata log without voting.
    pub observers: Vec<VoterProgress>,
}

impl Client {
    /// Every registered broker, fenced ones included, and the controller.
    pub fn describe_cluster(&mut self) -> anyhow::Result<ClusterInfo> {
        let request = DescribeClusterRequest::default().with_include_fenced_brokers(true);
        let response = self.call(DESCRIBE_CLUSTER_VERSION, &request)?;
        check(response.error_code, || "DescribeCluster".to_string())?;
        let mut nodes: Vec<ClusterNode> = response
            .brokers
            .into_iter()
            .map(|b| ClusterNode {
                id: b.broker_id.0,
                host: b.host.to_string(),
                port: b.port,
                rack: b.rack.map(|r| r.to_string()),
                fenced: b.is_fenced,
            })
            .collect();
        nodes.sort_by_key(|n| n.id);
        Ok(ClusterInfo {
            cluster_id: response.cluster_id.to_string(),
            controller_id: response.controller_id.0,
            nodes,
        })
    }

    /// The controller quorum's leader and each voter's progress.
    pub fn describe_quorum(&mut self) -> anyhow::Result<QuorumInfo> {
        let request = DescribeQuorumRequest::default().with_topics(vec![
            TopicData::default()
                .with_topic_name(TopicName(text(METADATA_TOPIC)))
                .with_partitions(vec![PartitionData::default().with_partition_index(0)]),
        ]);
        let response = self.call(DESCRIBE_QUORUM_VERSION, &request)?;
        check(response.error_code, || "DescribeQuorum".to_string())?;
        let partition = response
            .topics
            .into_iter()
            .flat_map(|t| t.partitions)
            .next()
            .ok_or_else(|| anyhow::anyhow!("DescribeQuorum answered no partition"))?;
        check(partition.error_code, || "DescribeQuorum".to_string())?;
        let high_watermark = partition.high_watermark;
        let progress = |replicas: Vec<ReplicaState>| {
            let mut progress: Vec<VoterProgress> = replicas
                .into_iter()
                .map(|v| VoterProgress {
                    id: v.replica_id.0,
                    log_end_offset: v.log_end_offset,
                    lag: (high_watermark - v.log_end_offset).max(0),
                    last_fetch_timestamp: v.last_fetch_timestamp,
                })
                .collect();
            progress.sort_by_key(|v| v.id);
            progress
        };
        Ok(QuorumInfo {
            leader_id: partition.leader_id.0,
            leader_epoch: partition.leader_epoch,
            high_watermark,
            voters: progress(partition.current_voters),
            observers: progress(partition.observers),
        })
    }
}
