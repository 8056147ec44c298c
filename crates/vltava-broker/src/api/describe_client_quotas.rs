//! DescribeClientQuotas (KIP-546). vltava has no client quotas yet (AlterClientQuotas is not
//! served, issue 18's quota step), so no entity has one and every filter matches nothing. It is
//! served because `kafka-configs --describe --entity-type users` asks for quotas before it
//! lists a user's SCRAM credentials. Without DESCRIBE_CONFIGS on the cluster the answer is
//! CLUSTER_AUTHORIZATION_FAILED with null entries, as Kafka's.

use kafka_protocol::messages::{DescribeClientQuotasRequest, DescribeClientQuotasResponse};
use vltava_cluster::acl::AclOperation;

use super::str_bytes;
use crate::dispatch::{Reply, RequestContext};

pub async fn handle(context: RequestContext, _request: DescribeClientQuotasRequest) -> Reply {
    let authorization = context.authorization();
    if let Err(refused) = authorization.check_cluster(AclOperation::DescribeConfigs) {
        return DescribeClientQuotasResponse::default()
            .with_error_code(refused.code())
            .with_error_message(Some(str_bytes(refused.to_string())))
            .with_entries(None)
            .into();
    }
    DescribeClientQuotasResponse::default()
        .with_entries(Some(Vec::new()))
        .into()
}
