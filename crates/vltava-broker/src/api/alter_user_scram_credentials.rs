//! AlterUserScramCredentials (KIP-554): the client sends the salted password (it ran PBKDF2);
//! the broker keeps StoredKey and ServerKey only, as metadata records, so every broker of the
//! cluster accepts the new credential. Checked per user as Kafka's `ScramControlManager` does:
//! one bad alteration fails all of that user's alterations. Without ALTER on the cluster every
//! user named is CLUSTER_AUTHORIZATION_FAILED and nothing changes.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::ResponseError;
use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
};
use vltava_cluster::MetadataImage;
use vltava_cluster::acl::AclOperation;
use vltava_cluster::scram::{ScramCredential, ScramMechanism};

use super::str_bytes;
use crate::dispatch::{Reply, RequestContext};
use crate::security::sasl::scram::{ITERATIONS_MAX, ITERATIONS_MIN, credential};

/// One user's alterations, or why they are refused.
type Refusal = (ResponseError, String);

#[derive(Default)]
struct UserChanges {
    upsertions: Vec<ScramCredential>,
    deletions: Vec<ScramMechanism>,
    refused: Option<Refusal>,
}

pub async fn handle(context: RequestContext, request: AlterUserScramCredentialsRequest) -> Reply {
    let broker = context.broker.clone();
    if let Err(refused) = context.authorization().check_cluster(AclOperation::Alter) {
        return refused_whole(&request, refused);
    }
    Reply::Later(Box::pin(async move {
        let image = broker.image();
        let mut users: BTreeMap<String, UserChanges> = BTreeMap::new();
        let mut altered: BTreeSet<(String, i8)> = BTreeSet::new();
        for deletion in &request.deletions {
            let user = deletion.name.to_string();
            let changes = users.entry(user.clone()).or_default();
            let checked = check(&image, &user, deletion.mechanism, &mut altered, true);
            match checked {
                Ok(mechanism) => changes.deletions.push(mechanism),
                Err(refusal) => refuse(changes, refusal),
            }
        }
        for upsertion in &request.upsertions {
            let user = upsertion.name.to_string();
            let changes = users.entry(user.clone()).or_default();
            let checked = check(&image, &user, upsertion.mechanism, &mut altered, false)
                .and_then(|mechanism| iterations(mechanism, upsertion.iterations));
            match checked {
                Ok(mechanism) => changes.upsertions.push(credential(
                    &user,
                    mechanism,
                    upsertion.salt.to_vec(),
                    &upsertion.salted_password,
                    upsertion.iterations,
                )),
                Err(refusal) => refuse(changes, refusal),
            }
        }
        let mut upsertions = Vec::new();
        let mut deletions = Vec::new();
        for (user, changes) in &users {
            if changes.refused.is_none() {
                upsertions.extend(changes.upsertions.iter().cloned());
                deletions.extend(changes.deletions.iter().map(|m| (user.clone(), *m)));
            }
        }
        let committed = if upsertions.is_empty() && deletions.is_empty() {
            Ok(())
        } else {
            broker.alter_scram_credentials(upsertions, deletions).await
        };
        let results = users
            .into_iter()
            .map(|(user, changes)| {
                let result = AlterUserScramCredentialsResult::default().with_user(str_bytes(user));
                let refusal = changes.refused.or_else(|| {
                    committed
                        .as_ref()
                        .err()
                        .map(|error| (error_code(error.code()), error.message()))
                });
                match refusal {
                    None => result,
                    Some((error, message)) => result
                        .with_error_code(error.code())
                        .with_error_message(Some(str_bytes(message))),
                }
            })
            .collect();
        AlterUserScramCredentialsResponse::default()
            .with_results(results)
            .into()
    }))
}

/// Kafka's `AlterUserScramCredentialsRequest.getErrorResponse`: every user named, once, in
/// order, with the error and its message.
fn refused_whole(request: &AlterUserScramCredentialsRequest, refused: ResponseError) -> Reply {
    let deleted = request.deletions.iter().map(|d| d.name.to_string());
    let upserted = request.upsertions.iter().map(|u| u.name.to_string());
    let users: BTreeSet<String> = deleted.chain(upserted).collect();
    let results = users
        .into_iter()
        .map(|user| {
            AlterUserScramCredentialsResult::default()
                .with_user(str_bytes(user))
                .with_error_code(refused.code())
                .with_error_message(Some(str_bytes(refused.to_string())))
        })
        .collect();
    AlterUserScramCredentialsResponse::default()
        .with_results(results)
        .into()
}

fn refuse(changes: &mut UserChanges, refusal: Refusal) {
    changes.refused.get_or_insert(refusal);
}

/// The error a controller failure maps to; its code as Kafka's enum.
fn error_code(code: i16) -> ResponseError {
    ResponseError::try_from_code(code).unwrap_or(ResponseError::UnknownServerError)
}

fn check(
    image: &MetadataImage,
    user: &str,
    mechanism: i8,
    altered: &mut BTreeSet<(String, i8)>,
    deleting: bool,
) -> Result<ScramMechanism, Refusal> {
    if user.is_empty() {
        return Err((
            ResponseError::UnacceptableCredential,
            "Username must not be empty".into(),
        ));
    }
    let mechanism_known = ScramMechanism::from_code(mechanism);
    if !altered.insert((user.to_string(), mechanism)) {
        return Err((
            ResponseError::DuplicateResource,
            "A user credential cannot be altered twice in the same request".into(),
        ));
    }
    let mechanism = mechanism_known.ok_or_else(|| {
        (
            ResponseError::UnsupportedSaslMechanism,
            "Unknown SCRAM mechanism".to_string(),
        )
    })?;
    if deleting && image.scram_credential(user, mechanism).is_none() {
        return Err((
            ResponseError::ResourceNotFound,
            "Attempt to delete a user credential that does not exist".into(),
        ));
    }
    Ok(mechanism)
}

fn iterations(mechanism: ScramMechanism, iterations: i32) -> Result<ScramMechanism, Refusal> {
    if iterations < ITERATIONS_MIN {
        return Err((
            ResponseError::UnacceptableCredential,
            format!(
                "Too few iterations: {iterations} is less than the minimum {ITERATIONS_MIN} for {}",
                mechanism.name()
            ),
        ));
    }
    if iterations > ITERATIONS_MAX {
        return Err((
            ResponseError::UnacceptableCredential,
            format!("Too many iterations: {iterations} is more than the maximum {ITERATIONS_MAX}"),
        ));
    }
    Ok(mechanism)
}
