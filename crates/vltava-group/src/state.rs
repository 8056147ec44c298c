//! The states of a classic group and which transitions Kafka allows between them.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GroupState {
    /// No members. The group may still own committed offsets, so it is kept.
    Empty,
    /// Waiting for members to (re)join before a new generation.
    PreparingRebalance,
    /// The generation is formed; waiting for the leader's assignment.
    CompletingRebalance,
    /// Every member has its assignment; heartbeats only.
    Stable,
    /// Deleted, or unknown to this coordinator.
    Dead,
}

impl GroupState {
    /// The name Kafka reports in DescribeGroups and ListGroups.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }

    /// Kafka's `validPreviousStates`, read from the other side. A transition outside this table
    /// is a bug in the state machine, caught by an assertion where the state changes.
    pub(crate) fn can_transition_to(self, next: GroupState) -> bool {
        use GroupState::*;
        match next {
            Empty => matches!(self, PreparingRebalance),
            PreparingRebalance => matches!(self, Empty | Stable | CompletingRebalance),
            CompletingRebalance => matches!(self, PreparingRebalance),
            Stable => matches!(self, CompletingRebalance),
            Dead => matches!(
                self,
                Empty | PreparingRebalance | CompletingRebalance | Stable
            ),
        }
    }
}

impl fmt::Display for GroupState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::GroupState::*;

    #[test]
    fn a_rebalance_cycles_through_preparing_completing_and_stable() {
        assert!(Empty.can_transition_to(PreparingRebalance));
        assert!(PreparingRebalance.can_transition_to(CompletingRebalance));
        assert!(CompletingRebalance.can_transition_to(Stable));
        assert!(Stable.can_transition_to(PreparingRebalance));
        assert!(CompletingRebalance.can_transition_to(PreparingRebalance));
        assert!(PreparingRebalance.can_transition_to(Empty));
    }

    #[test]
    fn no_generation_is_formed_without_a_rebalance() {
        assert!(!Empty.can_transition_to(CompletingRebalance));
        assert!(!Empty.can_transition_to(Stable));
        assert!(!PreparingRebalance.can_transition_to(Stable));
        assert!(!Stable.can_transition_to(Empty));
    }

    #[test]
    fn dead_is_terminal() {
        for next in [Empty, PreparingRebalance, CompletingRebalance, Stable, Dead] {
            assert!(!Dead.can_transition_to(next));
        }
    }
}
