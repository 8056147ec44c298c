//! One file per Kafka API. A handler takes the decoded request and returns the response value;
//! it never touches the socket. Wire types stop here: storage and topics see domain values.

pub mod acls;
pub mod add_offsets_to_txn;
pub mod add_partitions_to_txn;
pub mod alter_client_quotas;
pub mod alter_configs;
pub mod alter_partition_reassignments;
pub mod alter_user_scram_credentials;
pub mod api_versions;
pub mod commit_plan;
pub mod consumer_group_describe;
pub mod consumer_group_heartbeat;
pub mod create_acls;
pub mod create_partitions;
pub mod create_topics;
pub mod current_leader;
pub mod delete_acls;
pub mod delete_groups;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_acls;
pub mod describe_client_quotas;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_groups;
pub mod describe_log_dirs;
pub mod describe_producers;
pub mod describe_quorum;
pub mod describe_topic_partitions;
pub mod describe_transactions;
pub mod describe_user_scram_credentials;
pub mod elect_leaders;
pub mod end_txn;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod incremental_alter_configs;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod list_partition_reassignments;
pub mod list_transactions;
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod offset_for_leader_epoch;
pub mod produce;
pub mod replica_assignment;
pub mod sasl;
pub mod sync_group;
pub mod txn_offset_commit;
pub mod write_txn_markers;

use kafka_protocol::protocol::StrBytes;

pub(crate) fn str_bytes(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

/// A request's group id as the coordinator takes it; an empty one is INVALID_GROUP_ID, as in
/// Kafka.
pub(crate) fn group_id(
    id: &kafka_protocol::messages::GroupId,
) -> Result<vltava_group::GroupId, i16> {
    if id.0.is_empty() {
        return Err(kafka_protocol::error::ResponseError::InvalidGroupId.code());
    }
    Ok(vltava_group::GroupId::new(id.0.to_string()))
}

/// [`group_id`] after Kafka's first check: the principal needs `operation` on the group, else
/// GROUP_AUTHORIZATION_FAILED.
pub(crate) fn authorized_group_id(
    context: &crate::dispatch::RequestContext,
    id: &kafka_protocol::messages::GroupId,
    operation: vltava_cluster::acl::AclOperation,
) -> Result<vltava_group::GroupId, i16> {
    if !context.authorization().allows_group(operation, &id.0) {
        return Err(kafka_protocol::error::ResponseError::GroupAuthorizationFailed.code());
    }
    group_id(id)
}

/// A request's member id as the coordinator takes it (empty: not given one yet).
pub(crate) fn member_id(id: &StrBytes) -> vltava_group::MemberId {
    vltava_group::MemberId::new(id.to_string())
}

/// A request's `group.instance.id`, present for static members only.
pub(crate) fn instance_id(id: &Option<StrBytes>) -> Option<vltava_group::InstanceId> {
    id.as_ref()
        .map(|i| vltava_group::InstanceId::new(i.to_string()))
}
