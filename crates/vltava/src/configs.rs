//! `vltava config`: describe, set and delete the configs of a topic or the broker, as Kafka's
//! `kafka-configs` does. `describe` shows every config with its value and source.

use clap::{ArgGroup, Args, Subcommand};
use serde::Serialize;

use crate::client::{Client, ConfigOp, ConfigValue, Resource};
use crate::output::{Connection, print_json, print_table};
use crate::topic::parse_assignment;

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    command: ConfigCommand,
    #[command(flatten)]
    output: Connection,
}

/// Whose configs: a topic, or the broker with this id.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("entity").required(true).args(["topic", "broker"])))]
struct Entity {
    #[arg(long)]
    topic: Option<String>,
    #[arg(long, value_name = "ID")]
    broker: Option<i32>,
}

impl Entity {
    fn resource(&self) -> (Resource, String) {
        match (&self.topic, self.broker) {
            (Some(topic), _) => (Resource::Topic, topic.clone()),
            (None, broker) => (Resource::Broker, broker.unwrap_or_default().to_string()),
        }
    }
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Every config with its value and where it comes from.
    Describe {
        #[command(flatten)]
        entity: Entity,
        /// Only configs set on the entity itself (not defaults).
        #[arg(long)]
        overrides: bool,
    },
    /// Set configs, NAME=VALUE.
    Set {
        #[command(flatten)]
        entity: Entity,
        #[arg(required = true, value_name = "NAME=VALUE", value_parser = parse_assignment)]
        configs: Vec<(String, String)>,
    },
    /// Delete configs, so that their defaults apply again.
    Delete {
        #[command(flatten)]
        entity: Entity,
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
    },
}

pub fn run(args: ConfigArgs) -> anyhow::Result<()> {
    let mut client = Client::connect(&args.output.bootstrap)?;
    match args.command {
        ConfigCommand::Describe { entity, overrides } => {
            let (resource, name) = entity.resource();
            describe(&mut client, resource, &name, overrides, args.output.json)
        }
        ConfigCommand::Set { entity, configs } => {
            let (resource, name) = entity.resource();
            let changes: Vec<_> = configs
                .into_iter()
                .map(|(k, v)| (k, ConfigOp::Set, Some(v)))
                .collect();
            client.alter_configs(resource, &name, &changes)?;
            eprintln!("Updated the configs of {name}.");
            Ok(())
        }
        ConfigCommand::Delete { entity, names } => {
            let (resource, name) = entity.resource();
            let changes: Vec<_> = names
                .into_iter()
                .map(|k| (k, ConfigOp::Delete, None))
                .collect();
            client.alter_configs(resource, &name, &changes)?;
            eprintln!("Deleted the configs of {name}; their defaults apply.");
            Ok(())
        }
    }
}

fn describe(
    client: &mut Client,
    resource: Resource,
    name: &str,
    overrides_only: bool,
    json: bool,
) -> anyhow::Result<()> {
    let configs: Vec<ConfigValue> = client
        .describe_configs(resource, name)?
        .into_iter()
        .filter(|c| !overrides_only || c.source.starts_with("DYNAMIC"))
        .collect();
    if json {
        #[derive(Serialize)]
        struct Configs {
            configs: Vec<ConfigValue>,
        }
        return print_json(&Configs { configs });
    }
    let rows = configs
        .into_iter()
        .map(|c| {
            let value = match (c.sensitive, c.value) {
                (true, _) => "(sensitive)".to_string(),
                (false, Some(value)) => value,
                (false, None) => "null".to_string(),
            };
            vec![c.name, value, c.source.to_string()]
        })
        .collect();
    print_table(&["NAME", "VALUE", "SOURCE"], rows)?;
    Ok(())
}
