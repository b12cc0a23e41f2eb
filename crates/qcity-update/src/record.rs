//! What the updater remembers across restarts, beside the versions in `DATA/versions/`:
//! `pending.json` (an update switched to that has not passed its check yet, and how often it
//! was started), `refused.json` (versions rolled back here: never offered again) and
//! `last.json` (how the last update ended). Each is replaced whole (written beside, fsynced,
//! renamed), so a crash leaves the old file or the new one.

use std::path::{Path, PathBuf};

use qcity_types::{UpdateOutcome, UpdatePending, UpdateRefused, UpdateStep};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::UpdateError;
use crate::versions::{fsync_dir, versions_dir};

fn pending_file(data_dir: &Path) -> PathBuf {
    versions_dir(data_dir).join("pending.json")
}

fn refused_file(data_dir: &Path) -> PathBuf {
    versions_dir(data_dir).join("refused.json")
}

fn last_file(data_dir: &Path) -> PathBuf {
    versions_dir(data_dir).join("last.json")
}

/// The update waiting for its check, if any. A file that cannot be read is reported and
/// treated as none: the version `current` names runs either way.
pub fn pending(data_dir: &Path) -> Option<UpdatePending> {
    read(&pending_file(data_dir))
}

pub fn set_pending(data_dir: &Path, pending: &UpdatePending) -> Result<(), UpdateError> {
    write(&pending_file(data_dir), pending)
}

pub fn clear_pending(data_dir: &Path) -> Result<(), UpdateError> {
    let file = pending_file(data_dir);
    match std::fs::remove_file(&file) {
        Ok(()) => fsync_dir(&versions_dir(data_dir)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(UpdateError::io(&file)(e)),
    }
}

/// Versions rolled back here, oldest first.
pub fn refused(data_dir: &Path) -> Vec<UpdateRefused> {
    read(&refused_file(data_dir)).unwrap_or_default()
}

/// Adds `version` to the refused ones (once).
pub fn refuse(data_dir: &Path, version: &str, reason: &str) -> Result<(), UpdateError> {
    let mut list = refused(data_dir);
    list.retain(|r| r.version != version);
    list.push(UpdateRefused {
        version: version.to_string(),
        reason: reason.to_string(),
        ts_ms: qcity_platform::clock::now_ms(),
    });
    write(&refused_file(data_dir), &list)
}

/// The refused versions that parse as semver (for [`crate::check`]).
pub fn refused_versions(data_dir: &Path) -> Vec<semver::Version> {
    refused(data_dir)
        .iter()
        .filter_map(|r| semver::Version::parse(&r.version).ok())
        .collect()
}

/// How the last update ended, and whether the running daemon has told about it yet (a
/// rollback decided before the engine runs is published by the next daemon).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Last {
    #[serde(flatten)]
    pub outcome: UpdateOutcome,
    #[serde(default)]
    pub published: bool,
}

pub fn last(data_dir: &Path) -> Option<Last> {
    read(&last_file(data_dir))
}

pub fn set_last(data_dir: &Path, last: &Last) -> Result<(), UpdateError> {
    write(&last_file(data_dir), last)
}

/// Ends the update `from` → `to`: nothing pending, and `last.json` says how (`published`:
/// whether its events are out already, or for the next daemon to publish).
pub fn finish(
    data_dir: &Path,
    from: &str,
    to: &str,
    step: UpdateStep,
    detail: &str,
    published: bool,
) -> Result<(), UpdateError> {
    clear_pending(data_dir)?;
    set_last(
        data_dir,
        &Last {
            outcome: UpdateOutcome {
                from: from.to_string(),
                to: to.to_string(),
                step,
                detail: detail.to_string(),
                ts_ms: qcity_platform::clock::now_ms(),
            },
            published,
        },
    )
}

/// Goes back from `left` to `back_to`, as every rollback does: `left` refused first (a
/// crash after that leaves it pending and refused, so the next start rolls back again and
/// never offers it), then `current` switched, then the update [`finish`]ed.
pub fn roll_back(
    data_dir: &Path,
    left: &str,
    back_to: &str,
    detail: &str,
    published: bool,
) -> Result<(), UpdateError> {
    refuse(data_dir, left, detail)?;
    crate::versions::switch_to(data_dir, back_to)?;
    finish(
        data_dir,
        left,
        back_to,
        UpdateStep::RolledBack,
        detail,
        published,
    )
}

fn read<T: DeserializeOwned>(file: &Path) -> Option<T> {
    let text = match std::fs::read(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!(file = %file.display(), "cannot read: {e}");
            return None;
        }
    };
    match serde_json::from_slice(&text) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(file = %file.display(), "not valid, ignored: {e}");
            None
        }
    }
}

fn write<T: Serialize + ?Sized>(file: &Path, value: &T) -> Result<(), UpdateError> {
    let dir = file.parent().unwrap_or(Path::new("."));
    qcity_platform::private::create_dir(dir).map_err(UpdateError::io(dir))?;
    let tmp = file.with_extension("json.new");
    let body = serde_json::to_vec_pretty(value).unwrap_or_default();
    {
        use std::io::Write as _;
        let mut f = qcity_platform::private::options()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(UpdateError::io(&tmp))?;
        f.write_all(&body)
            .and_then(|()| f.sync_all())
            .map_err(UpdateError::io(&tmp))?;
    }
    std::fs::rename(&tmp, file).map_err(UpdateError::io(file))?;
    fsync_dir(dir)
}
