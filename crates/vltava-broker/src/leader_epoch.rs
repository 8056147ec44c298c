//! The check a request naming the leader epoch it last saw (KIP-320 `current_leader_epoch`)
//! gets before a partition answers it, as Kafka's `Partition.checkCurrentLeaderEpoch`.

use kafka_protocol::error::ResponseError;

use crate::partition::LEADER_EPOCH;

/// The client did not say which epoch it saw: no check.
pub const NO_LEADER_EPOCH: i32 = -1;

/// `Ok` when `current` is the leader's epoch or [`NO_LEADER_EPOCH`]. An older epoch means the
/// client's metadata is stale (FENCED_LEADER_EPOCH, it refreshes it); a newer one means this
/// broker has not caught up with a leader change yet (UNKNOWN_LEADER_EPOCH, it retries).
pub fn check_current_leader_epoch(current: i32) -> Result<(), ResponseError> {
    match current {
        NO_LEADER_EPOCH => Ok(()),
        epoch if epoch < LEADER_EPOCH => Err(ResponseError::FencedLeaderEpoch),
        epoch if epoch > LEADER_EPOCH => Err(ResponseError::UnknownLeaderEpoch),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_epoch_and_the_leaders_epoch_pass() {
        assert_eq!(check_current_leader_epoch(NO_LEADER_EPOCH), Ok(()));
        assert_eq!(check_current_leader_epoch(LEADER_EPOCH), Ok(()));
    }

    #[test]
    fn a_newer_epoch_is_unknown() {
        assert_eq!(
            check_current_leader_epoch(LEADER_EPOCH + 7),
            Err(ResponseError::UnknownLeaderEpoch)
        );
    }

    #[test]
    fn an_older_epoch_is_fenced() {
        // On one node the leader epoch is 0, so only a negative epoch other than -1 is older.
        assert_eq!(
            check_current_leader_epoch(-2),
            Err(ResponseError::FencedLeaderEpoch)
        );
    }
}
