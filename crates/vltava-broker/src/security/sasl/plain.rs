//! SASL/PLAIN (RFC 4616) against the users of the configuration, as Kafka's `PlainSaslServer`
//! with its default callback handler: one message, `authzid NUL authcid NUL password`.

use std::collections::BTreeMap;

use subtle::ConstantTimeEq;

/// Kafka's message for every PLAIN failure, so a client cannot tell which part was wrong.
pub const INVALID_CREDENTIALS: &str = "Authentication failed: Invalid username or password";
pub const AUTHORIZATION_ID: &str =
    "Authentication failed: Client requested an authorization id that is different from username";

/// The authenticated user, or the message to send back.
pub fn authenticate(
    users: &BTreeMap<String, String>,
    message: &[u8],
) -> Result<String, &'static str> {
    let mut parts = message.split(|b| *b == 0);
    let (Some(authzid), Some(user), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(INVALID_CREDENTIALS);
    };
    let user = std::str::from_utf8(user).map_err(|_| INVALID_CREDENTIALS)?;
    if user.is_empty() {
        return Err(INVALID_CREDENTIALS);
    }
    let expected = users.get(user).ok_or(INVALID_CREDENTIALS)?;
    if !bool::from(expected.as_bytes().ct_eq(password)) {
        return Err(INVALID_CREDENTIALS);
    }
    if !authzid.is_empty() && authzid != user.as_bytes() {
        return Err(AUTHORIZATION_ID);
    }
    Ok(user.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users() -> BTreeMap<String, String> {
        BTreeMap::from([("alice".to_string(), "alice-secret".to_string())])
    }

    #[test]
    fn the_configured_password_authenticates() {
        assert_eq!(
            authenticate(&users(), b"\0alice\0alice-secret"),
            Ok("alice".into())
        );
        assert_eq!(
            authenticate(&users(), b"alice\0alice\0alice-secret"),
            Ok("alice".into())
        );
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            &b"\0alice\0wrong"[..],
            b"\0bob\0alice-secret",
            b"\0alice",
            b"\0alice\0alice-secret\0",
            b"",
            b"\0\0",
        ] {
            assert_eq!(
                authenticate(&users(), bad),
                Err(INVALID_CREDENTIALS),
                "{bad:?}"
            );
        }
        assert_eq!(
            authenticate(&users(), b"bob\0alice\0alice-secret"),
            Err(AUTHORIZATION_ID)
        );
    }
}
