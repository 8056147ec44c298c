//! ACLs enforced (issue 18): Kafka's StandardAuthorizer over the ACLs of the metadata image.
//! `authorizer` decides one action; `Authorization` is what a handler asks, holding the
//! image it decides on so a request is judged by one set of rules throughout.

pub mod authorizer;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use vltava_cluster::MetadataImage;
use vltava_cluster::acl::{AclOperation, CLUSTER_RESOURCE_NAME, ResourceType};

pub use authorizer::Action;

/// The one `authorizer.class.name` vltava knows: it selects the built-in authorizer. No other
/// name is ever loaded or interpreted (CVE-2025-27818/27819).
pub const STANDARD_AUTHORIZER: &str = "org.apache.kafka.metadata.authorizer.StandardAuthorizer";

/// `authorizer.class.name` set to [`STANDARD_AUTHORIZER`], with its settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizerConfig {
    /// `super.users`: principals (`User:admin`) allowed everything, whatever the ACLs say.
    pub super_users: BTreeSet<String>,
    /// `allow.everyone.if.no.acl.found`: a resource no ACL names is open to all.
    pub allow_everyone_if_no_acl_found: bool,
}

impl AuthorizerConfig {
    /// Kafka's `super.users`: principals separated by semicolons.
    pub fn parse_super_users(value: &str) -> BTreeSet<String> {
        value
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }
}

/// What one request may do: its principal and address against the ACLs of one image.
/// Without an authorizer configured everything is allowed.
#[derive(Debug, Clone)]
pub struct Authorization {
    config: Option<AuthorizerConfig>,
    image: Arc<MetadataImage>,
    principal: String,
    host: String,
}

impl Authorization {
    pub fn new(
        config: Option<&AuthorizerConfig>,
        image: Arc<MetadataImage>,
        principal: String,
        peer: IpAddr,
    ) -> Authorization {
        Authorization {
            config: config.cloned(),
            image,
            principal,
            host: peer.to_canonical().to_string(),
        }
    }

    fn action(&self, operation: AclOperation) -> Option<(&AuthorizerConfig, Action<'_>)> {
        let config = self.config.as_ref()?;
        Some((
            config,
            Action {
                principal: &self.principal,
                host: &self.host,
                operation,
            },
        ))
    }

    /// Whether the principal may do `operation` on the named resource.
    pub fn allows(&self, operation: AclOperation, resource_type: ResourceType, name: &str) -> bool {
        match self.action(operation) {
            None => true,
            Some((config, action)) => authorizer::authorize(
                config,
                self.image.acls.values(),
                &action,
                resource_type,
                name,
            ),
        }
    }

    pub fn allows_topic(&self, operation: AclOperation, topic: &str) -> bool {
        self.allows(operation, ResourceType::Topic, topic)
    }

    pub fn allows_group(&self, operation: AclOperation, group: &str) -> bool {
        self.allows(operation, ResourceType::Group, group)
    }

    pub fn allows_cluster(&self, operation: AclOperation) -> bool {
        self.allows(operation, ResourceType::Cluster, CLUSTER_RESOURCE_NAME)
    }

    pub fn allows_transactional_id(&self, operation: AclOperation, id: &str) -> bool {
        self.allows(operation, ResourceType::TransactionalId, id)
    }

    /// Kafka's `authorizeByResourceType`: whether the principal may do `operation` on at
    /// least one resource of the type (KIP-679: WRITE on any topic lets a producer be
    /// idempotent).
    pub fn allows_any(&self, operation: AclOperation, resource_type: ResourceType) -> bool {
        match self.action(operation) {
            None => true,
            Some((config, action)) => authorizer::authorize_by_resource_type(
                config,
                self.image.acls.values(),
                &action,
                resource_type,
            ),
        }
    }
}
