//! QCity's self-update. Without a daemon: read the release manifest (the Tauri updater's
//! format) and decide whether it offers a newer version ([`check`]); download it beside the
//! running one and verify size, SHA-256, signature and the signed version before it is kept
//! ([`stage`]); switch between the kept versions atomically and back ([`versions`]); decide
//! at `qcity up` which kept version runs, counting a new version's starts ([`boot`]).
//!
//! In the daemon: the gate ([`gate`]: a fresh passing autotest, healthy runners), the drain,
//! the switch and the restart ([`apply`]), the new version's check and the automatic
//! rollback ([`after`]); what survives restarts ([`record`]).

pub mod after;
pub mod apply;
pub mod boot;
pub mod check;
pub mod gate;
pub mod record;
pub mod signed;
pub mod stage;
pub mod versions;

pub use apply::{ApplyError, Updater};
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

/// The running version ([`qcity_types::version`]), parsed; 0.0.0 if a build set something
/// that is not semver (any release is newer, so such a build can always be updated).
pub fn running_version() -> semver::Version {
    semver::Version::parse(qcity_types::version::get())
        .unwrap_or_else(|_| semver::Version::new(0, 0, 0))
}
