//! DescribeCluster (KIP-700): this broker is the whole cluster and its controller.

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};

use super::str_bytes;
use crate::dispatch::{Reply, RequestContext};

pub async fn handle(context: RequestContext, request: DescribeClusterRequest) -> Reply {
    let broker = &context.broker;
    let node = DescribeClusterBroker::default()
        .with_broker_id(BrokerId(broker.node_id()))
        .with_host(str_bytes(broker.config.advertised_host.clone()))
        .with_port(broker.advertised_port);
    DescribeClusterResponse::default()
        .with_endpoint_type(request.endpoint_type)
        .with_cluster_id(str_bytes(broker.cluster_id.clone()))
        .with_controller_id(BrokerId(broker.node_id()))
        .with_brokers(vec![node])
        .into()
}
