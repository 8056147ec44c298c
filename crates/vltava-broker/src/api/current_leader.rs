//! KIP-951: a Produce or Fetch sent to a broker that does not lead the partition is answered
//! NOT_LEADER_OR_FOLLOWER with the partition's current leader and epoch, and the leader's
//! address, so that the client goes there without a Metadata round trip first.

use std::collections::BTreeMap;

use crate::broker::Broker;
use crate::topics::Topic;

/// A partition's leader as the metadata image has it.
#[derive(Debug, Clone)]
pub struct CurrentLeader {
    pub id: i32,
    pub epoch: i32,
    /// Where clients reach it; `None` while the partition has no live leader.
    pub endpoint: Option<LeaderEndpoint>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderEndpoint {
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

/// The leader of `topic`'s partition `index`, if the topic has that partition, with its
/// address on `listener` (the one the client came in on).
pub fn current_leader(
    broker: &Broker,
    listener: &str,
    topic: &Topic,
    index: i32,
) -> Option<CurrentLeader> {
    let registration = topic.image.partitions.get(&index)?;
    let image = broker.image();
    let endpoint = image.live_broker(registration.leader).and_then(|b| {
        let endpoint = b.endpoint(listener)?;
        Some(LeaderEndpoint {
            host: endpoint.host.clone(),
            port: i32::from(endpoint.port),
            rack: b.rack.clone(),
        })
    });
    Some(CurrentLeader {
        id: registration.leader,
        epoch: registration.leader_epoch,
        endpoint,
    })
}

/// The addresses of the leaders named in one response, each once (the response's
/// `node_endpoints`).
#[derive(Debug, Default)]
pub struct LeaderEndpoints(BTreeMap<i32, LeaderEndpoint>);

impl LeaderEndpoints {
    pub fn add(&mut self, leader: &CurrentLeader) {
        if let Some(endpoint) = &leader.endpoint {
            self.0.insert(leader.id, endpoint.clone());
        }
    }

    pub fn endpoints(self) -> impl Iterator<Item = (i32, LeaderEndpoint)> {
        self.0.into_iter()
    }
}

/// A response's `node_endpoints` from the leaders it names: Produce's and Fetch's are distinct
/// generated types of the same shape.
macro_rules! node_endpoints {
    ($leaders:expr, $endpoint:ty) => {
        $leaders
            .endpoints()
            .map(|(id, e)| {
                <$endpoint>::default()
                    .with_node_id(kafka_protocol::messages::BrokerId(id))
                    .with_host($crate::api::str_bytes(e.host))
                    .with_port(e.port)
                    .with_rack(e.rack.map($crate::api::str_bytes))
            })
            .collect()
    };
}
pub(crate) use node_endpoints;
