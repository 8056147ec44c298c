//! Where a request must go in a cluster: a partition's offsets to its leader, a group's
//! requests to its coordinator, a listing of groups to every broker (each knows only the groups
//! it coordinates). Each answer comes from a connection opened to that broker's advertised
//! address; on a single node that is the bootstrap broker itself.

use kafka_protocol::messages::FindCoordinatorRequest;

use super::*;

const FIND_COORDINATOR_VERSION: i16 = 3;

/// Where the partitions of some topics are led, as one Metadata answer says.
#[derive(Debug, Default)]
pub struct Leaders {
    pub partitions: BTreeMap<TopicPartition, i32>,
    pub brokers: BTreeMap<i32, String>,
    pub topic_errors: BTreeMap<String, i16>,
}
const KEY_TYPE_GROUP: i8 = 0;

/// One connection to each broker, opened when first needed: where `produce` and `consume`
/// send each partition's requests.
#[derive(Debug)]
pub struct Connections {
    open: BTreeMap<i32, Client>,
    client_id: &'static str,
}

impl Default for Connections {
    fn default() -> Self {
        Connections::new(CLIENT_ID)
    }
}

impl Connections {
    /// None open yet; each will send `client_id`.
    pub fn new(client_id: &'static str) -> Self {
        Connections {
            open: BTreeMap::new(),
            client_id,
        }
    }

    /// The connection to broker `id`, at its address in `leaders`.
    pub fn to(&mut self, id: i32, leaders: &Leaders) -> anyhow::Result<&mut Client> {
        match self.open.entry(id) {
            std::collections::btree_map::Entry::Occupied(open) => Ok(open.into_mut()),
            std::collections::btree_map::Entry::Vacant(vacant) => {
                let address = leaders
                    .brokers
                    .get(&id)
                    .with_context(|| format!("broker {id} is not in the metadata"))?;
                Ok(vacant.insert(Client::connect_as(address, self.client_id)?))
            }
        }
    }

    /// Forgets the connection to broker `id` after it failed.
    pub fn close(&mut self, id: i32) {
        self.open.remove(&id);
    }
}

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
        self.connect_to(&format!("{}:{}", response.host, response.port))
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
        let Leaders {
            partitions: leaders,
            brokers,
            topic_errors,
        } = self.leaders(&topics, false)?;
        if let Some((topic, code)) = topic_errors.first_key_value() {
            check(*code, || format!("topic {topic}"))?;
        }
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
            let mut client = self.connect_to(&brokers[&leader])?;
            answered.extend(client.list_offsets_here(&led, timestamp)?);
        }
        Ok(answered)
    }

    /// Each partition of `topics` with its leader's id, and every live broker's address, from
    /// one Metadata answer. A leader that is not among the brokers (-1 while none is elected)
    /// means none for now. With `auto_create` a missing topic is created, as a producer's
    /// Metadata does; a topic the broker answered with an error is in `topic_errors`.
    pub fn leaders(&mut self, topics: &[String], auto_create: bool) -> anyhow::Result<Leaders> {
        let request = MetadataRequest::default()
            .with_topics(Some(
                topics
                    .iter()
                    .map(|n| MetadataRequestTopic::default().with_name(Some(TopicName(text(n)))))
                    .collect(),
            ))
            .with_allow_auto_topic_creation(auto_create);
        let response = self.call(METADATA_VERSION, &request)?;
        let mut leaders = Leaders {
            brokers: response
                .brokers
                .into_iter()
                .map(|b| (b.node_id.0, format!("{}:{}", b.host, b.port)))
                .collect(),
            ..Leaders::default()
        };
        for topic in response.topics {
            let name = topic.name.map(|n| n.0.to_string()).unwrap_or_default();
            if topic.error_code != 0 {
                leaders.topic_errors.insert(name, topic.error_code);
                continue;
            }
            for p in topic.partitions {
                let key = TopicPartition {
                    topic: name.clone(),
                    partition: p.partition_index,
                };
                leaders.partitions.insert(key, p.leader_id.0);
            }
        }
        for topic in topics {
            if !leaders.partitions.keys().any(|p| &p.topic == topic)
                && !leaders.topic_errors.contains_key(topic)
            {
                bail!("the broker sent no metadata for topic {topic}");
            }
        }
        Ok(leaders)
    }

    /// [`Client::leaders`], asked again of the other brokers `known` lists when this one does
    /// not answer (a cluster outlives any one of its brokers); `self` is then connected to
    /// the first that answered.
    pub fn leaders_failing_over(
        &mut self,
        known: &Leaders,
        topics: &[String],
        auto_create: bool,
    ) -> anyhow::Result<Leaders> {
        let error = match self.leaders(topics, auto_create) {
            Ok(leaders) => return Ok(leaders),
            Err(error) => error,
        };
        for address in known.brokers.values().filter(|a| **a != self.bootstrap) {
            let Ok(mut other) = self.connect_to(address) else {
                continue;
            };
            if let Ok(leaders) = other.leaders(topics, auto_create) {
                *self = other;
                return Ok(leaders);
            }
        }
        Err(error)
    }

    /// Every group on every broker, or those in `states`, by group id.
    pub fn list_groups_everywhere(
        &mut self,
        states: &[String],
    ) -> anyhow::Result<Vec<GroupListing>> {
        let mut groups = Vec::new();
        for address in self.brokers()?.values() {
            groups.extend(self.connect_to(address)?.list_groups(states)?);
        }
        groups.sort_by(|a, b| a.group.cmp(&b.group));
        Ok(groups)
    }
}
