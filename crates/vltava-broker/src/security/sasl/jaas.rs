//! The users of Kafka's PLAIN JAAS configuration
//! (`org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="secret";`).
//!
//! Read as data, never as code: the login module must be Kafka's PLAIN one by name, nothing is
//! loaded, and every option other than `user_<name>` (username, password: the broker's own
//! client credentials, which vltava does not need) is ignored (CVE-2025-27818/27819 came from
//! brokers instantiating whatever class a configuration named).

use std::collections::BTreeMap;

pub const PLAIN_LOGIN_MODULE: &str = "org.apache.kafka.common.security.plain.PlainLoginModule";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JaasError {
    #[error("only {PLAIN_LOGIN_MODULE} is accepted, not {0:?}")]
    LoginModule(String),
    #[error("the control flag must be required, requisite, sufficient or optional, not {0:?}")]
    Flag(String),
    #[error("malformed option near {0:?}")]
    Option(String),
    #[error("unterminated quoted value")]
    Unterminated,
    #[error("the configuration must end with ';'")]
    NoSemicolon,
}

/// `user_<name>="<password>"` options, by name.
pub fn plain_users(config: &str) -> Result<BTreeMap<String, String>, JaasError> {
    let text = config.trim();
    let text = text.strip_suffix(';').ok_or(JaasError::NoSemicolon)?;
    let (module, rest) = split_word(text);
    if module != PLAIN_LOGIN_MODULE {
        return Err(JaasError::LoginModule(module.to_string()));
    }
    let (flag, mut rest) = split_word(rest);
    if !matches!(flag, "required" | "requisite" | "sufficient" | "optional") {
        return Err(JaasError::Flag(flag.to_string()));
    }
    let mut users = BTreeMap::new();
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return Ok(users);
        }
        let (key, after) = rest
            .split_once('=')
            .ok_or_else(|| JaasError::Option(rest.chars().take(20).collect()))?;
        let key = key.trim();
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(JaasError::Option(key.to_string()));
        }
        let (value, after) = value(after.trim_start())?;
        if let Some(user) = key.strip_prefix("user_") {
            users.insert(user.to_string(), value);
        }
        rest = after;
    }
}

fn split_word(text: &str) -> (&str, &str) {
    let text = text.trim_start();
    text.split_once(char::is_whitespace).unwrap_or((text, ""))
}

/// A quoted value (with `\` escaping the next character) or a bare word.
fn value(text: &str) -> Result<(String, &str), JaasError> {
    let Some(quoted) = text.strip_prefix('"') else {
        let (word, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
        return Ok((word.to_string(), rest));
    };
    let mut value = String::new();
    let mut chars = quoted.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => value.push(chars.next().ok_or(JaasError::Unterminated)?.1),
            '"' => return Ok((value, &quoted[i + 1..])),
            c => value.push(c),
        }
    }
    Err(JaasError::Unterminated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_read_from_kafkas_form() -> Result<(), JaasError> {
        let users = plain_users(
            r#"org.apache.kafka.common.security.plain.PlainLoginModule required
               username="admin" password="admin-secret"
               user_admin="admin-secret" user_alice="a \"quoted\" secret";"#,
        )?;
        assert_eq!(users.len(), 2);
        assert_eq!(users["admin"], "admin-secret");
        assert_eq!(users["alice"], "a \"quoted\" secret");
        Ok(())
    }

    #[test]
    fn other_modules_and_malformed_text_are_refused() {
        assert!(matches!(
            plain_users("com.sun.security.auth.module.JndiLoginModule required user_a=\"b\";"),
            Err(JaasError::LoginModule(_))
        ));
        assert_eq!(
            plain_users(&format!("{PLAIN_LOGIN_MODULE} required user_a=\"b\"")),
            Err(JaasError::NoSemicolon)
        );
        assert_eq!(
            plain_users(&format!("{PLAIN_LOGIN_MODULE} always user_a=\"b\";")),
            Err(JaasError::Flag("always".into()))
        );
        assert_eq!(
            plain_users(&format!("{PLAIN_LOGIN_MODULE} required user_a=\"b;")),
            Err(JaasError::Unterminated)
        );
    }
}
