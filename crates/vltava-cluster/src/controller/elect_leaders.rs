//! ElectLeaders (KIP-460) as the controller decides it. PREFERRED: the first replica leads if
//! it can (live, not shutting down, in the ISR). UNCLEAN: only a partition with no leader gets
//! one, from the ISR (or the eligible leader replicas) if any can lead, else from any live
//! replica, whose log becomes the partition's (records the ISR had and it lacks are lost: the
//! operator asked for it, and it is logged); a replica that lost its log and has not been in
//! the ISR since is taken only when no other can lead.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::brokers::Decision;
use super::election::{Eligibility, elect_leader};
use crate::image::{MetadataImage, PartitionRegistration};
use crate::records::{MetadataRecord, NO_LEADER, PartitionChange};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ElectionType {
    Preferred,
    Unclean,
}

/// One partition's result, each with the Kafka error it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ElectionOutcome {
    /// NONE: a new leader.
    Elected,
    /// ELECTION_NOT_NEEDED
    NotNeeded,
    /// PREFERRED_LEADER_NOT_AVAILABLE
    PreferredNotAvailable,
    /// ELIGIBLE_LEADERS_NOT_AVAILABLE
    EligibleNotAvailable,
    /// UNKNOWN_TOPIC_OR_PARTITION
    UnknownPartition,
}

/// The leader changes for `partitions` (topic id, partition), and each one's outcome in order.
pub fn elect_leaders(
    image: &MetadataImage,
    election_type: ElectionType,
    partitions: &[(Uuid, i32)],
) -> Decision<Vec<ElectionOutcome>> {
    let mut records = Vec::new();
    let mut outcomes = Vec::with_capacity(partitions.len());
    for &(topic_id, partition_id) in partitions {
        let found = image
            .topics_by_id
            .get(&topic_id)
            .and_then(|t| t.partitions.get(&partition_id));
        let Some(partition) = found else {
            outcomes.push(ElectionOutcome::UnknownPartition);
            continue;
        };
        let decided = match election_type {
            ElectionType::Preferred => preferred(image, partition),
            ElectionType::Unclean => unclean(image, partition),
        };
        match decided {
            Ok(change) => {
                if change.isr.is_some() {
                    tracing::warn!(%topic_id, partition_id, leader = ?change.leader, "unclean leader election: records only the old ISR had may be lost");
                }
                records.push(MetadataRecord::PartitionChange(PartitionChange {
                    topic_id,
                    partition_id,
                    ..change
                }));
                outcomes.push(ElectionOutcome::Elected);
            }
            Err(outcome) => outcomes.push(outcome),
        }
    }
    Decision {
        records,
        answer: outcomes,
    }
}

/// Automatic leader balancing (`auto.leader.rebalance.enable`): a preferred election for
/// every partition led by another replica than its first, not being reassigned, whose first
/// replica is in the ISR and may lead.
pub fn balance_leaders(image: &MetadataImage) -> Vec<MetadataRecord> {
    let imbalanced: Vec<(Uuid, i32)> = image
        .topics_by_id
        .values()
        .flat_map(|topic| {
            topic
                .partitions
                .iter()
                .filter(|(_, p)| {
                    p.has_leader() && p.replicas.first() != Some(&p.leader) && !p.is_reassigning()
                })
                .map(|(&index, _)| (topic.topic_id, index))
        })
        .collect();
    elect_leaders(image, ElectionType::Preferred, &imbalanced).records
}

fn preferred(
    image: &MetadataImage,
    partition: &PartitionRegistration,
) -> Result<PartitionChange, ElectionOutcome> {
    let Some(&first) = partition.replicas.first() else {
        return Err(ElectionOutcome::PreferredNotAvailable);
    };
    if partition.leader == first {
        return Err(ElectionOutcome::NotNeeded);
    }
    if partition.isr.contains(&first) && image.can_lead(first) {
        return Ok(PartitionChange {
            leader: Some(first),
            ..PartitionChange::default()
        });
    }
    Err(ElectionOutcome::PreferredNotAvailable)
}

fn unclean(
    image: &MetadataImage,
    partition: &PartitionRegistration,
) -> Result<PartitionChange, ElectionOutcome> {
    if partition.has_leader() {
        return Err(ElectionOutcome::NotNeeded);
    }
    let clean = elect_leader(image, partition, &Eligibility::default());
    if clean != NO_LEADER {
        return Ok(PartitionChange {
            leader: Some(clean),
            ..PartitionChange::default()
        });
    }
    // A replica that lost its log and has not caught up since has the least of all.
    let live = |recovering: bool| {
        partition.replicas.iter().copied().find(|&b| {
            image.can_lead(b) && partition.recovering_replicas.contains(&b) == recovering
        })
    };
    let live = live(false).or_else(|| live(true));
    match live {
        Some(leader) => Ok(PartitionChange {
            leader: Some(leader),
            isr: Some(vec![leader]),
            ..PartitionChange::default()
        }),
        None => Err(ElectionOutcome::EligibleNotAvailable),
    }
}
