//! DescribeAcls: the ACLs a filter matches, grouped by resource pattern. Needs DESCRIBE on
//! the cluster.

use std::collections::BTreeMap;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{DescribeAclsRequest, DescribeAclsResponse};
use vltava_cluster::acl::{AclOperation, PatternType, ResourceType};

use super::acls::{AclCodes, filter, refusal};
use super::str_bytes;
use crate::dispatch::{Reply, RequestContext};

fn failed(error: ResponseError, message: &str) -> Reply {
    DescribeAclsResponse::default()
        .with_error_code(error.code())
        .with_error_message(Some(str_bytes(message)))
        .into()
}

pub async fn handle(context: RequestContext, request: DescribeAclsRequest) -> Reply {
    if let Some((error, message)) = refusal(&context, AclOperation::Describe) {
        return failed(error, message);
    }
    let codes = AclCodes {
        resource_type: request.resource_type_filter,
        pattern_type: request.pattern_type_filter,
        operation: request.operation,
        permission: request.permission_type,
    };
    let filter = match filter(
        &codes,
        request.resource_name_filter.as_ref(),
        request.principal_filter.as_ref(),
        request.host_filter.as_ref(),
    ) {
        Ok(filter) => filter,
        Err(message) => return failed(ResponseError::InvalidRequest, message),
    };
    let image = context.broker.image();
    let mut resources: BTreeMap<(ResourceType, &str, PatternType), Vec<AclDescription>> =
        BTreeMap::new();
    for acl in image.acls.values().filter(|acl| filter.matches(acl)) {
        resources
            .entry((acl.resource_type, &acl.resource_name, acl.pattern_type))
            .or_default()
            .push(
                AclDescription::default()
                    .with_principal(str_bytes(acl.principal.clone()))
                    .with_host(str_bytes(acl.host.clone()))
                    .with_operation(acl.operation.code())
                    .with_permission_type(acl.permission.code()),
            );
    }
    let resources = resources
        .into_iter()
        .map(|((resource_type, name, pattern_type), acls)| {
            DescribeAclsResource::default()
                .with_resource_type(resource_type.code())
                .with_resource_name(str_bytes(name))
                .with_pattern_type(pattern_type.code())
                .with_acls(acls)
        })
        .collect();
    DescribeAclsResponse::default()
        .with_resources(resources)
        .into()
}
