//! Leader election: who leads a partition when its leader's broker is fenced or shuts down,
//! and when a leaderless partition's replica comes back. Clean elections only: a new leader
//! comes from the ISR (or, per KIP-966, from the eligible leader replicas), preferring the
//! replicas' order, so the preferred (first) replica leads whenever it can.

use std::collections::BTreeSet;

use uuid::Uuid;

use crate::image::{MetadataImage, PartitionRegistration};
use crate::records::{BrokerId, MetadataRecord, NO_LEADER, PartitionChange};

/// Which brokers may lead, as the records being decided will leave them.
#[derive(Debug, Clone, Default)]
pub struct Eligibility {
    /// Brokers treated as unable to lead (being fenced or shutting down).
    pub excluded: BTreeSet<BrokerId>,
    /// Brokers treated as able to lead although the image still has them fenced (being
    /// unfenced in the same decision).
    pub included: BTreeSet<BrokerId>,
}

impl Eligibility {
    fn can_lead(&self, image: &MetadataImage, broker: BrokerId) -> bool {
        if self.excluded.contains(&broker) {
            return false;
        }
        self.included.contains(&broker) || image.can_lead(broker)
    }
}

/// The leader a clean election picks, or [`NO_LEADER`].
pub fn elect_leader(
    image: &MetadataImage,
    partition: &PartitionRegistration,
    eligibility: &Eligibility,
) -> BrokerId {
    let in_isr = |b: &BrokerId| partition.isr.contains(b);
    let in_elr = |b: &BrokerId| partition.eligible_leader_replicas.contains(b);
    let pick = |allowed: &dyn Fn(&BrokerId) -> bool| {
        partition
            .replicas
            .iter()
            .copied()
            .find(|b| allowed(b) && eligibility.can_lead(image, *b))
    };
    pick(&in_isr).or_else(|| pick(&in_elr)).unwrap_or(NO_LEADER)
}

/// Why brokers leave service, which decides what becomes of their places in ISRs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Departure {
    /// Fenced or shutting down with its log intact: it leaves every ISR, except that an ISR
    /// never becomes empty (its last member stays, so it can lead again when it returns: its
    /// log has every acknowledged write, fsynced).
    WithItsLog,
    /// Its log directory was lost (the broker came back with an empty one): it leaves every
    /// ISR even as the last member, and every eligible-leader set, so that it is never elected
    /// before it has caught up again, and is a recovering replica until it is back in the ISR
    /// (an unclean election takes it last). A partition left without an ISR has no leader until
    /// an unclean election is asked for: an outage rather than a silent loss.
    LostItsLog,
}

/// The partition changes that take `brokers` out of service: every partition they lead gets a
/// new leader (or none), and they leave ISRs as `departure` says.
pub fn remove_from_service(
    image: &MetadataImage,
    brokers: &BTreeSet<BrokerId>,
    departure: Departure,
) -> Vec<MetadataRecord> {
    let eligibility = Eligibility {
        excluded: brokers.clone(),
        included: BTreeSet::new(),
    };
    let without = |set: &[BrokerId]| -> Vec<BrokerId> {
        set.iter()
            .copied()
            .filter(|b| !brokers.contains(b))
            .collect()
    };
    let mut changes = Vec::new();
    for_each_partition(image, |topic_id, partition_id, p| {
        let leads = brokers.contains(&p.leader);
        let isr = without(&p.isr);
        let isr_changes =
            isr.len() != p.isr.len() && (!isr.is_empty() || departure == Departure::LostItsLog);
        let elr = without(&p.eligible_leader_replicas);
        let lost = departure == Departure::LostItsLog;
        let elr_changes = lost && elr.len() != p.eligible_leader_replicas.len();
        let newly_recovering: Vec<BrokerId> = p
            .replicas
            .iter()
            .copied()
            .filter(|b| lost && brokers.contains(b) && !p.recovering_replicas.contains(b))
            .collect();
        if !leads && !isr_changes && !elr_changes && newly_recovering.is_empty() {
            return;
        }
        let mut after = p.clone();
        if isr_changes {
            after.isr = isr;
        }
        if elr_changes {
            after.eligible_leader_replicas = elr;
        }
        changes.push(MetadataRecord::PartitionChange(PartitionChange {
            topic_id,
            partition_id,
            leader: leads.then(|| elect_leader(image, &after, &eligibility)),
            isr: isr_changes.then(|| after.isr.clone()),
            eligible_leader_replicas: elr_changes.then(|| after.eligible_leader_replicas.clone()),
            recovering_replicas: (!newly_recovering.is_empty())
                .then(|| [p.recovering_replicas.clone(), newly_recovering].concat()),
            ..PartitionChange::default()
        }));
    });
    changes
}

/// The partition changes when `broker` can lead again: every leaderless partition it could
/// lead gets it as leader.
pub fn return_to_service(image: &MetadataImage, broker: BrokerId) -> Vec<MetadataRecord> {
    let eligibility = Eligibility {
        excluded: BTreeSet::new(),
        included: BTreeSet::from([broker]),
    };
    let mut changes = Vec::new();
    for_each_partition(image, |topic_id, partition_id, p| {
        if p.has_leader() || !p.replicas.contains(&broker) {
            return;
        }
        let leader = elect_leader(image, p, &eligibility);
        if leader != NO_LEADER {
            changes.push(MetadataRecord::PartitionChange(PartitionChange {
                topic_id,
                partition_id,
                leader: Some(leader),
                ..PartitionChange::default()
            }));
        }
    });
    changes
}

/// Partitions `broker` leads.
pub fn led_by(image: &MetadataImage, broker: BrokerId) -> usize {
    let mut count = 0;
    for_each_partition(image, |_, _, p| count += usize::from(p.leader == broker));
    count
}

fn for_each_partition(
    image: &MetadataImage,
    mut visit: impl FnMut(Uuid, i32, &PartitionRegistration),
) {
    for topic in image.topics_by_id.values() {
        for (partition_id, p) in &topic.partitions {
            visit(topic.topic_id, *partition_id, p);
        }
    }
}
