//! The requests `vltava group` and the console's group pages make: partition counts and
//! offsets, group listings and descriptions, committed offsets, lag, offset resets.

use super::*;

/// A partition of a group as kafka-consumer-groups shows it: the lag is the log end offset
/// minus the committed offset.
#[derive(Debug, Serialize)]
pub struct PartitionLag {
    #[serde(flatten)]
    pub partition: TopicPartition,
    pub committed_offset: Option<i64>,
    pub log_end_offset: Option<i64>,
    pub lag: Option<i64>,
    pub member_id: Option<String>,
}

/// A group as `vltava group describe` and the console show it: state, protocol, members, and
/// every partition with a commit or an owner, with its lag.
#[derive(Debug, Serialize)]
pub struct GroupWithLag {
    pub group: String,
    /// "consumer" for a KIP-848 group (described by ConsumerGroupDescribe), else "classic".
    pub group_type: String,
    pub state: String,
    /// A KIP-848 group's epoch and the epoch of its target assignment; `None` when classic.
    pub group_epoch: Option<i32>,
    pub assignment_epoch: Option<i32>,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<GroupMember>,
    pub offsets: Vec<PartitionLag>,
}

/// The state DescribeGroups gives a group that does not exist.
const DEAD_STATE: &str = "Dead";
/// ListGroups' and our names of the two kinds of group.
const CLASSIC_GROUP_TYPE: &str = "classic";
const CONSUMER_GROUP_TYPE: &str = "consumer";

/// A KIP-848 consumer group as ConsumerGroupDescribe shows it.
#[derive(Debug)]
pub struct ConsumerGroupDescription {
    pub state: String,
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    pub assignor: String,
    pub members: Vec<GroupMember>,
}

/// Where an offset reset moves a group's committed offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetTarget {
    Earliest,
    Latest,
    /// This offset, moved into [earliest, latest] of each partition.
    Offset(i64),
}

/// A partition's offset after a reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct NewOffset {
    pub partition: i32,
    pub new_offset: i64,
}

impl Client {
    /// The partition count of `topic`; an unknown topic is an error (and is not created).
    pub fn partition_count(&mut self, topic: &str) -> anyhow::Result<i32> {
        let request = MetadataRequest::default()
            .with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(TopicName(text(topic)))),
            ]))
            .with_allow_auto_topic_creation(false);
        let response = self.call(METADATA_VERSION, &request)?;
        let found = response
            .topics
            .iter()
            .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == topic))
            .with_context(|| format!("the broker sent no metadata for topic {topic}"))?;
        check(found.error_code, || format!("topic {topic}"))?;
        i32::try_from(found.partitions.len()).context("partition count")
    }

    /// The offset of each partition at `timestamp`, asked of this broker (the partitions'
    /// leader), or the name of the error it answered for it.
    pub(super) fn list_offsets_here(
        &mut self,
        partitions: &[TopicPartition],
        timestamp: i64,
    ) -> anyhow::Result<BTreeMap<TopicPartition, Result<i64, String>>> {
        let topics = by_topic(
            partitions.iter().map(|p| (p, ())),
            |partition, ()| {
                ListOffsetsPartition::default()
                    .with_partition_index(partition)
                    .with_timestamp(timestamp)
            },
            |name, partitions| {
                ListOffsetsTopic::default()
                    .with_name(name)
                    .with_partitions(partitions)
            },
        );
        let request = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(CONSUMER_REPLICA_ID))
            .with_topics(topics);
        let response = self.call(LIST_OFFSETS_VERSION, &request)?;
        let mut answered = BTreeMap::new();
        for topic in response.topics {
            for p in topic.partitions {
                let key = TopicPartition {
                    topic: topic.name.0.to_string(),
                    partition: p.partition_index,
                };
                let offset = match p.error_code {
                    0 => Ok(p.offset),
                    code => Err(error_name(code)),
                };
                answered.insert(key, offset);
            }
        }
        // A partition the broker left out of its answer is an error of that partition only.
        Ok(partitions
            .iter()
            .map(|p| {
                let offset = answered
                    .remove(p)
                    .unwrap_or_else(|| Err("not in the broker's answer".to_string()));
                (p.clone(), offset)
            })
            .collect())
    }

    /// Every group, or those in `states` (Kafka's state names, any case).
    pub fn list_groups(&mut self, states: &[String]) -> anyhow::Result<Vec<GroupListing>> {
        let states = states.iter().map(|s| text(s)).collect();
        let request = ListGroupsRequest::default().with_states_filter(states);
        let response = self.call(LIST_GROUPS_VERSION, &request)?;
        check(response.error_code, || "listing groups".to_string())?;
        Ok(response
            .groups
            .into_iter()
            .map(|g| GroupListing {
                group: g.group_id.0.to_string(),
                state: g.group_state.to_string(),
                protocol_type: g.protocol_type.to_string(),
                group_type: g.group_type.to_string(),
            })
            .collect())
    }

    /// The KIP-848 consumer group `group`; `None` when there is none of that kind (a classic
    /// group or none at all: GROUP_ID_NOT_FOUND, after which Kafka's admin client falls back
    /// to DescribeGroups too).
    pub fn consumer_group_describe(
        &mut self,
        group: &str,
    ) -> anyhow::Result<Option<ConsumerGroupDescription>> {
        let request =
            ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(text(group))]);
        let response = self.call(CONSUMER_GROUP_DESCRIBE_VERSION, &request)?;
        let described = response
            .groups
            .into_iter()
            .find(|g| g.group_id.0.as_str() == group)
            .with_context(|| format!("the broker did not describe group {group}"))?;
        if ResponseError::try_from_code(described.error_code)
            == Some(ResponseError::GroupIdNotFound)
        {
            return Ok(None);
        }
        check(described.error_code, || format!("describing group {group}"))?;
        let members = described
            .members
            .into_iter()
            .map(|m| {
                let mut assignment: Vec<TopicPartition> = m
                    .assignment
                    .topic_partitions
                    .iter()
                    .flat_map(|t| {
                        t.partitions.iter().map(|&partition| TopicPartition {
                            topic: t.topic_name.0.to_string(),
                            partition,
                        })
                    })
                    .collect();
                assignment.sort();
                GroupMember {
                    member_id: m.member_id.to_string(),
                    group_instance_id: m.instance_id.map(|i| i.to_string()),
                    client_id: m.client_id.to_string(),
                    host: m.client_host.to_string(),
                    assignment: Some(assignment),
                    member_epoch: Some(m.member_epoch),
                }
            })
            .collect();
        Ok(Some(ConsumerGroupDescription {
            state: described.group_state.to_string(),
            group_epoch: described.group_epoch,
            assignment_epoch: described.assignment_epoch,
            assignor: described.assignor_name.to_string(),
            members,
        }))
    }

    pub fn describe_group(&mut self, group: &str) -> anyhow::Result<GroupDescription> {
        let request = DescribeGroupsRequest::default().with_groups(vec![GroupId(text(group))]);
        let response = self.call(DESCRIBE_GROUPS_VERSION, &request)?;
        let described = response
            .groups
            .into_iter()
            .find(|g| g.group_id.0.as_str() == group)
            .with_context(|| format!("the broker did not describe group {group}"))?;
        check(described.error_code, || format!("describing group {group}"))?;
        let consumer = described.protocol_type.as_str() == CONSUMER_PROTOCOL_TYPE;
        let members = described
            .members
            .into_iter()
            .map(|m| group_member(m, consumer))
            .collect::<anyhow::Result<_>>()?;
        Ok(GroupDescription {
            state: described.group_state.to_string(),
            protocol_type: described.protocol_type.to_string(),
            protocol: described.protocol_data.to_string(),
            members,
        })
    }

    /// Every committed offset of `group` (OffsetFetch with topics = null).
    pub fn committed_offsets(
        &mut self,
        group: &str,
    ) -> anyhow::Result<BTreeMap<TopicPartition, i64>> {
        let request = OffsetFetchRequest::default()
            .with_group_id(GroupId(text(group)))
            .with_topics(None);
        let response = self.call(OFFSET_FETCH_VERSION, &request)?;
        check(response.error_code, || {
            format!("the offsets of group {group}")
        })?;
        let mut committed = BTreeMap::new();
        for topic in response.topics {
            for p in topic.partitions {
                let partition = TopicPartition {
                    topic: topic.name.0.to_string(),
                    partition: p.partition_index,
                };
                check(p.error_code, || {
                    format!("the committed offset of {partition}")
                })?;
                // -1: nothing committed.
                if p.committed_offset >= 0 {
                    committed.insert(partition, p.committed_offset);
                }
            }
        }
        Ok(committed)
    }

    /// Commits `offsets` from outside the group (no member id, no generation). Returns the
    /// partitions the broker refused, with its error code: all of them while the group has
    /// members.
    pub fn commit_offsets(
        &mut self,
        group: &str,
        offsets: &[(TopicPartition, i64)],
    ) -> anyhow::Result<Vec<(TopicPartition, i16)>> {
        let topics = by_topic(
            offsets.iter().map(|(p, offset)| (p, *offset)),
            |partition, offset| {
                OffsetCommitRequestPartition::default()
                    .with_partition_index(partition)
                    .with_committed_offset(offset)
            },
            |name, partitions| {
                OffsetCommitRequestTopic::default()
                    .with_name(name)
                    .with_partitions(partitions)
            },
        );
        let request = OffsetCommitRequest::default()
            .with_group_id(GroupId(text(group)))
            .with_generation_id_or_member_epoch(NO_GENERATION)
            .with_member_id(text(""))
            .with_topics(topics);
        let response = self.call(OFFSET_COMMIT_VERSION, &request)?;
        let mut answered = 0;
        let mut refused = Vec::new();
        for topic in response.topics {
            for p in topic.partitions {
                answered += 1;
                if p.error_code != 0 {
                    let partition = TopicPartition {
                        topic: topic.name.0.to_string(),
                        partition: p.partition_index,
                    };
                    refused.push((partition, p.error_code));
                }
            }
        }
        anyhow::ensure!(
            answered == offsets.len(),
            "OffsetCommit: the broker answered {answered} of {} partitions",
            offsets.len()
        );
        Ok(refused)
    }
}

impl Client {
    /// The group with its lag per partition; `None` when it does not exist. A KIP-848
    /// consumer group is described by ConsumerGroupDescribe, any other by DescribeGroups (also
    /// when the coordinator does not know ConsumerGroupDescribe: a broker older than Kafka 4).
    pub fn describe_group_with_lag(&mut self, group: &str) -> anyhow::Result<Option<GroupWithLag>> {
        let mut coordinator = self.coordinator(group)?;
        let described = match coordinator.consumer_group_describe(group) {
            Ok(Some(consumer)) => GroupWithLag {
                group: group.to_string(),
                group_type: CONSUMER_GROUP_TYPE.to_string(),
                state: consumer.state,
                group_epoch: Some(consumer.group_epoch),
                assignment_epoch: Some(consumer.assignment_epoch),
                protocol_type: CONSUMER_PROTOCOL_TYPE.to_string(),
                protocol: consumer.assignor,
                members: consumer.members,
                offsets: Vec::new(),
            },
            found => {
                if found.is_err() {
                    // An older broker closes the connection on an API it does not know.
                    coordinator = self.coordinator(group)?;
                }
                let classic = coordinator.describe_group(group)?;
                if classic.state == DEAD_STATE {
                    return Ok(None);
                }
                GroupWithLag {
                    group: group.to_string(),
                    group_type: CLASSIC_GROUP_TYPE.to_string(),
                    state: classic.state,
                    group_epoch: None,
                    assignment_epoch: None,
                    protocol_type: classic.protocol_type,
                    protocol: classic.protocol,
                    members: classic.members,
                    offsets: Vec::new(),
                }
            }
        };
        let committed = coordinator.committed_offsets(group)?;
        // Every partition with a commit or an owner, as kafka-consumer-groups shows them.
        let offsets = self.partition_lags(&described.members, &committed)?;
        Ok(Some(GroupWithLag {
            offsets,
            ..described
        }))
    }

    /// Every partition with a commit or an owner among `members`, with its committed offset,
    /// log end offset (asked of its leader) and lag.
    pub fn partition_lags(
        &mut self,
        members: &[GroupMember],
        committed: &BTreeMap<TopicPartition, i64>,
    ) -> anyhow::Result<Vec<PartitionLag>> {
        let mut owners: BTreeMap<TopicPartition, Option<String>> =
            committed.keys().map(|p| (p.clone(), None)).collect();
        for member in members {
            for p in member.assignment.iter().flatten() {
                owners.insert(p.clone(), Some(member.member_id.clone()));
            }
        }
        let partitions: Vec<TopicPartition> = owners.keys().cloned().collect();
        let ends = if partitions.is_empty() {
            BTreeMap::new()
        } else {
            self.list_offsets(&partitions, LATEST_TIMESTAMP)?
        };
        Ok(owners
            .into_iter()
            .map(|(partition, member_id)| {
                let committed_offset = committed.get(&partition).copied();
                let log_end_offset = ends.get(&partition).and_then(|r| r.as_ref().ok()).copied();
                let lag = committed_offset
                    .zip(log_end_offset)
                    .and_then(|(c, e)| e.checked_sub(c));
                PartitionLag {
                    partition,
                    committed_offset,
                    log_end_offset,
                    lag,
                    member_id,
                }
            })
            .collect())
    }

    /// The offset `target` means in each partition of `topic`, within [earliest, latest].
    pub fn reset_offsets_of(
        &mut self,
        topic: &str,
        target: ResetTarget,
    ) -> anyhow::Result<Vec<NewOffset>> {
        let count = self.partition_count(topic)?;
        let partitions: Vec<TopicPartition> = (0..count)
            .map(|partition| TopicPartition {
                topic: topic.to_string(),
                partition,
            })
            .collect();
        let earliest = self.list_offsets(&partitions, EARLIEST_TIMESTAMP)?;
        let latest = self.list_offsets(&partitions, LATEST_TIMESTAMP)?;
        let mut offsets = Vec::with_capacity(partitions.len());
        for p in &partitions {
            let bound = |offsets: &BTreeMap<TopicPartition, Result<i64, String>>| {
                offsets
                    .get(p)
                    .cloned()
                    .unwrap_or_else(|| Err("not answered".to_string()))
                    .map_err(|e| anyhow::anyhow!("the offsets of {p}: {e}"))
            };
            let (low, high) = (bound(&earliest)?, bound(&latest)?);
            let new_offset = match target {
                ResetTarget::Earliest => low,
                ResetTarget::Latest => high,
                ResetTarget::Offset(offset) => offset.clamp(low, high.max(low)),
            };
            offsets.push(NewOffset {
                partition: p.partition,
                new_offset,
            });
        }
        Ok(offsets)
    }
}
