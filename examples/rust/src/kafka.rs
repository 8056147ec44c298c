//! What every service needs from librdkafka: a configured client, an idempotent producer and
//! its topics.

use std::time::Duration;

use anyhow::Context;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::FutureProducer;
use rdkafka::types::RDKafkaErrorCode;

use crate::Config;

pub const ORDERS: &str = "orders";
const PARTITIONS: i32 = 3;
/// How long a create-topics request waits for the broker before startup fails.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);

pub fn client_config(config: &Config) -> ClientConfig {
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", &config.bootstrap);
    client
}

/// A producer whose writes are acknowledged by all in-sync replicas, and written once even when
/// librdkafka retries them (idempotence: the broker drops a retried batch it already has).
pub fn producer(config: &Config) -> anyhow::Result<FutureProducer> {
    client_config(config)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .create()
        .context("creating the producer")
}

/// Creates the topics that are missing, 3 partitions each with the broker's default replication
/// factor (-1). A topic that already exists is fine: every service creates what it needs.
pub async fn create_topics(config: &Config, names: &[&str]) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = client_config(config)
        .create()
        .context("creating the admin client")?;
    let topics: Vec<NewTopic> = names
        .iter()
        .map(|name| NewTopic::new(name, PARTITIONS, TopicReplication::Fixed(-1)))
        .collect();
    let options = AdminOptions::new()
        .operation_timeout(Some(ADMIN_TIMEOUT))
        .request_timeout(Some(ADMIN_TIMEOUT));
    for result in admin.create_topics(&topics, &options).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => anyhow::bail!("creating topic {topic}: {code}"),
        }
    }
    Ok(())
}
