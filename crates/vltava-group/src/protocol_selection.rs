//! Choosing the group's protocol (for consumers, the assignor) the way Kafka does: among the
//! protocols every member supports, each member votes for the one it prefers most, and the
//! most votes win. Ties go to the lexicographically smallest name, so the choice does not
//! depend on map iteration order.

use std::collections::{BTreeMap, BTreeSet};

use crate::ids::Protocol;

/// The protocol names every member supports. Empty when there are no members.
pub(crate) fn candidate_protocols<'a>(
    mut members: impl Iterator<Item = &'a [Protocol]>,
) -> BTreeSet<&'a str> {
    let Some(first) = members.next() else {
        return BTreeSet::new();
    };
    let mut candidates: BTreeSet<&str> = first.iter().map(|p| p.name.as_str()).collect();
    for protocols in members {
        candidates.retain(|name| protocols.iter().any(|p| p.name == *name));
    }
    candidates
}

/// The winner of the vote, or `None` if the members share no protocol.
pub(crate) fn select_protocol<'a>(
    members: impl Iterator<Item = &'a [Protocol]> + Clone,
) -> Option<String> {
    let candidates = candidate_protocols(members.clone());
    let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
    for protocols in members {
        // A member's vote is its first preference among the candidates.
        let vote = protocols
            .iter()
            .map(|p| p.name.as_str())
            .find(|n| candidates.contains(n));
        if let Some(name) = vote {
            *votes.entry(name).or_default() += 1;
        }
    }
    // max_by_key returns the last maximum; iterate in reverse so the smallest name wins ties.
    votes
        .into_iter()
        .rev()
        .max_by_key(|(_, count)| *count)
        .map(|(name, _)| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn protocols(names: &[&str]) -> Vec<Protocol> {
        names.iter().map(|n| Protocol::new(*n, &b""[..])).collect()
    }

    #[test]
    fn selects_the_protocol_every_member_supports() {
        let a = protocols(&["range", "roundrobin"]);
        let b = protocols(&["roundrobin"]);
        let members = [a.as_slice(), b.as_slice()];
        assert_eq!(
            select_protocol(members.iter().copied()).as_deref(),
            Some("roundrobin")
        );
    }

    #[test]
    fn each_member_votes_for_its_first_preference_among_candidates() {
        let a = protocols(&["sticky", "range", "roundrobin"]);
        let b = protocols(&["range", "roundrobin"]);
        let c = protocols(&["roundrobin", "range"]);
        let d = protocols(&["range", "roundrobin"]);
        // sticky is not a candidate, so a votes range: range 3, roundrobin 1.
        let members = [a.as_slice(), b.as_slice(), c.as_slice(), d.as_slice()];
        assert_eq!(
            select_protocol(members.iter().copied()).as_deref(),
            Some("range")
        );
    }

    #[test]
    fn a_tie_goes_to_the_smallest_name() {
        let a = protocols(&["roundrobin", "range"]);
        let b = protocols(&["range", "roundrobin"]);
        let members = [a.as_slice(), b.as_slice()];
        assert_eq!(
            select_protocol(members.iter().copied()).as_deref(),
            Some("range")
        );
    }

    #[test]
    fn members_without_a_common_protocol_select_none() {
        let a = protocols(&["range"]);
        let b = protocols(&["roundrobin"]);
        let members = [a.as_slice(), b.as_slice()];
        assert_eq!(select_protocol(members.iter().copied()), None);
        assert!(candidate_protocols(members.iter().copied()).is_empty());
    }
}
