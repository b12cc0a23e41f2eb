//! Secrets (tokens, passwords, webhook keys) live in the OS keyring or the environment; the
//! config names them with a [`qcity_config::secret_ref::SecretRef`] and this crate reads them.
//!
//! Why the OS keyring: a config file is copied into backups, diffs and bug reports, and a
//! token in it leaks with them; the keyring (Secret Service on Linux, Keychain on macOS,
//! Credential Manager on Windows) keeps it encrypted at rest and out of every file QCity
//! writes. An entry is service [`SERVICE`] with the secret's name as its account, so
//! `qcity secret set NAME` stores what `keyring://NAME` reads.
//!
//! Each keyring call is several round trips to another process (on Linux a new D-Bus
//! connection, an encrypted session, a search): read a secret once when the config loads,
//! not each time it is used.

mod error;
#[cfg(all(feature = "testing", unix))]
pub mod testing;

pub use error::SecretError;

use qcity_config::secret_ref::{SecretRef, valid_name};

/// The keyring service of every QCity secret; the account is the secret's name.
pub const SERVICE: &str = "qcity";

/// The value `r` names: a keyring entry or an environment variable. A secret that is empty
/// is an error, as a missing one is: an empty token would only fail later, far from its cause
/// (a 401 from a chat server).
pub fn read(r: &SecretRef) -> Result<String, SecretError> {
    let name = checked(r.name())?;
    match r {
        SecretRef::Keyring(_) => read_keyring(name),
        SecretRef::Env(_) => read_env(name),
    }
}

/// Stores `value` as the keyring secret `name`, replacing the one there. An empty value is
/// refused, since [`read`] would refuse it.
pub fn set(name: &str, value: &str) -> Result<(), SecretError> {
    let name = checked(name)?;
    if value.is_empty() {
        return Err(SecretError::EmptyValue { name: name.into() });
    }
    entry(name, "store")?
        .set_password(value)
        .map_err(|e| keyring_error(e, "store", name))
}

/// Removes the keyring secret `name`; false when there was none (removing is idempotent, so a
/// script may run it twice).
pub fn remove(name: &str) -> Result<bool, SecretError> {
    let name = checked(name)?;
    match entry(name, "remove")?.delete_credential() {
        Ok(()) => Ok(true),
        Err(keyring::Error::NoEntry) => Ok(false),
        Err(e) => Err(keyring_error(e, "remove", name)),
    }
}

fn read_keyring(name: &str) -> Result<String, SecretError> {
    let value = entry(name, "read")?
        .get_password()
        .map_err(|e| keyring_error(e, "read", name))?;
    if value.is_empty() {
        return Err(SecretError::EmptyInKeyring { name: name.into() });
    }
    Ok(value)
}

fn read_env(name: &str) -> Result<String, SecretError> {
    match std::env::var(name) {
        Ok(v) if v.is_empty() => Err(SecretError::EnvEmpty { name: name.into() }),
        Ok(v) => Ok(v),
        Err(std::env::VarError::NotPresent) => Err(SecretError::EnvNotSet { name: name.into() }),
        // The error holds the raw value: dropped here, never shown.
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(SecretError::EnvNotText { name: name.into() })
        }
    }
}

/// The same rule as the config's references, so whatever `qcity secret set` stores a
/// `keyring://NAME` can name.
fn checked(name: &str) -> Result<&str, SecretError> {
    if valid_name(name) {
        Ok(name)
    } else {
        Err(SecretError::InvalidName { name: name.into() })
    }
}

fn entry(name: &str, action: &'static str) -> Result<keyring::Entry, SecretError> {
    keyring::Entry::new(SERVICE, name).map_err(|e| keyring_error(e, action, name))
}

/// Our error for the keyring's. `BadEncoding` carries the stored bytes and `Ambiguous` the
/// matching entries: neither is put into a message, only named.
fn keyring_error(e: keyring::Error, action: &'static str, name: &str) -> SecretError {
    let name = name.to_string();
    match e {
        keyring::Error::NoEntry => SecretError::NotInKeyring { name },
        keyring::Error::BadEncoding(_) => SecretError::NotText { name },
        keyring::Error::Ambiguous(_) => SecretError::Ambiguous { name },
        keyring::Error::PlatformFailure(inner) | keyring::Error::NoStorageAccess(inner) => {
            SecretError::Unavailable {
                action,
                name,
                reason: inner.to_string(),
            }
        }
        other => SecretError::Unavailable {
            action,
            name,
            reason: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_names_are_refused_before_the_keyring_is_asked() {
        for bad in ["", "a b", "x/y", &"n".repeat(65)] {
            let e = set(bad, "v").unwrap_err();
            assert!(matches!(e, SecretError::InvalidName { .. }), "{bad:?}: {e}");
            assert!(matches!(remove(bad), Err(SecretError::InvalidName { .. })));
        }
        let e = read(&SecretRef::Keyring("a b".into())).unwrap_err();
        assert!(e.to_string().contains("not a valid secret name"), "{e}");
    }

    #[test]
    fn an_empty_value_is_not_stored() {
        let e = set("slack-ops", "").unwrap_err();
        assert!(matches!(e, SecretError::EmptyValue { .. }));
        assert!(e.to_string().contains("qcity secret rm slack-ops"), "{e}");
    }

    #[test]
    fn a_missing_environment_variable_is_named() {
        let r = SecretRef::Env("QCITY_TEST_NEVER_SET_7f3a".into());
        let e = read(&r).unwrap_err();
        assert_eq!(
            e.to_string().split(':').next().unwrap(),
            "environment variable `QCITY_TEST_NEVER_SET_7f3a` is not set"
        );
    }

    #[test]
    fn messages_say_what_to_do_and_hold_no_value() {
        let e = keyring_error(keyring::Error::NoEntry, "read", "slack-ops");
        assert_eq!(
            e.to_string(),
            "no secret `slack-ops` in the OS keyring: store it with `qcity secret set slack-ops`"
        );
        let e = keyring_error(
            keyring::Error::BadEncoding(b"hunter2\xff".to_vec()),
            "read",
            "x",
        );
        assert!(!e.to_string().contains("hunter2") && !format!("{e:?}").contains("hunter2"));
        let e = keyring_error(
            keyring::Error::PlatformFailure("no bus".into()),
            "store",
            "x",
        );
        assert!(
            e.to_string()
                .starts_with("the OS keyring is not available (to store `x`): no bus"),
            "{e}"
        );
    }
}
