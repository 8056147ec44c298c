//! ACLs enforced (issue 18): Kafka's StandardAuthorizer over the ACLs of the metadata image.
//! `authorizer` decides one action; `Authorization` is what a handler asks, holding the
//! image it decides on so a request is judged by one set of rules throughout.

pub mod authorizer;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use vltava_cluster::MetadataImage;
use vltava_cluster::acl::{AclOperation, CLUSTER_RESOURCE_NAME, ResourceType};

pub use authorizer::Action;

/// What an `*_authorized_operations` field holds when the client did not ask for it (the
/// schema's default, Kafka's `Int.MinValue`).
pub const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;

/// Kafka's `AclEntry.supportedOperations`: the operations an authorized-operations bitfield
/// reports for a resource of the type.
pub fn supported_operations(resource_type: ResourceType) -> &'static [AclOperation] {
    use AclOperation::*;
    match resource_type {
        ResourceType::Topic => &[
            Read,
            Write,
            Create,
            Describe,
            Delete,
            Alter,
            DescribeConfigs,
            AlterConfigs,
        ],
        ResourceType::Group => &[Read, Describe, Delete, DescribeConfigs, AlterConfigs],
        ResourceType::Cluster => &[
            Create,
            ClusterAction,
            DescribeConfigs,
            AlterConfigs,
            IdempotentWrite,
            Alter,
            Describe,
        ],
        ResourceType::TransactionalId => &[Describe, Write],
        ResourceType::DelegationToken => &[Describe],
        ResourceType::User => &[CreateTokens, DescribeTokens],
        ResourceType::Any => &[],
    }
}

/// Kafka's `AclEntry.authorizationError`: what a refusal on a resource of the type answers.
pub fn authorization_error(resource_type: ResourceType) -> ResponseError {
    match resource_type {
        ResourceType::Topic => ResponseError::TopicAuthorizationFailed,
        ResourceType::Group => ResponseError::GroupAuthorizationFailed,
        ResourceType::TransactionalId => ResponseError::TransactionalIdAuthorizationFailed,
        ResourceType::DelegationToken => ResponseError::DelegationTokenAuthorizationFailed,
        ResourceType::Cluster | ResourceType::User | ResourceType::Any => {
            ResponseError::ClusterAuthorizationFailed
        }
    }
}

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

    /// [`Authorization::allows`], or the error Kafka answers for the refusal.
    pub fn check(
        &self,
        operation: AclOperation,
        resource_type: ResourceType,
        name: &str,
    ) -> Result<(), ResponseError> {
        match self.allows(operation, resource_type, name) {
            true => Ok(()),
            false => Err(authorization_error(resource_type)),
        }
    }

    /// The check of a cluster operation: CLUSTER_AUTHORIZATION_FAILED when refused.
    pub fn check_cluster(&self, operation: AclOperation) -> Result<(), ResponseError> {
        self.check(operation, ResourceType::Cluster, CLUSTER_RESOURCE_NAME)
    }

    /// Kafka's `AuthHelper.authorizedOperations`: a bitfield with bit `code` set for each of
    /// the resource type's operations the principal may do on the named resource (all of
    /// them without an authorizer).
    pub fn authorized_operations(&self, resource_type: ResourceType, name: &str) -> i32 {
        supported_operations(resource_type)
            .iter()
            .filter(|&&operation| self.allows(operation, resource_type, name))
            .fold(0, |bits, operation| bits | (1 << operation.code()))
    }

    /// An `*_authorized_operations` field: the bitfield of the named resource when the client
    /// asked for it, else [`AUTHORIZED_OPERATIONS_OMITTED`].
    pub fn authorized_operations_if(
        &self,
        asked: bool,
        resource_type: ResourceType,
        name: &str,
    ) -> i32 {
        match asked {
            true => self.authorized_operations(resource_type, name),
            false => AUTHORIZED_OPERATIONS_OMITTED,
        }
    }

    /// `cluster_authorized_operations` (Metadata v8-10, DescribeCluster): when asked, the
    /// cluster's bitfield if the principal may DESCRIBE the cluster, else 0, as Kafka answers.
    pub fn cluster_authorized_operations(&self, asked: bool) -> i32 {
        match asked && !self.allows_cluster(AclOperation::Describe) {
            true => 0,
            false => {
                self.authorized_operations_if(asked, ResourceType::Cluster, CLUSTER_RESOURCE_NAME)
            }
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use vltava_cluster::acl::{AclBinding, AclPermission, PatternType};

    use super::*;

    fn alice_with(acls: &[(ResourceType, &str, AclOperation)]) -> Authorization {
        let bindings = acls.iter().map(|&(resource_type, name, operation)| {
            let acl = AclBinding {
                resource_type,
                resource_name: name.into(),
                pattern_type: PatternType::Literal,
                principal: "User:alice".into(),
                host: "*".into(),
                operation,
                permission: AclPermission::Allow,
            };
            (uuid::Uuid::new_v4(), acl)
        });
        let mut image = MetadataImage::empty();
        image.acls = Arc::new(bindings.collect::<BTreeMap<_, _>>());
        let config = AuthorizerConfig::default();
        let peer = IpAddr::from([10, 0, 0, 1]);
        Authorization::new(Some(&config), Arc::new(image), "User:alice".into(), peer)
    }

    fn bits(operations: &[AclOperation]) -> i32 {
        operations.iter().map(|op| 1 << op.code()).sum()
    }

    #[test]
    fn authorized_operations_are_kafkas_bitfield_of_the_allowed_supported_operations() {
        use AclOperation::*;
        let alice = alice_with(&[(ResourceType::Topic, "orders", Read)]);
        // READ implies DESCRIBE: bits 3 and 8, as Kafka's `Utils.to32BitField` sets them.
        let orders = alice.authorized_operations(ResourceType::Topic, "orders");
        assert_eq!(orders, bits(&[Read, Describe]));
        assert_eq!(orders, 0b1_0000_1000);
        assert_eq!(alice.authorized_operations(ResourceType::Topic, "other"), 0);
        // ALL grants every operation the resource type supports, and no others.
        let all = alice_with(&[(ResourceType::Group, "g", All)]);
        let group = all.authorized_operations(ResourceType::Group, "g");
        assert_eq!(
            group,
            bits(&[Read, Describe, Delete, DescribeConfigs, AlterConfigs])
        );
    }

    #[test]
    fn operations_not_asked_for_are_the_schema_default_and_the_cluster_needs_describe() {
        use AclOperation::*;
        let alice = alice_with(&[(
            ResourceType::Cluster,
            CLUSTER_RESOURCE_NAME,
            IdempotentWrite,
        )]);
        let asked = alice.authorized_operations_if(true, ResourceType::Cluster, "kafka-cluster");
        assert_eq!(asked, bits(&[IdempotentWrite]));
        let omitted = alice.authorized_operations_if(false, ResourceType::Topic, "orders");
        assert_eq!(omitted, i32::MIN);
        // Without DESCRIBE on the cluster Kafka answers 0, whatever else is allowed there.
        assert_eq!(alice.cluster_authorized_operations(true), 0);
        assert_eq!(alice.cluster_authorized_operations(false), i32::MIN);
        let altering = alice_with(&[(ResourceType::Cluster, CLUSTER_RESOURCE_NAME, Alter)]);
        assert_eq!(
            altering.cluster_authorized_operations(true),
            bits(&[Alter, Describe])
        );
    }

    #[test]
    fn without_an_authorizer_every_supported_operation_is_reported() {
        let open = Authorization::new(
            None,
            Arc::new(MetadataImage::empty()),
            "User:ANONYMOUS".into(),
            IpAddr::from([127, 0, 0, 1]),
        );
        let topic = open.authorized_operations(ResourceType::Topic, "orders");
        assert_eq!(topic, bits(supported_operations(ResourceType::Topic)));
        assert_eq!(
            open.check_cluster(AclOperation::Alter),
            Ok(()),
            "everything is allowed"
        );
    }

    #[test]
    fn refusals_answer_the_error_of_their_resource_type() {
        let alice = alice_with(&[]);
        let refused = |resource_type| alice.check(AclOperation::Describe, resource_type, "x");
        assert_eq!(
            refused(ResourceType::Topic),
            Err(ResponseError::TopicAuthorizationFailed)
        );
        assert_eq!(
            refused(ResourceType::Group),
            Err(ResponseError::GroupAuthorizationFailed)
        );
        assert_eq!(
            refused(ResourceType::TransactionalId),
            Err(ResponseError::TransactionalIdAuthorizationFailed)
        );
        assert_eq!(
            alice.check_cluster(AclOperation::Describe),
            Err(ResponseError::ClusterAuthorizationFailed)
        );
    }
}
