//! Data directories written before the metadata log existed keep their topics in
//! `<data>/topics.json` and their dynamic broker configs in `<data>/broker-configs.json`.
//!
//! Topics: At start each topic there that the metadata log does not have is
//! created through the controller with its old id, partition count and configs (its partition
//! directories and their data stay where they are); then the file is removed. A crash midway
//! is harmless: the next start creates the topics still missing.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use uuid::Uuid;
use vltava_cluster::controller::ControllerError;
use vltava_cluster::controller::topics::NewTopic;
use vltava_cluster::quorum::active::{ControllerFailure, ControllerRequest};

use super::ClusterLink;
use crate::configs::dynamic::{DynamicConfigs, Level};
use crate::error::{BrokerError, Result};
use crate::metadata_file;

pub const TOPICS_FILE: &str = "topics.json";

#[derive(Debug, Deserialize)]
struct TopicRecord {
    name: String,
    id: Uuid,
    partitions: i32,
    configs: BTreeMap<String, String>,
}

/// Moves `topics.json` into the metadata log; the number of topics moved.
/// Moves `broker-configs.json` into the metadata log: each level the log has no configs for
/// takes the file's; then the file is removed.
pub async fn migrate_broker_configs_file(data_dir: &Path, cluster: &ClusterLink) -> Result<()> {
    let Some((path, configs)) = DynamicConfigs::load_old_file(data_dir)? else {
        return Ok(());
    };
    for level in [Level::PerBroker, Level::ClusterDefault] {
        let resource = level.resource(cluster.broker_id());
        let wanted = configs.level(level);
        if wanted.is_empty() || cluster.image().configs.contains_key(&resource) {
            continue;
        }
        let request = ControllerRequest::SetConfigs {
            resource,
            configs: wanted.clone(),
        };
        cluster.decide(request).await?;
        tracing::info!(?level, "moved dynamic broker configs into the metadata log");
    }
    std::fs::remove_file(&path).map_err(|source| BrokerError::MetadataIo {
        path: path.clone(),
        source,
    })?;
    Ok(())
}

pub async fn migrate_topics_file(data_dir: &Path, cluster: &ClusterLink) -> Result<usize> {
    let path = data_dir.join(TOPICS_FILE);
    let Some(records) = metadata_file::load::<Vec<TopicRecord>>(&path)? else {
        return Ok(0);
    };
    let mut moved = 0;
    for record in records {
        if cluster.image().topic(&record.name).is_some() {
            continue;
        }
        let request = ControllerRequest::CreateTopic(NewTopic {
            name: record.name.clone(),
            topic_id: record.id,
            partitions: record.partitions,
            // Before the metadata log there was one broker: every partition is on it.
            replication_factor: 1,
            configs: record.configs,
            assignments: vec![vec![cluster.broker_id()]; record.partitions.max(0) as usize],
        });
        match cluster.decide(request).await {
            // Created by an earlier start that stopped before removing the file.
            Err(BrokerError::Controller(ControllerFailure::Refused(
                ControllerError::TopicExists(_),
            ))) => continue,
            other => other?,
        };
        moved += 1;
        tracing::info!(topic = %record.name, "moved topic from topics.json into the metadata log");
    }
    std::fs::remove_file(&path).map_err(|source| BrokerError::MetadataIo {
        path: path.clone(),
        source,
    })?;
    Ok(moved)
}
