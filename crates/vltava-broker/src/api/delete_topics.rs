//! DeleteTopics: by name (v0-v5) or by name or id (v6+).

use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use uuid::Uuid;

use super::str_bytes;
use crate::broker::Broker;
use crate::dispatch::{Reply, RequestContext};
use crate::error::BrokerError;
use crate::security::acl::Authorization;
use vltava_cluster::acl::AclOperation;

pub async fn handle(context: RequestContext, request: DeleteTopicsRequest) -> Reply {
    let broker = &context.broker;
    let wanted: Vec<(Option<TopicName>, Uuid)> = if context.api_version >= 6 {
        request
            .topics
            .into_iter()
            .map(|t| (t.name, t.topic_id))
            .collect()
    } else {
        request
            .topic_names
            .into_iter()
            .map(|name| (Some(name), Uuid::nil()))
            .collect()
    };
    let authorization = context.authorization();
    let mut responses = Vec::with_capacity(wanted.len());
    for (name, id) in wanted {
        responses.push(delete(broker, &authorization, name, id).await);
    }
    DeleteTopicsResponse::default()
        .with_responses(responses)
        .into()
}

async fn delete(
    broker: &Broker,
    authorization: &Authorization,
    name: Option<TopicName>,
    id: Uuid,
) -> DeletableTopicResult {
    let topic_name = match (&name, id.is_nil()) {
        (Some(name), _) => Ok(name.0.to_string()),
        (None, false) => broker
            .topics
            .get_by_id(&id)
            .map(|t| t.name.to_string())
            .ok_or(BrokerError::UnknownTopicId),
        (None, true) => Err(BrokerError::InvalidRequest(
            "neither topic name nor id".into(),
        )),
    };
    // Kafka: DELETE on the topic, checked before its existence.
    let topic_name =
        topic_name.and_then(
            |n| match authorization.allows_topic(AclOperation::Delete, &n) {
                true => Ok(n),
                false => Err(BrokerError::TopicAuthorizationFailed),
            },
        );
    let deleted = match topic_name.map(|n| {
        broker
            .topics
            .get(&n)
            .ok_or(BrokerError::UnknownTopicOrPartition)
    }) {
        Ok(Ok(topic)) => broker.delete_topic(&topic.name).await.map(|()| topic),
        Ok(Err(error)) | Err(error) => Err(error),
    };
    match deleted {
        Ok(topic) => DeletableTopicResult::default()
            .with_name(Some(TopicName(str_bytes(topic.name.to_string()))))
            .with_topic_id(topic.id),
        Err(error) => DeletableTopicResult::default()
            .with_name(name)
            .with_topic_id(id)
            .with_error_code(error.code())
            .with_error_message(Some(str_bytes(error_message(&error)))),
    }
}

/// Kafka answers a topic it does not have with the code's default message.
fn error_message(error: &BrokerError) -> String {
    match error {
        BrokerError::UnknownTopicOrPartition => {
            "This server does not host this topic-partition.".to_string()
        }
        BrokerError::UnknownTopicId => "This server does not host this topic ID.".to_string(),
        other => other.message(),
    }
}
