//! The ACL APIs' shared wire conversions: the codes of an ACL or a filter, read into
//! vltava-cluster's model. An unknown code is INVALID_REQUEST, as Kafka's request validation
//! makes it.

use kafka_protocol::ResponseError;
use kafka_protocol::protocol::StrBytes;
use vltava_cluster::acl::{
    AclBinding, AclFilter, AclOperation, AclPermission, PatternType, ResourceType,
};

use crate::dispatch::RequestContext;

/// The codes of an ACL or a filter as they come off the wire.
pub struct AclCodes {
    pub resource_type: i8,
    pub pattern_type: i8,
    pub operation: i8,
    pub permission: i8,
}

struct Known {
    resource_type: ResourceType,
    pattern_type: PatternType,
    operation: AclOperation,
    permission: AclPermission,
}

fn known(codes: &AclCodes) -> Result<Known, &'static str> {
    Ok(Known {
        resource_type: ResourceType::from_code(codes.resource_type)
            .ok_or("Unknown resource type")?,
        pattern_type: PatternType::from_code(codes.pattern_type).ok_or("Unknown pattern type")?,
        operation: AclOperation::from_code(codes.operation).ok_or("Unknown operation")?,
        permission: AclPermission::from_code(codes.permission).ok_or("Unknown permission type")?,
    })
}

/// A CreateAcls creation, checked as Kafka checks a new ACL.
pub fn binding(
    codes: &AclCodes,
    resource_name: &StrBytes,
    principal: &StrBytes,
    host: &StrBytes,
) -> Result<AclBinding, &'static str> {
    let known = known(codes)?;
    let acl = AclBinding {
        resource_type: known.resource_type,
        resource_name: resource_name.to_string(),
        pattern_type: known.pattern_type,
        principal: principal.to_string(),
        host: host.to_string(),
        operation: known.operation,
        permission: known.permission,
    };
    vltava_cluster::acl::validate(&acl)?;
    Ok(acl)
}

/// A DescribeAcls or DeleteAcls filter.
pub fn filter(
    codes: &AclCodes,
    resource_name: Option<&StrBytes>,
    principal: Option<&StrBytes>,
    host: Option<&StrBytes>,
) -> Result<AclFilter, &'static str> {
    let known = known(codes)?;
    Ok(AclFilter {
        resource_type: known.resource_type,
        resource_name: resource_name.map(|s| s.to_string()),
        pattern_type: known.pattern_type,
        principal: principal.map(|s| s.to_string()),
        host: host.map(|s| s.to_string()),
        operation: known.operation,
        permission: known.permission,
    })
}

/// Why the ACL APIs refuse a request before looking at it: no authorizer
/// (SECURITY_DISABLED, as Kafka answers), or the principal may not do `operation` on the
/// cluster (CLUSTER_AUTHORIZATION_FAILED).
pub fn refusal(
    context: &RequestContext,
    operation: AclOperation,
) -> Option<(ResponseError, &'static str)> {
    if context.broker.config.authorizer.is_none() {
        return Some((
            ResponseError::SecurityDisabled,
            "No Authorizer is configured.",
        ));
    }
    if !context.authorization().allows_cluster(operation) {
        return Some((
            ResponseError::ClusterAuthorizationFailed,
            "Cluster authorization failed.",
        ));
    }
    None
}
