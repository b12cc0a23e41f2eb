//! Downloads an offered version beside the running one and keeps it only once verified.
//!
//! The file is fetched into `DATA/versions/.staging/VERSION/` (resumable: a second run asks
//! only for the missing bytes), checked — size, SHA-256, minisign signature against the
//! pinned key, and the version its signed comment names — made executable, fsynced, and only
//! then its directory renamed to `DATA/versions/VERSION/`. A file that fails is deleted:
//! nothing half-written or unverified is ever under a version's name.

use std::path::{Path, PathBuf};

use qcity_installer::fetch::{Progress, Trust, download};
use qcity_installer::verify::{PublicKey, verify_file};

use crate::UpdateError;
use crate::check::Offer;
use crate::signed::vouches_for;
use crate::versions::{BINARY, fsync_dir, versions_dir};

/// Downloads and verifies `offer` into `data_dir`; returns the kept binary's path.
pub fn stage(
    offer: &Offer,
    data_dir: &Path,
    key: &PublicKey,
    trust: &Trust,
    progress: Progress<'_>,
) -> Result<PathBuf, UpdateError> {
    let version = offer.version.to_string();
    let versions = versions_dir(data_dir);
    let staging_root = versions.join(".staging");
    let staging = staging_root.join(&version);
    qcity_platform::private::create_dir(&staging).map_err(UpdateError::io(&staging))?;
    let file = staging.join(BINARY);
    download(
        &offer.file.url,
        &offer.base,
        &file,
        offer.file.size,
        trust,
        progress,
    )?;
    let checked = verify_file(&file, &offer.file, key)
        .map_err(UpdateError::from)
        // Authentic now (the global signature covers the trusted comment).
        .and_then(|()| vouches_for(&offer.file.signature, &version));
    if let Err(e) = checked {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    make_executable(&file)?;
    let kept = versions.join(&version);
    if kept.exists() {
        // A version kept before (a rollback, a second apply): the verified copy replaces it.
        std::fs::remove_dir_all(&kept).map_err(UpdateError::io(&kept))?;
    }
    std::fs::rename(&staging, &kept).map_err(UpdateError::io(&kept))?;
    fsync_dir(&versions)?;
    Ok(kept.join(BINARY))
}

/// Owner-only `rwx`, fsynced.
pub(crate) fn make_executable(file: &Path) -> Result<(), UpdateError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o700))
        .map_err(UpdateError::io(file))?;
    std::fs::File::open(file)
        .and_then(|f| f.sync_all())
        .map_err(UpdateError::io(file))
}

/// [`stage`] with the key and the `https://` trust that the device config's `update` names.
pub fn stage_with(
    settings: &qcity_config::UpdateSettings,
    config_dir: &Path,
    offer: &Offer,
    data_dir: &Path,
    progress: Progress<'_>,
) -> Result<PathBuf, UpdateError> {
    let key = PublicKey::parse(&settings.public_key)
        .map_err(|e| UpdateError::Config(format!("update.public_key: {e}")))?;
    let source = crate::check::Source::new(settings, config_dir)?;
    stage(offer, data_dir, &key, &source.trust, progress)
}
