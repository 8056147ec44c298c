//! CreateAcls: new ACLs become metadata records, so every broker enforces them; one already
//! present is not added twice. Needs ALTER on the cluster.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::{CreateAclsRequest, CreateAclsResponse};
use vltava_cluster::acl::{AclBinding, AclOperation};

use super::acls::{AclCodes, binding, refusal};
use super::str_bytes;
use crate::dispatch::{Reply, RequestContext};

fn failed(error: ResponseError, message: impl Into<String>) -> AclCreationResult {
    AclCreationResult::default()
        .with_error_code(error.code())
        .with_error_message(Some(str_bytes(message)))
}

fn read(creation: &AclCreation) -> Result<AclBinding, &'static str> {
    let codes = AclCodes {
        resource_type: creation.resource_type,
        pattern_type: creation.resource_pattern_type,
        operation: creation.operation,
        permission: creation.permission_type,
    };
    binding(
        &codes,
        &creation.resource_name,
        &creation.principal,
        &creation.host,
    )
}

pub async fn handle(context: RequestContext, request: CreateAclsRequest) -> Reply {
    if let Some((error, message)) = refusal(&context, AclOperation::Alter) {
        let results = request
            .creations
            .iter()
            .map(|_| failed(error, message))
            .collect();
        return CreateAclsResponse::default().with_results(results).into();
    }
    let broker = context.broker.clone();
    Reply::Later(Box::pin(async move {
        let checked: Vec<Result<AclBinding, &'static str>> =
            request.creations.iter().map(read).collect();
        let valid: Vec<AclBinding> = checked.iter().filter_map(|c| c.clone().ok()).collect();
        let committed = if valid.is_empty() {
            Ok(())
        } else {
            broker.create_acls(valid).await
        };
        let results = checked
            .into_iter()
            .map(|checked| match (checked, &committed) {
                (Err(message), _) => failed(ResponseError::InvalidRequest, message),
                (Ok(_), Err(error)) => AclCreationResult::default()
                    .with_error_code(error.code())
                    .with_error_message(Some(str_bytes(error.message()))),
                (Ok(_), Ok(())) => AclCreationResult::default(),
            })
            .collect();
        CreateAclsResponse::default().with_results(results).into()
    }))
}
