//! Kafka's StandardAuthorizer (`StandardAuthorizerData`), decided over a set of ACLs: super
//! users are allowed everything; otherwise the ACLs whose pattern covers the resource (its
//! literal name, the literal `*`, and every prefix of it) and whose principal (or `User:*`)
//! and host (or `*`) match are read. A matching DENY wins over any ALLOW; with no matching
//! ALLOW the action is denied, unless no ACL at all covers the resource and
//! `allow.everyone.if.no.acl.found` is set. An ALLOW of READ, WRITE, DELETE or ALTER also
//! grants DESCRIBE, and one of ALTER_CONFIGS grants DESCRIBE_CONFIGS; a DENY denies only its
//! own operation (or ALL). The ACLs are scanned in full: a broker holds few of them.

use std::collections::BTreeSet;

use vltava_cluster::acl::{
    AclBinding, AclOperation, AclPermission, PatternType, ResourceType, WILDCARD,
};

use super::AuthorizerConfig;

/// Kafka's wildcard principal: every principal of type User.
const WILDCARD_PRINCIPAL: &str = "User:*";

/// Who asks to do what, from where.
#[derive(Debug, Clone, Copy)]
pub struct Action<'a> {
    /// `Type:name`.
    pub principal: &'a str,
    /// The client's IP address as text.
    pub host: &'a str,
    pub operation: AclOperation,
}

fn covers(acl: &AclBinding, resource_type: ResourceType, name: &str) -> bool {
    acl.resource_type == resource_type
        && match acl.pattern_type {
            PatternType::Literal => acl.resource_name == name || acl.resource_name == WILDCARD,
            PatternType::Prefixed => name.starts_with(&acl.resource_name),
            _ => false,
        }
}

fn applies_to(acl: &AclBinding, action: &Action<'_>) -> bool {
    (acl.principal == action.principal || acl.principal == WILDCARD_PRINCIPAL)
        && (acl.host == action.host || acl.host == WILDCARD)
}

/// Whether an ACL of this permission names the operation: ALL names every one; an ALLOW
/// also grants the operations its own implies.
fn grants(acl: &AclBinding, operation: AclOperation) -> bool {
    use AclOperation::*;
    if acl.operation == All || acl.operation == operation {
        return true;
    }
    acl.permission == AclPermission::Allow
        && match operation {
            Describe => matches!(acl.operation, Read | Write | Delete | Alter),
            DescribeConfigs => acl.operation == AlterConfigs,
            _ => false,
        }
}

/// The decision for one action on one resource.
pub fn authorize<'a>(
    config: &AuthorizerConfig,
    acls: impl IntoIterator<Item = &'a AclBinding>,
    action: &Action<'_>,
    resource_type: ResourceType,
    name: &str,
) -> bool {
    if config.super_users.contains(action.principal) {
        return true;
    }
    let mut resource_has_acls = false;
    let mut allowed = false;
    for acl in acls {
        if !covers(acl, resource_type, name) {
            continue;
        }
        resource_has_acls = true;
        if !applies_to(acl, action) || !grants(acl, action.operation) {
            continue;
        }
        match acl.permission {
            AclPermission::Deny => return false,
            AclPermission::Allow => allowed = true,
            AclPermission::Any => {}
        }
    }
    allowed || (!resource_has_acls && config.allow_everyone_if_no_acl_found)
}

/// Kafka's `Authorizer.authorizeByResourceType`: allowed if a resource of the type named
/// `hardcode` would be (super users, allow-everyone), else if some ALLOW of the operation
/// (exactly, or ALL) applies to the principal and is not dominated by a DENY: a literal `*`
/// DENY dominates everything, a literal DENY its own name, a prefixed DENY every name it is a
/// prefix of.
pub fn authorize_by_resource_type<'a>(
    config: &AuthorizerConfig,
    acls: impl IntoIterator<Item = &'a AclBinding> + Clone,
    action: &Action<'_>,
    resource_type: ResourceType,
) -> bool {
    if authorize(config, acls.clone(), action, resource_type, "hardcode") {
        return true;
    }
    let mut denied: [BTreeSet<&str>; 2] = Default::default();
    let mut allowed: [BTreeSet<&str>; 2] = Default::default();
    let slot = |pattern| usize::from(pattern == PatternType::Prefixed);
    for acl in acls {
        let operation_named =
            acl.operation == action.operation || acl.operation == AclOperation::All;
        if acl.resource_type != resource_type || !applies_to(acl, action) || !operation_named {
            continue;
        }
        let wildcard = acl.pattern_type == PatternType::Literal && acl.resource_name == WILDCARD;
        match acl.permission {
            AclPermission::Deny if wildcard => return false,
            AclPermission::Allow if wildcard => return true,
            AclPermission::Deny => denied[slot(acl.pattern_type)].insert(&acl.resource_name),
            AclPermission::Allow => allowed[slot(acl.pattern_type)].insert(&acl.resource_name),
            AclPermission::Any => false,
        };
    }
    let dominated = |name: &str| {
        (1..=name.len()).any(|end| name.is_char_boundary(end) && denied[1].contains(&name[..end]))
    };
    allowed[0]
        .iter()
        .any(|name| !denied[0].contains(name) && !dominated(name))
        || allowed[1].iter().any(|name| !dominated(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use AclOperation::*;
    use AclPermission::*;
    use PatternType::*;

    fn acl(
        name: &str,
        pattern: PatternType,
        principal: &str,
        op: AclOperation,
        permission: AclPermission,
    ) -> AclBinding {
        AclBinding {
            resource_type: ResourceType::Topic,
            resource_name: name.into(),
            pattern_type: pattern,
            principal: principal.into(),
            host: "*".into(),
            operation: op,
            permission,
        }
    }

    fn alice(operation: AclOperation) -> Action<'static> {
        Action {
            principal: "User:alice",
            host: "10.0.0.1",
            operation,
        }
    }

    fn topic(acls: &[AclBinding], action: Action<'_>, name: &str) -> bool {
        authorize(
            &AuthorizerConfig::default(),
            acls,
            &action,
            ResourceType::Topic,
            name,
        )
    }

    #[test]
    fn no_acls_deny_unless_everyone_is_allowed_when_none_is_found() {
        assert!(!topic(&[], alice(Read), "orders"));
        let open = AuthorizerConfig {
            allow_everyone_if_no_acl_found: true,
            ..AuthorizerConfig::default()
        };
        assert!(authorize(
            &open,
            &[],
            &alice(Read),
            ResourceType::Topic,
            "orders"
        ));
        // An ACL for someone else still closes the resource.
        let bob = [acl("orders", Literal, "User:bob", Read, Allow)];
        assert!(!authorize(
            &open,
            &bob,
            &alice(Read),
            ResourceType::Topic,
            "orders"
        ));
        assert!(authorize(
            &open,
            &bob,
            &alice(Read),
            ResourceType::Topic,
            "payments"
        ));
    }

    #[test]
    fn literal_wildcard_and_prefixed_patterns_cover_their_names() {
        let literal = [acl("orders", Literal, "User:alice", Read, Allow)];
        assert!(topic(&literal, alice(Read), "orders"));
        assert!(!topic(&literal, alice(Read), "orders-eu"));
        let prefixed = [acl("orders-", Prefixed, "User:alice", Read, Allow)];
        assert!(topic(&prefixed, alice(Read), "orders-eu"));
        assert!(!topic(&prefixed, alice(Read), "orders"));
        let wildcard = [acl("*", Literal, "User:*", Read, Allow)];
        assert!(topic(&wildcard, alice(Read), "anything"));
        assert!(!topic(&wildcard, alice(Write), "anything"));
    }

    #[test]
    fn deny_wins_over_allow() {
        let acls = [
            acl("*", Literal, "User:alice", All, Allow),
            acl("secret-", Prefixed, "User:alice", Read, Deny),
        ];
        assert!(topic(&acls, alice(Read), "public"));
        assert!(!topic(&acls, alice(Read), "secret-x"));
        assert!(topic(&acls, alice(Write), "secret-x"));
        // A DENY of READ does not deny DESCRIBE, which the ALL allow grants.
        assert!(topic(&acls, alice(Describe), "secret-x"));
    }

    #[test]
    fn allows_imply_describe_and_describe_configs() {
        for op in [Read, Write, Delete, Alter] {
            assert!(topic(
                &[acl("t", Literal, "User:alice", op, Allow)],
                alice(Describe),
                "t"
            ));
        }
        assert!(!topic(
            &[acl("t", Literal, "User:alice", Create, Allow)],
            alice(Describe),
            "t"
        ));
        let alter_configs = [acl("t", Literal, "User:alice", AlterConfigs, Allow)];
        assert!(topic(&alter_configs, alice(DescribeConfigs), "t"));
        assert!(!topic(
            &alter_configs,
            alice(AlterConfigs).with_op(Describe),
            "t"
        ));
    }

    impl<'a> Action<'a> {
        fn with_op(self, operation: AclOperation) -> Action<'a> {
            Action { operation, ..self }
        }
    }

    #[test]
    fn principals_and_hosts_must_match() {
        let mut by_host = acl("t", Literal, "User:alice", Read, Allow);
        by_host.host = "10.0.0.2".into();
        assert!(!topic(&[by_host.clone()], alice(Read), "t"));
        by_host.host = "10.0.0.1".into();
        assert!(topic(&[by_host], alice(Read), "t"));
        assert!(!topic(
            &[acl("t", Literal, "User:bob", Read, Allow)],
            alice(Read),
            "t"
        ));
        assert!(topic(
            &[acl("t", Literal, "User:*", Read, Allow)],
            alice(Read),
            "t"
        ));
    }

    #[test]
    fn super_users_are_allowed_whatever_the_acls_say() {
        let config = AuthorizerConfig {
            super_users: AuthorizerConfig::parse_super_users("User:admin; User:alice"),
            ..AuthorizerConfig::default()
        };
        let deny = [acl("t", Literal, "User:alice", All, Deny)];
        assert!(authorize(
            &config,
            &deny,
            &alice(Read),
            ResourceType::Topic,
            "t"
        ));
    }

    #[test]
    fn by_resource_type_needs_an_allow_no_deny_dominates() {
        let config = AuthorizerConfig::default();
        let any = |acls: &[AclBinding]| {
            authorize_by_resource_type(&config, acls, &alice(Write), ResourceType::Topic)
        };
        assert!(!any(&[]));
        assert!(any(&[acl("orders", Literal, "User:alice", Write, Allow)]));
        assert!(!any(&[acl("orders", Literal, "User:alice", Read, Allow)]));
        assert!(!any(&[
            acl("orders", Literal, "User:alice", Write, Allow),
            acl("ord", Prefixed, "User:alice", Write, Deny),
        ]));
        assert!(any(&[
            acl("orders", Literal, "User:alice", Write, Allow),
            acl("pay", Prefixed, "User:alice", Write, Deny),
        ]));
        assert!(!any(&[
            acl("orders-", Prefixed, "User:alice", All, Allow),
            acl("*", Literal, "User:alice", Write, Deny),
        ]));
    }
}
