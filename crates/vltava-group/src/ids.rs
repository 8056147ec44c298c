//! Identifiers and the protocol a member supports: Kafka's nouns as types, so a member id is
//! never passed where a group id is expected.

use std::fmt;

use bytes::Bytes;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn is_empty(&self) -> bool {
                self.0.is_empty()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_id!(
    /// A consumer group's name (`group.id`).
    GroupId
);
string_id!(
    /// A member id assigned by the coordinator. The empty id is Kafka's `UNKNOWN_MEMBER_ID`:
    /// a member that has not been given one yet.
    MemberId
);
string_id!(
    /// KIP-345 `group.instance.id`: the stable identity of a static member across restarts.
    InstanceId
);

/// The group's generation: incremented each time a rebalance completes. 0 before the first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GenerationId(pub i32);

impl GenerationId {
    pub(crate) fn next(self) -> Self {
        Self(self.0.wrapping_add(1))
    }
}

impl fmt::Display for GenerationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// One protocol a member supports (for consumers, an assignor such as `range`), with the
/// metadata the leader needs to assign (for consumers, the subscription). Opaque to us.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Protocol {
    pub name: String,
    pub metadata: Bytes,
}

impl Protocol {
    pub fn new(name: impl Into<String>, metadata: impl Into<Bytes>) -> Self {
        Self {
            name: name.into(),
            metadata: metadata.into(),
        }
    }
}
