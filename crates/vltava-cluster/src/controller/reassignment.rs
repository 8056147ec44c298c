//! Partition reassignment (KIP-455) as the controller decides it, as Kafka's KRaft controller
//! does: a reassignment to `target` makes the partition's replicas the target's followed by the
//! current ones not in it, with the new ones as *adding* and the dropped ones as *removing*
//! replicas. The adding replicas fetch the log like any follower; once every one of them is in
//! the ISR (an AlterPartition from the leader puts it there), the same change completes the
//! reassignment: the replicas become the target, the ISR keeps only target replicas, and a
//! leader being removed hands over to the first target replica in the ISR. So data is copied
//! and in sync before any replica holding it is dropped. Cancelling (a null target) returns to
//! the replicas from before; a new target while one is in progress replaces it the same way.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::ControllerError;
use super::brokers::Decision;
use super::election::{Eligibility, elect_leader};
use crate::image::{MetadataImage, PartitionRegistration};
use crate::records::{BrokerId, MetadataRecord, NO_LEADER, PartitionChange};

/// One partition's wanted replicas; `None` cancels its reassignment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reassignment {
    pub topic_id: Uuid,
    pub partition_id: i32,
    pub target: Option<Vec<BrokerId>>,
    /// AlterPartitionReassignments v1 (KIP-860): false refuses a target of another size.
    #[serde(default = "yes")]
    pub allow_replication_factor_change: bool,
}

fn yes() -> bool {
    true
}

/// The records of the reassignments accepted, and each one's result in order.
pub fn alter_reassignments(
    image: &MetadataImage,
    reassignments: &[Reassignment],
) -> Decision<Vec<Result<(), ControllerError>>> {
    let mut records = Vec::new();
    let results = reassignments
        .iter()
        .map(|r| {
            let change = reassign(image, r)?;
            records.push(MetadataRecord::PartitionChange(change));
            Ok(())
        })
        .collect();
    Decision {
        records,
        answer: results,
    }
}

fn reassign(image: &MetadataImage, r: &Reassignment) -> Result<PartitionChange, ControllerError> {
    let partition = image
        .topics_by_id
        .get(&r.topic_id)
        .and_then(|t| t.partitions.get(&r.partition_id))
        .ok_or(ControllerError::UnknownTopicId(r.topic_id))?;
    let original = original_replicas(partition);
    // What holds the data now: the replicas from before, and any adding replica that has
    // already caught up into the ISR (dropped, if not wanted, like any removed replica).
    let current = [original.clone(), without(&partition.isr, &original)].concat();
    let target = match &r.target {
        None if !partition.is_reassigning() => {
            return Err(ControllerError::NoReassignmentInProgress);
        }
        None => original,
        Some(target) => {
            validate(image, target)?;
            // The size it has, or is heading to, as Kafka counts it.
            let size = without(&partition.replicas, &partition.removing_replicas).len();
            if !r.allow_replication_factor_change && target.len() != size {
                return Err(ControllerError::ReplicationFactorChange {
                    from: size,
                    to: target.len(),
                });
            }
            target.clone()
        }
    };
    let mut next = partition.clone();
    next.adding_replicas = without(&target, &current);
    next.removing_replicas = without(&current, &target);
    next.replicas = [target, next.removing_replicas.clone()].concat();
    // Adding replicas of a replaced reassignment that had not caught up are simply dropped.
    next.isr.retain(|b| next.replicas.contains(b));
    let completed = complete(image, &next).unwrap_or(next);
    Ok(change_to(r.topic_id, r.partition_id, partition, &completed))
}

/// The replicas before the reassignment in progress, if any, began.
fn original_replicas(partition: &PartitionRegistration) -> Vec<BrokerId> {
    without(&partition.replicas, &partition.adding_replicas)
}

fn without(from: &[BrokerId], these: &[BrokerId]) -> Vec<BrokerId> {
    from.iter()
        .copied()
        .filter(|b| !these.contains(b))
        .collect()
}

/// A target Kafka accepts: not empty, no broker twice, every broker registered.
fn validate(image: &MetadataImage, target: &[BrokerId]) -> Result<(), ControllerError> {
    if target.is_empty() {
        return Err(ControllerError::EmptyReplicaList);
    }
    let mut sorted = target.to_vec();
    sorted.sort_unstable();
    if let Some(pair) = sorted.windows(2).find(|pair| pair[0] == pair[1]) {
        return Err(ControllerError::DuplicateReplica(pair[0]));
    }
    match sorted.iter().find(|b| !image.brokers.contains_key(b)) {
        Some(&unknown) => Err(ControllerError::UnregisteredBroker(unknown)),
        None => Ok(()),
    }
}

/// The partition with its reassignment completed, if every adding replica is in the ISR and
/// some target replica is.
pub fn complete(image: &MetadataImage, p: &PartitionRegistration) -> Option<PartitionRegistration> {
    if !p.is_reassigning() || p.adding_replicas.iter().any(|b| !p.isr.contains(b)) {
        return None;
    }
    let mut done = p.clone();
    done.replicas = without(&p.replicas, &p.removing_replicas);
    done.isr.retain(|b| done.replicas.contains(b));
    if done.isr.is_empty() {
        return None;
    }
    done.adding_replicas.clear();
    done.removing_replicas.clear();
    if !done.replicas.contains(&done.leader) {
        done.leader = elect_leader(image, &done, &Eligibility::default());
        if done.leader == NO_LEADER {
            // No target replica can lead yet: the removed leader keeps leading until one can.
            return None;
        }
    }
    Some(done)
}

/// The change record that turns `before` into `after`. The leader is set (a new leader epoch)
/// when it changes or a replica is dropped, as Kafka bumps it then: the dropped replica's
/// fetches are fenced.
pub fn change_to(
    topic_id: Uuid,
    partition_id: i32,
    before: &PartitionRegistration,
    after: &PartitionRegistration,
) -> PartitionChange {
    let changed = |a: &Vec<BrokerId>, b: &Vec<BrokerId>| (a != b).then(|| b.clone());
    PartitionChange {
        topic_id,
        partition_id,
        leader: (before.leader != after.leader
            || !without(&before.replicas, &after.replicas).is_empty())
        .then_some(after.leader),
        isr: changed(&before.isr, &after.isr),
        replicas: changed(&before.replicas, &after.replicas),
        adding_replicas: changed(&before.adding_replicas, &after.adding_replicas),
        removing_replicas: changed(&before.removing_replicas, &after.removing_replicas),
        ..PartitionChange::default()
    }
}
