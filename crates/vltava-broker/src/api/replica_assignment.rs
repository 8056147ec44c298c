//! Manual replica assignments (CreateTopics' `assignments`, CreatePartitions' `assignments`),
//! checked as Kafka's controller checks them: each partition names a non-empty list of
//! registered brokers, none twice, and every partition as many as the first. A partition is placed
//! on the brokers its list names (the first leads), whichever broker received the request.

use kafka_protocol::messages::BrokerId;

use crate::error::{AssignmentError, Result};

/// The brokers of each partition, in order, once every list passes; `registered` says whether
/// the cluster knows a broker id (the served metadata image's registrations).
pub fn check<'a>(
    lists: impl IntoIterator<Item = &'a [BrokerId]>,
    registered: impl Fn(i32) -> bool,
) -> Result<Vec<Vec<i32>>> {
    let mut checked = Vec::new();
    for list in lists {
        let brokers: Vec<i32> = list.iter().map(|id| id.0).collect();
        let mut sorted = brokers.clone();
        sorted.sort_unstable();
        if sorted.is_empty() {
            return Err(AssignmentError::Empty.into());
        }
        if let Some(pair) = sorted.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(AssignmentError::DuplicateBroker(pair[0]).into());
        }
        if let Some(&unknown) = sorted.iter().find(|&&id| !registered(id)) {
            return Err(AssignmentError::UnknownBroker(unknown).into());
        }
        if let Some(first) = checked.first().map(Vec::len)
            && first != brokers.len()
        {
            return Err(AssignmentError::UnequalReplicas {
                got: brokers.len(),
                expected: first,
            }
            .into());
        }
        checked.push(brokers);
    }
    Ok(checked)
}
