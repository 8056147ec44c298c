//! AlterClientQuotas (KIP-546): quotas are metadata records, so every broker enforces the same
//! ones (`crate::quotas`). Each entry is checked as Kafka's `ClientQuotaControlManager` checks
//! it (entity types and their combination, known keys, positive values, whole numbers for
//! byte rates); a refused entry changes nothing and the others still apply. A value equal to
//! the current one and the removal of an absent key write no record. Needs ALTER_CONFIGS on the
//! cluster.

use std::collections::BTreeSet;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::alter_client_quotas_request::EntryData;
use kafka_protocol::messages::alter_client_quotas_response::{
    EntityData, EntryData as ResultEntry,
};
use kafka_protocol::messages::{AlterClientQuotasRequest, AlterClientQuotasResponse};
use vltava_cluster::MetadataImage;
use vltava_cluster::acl::AclOperation;
use vltava_cluster::quotas::{self, QuotaEntity, QuotaError, QuotaValue};

use super::str_bytes;
use crate::dispatch::{Reply, RequestContext};

/// One entity's changes: key and new value (`None` removes it).
type Changes = Vec<(QuotaEntity, String, Option<QuotaValue>)>;

pub async fn handle(context: RequestContext, request: AlterClientQuotasRequest) -> Reply {
    if let Err(refused) = context
        .authorization()
        .check_cluster(AclOperation::AlterConfigs)
    {
        let entries = request
            .entries
            .iter()
            .map(|entry| result(entry, Err((refused, refused.to_string()))))
            .collect();
        return AlterClientQuotasResponse::default()
            .with_entries(entries)
            .into();
    }
    let broker = context.broker.clone();
    Reply::Later(Box::pin(async move {
        let image = broker.image();
        let mut seen = BTreeSet::new();
        let checked: Vec<Result<Changes, QuotaError>> = request
            .entries
            .iter()
            .map(|entry| changes(&image, entry, &mut seen))
            .collect();
        let all: Changes = checked
            .iter()
            .filter_map(|c| c.as_ref().ok())
            .flatten()
            .cloned()
            .collect();
        let committed = if all.is_empty() || request.validate_only {
            Ok(())
        } else {
            broker.alter_client_quotas(all).await
        };
        let entries = request
            .entries
            .iter()
            .zip(checked)
            .map(|(entry, checked)| {
                let outcome = match (checked, &committed) {
                    (Err(error), _) => Err((ResponseError::InvalidRequest, error.to_string())),
                    (Ok(_), Err(error)) => Err((
                        ResponseError::try_from_code(error.code())
                            .unwrap_or(ResponseError::UnknownServerError),
                        error.message(),
                    )),
                    (Ok(_), Ok(())) => Ok(()),
                };
                result(entry, outcome)
            })
            .collect();
        AlterClientQuotasResponse::default()
            .with_entries(entries)
            .into()
    }))
}

/// The records one entry needs, or why it is refused.
fn changes(
    image: &MetadataImage,
    entry: &EntryData,
    seen: &mut BTreeSet<QuotaEntity>,
) -> Result<Changes, QuotaError> {
    let parts: Vec<(String, Option<String>)> = entry
        .entity
        .iter()
        .map(|e| {
            (
                e.entity_type.to_string(),
                e.entity_name.as_ref().map(|n| n.to_string()),
            )
        })
        .collect();
    let entity = quotas::check_entity(&parts)?;
    if !seen.insert(entity.clone()) {
        return Err(QuotaError::InvalidRequest(format!(
            "Ignoring duplicate entity {}",
            describe_entity(&entity)
        )));
    }
    let current = image.client_quotas.get(&entity);
    let mut keys = BTreeSet::new();
    let mut changes = Changes::new();
    for op in &entry.ops {
        let key = op.key.to_string();
        if !keys.insert(key.clone()) {
            return Err(QuotaError::InvalidRequest(format!(
                "Duplicate quota key {key} not updating quota for this entity {}",
                describe_entity(&entity)
            )));
        }
        let now = current.and_then(|keys| keys.get(&key)).copied();
        if op.remove {
            if now.is_some() {
                changes.push((entity.clone(), key, None));
            }
            continue;
        }
        let value = quotas::check_value(&entity, &key, op.value)?;
        if now != Some(value) {
            changes.push((entity.clone(), key, Some(value)));
        }
    }
    Ok(changes)
}

/// Kafka's `ClientQuotaEntity.toString`: `ClientQuotaEntity(entries={user=bob})`.
fn describe_entity(entity: &QuotaEntity) -> String {
    let parts: Vec<String> = entity
        .iter()
        .map(|(t, n)| format!("{t}={}", n.as_deref().unwrap_or("null")))
        .collect();
    format!("ClientQuotaEntity(entries={{{}}})", parts.join(", "))
}

fn result(entry: &EntryData, outcome: Result<(), (ResponseError, String)>) -> ResultEntry {
    let entity = entry
        .entity
        .iter()
        .map(|e| {
            EntityData::default()
                .with_entity_type(e.entity_type.clone())
                .with_entity_name(e.entity_name.clone())
        })
        .collect();
    let done = ResultEntry::default().with_entity(entity);
    match outcome {
        Ok(()) => done,
        Err((error, message)) => done
            .with_error_code(error.code())
            .with_error_message(Some(str_bytes(message))),
    }
}
