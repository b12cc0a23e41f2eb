//! What can go wrong reading, storing or removing a secret. Every message names the secret
//! and what to do about it, and none holds its value: these errors are printed, logged and
//! sent to the dashboard.

/// An error about the secret `name`. The keyring crate's error is kept only as text
/// (`reason`), so no caller names the `keyring` crate: it stays a dependency of this crate
/// alone (scripts/walls.sh).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    #[error("`{name}` is not a valid secret name: use 1 to 64 letters, digits, `-`, `_` or `.`")]
    InvalidName { name: String },
    #[error("no secret `{name}` in the OS keyring: store it with `qcity secret set {name}`")]
    NotInKeyring { name: String },
    #[error(
        "the secret `{name}` in the OS keyring is empty: store it again with \
         `qcity secret set {name}`"
    )]
    EmptyInKeyring { name: String },
    #[error(
        "the secret `{name}` in the OS keyring is not UTF-8 text: store it again with \
         `qcity secret set {name}`"
    )]
    NotText { name: String },
    #[error(
        "the OS keyring holds several entries for `{name}` (service `{service}`): keep one \
         with the keyring's own tool (Seahorse, Keychain Access, Credential Manager)",
        service = crate::SERVICE
    )]
    Ambiguous { name: String },
    #[error(
        "environment variable `{name}` is not set: set it in the environment QCity runs in, \
         or store the secret in the OS keyring (`qcity secret set {name}`, then \
         keyring://{name})"
    )]
    EnvNotSet { name: String },
    #[error("environment variable `{name}` is empty")]
    EnvEmpty { name: String },
    #[error("environment variable `{name}` is not valid UTF-8")]
    EnvNotText { name: String },
    #[error(
        "the value for `{name}` is empty: nothing stored (`qcity secret rm {name}` removes a \
         secret)"
    )]
    EmptyValue { name: String },
    #[error("the OS keyring is not available (to {action} `{name}`): {reason}{hint}", hint = HINT)]
    Unavailable {
        action: &'static str,
        name: String,
        reason: String,
    },
}

/// Where a missing keyring usually comes from: on Linux the Secret Service is a program of
/// the desktop session, absent from a bare SSH login or a system service.
#[cfg(target_os = "linux")]
const HINT: &str = "; a Secret Service (GNOME Keyring or KWallet) must run, unlocked, on the \
                    D-Bus session bus of the user who runs QCity";
#[cfg(not(target_os = "linux"))]
const HINT: &str = "";
