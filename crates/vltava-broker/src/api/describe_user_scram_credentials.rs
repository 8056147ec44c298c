//! DescribeUserScramCredentials (KIP-554): each user's SCRAM mechanisms and iterations, from
//! the metadata image; never the salt or keys. No users (or null) describes every user.
//! Without DESCRIBE on the cluster: CLUSTER_AUTHORIZATION_FAILED, at the top and (as Kafka's
//! `getErrorResponse` writes it, with no user name) once per user asked.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};

use vltava_cluster::acl::AclOperation;

use super::str_bytes;
use crate::dispatch::{Reply, RequestContext};

pub async fn handle(
    context: RequestContext,
    request: DescribeUserScramCredentialsRequest,
) -> Reply {
    if let Err(refused) = context
        .authorization()
        .check_cluster(AclOperation::Describe)
    {
        let message = || Some(str_bytes(refused.to_string()));
        let asked = request.users.unwrap_or_default().into_iter().map(|_| {
            DescribeUserScramCredentialsResult::default()
                .with_error_code(refused.code())
                .with_error_message(message())
        });
        return DescribeUserScramCredentialsResponse::default()
            .with_error_code(refused.code())
            .with_error_message(message())
            .with_results(asked.collect())
            .into();
    }
    let image = context.broker.image();
    let mut by_user: BTreeMap<&str, Vec<CredentialInfo>> = BTreeMap::new();
    for credential in image.scram_credentials.values() {
        by_user.entry(&credential.user).or_default().push(
            CredentialInfo::default()
                .with_mechanism(credential.mechanism.code())
                .with_iterations(credential.iterations),
        );
    }
    let wanted: Vec<String> = request
        .users
        .unwrap_or_default()
        .into_iter()
        .map(|u| u.name.to_string())
        .collect();
    let results = if wanted.is_empty() {
        by_user
            .into_iter()
            .map(|(user, infos)| found(user, infos))
            .collect()
    } else {
        let mut seen = BTreeSet::new();
        let duplicated: BTreeSet<&String> = wanted.iter().filter(|u| !seen.insert(*u)).collect();
        let mut reported = BTreeSet::new();
        wanted
            .iter()
            .filter(|user| reported.insert(*user))
            .map(|user| {
                if duplicated.contains(user) {
                    return failed(
                        user,
                        ResponseError::DuplicateResource,
                        "Cannot describe SCRAM credentials for the same user twice in a single request",
                    );
                }
                match by_user.remove(user.as_str()) {
                    Some(infos) => found(user, infos),
                    None => failed(
                        user,
                        ResponseError::ResourceNotFound,
                        "Attempt to describe a user credential that does not exist",
                    ),
                }
            })
            .collect()
    };
    DescribeUserScramCredentialsResponse::default()
        .with_results(results)
        .into()
}

fn found(user: &str, infos: Vec<CredentialInfo>) -> DescribeUserScramCredentialsResult {
    DescribeUserScramCredentialsResult::default()
        .with_user(str_bytes(user.to_string()))
        .with_credential_infos(infos)
}

fn failed(user: &str, error: ResponseError, message: &str) -> DescribeUserScramCredentialsResult {
    DescribeUserScramCredentialsResult::default()
        .with_user(str_bytes(user.to_string()))
        .with_error_code(error.code())
        .with_error_message(Some(str_bytes(message.to_string())))
}
