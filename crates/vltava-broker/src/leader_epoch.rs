//! The check a request naming the leader epoch it last saw (KIP-320 `current_leader_epoch`)
//! gets before a partition answers it, as Kafka's `Partition.checkCurrentLeaderEpoch`.

use kafka_protocol::error::ResponseError;

/// The client did not say which epoch it saw: no check.
pub const NO_LEADER_EPOCH: i32 = -1;

/// `Ok` when the client saw no epoch (`None`) or the leader's (`leader`). An older epoch means
/// the client's metadata is stale (FENCED_LEADER_EPOCH, it refreshes it); a newer one means
/// this broker has not caught up with a leader change yet (UNKNOWN_LEADER_EPOCH, it retries).
pub fn check_current_leader_epoch(current: Option<i32>, leader: i32) -> Result<(), ResponseError> {
    match current {
        Some(epoch) if epoch < leader => Err(ResponseError::FencedLeaderEpoch),
        Some(epoch) if epoch > leader => Err(ResponseError::UnknownLeaderEpoch),
        _ => Ok(()),
    }
}

/// ListOffsets' and OffsetForLeaderEpoch's reading of `current_leader_epoch`: only -1 means
/// none (Kafka's NO_PARTITION_LEADER_EPOCH), so -2 is fenced.
pub fn epoch_unless_none(current: i32) -> Option<i32> {
    (current != NO_LEADER_EPOCH).then_some(current)
}

/// Fetch's reading of `current_leader_epoch`: any negative value means none (Kafka's
/// `FetchRequest.optionalEpoch`).
pub fn fetch_epoch(current: i32) -> Option<i32> {
    (current >= 0).then_some(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEADER: i32 = 3;

    #[test]
    fn no_epoch_and_the_leaders_epoch_pass() {
        assert_eq!(check_current_leader_epoch(None, LEADER), Ok(()));
        assert_eq!(check_current_leader_epoch(Some(LEADER), LEADER), Ok(()));
    }

    #[test]
    fn a_newer_epoch_is_unknown() {
        assert_eq!(
            check_current_leader_epoch(Some(LEADER + 7), LEADER),
            Err(ResponseError::UnknownLeaderEpoch)
        );
    }

    #[test]
    fn an_older_epoch_is_fenced() {
        for older in [LEADER - 1, 0, -2] {
            assert_eq!(
                check_current_leader_epoch(Some(older), LEADER),
                Err(ResponseError::FencedLeaderEpoch)
            );
        }
    }

    #[test]
    fn list_offsets_checks_every_epoch_but_minus_one_and_fetch_only_the_non_negative() {
        assert_eq!(epoch_unless_none(NO_LEADER_EPOCH), None);
        assert_eq!(epoch_unless_none(-2), Some(-2));
        assert_eq!(fetch_epoch(NO_LEADER_EPOCH), None);
        assert_eq!(fetch_epoch(-2), None);
        assert_eq!(fetch_epoch(7), Some(7));
    }
}
