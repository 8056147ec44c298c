//! Where the replicas of a new topic go: spread over the unfenced brokers so that leaders
//! (the first replica) and followers are balanced, and, when brokers have racks, so that the
//! replicas of a partition are on as many racks as possible (Kafka's rack-aware assignment).

use std::collections::BTreeMap;

use super::ControllerError;
use crate::image::MetadataImage;
use crate::records::BrokerId;

/// The replica lists of `partitions` new partitions, each of `replication_factor` brokers.
/// `start` rotates the first leader, so that successive topics do not all lead on one broker.
pub fn place_replicas(
    image: &MetadataImage,
    partitions: i32,
    replication_factor: i16,
    start: usize,
) -> Result<Vec<Vec<BrokerId>>, ControllerError> {
    if partitions <= 0 {
        return Err(ControllerError::InvalidPartitions);
    }
    let brokers = rack_alternating(image);
    let wanted = usize::try_from(replication_factor).unwrap_or(0);
    if wanted == 0 || wanted > brokers.len() {
        return Err(ControllerError::InvalidReplicationFactor {
            requested: replication_factor,
            available: brokers.len(),
        });
    }
    let n = brokers.len();
    let placed = (0..partitions as usize)
        .map(|p| {
            let leader = (start + p) % n;
            // Followers start one more broker further every full round of leaders, as in
            // Kafka, so that one broker's followers are not always the same brokers.
            let shift = (p / n) % (n - 1).max(1);
            let others = (0..n - 1).map(|j| brokers[(leader + 1 + (shift + j) % (n - 1)) % n]);
            pick_followers(brokers[leader], others, wanted - 1, |b| rack_of(image, b))
        })
        .collect();
    Ok(placed)
}

/// The leader, then `count` followers from `candidates` in order, taking brokers on racks the
/// partition does not use yet before any on a rack it does.
fn pick_followers(
    leader: BrokerId,
    candidates: impl Iterator<Item = BrokerId> + Clone,
    count: usize,
    rack: impl Fn(BrokerId) -> Option<String>,
) -> Vec<BrokerId> {
    let mut replicas = vec![leader];
    let mut racks = vec![rack(leader)];
    for broker in candidates.clone() {
        if replicas.len() > count {
            break;
        }
        let r = rack(broker);
        if r.is_some() && !racks.contains(&r) {
            racks.push(r);
            replicas.push(broker);
        }
    }
    for broker in candidates {
        if replicas.len() > count {
            break;
        }
        if !replicas.contains(&broker) {
            replicas.push(broker);
        }
    }
    replicas
}

fn rack_of(image: &MetadataImage, broker: BrokerId) -> Option<String> {
    image.brokers.get(&broker).and_then(|b| b.rack.clone())
}

/// Unfenced brokers ordered so that neighbours are on different racks where possible: the
/// first broker of each rack, then the second of each, and so on (brokers without a rack
/// count as one rack).
fn rack_alternating(image: &MetadataImage) -> Vec<BrokerId> {
    let mut by_rack: BTreeMap<Option<&str>, Vec<BrokerId>> = BTreeMap::new();
    for broker in image.live_brokers() {
        by_rack
            .entry(broker.rack.as_deref())
            .or_default()
            .push(broker.broker_id);
    }
    let deepest = by_rack.values().map(Vec::len).max().unwrap_or(0);
    (0..deepest)
        .flat_map(|i| by_rack.values().filter_map(move |ids| ids.get(i).copied()))
        .collect()
}
