//! ACLs as the metadata log keeps them (Kafka's `AccessControlEntryRecord`, KIP-290's
//! patterns): a resource pattern and an access control entry, with Kafka's wire codes. Every
//! broker reads them from its metadata image, so all brokers of a cluster enforce the same
//! rules. The filters of DescribeAcls and DeleteAcls are here too, since the controller and the
//! brokers both match them; deciding a request is the broker's authorizer.

use serde::{Deserialize, Serialize};

/// Kafka's name of the one CLUSTER resource.
pub const CLUSTER_RESOURCE_NAME: &str = "kafka-cluster";
/// A literal resource name, principal or host that matches every one.
pub const WILDCARD: &str = "*";

macro_rules! coded {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $code:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name { $($variant,)* }

        impl $name {
            pub const ALL: &[$name] = &[$($name::$variant,)*];

            /// The code on the wire (Kafka's `code()`).
            pub fn code(self) -> i8 {
                match self { $($name::$variant => $code,)* }
            }

            /// `None` for a code Kafka does not define (Kafka's UNKNOWN).
            pub fn from_code(code: i8) -> Option<$name> {
                Self::ALL.iter().copied().find(|v| v.code() == code)
            }
        }
    };
}

coded! {
    /// Kafka's `ResourceType`; `Any` only in filters.
    ResourceType {
        Any = 1,
        Topic = 2,
        Group = 3,
        Cluster = 4,
        TransactionalId = 5,
        DelegationToken = 6,
        User = 7,
    }
}

coded! {
    /// Kafka's `PatternType` (KIP-290); `Any` and `Match` only in filters.
    PatternType {
        Any = 1,
        Match = 2,
        Literal = 3,
        Prefixed = 4,
    }
}

coded! {
    /// Kafka's `AclOperation`; `Any` only in filters.
    AclOperation {
        Any = 1,
        All = 2,
        Read = 3,
        Write = 4,
        Create = 5,
        Delete = 6,
        Alter = 7,
        Describe = 8,
        ClusterAction = 9,
        DescribeConfigs = 10,
        AlterConfigs = 11,
        IdempotentWrite = 12,
        CreateTokens = 13,
        DescribeTokens = 14,
        TwoPhaseCommit = 15,
    }
}

coded! {
    /// Kafka's `AclPermissionType`; `Any` only in filters.
    AclPermission {
        Any = 1,
        Deny = 2,
        Allow = 3,
    }
}

/// One ACL: who (principal, host) may or may not do what (operation) to which resources
/// (type, name, pattern type). Kafka's `AclBinding`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AclBinding {
    pub resource_type: ResourceType,
    pub resource_name: String,
    pub pattern_type: PatternType,
    /// `Type:name`, e.g. `User:alice`; `User:*` is every user.
    pub principal: String,
    /// An IP address as the client's is printed, or `*`.
    pub host: String,
    pub operation: AclOperation,
    pub permission: AclPermission,
}

/// Why an ACL cannot be created, as Kafka's `AclControlManager.validateNewAcl` and
/// `AclApis` refuse it (all INVALID_REQUEST).
pub fn validate(acl: &AclBinding) -> Result<(), &'static str> {
    if !matches!(
        acl.pattern_type,
        PatternType::Literal | PatternType::Prefixed
    ) {
        return Err("Invalid patternType");
    }
    if acl.resource_type == ResourceType::Any {
        return Err("Invalid resourceType");
    }
    if acl.operation == AclOperation::Any {
        return Err("Invalid operation");
    }
    if acl.permission == AclPermission::Any {
        return Err("Invalid permissionType");
    }
    if acl.resource_name.is_empty() {
        return Err("Resource name should not be empty");
    }
    if acl.resource_type == ResourceType::Cluster && acl.resource_name != CLUSTER_RESOURCE_NAME {
        return Err("The only valid name for the CLUSTER resource is kafka-cluster");
    }
    match acl.principal.split_once(':') {
        Some((kind, name)) if !kind.is_empty() && !name.is_empty() => Ok(()),
        _ => Err("Could not parse principal"),
    }
}

/// A DescribeAcls or DeleteAcls filter (Kafka's `AclBindingFilter`): `None` strings match
/// anything, as do the `Any` codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclFilter {
    pub resource_type: ResourceType,
    pub resource_name: Option<String>,
    pub pattern_type: PatternType,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: AclOperation,
    pub permission: AclPermission,
}

impl AclFilter {
    /// Kafka's `AclBindingFilter.matches`: `Match` finds the patterns that would apply to the
    /// named resource (the literal name, the literal `*`, and every prefix of it).
    pub fn matches(&self, acl: &AclBinding) -> bool {
        self.matches_resource(acl) && self.matches_entry(acl)
    }

    fn matches_resource(&self, acl: &AclBinding) -> bool {
        if self.resource_type != ResourceType::Any && self.resource_type != acl.resource_type {
            return false;
        }
        let any_pattern = matches!(self.pattern_type, PatternType::Any | PatternType::Match);
        if !any_pattern && self.pattern_type != acl.pattern_type {
            return false;
        }
        let Some(name) = &self.resource_name else {
            return true;
        };
        if self.pattern_type != PatternType::Match {
            return *name == acl.resource_name;
        }
        match acl.pattern_type {
            PatternType::Literal => *name == acl.resource_name || acl.resource_name == WILDCARD,
            PatternType::Prefixed => name.starts_with(&acl.resource_name),
            _ => false,
        }
    }

    fn matches_entry(&self, acl: &AclBinding) -> bool {
        self.principal.as_ref().is_none_or(|p| *p == acl.principal)
            && self.host.as_ref().is_none_or(|h| *h == acl.host)
            && (self.operation == AclOperation::Any || self.operation == acl.operation)
            && (self.permission == AclPermission::Any || self.permission == acl.permission)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(resource_name: &str, pattern_type: PatternType) -> AclBinding {
        AclBinding {
            resource_type: ResourceType::Topic,
            resource_name: resource_name.into(),
            pattern_type,
            principal: "User:alice".into(),
            host: "*".into(),
            operation: AclOperation::Read,
            permission: AclPermission::Allow,
        }
    }

    fn filter(name: Option<&str>, pattern_type: PatternType) -> AclFilter {
        AclFilter {
            resource_type: ResourceType::Any,
            resource_name: name.map(str::to_string),
            pattern_type,
            principal: None,
            host: None,
            operation: AclOperation::Any,
            permission: AclPermission::Any,
        }
    }

    #[test]
    fn codes_round_trip_and_unknown_codes_are_none() {
        for op in AclOperation::ALL {
            assert_eq!(AclOperation::from_code(op.code()), Some(*op));
        }
        assert_eq!(AclOperation::from_code(0), None);
        assert_eq!(ResourceType::from_code(8), None);
        assert_eq!(PatternType::Prefixed.code(), 4);
    }

    #[test]
    fn match_filters_find_literal_wildcard_and_prefix_patterns() {
        let f = filter(Some("orders-eu"), PatternType::Match);
        assert!(f.matches(&acl("orders-eu", PatternType::Literal)));
        assert!(f.matches(&acl("*", PatternType::Literal)));
        assert!(f.matches(&acl("orders-", PatternType::Prefixed)));
        assert!(!f.matches(&acl("orders-", PatternType::Literal)));
        assert!(!f.matches(&acl("payments", PatternType::Prefixed)));
    }

    #[test]
    fn any_and_exact_pattern_filters_match_names_exactly() {
        let any = filter(Some("orders-"), PatternType::Any);
        assert!(any.matches(&acl("orders-", PatternType::Prefixed)));
        assert!(any.matches(&acl("orders-", PatternType::Literal)));
        assert!(!any.matches(&acl("*", PatternType::Literal)));
        let literal = filter(Some("orders-"), PatternType::Literal);
        assert!(!literal.matches(&acl("orders-", PatternType::Prefixed)));
        assert!(filter(None, PatternType::Prefixed).matches(&acl("x", PatternType::Prefixed)));
    }

    #[test]
    fn entry_fields_filter_when_set() {
        let mut f = filter(None, PatternType::Any);
        f.principal = Some("User:bob".into());
        assert!(!f.matches(&acl("t", PatternType::Literal)));
        f.principal = Some("User:alice".into());
        f.operation = AclOperation::Write;
        assert!(!f.matches(&acl("t", PatternType::Literal)));
        f.operation = AclOperation::Read;
        f.permission = AclPermission::Allow;
        assert!(f.matches(&acl("t", PatternType::Literal)));
    }

    #[test]
    fn invalid_acls_are_refused() {
        assert!(validate(&acl("t", PatternType::Literal)).is_ok());
        assert!(validate(&acl("t", PatternType::Match)).is_err());
        assert!(validate(&acl("", PatternType::Literal)).is_err());
        let mut cluster = acl("other", PatternType::Literal);
        cluster.resource_type = ResourceType::Cluster;
        assert!(validate(&cluster).is_err());
        let mut principal = acl("t", PatternType::Literal);
        principal.principal = "alice".into();
        assert!(validate(&principal).is_err());
    }
}
