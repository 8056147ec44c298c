//! DescribeCluster (KIP-700, v2 KIP-1073): the brokers the metadata image has registered (the
//! fenced ones too when asked) and the active controller (the quorum's leader). Open to every
//! principal, as in Kafka; the cluster's authorized operations are reported when asked.

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};

use super::str_bytes;
use crate::dispatch::{Reply, RequestContext};

pub async fn handle(context: RequestContext, request: DescribeClusterRequest) -> Reply {
    let broker = &context.broker;
    let image = broker.image();
    let brokers = image
        .brokers
        .values()
        .filter(|b| request.include_fenced_brokers || !b.fenced)
        .filter_map(|b| {
            // The address on the client's own listener, as Metadata answers.
            let endpoint = b.endpoint(&context.session.listener)?;
            let (host, port) = context.session.address_of(
                broker.node_id(),
                b.broker_id,
                (&endpoint.host, i32::from(endpoint.port)),
            );
            Some(
                DescribeClusterBroker::default()
                    .with_broker_id(BrokerId(b.broker_id))
                    .with_host(str_bytes(host))
                    .with_port(port)
                    .with_rack(b.rack.clone().map(str_bytes))
                    .with_is_fenced(b.fenced),
            )
        })
        .collect();
    DescribeClusterResponse::default()
        .with_endpoint_type(request.endpoint_type)
        .with_cluster_id(str_bytes(broker.cluster_id.clone()))
        .with_controller_id(BrokerId(broker.cluster.controller_id().unwrap_or(-1)))
        .with_brokers(brokers)
        .with_cluster_authorized_operations(
            context
                .authorization()
                .cluster_authorized_operations(request.include_cluster_authorized_operations),
        )
        .into()
}
