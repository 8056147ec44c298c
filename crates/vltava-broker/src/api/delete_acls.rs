//! DeleteAcls: removes every ACL a filter matches (an ACL matched by several filters is
//! reported under each, as Kafka's `AclControlManager` does). Needs ALTER on the cluster.

use std::collections::BTreeSet;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::{DeleteAclsRequest, DeleteAclsResponse};
use uuid::Uuid;
use vltava_cluster::acl::{AclBinding, AclFilter, AclOperation};

use super::acls::{AclCodes, filter, refusal};
use super::str_bytes;
use crate::dispatch::{Reply, RequestContext};

fn failed(error: ResponseError, message: impl Into<String>) -> DeleteAclsFilterResult {
    DeleteAclsFilterResult::default()
        .with_error_code(error.code())
        .with_error_message(Some(str_bytes(message)))
}

fn read(wire: &DeleteAclsFilter) -> Result<AclFilter, &'static str> {
    let codes = AclCodes {
        resource_type: wire.resource_type_filter,
        pattern_type: wire.pattern_type_filter,
        operation: wire.operation,
        permission: wire.permission_type,
    };
    filter(
        &codes,
        wire.resource_name_filter.as_ref(),
        wire.principal_filter.as_ref(),
        wire.host_filter.as_ref(),
    )
}

fn matching(acl: &AclBinding) -> DeleteAclsMatchingAcl {
    DeleteAclsMatchingAcl::default()
        .with_resource_type(acl.resource_type.code())
        .with_resource_name(str_bytes(acl.resource_name.clone()))
        .with_pattern_type(acl.pattern_type.code())
        .with_principal(str_bytes(acl.principal.clone()))
        .with_host(str_bytes(acl.host.clone()))
        .with_operation(acl.operation.code())
        .with_permission_type(acl.permission.code())
}

pub async fn handle(context: RequestContext, request: DeleteAclsRequest) -> Reply {
    if let Some((error, message)) = refusal(&context, AclOperation::Alter) {
        let results = request
            .filters
            .iter()
            .map(|_| failed(error, message))
            .collect();
        return DeleteAclsResponse::default()
            .with_filter_results(results)
            .into();
    }
    let broker = context.broker.clone();
    Reply::Later(Box::pin(async move {
        let image = broker.image();
        let mut ids: BTreeSet<Uuid> = BTreeSet::new();
        let matched: Vec<Result<Vec<&AclBinding>, &'static str>> = request
            .filters
            .iter()
            .map(|wire| {
                let filter = read(wire)?;
                Ok(image
                    .acls
                    .iter()
                    .filter(|(_, acl)| filter.matches(acl))
                    .map(|(id, acl)| {
                        ids.insert(*id);
                        acl
                    })
                    .collect())
            })
            .collect();
        let committed = if ids.is_empty() {
            Ok(())
        } else {
            broker.delete_acls(ids.into_iter().collect()).await
        };
        let results = matched
            .into_iter()
            .map(|matched| match (matched, &committed) {
                (Err(message), _) => failed(ResponseError::InvalidRequest, message),
                (Ok(_), Err(error)) => DeleteAclsFilterResult::default()
                    .with_error_code(error.code())
                    .with_error_message(Some(str_bytes(error.message()))),
                (Ok(acls), Ok(())) => DeleteAclsFilterResult::default()
                    .with_matching_acls(acls.into_iter().map(matching).collect()),
            })
            .collect();
        DeleteAclsResponse::default()
            .with_filter_results(results)
            .into()
    }))
}
