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

/// Whose configs: a topic, the broker with this id, or the cluster-wide broker defaults.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("entity").required(true).args(["topic", "broker", "broker_defaults"])))]
struct Entity {
    #[arg(long)]
    topic: Option<String>,
    /// The broker with this node id (its dynamic configs: DYNAMIC_BROKER_CONFIG).
    #[arg(long, value_name = "ID")]
    broker: Option<i32>,
    /// The default of every broker (DYNAMIC_DEFAULT_BROKER_CONFIG), Kafka's `--entity-default`.
    #[arg(long)]
    broker_defaults: bool,
}

impl Entity {
    fn resource(&self) -> (Resource, String) {
        match (&self.topic, self.broker) {
            (Some(topic), _) => (Resource::Topic, topic.clone()),
            (None, Some(broker)) => (Resource::Broker, broker.to_string()),
            // The cluster-wide default entity is the broker resource named "".
            (None, None) => (Resource::Broker, String::new()),
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
    let mut client = Client::connect(&args.output.broker.bootstrap)?;
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
            eprintln!("Updated the configs of {}.", label(resource, &name));
            Ok(())
        }
        ConfigCommand::Delete { entity, names } => {
            let (resource, name) = entity.resource();
            let changes: Vec<_> = names
                .into_iter()
                .map(|k| (k, ConfigOp::Delete, None))
                .collect();
            client.alter_configs(resource, &name, &changes)?;
            eprintln!(
                "Deleted the configs of {}; their defaults apply.",
                label(resource, &name)
            );
            Ok(())
        }
    }
}

/// What the messages call an entity.
fn label(resource: Resource, name: &str) -> String {
    match resource {
        Resource::Broker if name.is_empty() => "the cluster-wide broker defaults".to_string(),
        Resource::Broker => format!("broker {name}"),
        _ => name.to_string(),
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
