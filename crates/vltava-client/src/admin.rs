//! The requests `vltava topic` and `vltava config` make: topic metadata, create, grow and
//! delete topics, and describe and change configs.

use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::{
    CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest, DescribeConfigsRequest,
    IncrementalAlterConfigsRequest,
};

use super::*;

const CREATE_TOPICS_VERSION: i16 = 7;
const DELETE_TOPICS_VERSION: i16 = 6;
const CREATE_PARTITIONS_VERSION: i16 = 3;
const DESCRIBE_CONFIGS_VERSION: i16 = 4;
const INCREMENTAL_ALTER_CONFIGS_VERSION: i16 = 1;
/// How long the broker may take over a topic change before answering REQUEST_TIMED_OUT.
const ADMIN_TIMEOUT_MS: i32 = 30_000;
/// "Use the broker's default" for partitions and replication factor.
const BROKER_DEFAULT: i32 = -1;

/// What DescribeConfigs names: a topic or a broker (Kafka's resource type ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Topic = 2,
    Broker = 4,
}

/// IncrementalAlterConfigs operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigOp {
    Set = 0,
    Delete = 1,
}

/// A topic as Metadata describes it.
#[derive(Debug, Clone, Serialize)]
pub struct TopicInfo {
    pub name: String,
    pub id: String,
    pub internal: bool,
    pub partitions: Vec<PartitionInfo>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PartitionInfo {
    pub partition: i32,
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

/// One config as DescribeConfigs reports it.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigValue {
    pub name: String,
    pub value: Option<String>,
    pub source: &'static str,
    pub read_only: bool,
    pub sensitive: bool,
}

impl Client {
    /// Every topic (`None`) or the named ones; unknown names are errors.
    pub fn topics(&mut self, names: Option<&[String]>) -> anyhow::Result<Vec<TopicInfo>> {
        let request = MetadataRequest::default()
            .with_topics(names.map(|names| {
                names
                    .iter()
                    .map(|n| MetadataRequestTopic::default().with_name(Some(TopicName(text(n)))))
                    .collect()
            }))
            .with_allow_auto_topic_creation(false);
        let response = self.call(METADATA_VERSION, &request)?;
        let mut topics = Vec::with_capacity(response.topics.len());
        for topic in response.topics {
            let name = topic.name.map(|n| n.0.to_string()).unwrap_or_default();
            check(topic.error_code, || format!("topic {name}"))?;
            let mut partitions: Vec<PartitionInfo> = topic
                .partitions
                .into_iter()
                .map(|p| PartitionInfo {
                    partition: p.partition_index,
                    leader: p.leader_id.0,
                    replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
                    isr: p.isr_nodes.iter().map(|b| b.0).collect(),
                })
                .collect();
            partitions.sort_by_key(|p| p.partition);
            topics.push(TopicInfo {
                name,
                id: topic.topic_id.to_string(),
                internal: topic.is_internal,
                partitions,
            });
        }
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(topics)
    }

    pub fn create_topic(
        &mut self,
        name: &str,
        partitions: Option<i32>,
        replication_factor: Option<i16>,
        configs: &BTreeMap<String, String>,
    ) -> anyhow::Result<()> {
        let topic = CreatableTopic::default()
            .with_name(TopicName(text(name)))
            .with_num_partitions(partitions.unwrap_or(BROKER_DEFAULT))
            .with_replication_factor(replication_factor.unwrap_or(BROKER_DEFAULT as i16))
            .with_configs(
                configs
                    .iter()
                    .map(|(k, v)| {
                        CreatableTopicConfig::default()
                            .with_name(text(k))
                            .with_value(Some(text(v)))
                    })
                    .collect(),
            );
        let request = CreateTopicsRequest::default()
            .with_topics(vec![topic])
            .with_timeout_ms(ADMIN_TIMEOUT_MS);
        let response = self.call(CREATE_TOPICS_VERSION, &request)?;
        let result = response.topics.first().context("no result for the topic")?;
        check_with_message(result.error_code, result.error_message.as_ref(), || {
            format!("creating topic {name}")
        })
    }

    pub fn delete_topic(&mut self, name: &str) -> anyhow::Result<()> {
        let request = DeleteTopicsRequest::default()
            .with_topics(vec![
                DeleteTopicState::default().with_name(Some(TopicName(text(name)))),
            ])
            .with_timeout_ms(ADMIN_TIMEOUT_MS);
        let response = self.call(DELETE_TOPICS_VERSION, &request)?;
        let result = response
            .responses
            .first()
            .context("no result for the topic")?;
        check_with_message(result.error_code, result.error_message.as_ref(), || {
            format!("deleting topic {name}")
        })
    }

    /// Grows `name` to `count` partitions.
    pub fn create_partitions(&mut self, name: &str, count: i32) -> anyhow::Result<()> {
        let request = CreatePartitionsRequest::default()
            .with_topics(vec![
                CreatePartitionsTopic::default()
                    .with_name(TopicName(text(name)))
                    .with_count(count)
                    .with_assignments(None),
            ])
            .with_timeout_ms(ADMIN_TIMEOUT_MS);
        let response = self.call(CREATE_PARTITIONS_VERSION, &request)?;
        let result = response
            .results
            .first()
            .context("no result for the topic")?;
        check_with_message(result.error_code, result.error_message.as_ref(), || {
            format!("growing topic {name} to {count} partitions")
        })
    }

    /// Every config of a topic or broker (a broker is named by its id).
    pub fn describe_configs(
        &mut self,
        resource: Resource,
        name: &str,
    ) -> anyhow::Result<Vec<ConfigValue>> {
        let request = DescribeConfigsRequest::default().with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(resource as i8)
                .with_resource_name(text(name))
                .with_configuration_keys(None),
        ]);
        let response = self.call(DESCRIBE_CONFIGS_VERSION, &request)?;
        let result = response.results.into_iter().next().context("no result")?;
        check_with_message(result.error_code, result.error_message.as_ref(), || {
            format!("describing the configs of {name}")
        })?;
        Ok(result
            .configs
            .into_iter()
            .map(|c| ConfigValue {
                name: c.name.to_string(),
                value: c.value.map(|v| v.to_string()),
                source: source_name(c.config_source),
                read_only: c.read_only,
                sensitive: c.is_sensitive,
            })
            .collect())
    }

    /// Sets or deletes configs of a topic or broker in one IncrementalAlterConfigs.
    pub fn alter_configs(
        &mut self,
        resource: Resource,
        name: &str,
        changes: &[(String, ConfigOp, Option<String>)],
    ) -> anyhow::Result<()> {
        let configs = changes
            .iter()
            .map(|(key, op, value)| {
                AlterableConfig::default()
                    .with_name(text(key))
                    .with_config_operation(*op as i8)
                    .with_value(value.as_deref().map(text))
            })
            .collect();
        let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(resource as i8)
                .with_resource_name(text(name))
                .with_configs(configs),
        ]);
        let response = self.call(INCREMENTAL_ALTER_CONFIGS_VERSION, &request)?;
        let result = response.responses.first().context("no result")?;
        check_with_message(result.error_code, result.error_message.as_ref(), || {
            format!("altering the configs of {name}")
        })
    }
}

/// Kafka's `ConfigSource` names, as kafka-configs prints them.
fn source_name(source: i8) -> &'static str {
    match source {
        1 => "DYNAMIC_TOPIC_CONFIG",
        2 => "DYNAMIC_BROKER_CONFIG",
        3 => "DYNAMIC_DEFAULT_BROKER_CONFIG",
        4 => "STATIC_BROKER_CONFIG",
        5 => "DEFAULT_CONFIG",
        6 => "DYNAMIC_BROKER_LOGGER_CONFIG",
        _ => "UNKNOWN",
    }
}

/// Like [`check`], with the broker's message when it sent one.
fn check_with_message(
    code: i16,
    message: Option<&StrBytes>,
    what: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    check(code, || match message {
        Some(message) if !message.is_empty() => format!("{} ({message})", what()),
        _ => what(),
    })
}
