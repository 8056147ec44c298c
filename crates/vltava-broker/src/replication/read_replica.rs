//! KIP-392, fetch from the nearest replica: the leader of a partition may send a consumer that
//! names its rack (`client.rack`) to a replica in that rack (the Fetch response's
//! `preferred_read_replica`), which serves it up to its high watermark. Which replica is chosen
//! is the broker's `replica.selector.class`: Kafka's two selectors, by name, as a fixed choice
//! (a configuration value is never loaded as code).

use std::str::FromStr;

use vltava_cluster::records::BrokerId;

/// `replica.selector.class`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ReplicaSelector {
    /// Kafka's default (`LeaderSelector`, or no selector): consumers read from the leader.
    #[default]
    Leader,
    /// Kafka's `RackAwareReplicaSelector`: a replica in the consumer's rack if there is one.
    RackAware,
}

impl FromStr for ReplicaSelector {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "" | "leader" | "org.apache.kafka.common.replica.LeaderSelector" => Ok(Self::Leader),
            "rack-aware" | "org.apache.kafka.common.replica.RackAwareReplicaSelector" => {
                Ok(Self::RackAware)
            }
            other => Err(format!(
                "unknown replica selector {other:?}: leader (org.apache.kafka.common.replica.\
                 LeaderSelector) or rack-aware (org.apache.kafka.common.replica.\
                 RackAwareReplicaSelector)"
            )),
        }
    }
}

/// A replica as the selector weighs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaView {
    pub id: BrokerId,
    pub rack: Option<String>,
    /// Offsets below it are on the replica (durable, for a follower: its last fetch offset).
    pub log_end_offset: i64,
    /// How long ago it last had everything the leader had (0 for the leader).
    pub since_caught_up_ms: i64,
}

impl ReplicaSelector {
    /// The replica the consumer in `client_rack` should read from instead of the leader, if
    /// any. `followers` are the replicas that hold the fetch offset. As Kafka's
    /// `RackAwareReplicaSelector`: the leader when it is in the client's rack; otherwise, of
    /// the replicas there, the one with the most data, then the one caught up most recently.
    pub fn select(
        self,
        client_rack: &str,
        leader: &ReplicaView,
        followers: &[ReplicaView],
    ) -> Option<BrokerId> {
        if self == Self::Leader || client_rack.is_empty() {
            return None;
        }
        let in_rack = |r: &&ReplicaView| r.rack.as_deref() == Some(client_rack);
        if in_rack(&leader) {
            return None;
        }
        followers
            .iter()
            .filter(in_rack)
            .max_by_key(|r| (r.log_end_offset, std::cmp::Reverse(r.since_caught_up_ms)))
            .map(|r| r.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(id: BrokerId, rack: &str, log_end_offset: i64, since: i64) -> ReplicaView {
        ReplicaView {
            id,
            rack: (!rack.is_empty()).then(|| rack.to_string()),
            log_end_offset,
            since_caught_up_ms: since,
        }
    }

    #[test]
    fn a_consumer_reads_from_a_replica_in_its_rack() {
        let leader = view(1, "r1", 100, 0);
        let followers = [view(2, "r2", 100, 5), view(3, "r3", 100, 0)];
        let rack_aware = ReplicaSelector::RackAware;
        assert_eq!(rack_aware.select("r2", &leader, &followers), Some(2));
        assert_eq!(rack_aware.select("r1", &leader, &followers), None);
        assert_eq!(rack_aware.select("r9", &leader, &followers), None);
        assert_eq!(rack_aware.select("", &leader, &followers), None);
        assert_eq!(
            ReplicaSelector::Leader.select("r2", &leader, &followers),
            None
        );
    }

    #[test]
    fn in_the_rack_the_most_data_then_the_freshest_wins() {
        let leader = view(1, "r1", 100, 0);
        let followers = [
            view(2, "r2", 90, 0),
            view(3, "r2", 100, 50),
            view(4, "r2", 100, 10),
        ];
        assert_eq!(
            ReplicaSelector::RackAware.select("r2", &leader, &followers),
            Some(4)
        );
    }

    #[test]
    fn kafkas_class_names_and_ours_are_the_only_names() {
        let parse = |s: &str| s.parse::<ReplicaSelector>();
        assert_eq!(
            parse("org.apache.kafka.common.replica.RackAwareReplicaSelector"),
            Ok(ReplicaSelector::RackAware)
        );
        assert_eq!(parse("rack-aware"), Ok(ReplicaSelector::RackAware));
        assert_eq!(
            parse("org.apache.kafka.common.replica.LeaderSelector"),
            Ok(ReplicaSelector::Leader)
        );
        assert!(parse("com.example.Evil").is_err());
    }
}
