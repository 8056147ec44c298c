//! Where a request must go in a cluster: a partition's offsets to its leader, a group's
//! requests to its coordinator, a listing of groups to every broker (each knows only the groups
//! it coordinates). Each answer comes from a connection opened to that broker's advertised
//! address; on a single node that is the bootstrap broker itself.

use kafka_protocol::messages::FindCoordinatorRequest;

use super::*;

const FIND_COORDINATOR_VERSION: i16 = 3;
const KEY_TYPE_GROUP: i8 = 0;

impl Client {
    /// Every live broker's id and `host:port`, as Metadata lists them.
    pub fn brokers(&mut self) -> anyhow::Result<BTreeMap<i32, String>> {
        let request = MetadataRequest::default()
            .with_topics(Some(Vec::new()))
            .with_allow_auto_topic_creation(false);
        let response = self.call(METADATA_VERSION, &request)?;
        Ok(response
            .brokers
            .into_iter()
            .map(|b| (b.node_id.0, format!("{}:{}", b.host, b.port)))
            .collect())
    }

    /// A connection to the coordinator of `group`.
    pub fn coordinator(&mut self, group: &str) -> anyhow::Result<Client> {
        let request = FindCoordinatorRequest::default()
            .with_key(text(group))
            .with_key_type(KEY_TYPE_GROUP);
        let response = self.call(FIND_COORDINATOR_VERSION, &request)?;
        check(response.error_code, || {
            format!("the coordinator of group {group}")
        })?;
        Client::connect(&format!("{}:{}", response.host, response.port))
    }

    /// The offset of each partition at `timestamp` (`LATEST_TIMESTAMP`, `EARLIEST_TIMESTAMP`),
    /// asked of each partition's leader, or the name of the error it answered for it.
    pub fn list_offsets(
        &mut self,
        partitions: &[TopicPartition],
        timestamp: i64,
    ) -> anyhow::Result<BTreeMap<TopicPartition, Result<i64, String>>> {
        let mut topics: Vec<String> = partitions.iter().map(|p| p.topic.clone()).collect();
        topics.sort();
        topics.dedup();
        let leaders: BTreeMap<TopicPartition, i32> = self
            .topics(Some(&topics))?
            .into_iter()
            .flat_map(|t| {
                t.partitions.into_iter().map(move |p| {
                    let key = TopicPartition {
                        topic: t.name.clone(),
                        partition: p.partition,
                    };
                    (key, p.leader)
                })
            })
            .collect();
        let brokers = self.brokers()?;
        let mut by_leader: BTreeMap<i32, Vec<TopicPartition>> = BTreeMap::new();
        let mut answered = BTreeMap::new();
        for p in partitions {
            match leaders.get(p).filter(|l| brokers.contains_key(l)) {
                Some(leader) => by_leader.entry(*leader).or_default().push(p.clone()),
                None => {
                    answered.insert(p.clone(), Err("LEADER_NOT_AVAILABLE".to_string()));
                }
            }
        }
        for (leader, led) in by_leader {
            let mut client = Client::connect(&brokers[&leader])?;
            answered.extend(client.list_offsets_here(&led, timestamp)?);
        }
        Ok(answered)
    }

    /// Every group on every broker, or those in `states`, by group id.
    pub fn list_groups_everywhere(
        &mut self,
        states: &[String],
    ) -> anyhow::Result<Vec<GroupListing>> {
        let mut groups = Vec::new();
        for address in self.brokers()?.values() {
            groups.extend(Client::connect(address)?.list_groups(states)?);
        }
        groups.sort_by(|a, b| a.group.cmp(&b.group));
        Ok(groups)
    }
}
