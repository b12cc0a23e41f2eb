//! Where a secret lives, as the config names it: `{keyring://NAME}` (the OS keyring, entry
//! NAME of service `qcity`) or `{env://NAME}` (an environment variable of the daemon). The
//! config holds only the reference; `qcity-secrets` reads the value.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SecretRef {
    Keyring(String),
    Env(String),
}

impl SecretRef {
    /// `keyring://NAME` or `env://NAME` (without braces). Names are letters, digits, `-`,
    /// `_` and `.`, at most 64 characters.
    pub fn parse(s: &str) -> Result<SecretRef, String> {
        let (kind, name) = if let Some(n) = s.strip_prefix("keyring://") {
            ("keyring", n)
        } else if let Some(n) = s.strip_prefix("env://") {
            ("env", n)
        } else {
            return Err(format!(
                "`{s}` is not a secret reference: write keyring://NAME or env://NAME"
            ));
        };
        if !valid_name(name) {
            return Err(format!(
                "`{name}` is not a valid secret name: use 1 to 64 letters, digits, `-`, `_` or `.`"
            ));
        }
        Ok(match kind {
            "keyring" => SecretRef::Keyring(name.to_string()),
            _ => SecretRef::Env(name.to_string()),
        })
    }

    pub fn name(&self) -> &str {
        match self {
            SecretRef::Keyring(n) | SecretRef::Env(n) => n,
        }
    }
}

/// Whether `name` may name a secret (a keyring entry or an environment variable).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Keyring(n) => write!(f, "keyring://{n}"),
            SecretRef::Env(n) => write!(f, "env://{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_and_print_back() {
        for s in ["keyring://slack-ops", "env://SMTP_PASSWORD"] {
            assert_eq!(SecretRef::parse(s).unwrap().to_string(), s);
        }
        assert!(SecretRef::parse("keyring://").is_err());
        assert!(SecretRef::parse("keyring://a b").is_err());
        assert!(
            SecretRef::parse("vault://x")
                .unwrap_err()
                .contains("keyring://NAME")
        );
    }
}
