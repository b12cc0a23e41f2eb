//! QCity's self-update, the parts that need no running daemon: read the release manifest
//! (the Tauri updater's format) and decide whether it offers a newer version ([`check`]);
//! download it beside the running one and verify size, SHA-256, signature and the signed
//! version before it is kept ([`stage`]); switch between the kept versions atomically and
//! back ([`versions`]).
//!
//! The gate (a fresh passing autotest, healthy runners, none in a job), the drain, the
//! restart into the new version, its post-update autotest and the automatic rollback build
//! on these.

pub mod check;
pub mod signed;
pub mod stage;
pub mod versions;

pub use check::{Check, Offer, check};
pub use stage::{stage, stage_with};

/// Why an update cannot go on; nothing was changed when one of these is returned.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("cannot read the release manifest: {0}")]
    Fetch(#[from] qcity_installer::fetch::FetchError),
    #[error("the release manifest is not valid:\n{0}")]
    Manifest(qcity_config::ConfigErrors),
    #[error("{origin}: no release for this machine (no `{target}` entry in `platforms`)")]
    NoTarget { origin: String, target: String },
    #[error("{0}")]
    Config(String),
    #[error("refused: {0}")]
    Refused(String),
    #[error("the download failed verification, nothing was kept: {0}")]
    Verify(#[from] qcity_installer::verify::VerifyError),
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

impl UpdateError {
    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> UpdateError {
        let path = path.to_path_buf();
        move |source| UpdateError::Io { path, source }
    }
}

/// This binary's version, as `qcity --version` prints it. A build may set
/// `QCITY_BUILD_VERSION` (the release pipeline, a test's newer build); otherwise the crate's.
pub const VERSION: &str = match option_env!("QCITY_BUILD_VERSION") {
    Some(v) => v,
    None => env!("CARGO_PKG_VERSION"),
};

/// [`VERSION`], parsed (0.0.0 if a build set something that is not semver: any release is
/// newer, so such a build can always be updated).
pub fn running_version() -> semver::Version {
    semver::Version::parse(VERSION).unwrap_or_else(|_| semver::Version::new(0, 0, 0))
}
