//! DescribeClientQuotas (KIP-546). vltava has no client quotas yet (AlterClientQuotas is not
//! served, issue 18's quota step), so no entity has one and every filter matches nothing. It is
//! served because `kafka-configs --describe --entity-type users` asks for quotas before it
//! lists a user's SCRAM credentials.

use kafka_protocol::messages::{DescribeClientQuotasRequest, DescribeClientQuotasResponse};

use crate::dispatch::{Reply, RequestContext};

pub async fn handle(_context: RequestContext, _request: DescribeClientQuotasRequest) -> Reply {
    DescribeClientQuotasResponse::default()
        .with_entries(Some(Vec::new()))
        .into()
}
